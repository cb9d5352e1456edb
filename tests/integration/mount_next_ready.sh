#!/usr/bin/env bash
# The next message of a connection is made ready (prepared, its attempt
# recorded) while the server takes the data of the one before, and the
# reply to that "." still decides what happens to both:
#   the reply is 250: the next goes on the same connection, each message
#   is received once and its status shows its own reply;
#   the reply is 421 (the server closes): the message that got it is
#   deferred, the next one (already recorded as being sent) goes on a
#   new connection, is received once and sent, with no warning that it
#   may arrive twice (none of it had gone out).
# One connection, so the other delivery thread cannot take the message;
# the first DATA reply is held back so that the second message is queued
# before the first one's data goes out, and the first reply to "." is
# held back 1.5 s: the second message shows `sending` before the server
# has sent that reply (made ready after it, as before, it could not).
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
outbox_start -t "$T" -c "connections 1" -c "settle 0" -- --log "$T/smtp.log" \
	--reply 'DATA#1=delay:600:354 go ahead' \
	--reply 'DOT#1=delay:1500:250 2.0.0 held back a while'

# --- 250 to the first ".": the same connection -------------------------------
printf 'To: bob@example.com\nSubject: one-a\n\nfirst\n' >"$M/one-a"
wait_state "$M/one-a.status" sending 10
printf 'To: bob@example.com\nSubject: one-b\n\nsecond\n' >"$M/one-b"
# one-b is recorded as being sent while the server still holds back its
# reply to one-a's "." (before, it waited for that reply)
wait_state "$M/one-b.status" sending 10
grep -q 'held back' "$T/smtp.log" &&
	fail "one-b was made ready only after the reply to one-a's \".\""
wait_state "$M/one-a.status" sent 20
wait_state "$M/one-b.status" sent 20
one_eml_with "$T/rx" "Subject: one-a" >/dev/null || exit 1
one_eml_with "$T/rx" "Subject: one-b" >/dev/null || exit 1
assert_line "$M/one-b.status" '^--- attempt 1 .*connection reused'
n=$(grep -c '^C: EHLO' "$T/smtp.log")
[ "$n" = 1 ] || fail "two messages, one kept connection: $n EHLOs in the server log"
# each status shows the reply to its own "."
assert_line "$M/one-a.status" '^S: 250 2\.0\.0 held back a while$'
grep -q 'held back' "$M/one-b.status" &&
	fail "one-b's status shows the reply to one-a's \".\":
$(cat "$M/one-b.status")"
assert_line "$M/one-b.status" '^S: 250 .*queued as'
note "250: one-b ready before the reply to one-a, both on one connection"

# --- 421 to the first ".": the next on a new connection ------------------------
stop_by_pid "$SMTPD_PID"
smtpd_start "$T/rx2" -p "$OUTBOX_PORT" --log "$T/smtp2.log" \
	--reply 'DATA#1=delay:600:354 go ahead' \
	--reply 'DOT/Subject: two-a=421 4.3.0 going down'
printf 'To: bob@example.com\nSubject: two-a\n\nfirst\n' >"$M/two-a"
wait_state "$M/two-a.status" sending 10
printf 'To: bob@example.com\nSubject: two-b\n\nsecond\n' >"$M/two-b"
wait_state "$M/two-a.status" deferred 20
wait_state "$M/two-b.status" sent 20
assert_line "$M/two-a.status" '^reply: 421 4\.3\.0 going down$'
one_eml_with "$T/rx2" "Subject: two-b" >/dev/null || exit 1
[ -z "$(eml_with "$T/rx2" "Subject: two-a")" ] ||
	fail "the message answered 421 was saved by the server"
grep -qi 'twice' "$M/two-b.status" &&
	fail "two-b was never on the wire before its attempt, yet its status warns:
$(cat "$M/two-b.status")"
assert_line "$M/two-b.status" '^attempts: 1$'
n=$(grep -c '^C: EHLO' "$T/smtp2.log")
[ "$n" = 2 ] || fail "after the 421 the next message needs a new connection: $n EHLOs in the server log"
note "421: two-a deferred, two-b sent once on a new connection"
