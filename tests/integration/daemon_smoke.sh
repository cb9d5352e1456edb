#!/usr/bin/env bash
# Daemon smoke test: one message through a real mount to testsmtpd, the
# status keys, the read-only rules after submission, the refusals
# (EPERM/EACCES), rm of a draft and of a deferred message, a touch that
# retries, and the exact bytes received.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start

# --- one message, sent --------------------------------------------------------
printf 'To: bob@example.com\nSubject: smoke\n\nHello Bob\n.leading dot\n' >"$M/hello"
[ -f "$M/hello.status" ] || fail "no hello.status right after the write"
wait_state "$M/hello.status" sent 20
S=$M/hello.status
wait_quit "$S" 10
for key in state message-id from recipients size queued attempts server rcpt reply; do
	grep -q "^$key: " "$S" || fail "status lacks $key:
$(cat "$S")"
done
assert_line "$S" '^rcpt: bob@example\.com 250 '
assert_line "$S" '^--- attempt 1 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z 127\.0\.0\.1:'
assert_line "$S" '^C: \.$'
assert_line "$S" '^S: 221'
grep -q '^next-attempt:' "$S" && fail "a sent message has next-attempt:"
[ "$(stat -c %s "$S")" = "$(cat "$S" | wc -c)" ] ||
	fail "status size $(stat -c %s "$S") differs from its text $(cat "$S" | wc -c)"
eml=$(one_eml_with "$T/rx" "Subject: smoke") || exit 1
assert_body "$eml" "Hello Bob
.leading dot"
note "sent, status complete, body intact"

# --- read-only after submission ------------------------------------------------
assert_eq 400 "$(stat -c %a "$M/hello")" "mode of a submitted message"
if printf 'x' 2>/dev/null >>"$M/hello"; then fail "appending to a sent message worked"; fi
if truncate -s 0 "$M/hello" 2>/dev/null; then fail "truncating a sent message worked"; fi
err=$( { printf 'x' >>"$M/hello"; } 2>&1 )
assert_contains "$err" "Permission denied" "error writing a sent message"
grep -q '^hello sent 1 ' "$M/.queue" || fail ".queue: $(cat "$M/.queue")"
note "sent message is read-only"

# --- refusals --------------------------------------------------------------------
err=$(rm "$M/hello.status" 2>&1) && fail "rm of a status file worked"
assert_contains "$err" "Operation not permitted" "rm NAME.status"
err=$( { : >"$M/x.status"; } 2>&1 ) && fail "creating x.status worked"
assert_contains "$err" "Operation not permitted" "create x.status"
mkdir "$M/d" 2>/dev/null && fail "mkdir worked"
ln -s hello "$M/lnk" 2>/dev/null && fail "symlink worked"
ln "$M/hello" "$M/hard" 2>/dev/null && fail "hard link worked"
{ : >"$M/.queue"; } 2>/dev/null && fail ".queue is writable"
mv "$M/hello.status" "$M/other" 2>/dev/null && fail "renaming a status file worked"
note "status, .queue, mkdir, links refused"

# --- rm of a draft and of an empty file -----------------------------------------------
exec 5>"$M/draft"
printf 'To: bob@example.com\n' >&5
assert_eq draft "$(status_state "$M/draft.status")" "state while open"
exec 5>&-
: >"$M/empty"
sleep 0.5
assert_eq draft "$(status_state "$M/empty.status")" "an empty file"
rm "$M/empty" || fail "rm of an empty draft failed"
[ -e "$M/empty.status" ] && fail "empty.status survived rm empty"
note "empty file stays a draft, rm removes both"

# --- deferred: rm cancels, touch retries ----------------------------------------------
stop_by_pid "$SMTPD_PID"
printf 'To: bob@example.com\nSubject: smoke later\n\nlater\n' >"$M/later"
printf 'To: bob@example.com\nSubject: smoke cancel\n\ncancel\n' >"$M/cancel"
wait_state "$M/later.status" deferred 20
wait_state "$M/cancel.status" deferred 20
assert_line "$M/later.status" '^next-attempt: '
assert_line "$M/later.status" '^error: '
rm "$M/cancel" || fail "rm of a deferred message failed"
[ -e "$M/cancel.status" ] && fail "cancel.status survived"
smtpd_start "$T/rx2" -p "$SMTP_PORT"
touch "$M/later"
wait_state "$M/later.status" sent 20
assert_line "$M/later.status" '^attempts: 2$'
one_eml_with "$T/rx2" "Subject: smoke later" >/dev/null || exit 1
assert_eq "" "$(eml_with "$T/rx2" "Subject: smoke cancel")" "a cancelled message was sent"
note "deferred: rm cancels, touch retries"
exit 0
