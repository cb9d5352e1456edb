#!/usr/bin/env bash
# Every account appears as a subdirectory: a message written in
# MNT/work/ is sent with account work's from and server; at the top level
# the default account is used, or the one whose from matches From:.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
smtpd_start "$T/rx-work"
work_port=$SMTP_PORT
outbox_start -t "$T" -r rx-home \
	-c "" -c "account work" -c "port $work_port" -c "from worker@work.example"

[ -d "$M/work" ] || fail "no subdirectory for account work: $(ls -la "$M")"

# .queue is the top level's; in an account directory the name is only a
# scratch name (never sent), like any name starting with a dot.
printf 'To: bob@example.com\nSubject: acct scratch\n\nnot sent\n' >"$M/work/.queue" \
	|| fail "cannot write work/.queue (a scratch name there)"
printf 'To: bob@example.com\nSubject: acct sub\n\nvia work\n' >"$M/work/w1"
printf 'To: bob@example.com\nSubject: acct top\n\nvia default\n' >"$M/top"
printf 'From: worker@work.example\nTo: bob@example.com\nSubject: acct from\n\nmatched\n' >"$M/byfrom"

wait_state "$M/work/w1.status" sent 20
wait_state "$M/top.status" sent 20
wait_state "$M/byfrom.status" sent 20

eml=$(one_eml_with "$T/rx-work" "Subject: acct sub") || exit 1
assert_line "${eml%.eml}.env" '^from: <worker@work\.example>$'
assert_contains "$(eml_headers "$eml")" "worker@work.example" "From of the work message"
assert_line "$M/work/w1.status" '^from: worker@work\.example$'
assert_line "$M/work/w1.status" "^server: 127\\.0\\.0\\.1:$work_port"

eml=$(one_eml_with "$T/rx-home" "Subject: acct top") || exit 1
assert_line "${eml%.eml}.env" '^from: <alice@example\.com>$'

eml=$(one_eml_with "$T/rx-work" "Subject: acct from") || exit 1
assert_line "${eml%.eml}.env" '^from: <worker@work\.example>$'

assert_eq "" "$(eml_with "$T/rx-work" "Subject: acct scratch")" "work/.queue was sent"
[ -f "$M/work/.queue" ] || fail "work/.queue (a scratch file there) is gone"
assert_missing "$M/work/.queue.status"   # a scratch file has no status
assert_eq "" "$(eml_with "$T/rx-home" "Subject: acct sub")" "work message at the default server"
assert_eq "" "$(eml_with "$T/rx-work" "Subject: acct top")" "default message at the work server"
exit 0
