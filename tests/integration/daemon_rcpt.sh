#!/usr/bin/env bash
# Per-recipient results: one recipient deferred (451), one refused (550),
# one accepted. The message is deferred; the retry goes to the deferred
# recipient only; the end state is partial with one rcpt: line each.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -- --reply 'RCPT#1/carol@=451 4.7.1 Try again later' \
	--reply 'RCPT/nobody@=550 5.1.1 No such user'

printf 'To: bob@example.com, carol@example.com\nCc: nobody@example.com\nSubject: rcpt split\n\nhi\n' >"$M/split"
wait_state "$M/split.status" deferred 20
S=$M/split.status
assert_line "$S" '^recipients: 3$'
assert_line "$S" '^rcpt: bob@example\.com 250 '
assert_line "$S" '^rcpt: carol@example\.com 451 4\.7\.1 Try again later$'
assert_line "$S" '^rcpt: nobody@example\.com 550 5\.1\.1 No such user$'
assert_line "$S" '^error: recipient carol@example\.com deferred by server$'
wait_count "$T/rx" 1 10
touch "$M/split"
wait_state "$S" partial 20
assert_line "$S" '^attempts: 2$'
assert_line "$S" '^rcpt: carol@example\.com 250 '
assert_line "$S" '^rcpt: nobody@example\.com 550 '
assert_line "$S" '^error: recipient nobody@example\.com refused by server'
grep -q '^next-attempt:' "$S" && fail "a final message has next-attempt:"
sleep 0.5
assert_eq 2 "$(count_eml "$T/rx")" "transactions that delivered"
# the second transaction went to carol alone
second=$(grep -l '^rcpt: <carol@example.com>' "$T/rx"/*.env)
assert_eq 1 "$(printf '%s\n' "$second" | grep -c .)" "deliveries to carol"
assert_eq 1 "$(grep -c '^rcpt:' "$second")" "recipients of the retry"
assert_eq 1 "$(grep -l '^rcpt: <bob@example.com>' "$T/rx"/*.env | grep -c .)" "deliveries to bob"
assert_eq partial "$(sed -n 's/^split \([a-z]*\) .*/\1/p' "$M/.queue")" "state in .queue"
exit 0
