#!/usr/bin/env bash
# Temporary failures defer, and a touch retries at once:
#   no server listening -> deferred with next-attempt and error:; the
#   server starts on that port, touch -> sent, one copy, 2 attempts;
#   451 to MAIL -> deferred; touch -> sent;
#   a new submission also retries the deferred ones;
#   a server that never greets: deferred after the configured timeout.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -n

# --- connection refused ---------------------------------------------------
printf 'To: bob@example.com\nSubject: retry refused\n\nlater\n' >"$M/later"
wait_state "$M/later.status" deferred 20
S=$M/later.status
assert_line "$S" '^attempts: 1$'
assert_line "$S" '^next-attempt: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
assert_line "$S" '^error: .+'
assert_line "$S" "^--- attempt 1 .*127\\.0\\.0\\.1:$OUTBOX_PORT"
# next-attempt is in the future, within the retry bounds (5 .. 67 min).
"$PY" - "$S" <<'PYEOF' || fail "next-attempt of a fresh deferred message is not 5 minutes or so ahead"
import sys, datetime
for l in open(sys.argv[1]):
    if l.startswith("next-attempt: "):
        t = datetime.datetime.strptime(l.split(": ", 1)[1].strip(), "%Y-%m-%dT%H:%M:%SZ")
        d = (t - datetime.datetime.utcnow()).total_seconds()
        # A fresh message: its age (0) clamped to retry_min (5 min), plus
        # a little jitter.
        sys.exit(0 if 200 <= d <= 600 else "next-attempt is %d s away" % d)
sys.exit("no next-attempt")
PYEOF
grep -F "later" "$M/.queue" | grep -q deferred ||
	fail ".queue should list later as deferred:
$(cat "$M/.queue")"

smtpd_start "$T/rx" -p "$OUTBOX_PORT"
touch "$M/later"
wait_state "$S" sent 20
assert_line "$S" '^attempts: 2$'
assert_line "$S" '^--- attempt 2 '
grep -q '^next-attempt:' "$S" && fail "a sent message still has next-attempt:
$(cat "$S")"
one_eml_with "$T/rx" "Subject: retry refused" >/dev/null || exit 1
note "refused connection: deferred, then sent after touch"
stop_by_pid "$SMTPD_PID"

# --- 451 to MAIL FROM -------------------------------------------------------
smtpd_start "$T/rx2" -p "$OUTBOX_PORT" --reply 'MAIL#1=451 4.3.0 Try again later'
printf 'To: bob@example.com\nSubject: retry 451\n\nlater\n' >"$M/busy"
wait_state "$M/busy.status" deferred 20
assert_line "$M/busy.status" '^reply: 451 4\.3\.0 Try again later$'
assert_line "$M/busy.status" '^S: 451 4\.3\.0 Try again later$'
touch "$M/busy"
wait_state "$M/busy.status" sent 20
one_eml_with "$T/rx2" "Subject: retry 451" >/dev/null || exit 1
note "451: deferred, then sent after touch"

# --- a new submission retries the deferred ones too ----------------------------
stop_by_pid "$SMTPD_PID"
smtpd_start "$T/rx3" -p "$OUTBOX_PORT" --reply 'RCPT#1=452 4.2.2 Mailbox full'
printf 'To: bob@example.com\nSubject: retry new\n\nfirst\n' >"$M/first"
wait_state "$M/first.status" deferred 20
assert_line "$M/first.status" '^rcpt: bob@example\.com 452 4\.2\.2 Mailbox full$'
printf 'To: bob@example.com\nSubject: retry trigger\n\nsecond\n' >"$M/second"
wait_state "$M/second.status" sent 20
wait_state "$M/first.status" sent 20
one_eml_with "$T/rx3" "Subject: retry new" >/dev/null || exit 1
one_eml_with "$T/rx3" "Subject: retry trigger" >/dev/null || exit 1
note "a new submission retried the deferred message"
umount_outbox "$M"

# --- timeout ---------------------------------------------------------------------
smtpd_start "$T/mute" --reply 'GREETING=delay:60000:220 too late'
mkdir -p "$T/t"
write_config "$T/t/config" "$SMTP_PORT" "timeout 2"
mount_outbox "$T/t/mnt" "$T/t/config"
printf 'To: bob@example.com\nSubject: retry timeout\n\nx\n' >"$T/t/mnt/mute"
wait_state "$T/t/mnt/mute.status" deferred 20
assert_line "$T/t/mnt/mute.status" '^error: .*([Tt]ime|within|no answer)'
note "no greeting: deferred after the timeout: $(sed -n 's/^error: //p' "$T/t/mnt/mute.status")"
exit 0
