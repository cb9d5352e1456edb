#!/usr/bin/env bash
# A refused login (535) pauses the account: the message that met it and
# every later one of that account wait, their status files say why and
# what to do, and no further AUTH reaches the server (providers lock an
# account after repeated failures) however long the retry time, until the
# user fixes the password and touches a message; then all are sent.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
PW='pause-Secret-7'
printf 'wrong-password\n' >"$T/pw"
chmod 600 "$T/pw"
outbox_start -t "$T" -c "auth plain" -c "user alice" \
	-c "passwordeval cat $T/pw" -c "retry_min 1s" -c "retry_max 1s" -- \
	--auth 'PLAIN' --auth-plain-ok --user alice --pass "$PW" \
	--require-auth --log "$T/smtp.log"

printf 'To: bob@example.com\nSubject: one\n\none\n' >"$M/one"
wait_state "$M/one.status" deferred 20
assert_line "$M/one.status" '^error: .*login refused \(535 .*account default is paused.*touch'
printf 'To: bob@example.com\nSubject: two\n\ntwo\n' >"$M/two"
# far past the retry time (1 s): no new login is tried
sleep 4
auths=$(grep -c '^C: AUTH' "$T/smtp.log")
assert_eq 1 "$auths" "AUTH commands the server saw while paused"
assert_line "$M/two.status" '^error: .*account default is paused'
s=$(status_state "$M/two.status")
case $s in queued|deferred) ;; *) fail "two while paused: $s";; esac
assert_eq deferred "$(status_state "$M/one.status")" "one while paused"
note "535: one login, the account paused, both messages say so"

printf '%s\n' "$PW" >"$T/pw"
touch "$M/two"
wait_state "$M/one.status" sent 20
wait_state "$M/two.status" sent 20
grep -q '^error:' "$M/one.status" && fail "an error line stayed: $(cat "$M/one.status")"
note "password fixed, touch: both sent"
san_check
exit 0
