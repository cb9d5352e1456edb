#!/usr/bin/env bash
# --wait (outboxfs-sendmail --wait and outboxfs --wait) while the outbox
# goes away under a message that is only deferred: the message is still
# in the spool and the next mount sends it, so the wait must not say 69
# ("removed before it was sent": a caller would send it again). It waits
# for the next mount, within its time limit, and ends 75 when the
# message is not final by then; a message removed from a mount that is
# still there is 69 as before.
. "$(dirname "$0")/../lib.sh" || exit 1
: "${SENDMAIL:=$(dirname "$OUTBOXFS")/outboxfs-sendmail}"

outbox_start -c "retry_min 1" -c "retry_max 1" -- \
	--reply 'RCPT/later@=451 4.3.0 Try later' \
	--reply 'RCPT#1/soon@=451 4.3.0 Try later' \
	--reply 'RCPT#2/soon@=451 4.3.0 Try later'
sm() { "$SENDMAIL" -C "$T/config" "$@"; }
# status_of SUBJECT: the status file of the message with SUBJECT
status_of() { grep -l -- "$1" "$M"/sendmail-*[0-9a-f] 2>/dev/null | head -n1 | sed 's/$/.status/'; }
deferred() { local s; s=$(status_of "$1"); [ -n "$s" ] && grep -qs '^state: deferred' "$s"; }

# 1. sendmail --wait, unmount while deferred, mount again: it follows
#    the message to the next mount and ends 0; one copy is sent.
printf 'To: soon@example.com\nSubject: unmount then sent\n\nx\n' |
	sm -t --wait=60 2>"$T/err1" &
wp=$!
register_pid "$wp"
wait_until 10 deferred "unmount then sent" || fail "1: not deferred"
umount_outbox "$M"
sleep 1.5               # the wait sees the mount gone
kill -0 "$wp" 2>/dev/null || { wait "$wp"; fail "1: --wait ended ($?) at the unmount: $(cat "$T/err1")"; }
mount_outbox "$M" "$T/config"
wait "$wp"
assert_eq 0 "$?" "1: --wait exit status across an unmount and a mount ($(cat "$T/err1"))"
one_eml_with "$T/rx" "Subject: unmount then sent" >/dev/null || exit 1

# 2. sendmail --wait, unmount while deferred, no mount again: 75 at the
#    time limit, with a line that says so.
printf 'To: later@example.com\nSubject: unmount no mount\n\nx\n' |
	sm -t --wait=4 2>"$T/err2" &
wp=$!
register_pid "$wp"
wait_until 10 deferred "unmount no mount" || fail "2: not deferred"
st2=$(status_of "unmount no mount")
umount_outbox "$M"
wait "$wp"
assert_eq 75 "$?" "2: --wait exit status after an unmount ($(cat "$T/err2"))"
assert_contains "$(cat "$T/err2")" "unmounted"
assert_not_contains "$(cat "$T/err2")" "removed"

# 3. outboxfs --wait: the daemon killed (kill -9, no unmount by it):
#    75 at --timeout; then the same with a mount again: the message
#    shows again at the same path and the wait goes on (75: still
#    deferred at the end, never 69).
mount_outbox "$M" "$T/config"
"$OUTBOXFS" --wait --timeout 3 "$st2" 2>"$T/err3" &
wp=$!
register_pid "$wp"
sleep 0.5
kill_outbox "$M"
wait "$wp"
assert_eq 75 "$?" "3: outboxfs --wait after kill -9 of the daemon ($(cat "$T/err3"))"
assert_not_contains "$(cat "$T/err3")" "removed"
mount_outbox "$M" "$T/config"
"$OUTBOXFS" --wait --timeout 5 "$st2" 2>"$T/err3b" &
wp=$!
register_pid "$wp"
sleep 0.5
umount_outbox "$M"
sleep 1.5
mount_outbox "$M" "$T/config"
wait "$wp"
assert_eq 75 "$?" "3: outboxfs --wait across an unmount and a mount ($(cat "$T/err3b"))"
assert_not_contains "$(cat "$T/err3b")" "removed"
assert_eq deferred "$(status_state "$st2")" "3: the message after the waits"

# 4. a removal while the outbox stays mounted is still 69
"$OUTBOXFS" --wait --timeout 20 "$st2" 2>"$T/err4" &
wp=$!
register_pid "$wp"
sleep 0.5
rm -f "${st2%.status}" || fail "4: rm of the deferred message"
wait "$wp"
assert_eq 69 "$?" "4: outboxfs --wait on a removed message ($(cat "$T/err4"))"
assert_contains "$(cat "$T/err4")" "removed before it was sent"
umount_outbox "$M"
san_check
exit 0
