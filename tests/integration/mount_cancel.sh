#!/usr/bin/env bash
# Removing a message:
#   a deferred message rm'd is cancelled: NAME and NAME.status are gone,
#   it is not in .queue, it is never delivered, not even after a remount;
#   while its SMTP transaction is in progress, rm fails with EBUSY;
#   a sent message can be removed (both files go).
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -n

# --- cancel a deferred message ---------------------------------------------
printf 'To: bob@example.com\nSubject: cancel me\n\nnever\n' >"$M/gone"
printf 'To: bob@example.com\nSubject: keep me\n\nkept\n' >"$M/kept"
wait_state "$M/gone.status" deferred 20
wait_state "$M/kept.status" deferred 20
rm "$M/gone" || fail "rm of a deferred message failed"
assert_missing "$M/gone"
assert_missing "$M/gone.status"
ls -a "$M" | grep -q '^gone' && fail "ls still shows the cancelled message: $(ls -a "$M")"
grep -q '^gone ' "$M/.queue" && fail ".queue still lists the cancelled message:
$(cat "$M/.queue")"

# Across a remount the cancellation holds.
umount_outbox "$M"
smtpd_start "$T/rx" -p "$OUTBOX_PORT"
mount_outbox "$M" "$T/config"
assert_missing "$M/gone"
[ -f "$M/kept" ] || fail "the deferred message kept is missing after a remount: $(ls -a "$M")"
touch "$M/kept"
wait_state "$M/kept.status" sent 20
printf 'To: bob@example.com\nSubject: after cancel\n\nnew\n' >"$M/new"
wait_state "$M/new.status" sent 20
sleep 0.5
assert_eq "" "$(eml_with "$T/rx" "cancel me")" "the cancelled message was delivered"
assert_eq 2 "$(count_eml "$T/rx")" "messages received"
note "cancelled message never delivered"

# --- rm of a draft -------------------------------------------------------------
# Open, then closed and removed within the settle time: never sent.
exec 7>"$M/draft1"
printf 'To: bob@example.com\nSubject: draft removed\n\nno\n' >&7
rm "$M/draft1" || fail "rm of an open draft failed"
exec 7>&-
printf 'To: bob@example.com\nSubject: draft removed\n\nno\n' >"$M/draft2"
rm "$M/draft2" || fail "rm of a settling draft failed"
assert_missing "$M/draft1"
assert_missing "$M/draft1.status"
assert_missing "$M/draft2.status"
printf 'To: bob@example.com\nSubject: after drafts\n\nnew\n' >"$M/new2"
wait_state "$M/new2.status" sent 20
sleep 0.5
assert_eq "" "$(eml_with "$T/rx" "draft removed")" "a removed draft was delivered"
note "removed drafts never delivered"

# --- EBUSY while sending ---------------------------------------------------
stop_by_pid "$SMTPD_PID"
smtpd_start "$T/rx2" -p "$OUTBOX_PORT" --reply 'DOT=delay:4000:250 2.0.0 Ok slow'
printf 'To: bob@example.com\nSubject: busy\n\nslow\n' >"$M/busy"
wait_state "$M/busy.status" sending 20
"$PY" - "$M/busy" <<'PYEOF' || fail "rm of a message being sent did not fail with EBUSY"
import errno, os, sys
try:
    os.unlink(sys.argv[1])
except OSError as e:
    sys.exit(0 if e.errno == errno.EBUSY else "unlink: %s (want EBUSY)" % e)
sys.exit("unlink succeeded")
PYEOF
wait_state "$M/busy.status" sent 20
one_eml_with "$T/rx2" "Subject: busy" >/dev/null || exit 1
note "EBUSY while sending"

# --- rm of a sent message ---------------------------------------------------
rm "$M/busy" || fail "rm of a sent message failed"
assert_missing "$M/busy"
assert_missing "$M/busy.status"
exit 0
