#!/usr/bin/env bash
# outboxfs-sendmail as its callers invoke it: cron, git send-email, mutt,
# PHP (-t -i) with Bcc, -f/-F on a message without From:, the lone-dot
# rule; --wait and outboxfs --wait exit codes for sent, failed (data and
# server), partial and deferred; -v prints the transcript.
. "$(dirname "$0")/../lib.sh" || exit 1
: "${SENDMAIL:=$(dirname "$OUTBOXFS")/outboxfs-sendmail}"

outbox_start -c "retry_min 600" -- \
	--reply 'RCPT/refused@=550 5.1.1 No such user' \
	--reply 'RCPT/later@=451 4.3.0 Try later'
sm() { "$SENDMAIL" -C "$T/config" "$@"; }
env_of() { cat "${1%.eml}.env"; }

# cron (Debian cron 3.0): -FCronDaemon -i -B8BITMIME -oem MAILTO
msg_cron='From: root@localhost (Cron Daemon)
To: bob@example.com
Subject: Cron <root@host> run-parts /etc/cron.daily

output of the job
.
still the job (-i: a lone dot is data)'
printf '%s\n' "$msg_cron" | sm -FCronDaemon -i -B8BITMIME -oem --wait=20 bob@example.com
assert_eq 0 "$?" "cron's invocation with --wait"
eml=$(one_eml_with "$T/rx" "Subject: Cron <root@host>") || exit 1
assert_body "$eml" "output of the job
.
still the job (-i: a lone dot is data)"
assert_contains "$(eml_headers "$eml")" "From: root@localhost (Cron Daemon)"
# cron's own From: root (Cron Daemon) and MAILTO=root: unqualified, they
# are completed with the account's domain (here msmtp's default,
# localhost), never failed for lack of an @ (outboxfs.conf(5),
# Recipients); aliases are tested in mount_keys.
printf 'From: root (Cron Daemon)\nTo: root\nSubject: cron unqualified\n\nx\n' |
	sm -FCronDaemon -i -B8BITMIME -oem --wait=20 root 2>"$T/err"
assert_eq 0 "$?" "--wait for an unqualified cron recipient"
eml=$(one_eml_with "$T/rx" "Subject: cron unqualified") || exit 1
assert_line "${eml%.eml}.env" '^rcpt: <root@localhost>$'
assert_contains "$(eml_headers "$eml")" "From: root@localhost (Cron Daemon)"

# git send-email: -i, envelope recipients differ from the headers
printf 'From: Alice <alice@example.com>\nTo: list@example.com\nCc: carol@example.com\nSubject: [PATCH] git one\nMessage-ID: <git.1@example.com>\n\n---\n.\n' |
	sm -i dave@example.com erin@example.com
assert_eq 0 "$?" "git send-email's invocation"
wait_until 10 sh -c "grep -l 'git one' '$T/rx'/*.eml >/dev/null 2>&1" || fail "git mail not received"
eml=$(one_eml_with "$T/rx" "Subject: [PATCH] git one") || exit 1
e=$(env_of "$eml")
assert_contains "$e" "rcpt: <dave@example.com>"
assert_contains "$e" "rcpt: <erin@example.com>"
assert_not_contains "$e" "list@example.com" "envelope (headers are not recipients)"
assert_not_contains "$e" "carol@example.com" "envelope"
h=$(eml_headers "$eml")
assert_contains "$h" "To: list@example.com"
assert_contains "$h" "Cc: carol@example.com"
assert_not_contains "$h" "dave@example.com" "headers (no header for argument recipients)"

# mutt: -oem -oi -f addr -- rcpt
printf 'From: Alice <alice@example.com>\nTo: frank@example.com\nSubject: mutt one\n\nhi\n' |
	sm --wait=20 -oem -oi -f bounce@example.com -- frank@example.com
assert_eq 0 "$?" "mutt's invocation"
eml=$(one_eml_with "$T/rx" "Subject: mutt one") || exit 1
e=$(env_of "$eml")
assert_contains "$e" "from: <bounce@example.com>" "envelope sender (-f)"
assert_contains "$(eml_headers "$eml")" "From: Alice <alice@example.com>"

# PHP's mail(): -t -i, with Bcc: removed, its address an envelope one
printf 'To: gina@example.com\nBcc: hidden@example.com\nSubject: php one\n\nbody\n' |
	sm -t -i --wait=20
assert_eq 0 "$?" "-t -i with Bcc"
eml=$(one_eml_with "$T/rx" "Subject: php one") || exit 1
e=$(env_of "$eml")
assert_contains "$e" "rcpt: <gina@example.com>"
assert_contains "$e" "rcpt: <hidden@example.com>"
assert_not_contains "$(cat "$eml")" "hidden@example.com" "message (Bcc removed)"

# -t and arguments: both (msmtp's rule); -f and -F on a message without
# From: make one; without -i a lone dot ends the message
printf 'To: henry@example.com\nSubject: no from\n\nbefore\n.\nafter\n' |
	sm -t -f robot@example.com -F 'Robot "R2" Unit' ivan@example.com --wait=20
assert_eq 0 "$?" "-t with an argument, -f -F"
eml=$(one_eml_with "$T/rx" "Subject: no from") || exit 1
e=$(env_of "$eml")
assert_contains "$e" "rcpt: <henry@example.com>"
assert_contains "$e" "rcpt: <ivan@example.com>"
assert_contains "$e" "from: <robot@example.com>"
assert_contains "$(eml_headers "$eml")" 'From: "Robot \"R2\" Unit" <robot@example.com>'
assert_body "$eml" "before"

# --wait codes: failed by the server (69), partial (67), deferred (75)
printf 'To: refused@example.com\nSubject: refused one\n\nx\n' | sm -t --wait=20 2>/dev/null
assert_eq 69 "$?" "--wait for a recipient refused by the server"
printf 'To: refused@example.com, jack@example.com\nSubject: partial one\n\nx\n' |
	sm -t --wait=20 2>/dev/null
assert_eq 67 "$?" "--wait for a partial"
printf 'To: later@example.com\nSubject: deferred one\n\nx\n' | sm -t --wait=3 2>"$T/err"
assert_eq 75 "$?" "--wait for a deferred message"
assert_contains "$(cat "$T/err")" "not sent yet"
# -v: the transcript as it grows, up to the reply to the final dot
out=$(printf 'To: kate@example.com\nSubject: verbose one\n\nx\n' | sm -t -v --wait=20)
assert_eq 0 "$?" "-v --wait"
assert_contains "$out" "C: RCPT TO:<kate@example.com>"
assert_contains "$out" "S: 250 2.0.0 Ok: queued"

# -N, -R, -V: NOTIFY= on RCPT, RET= and ENVID= on MAIL (the server offers
# DSN)
printf 'To: dsn@example.com\nSubject: dsn one\n\nx\n' |
	sm -t -N failure,delay -R hdrs -V env42 --wait=20
assert_eq 0 "$?" "--wait for the DSN message"
eml=$(one_eml_with "$T/rx" "Subject: dsn one") || exit 1
assert_contains "$(env_of "$eml")" "rcpt-params: <dsn@example.com> NOTIFY=FAILURE,DELAY" "the envelope"
assert_contains "$(env_of "$eml")" "RET=HDRS" "the envelope"
assert_contains "$(env_of "$eml")" "ENVID=env42" "the envelope"

# outboxfs --wait on status files (no mount made by it)
d=$(grep -l '^state: deferred' "$M"/sendmail-*.status | head -n1)
s=$(grep -l 'verbose one' "$M"/sendmail-* 2>/dev/null | grep -v status | head -n1)
[ -n "$d" ] && [ -n "$s" ] || fail "status files for outboxfs --wait: $(ls "$M")"
"$OUTBOXFS" --wait "$s"; assert_eq 0 "$?" "outboxfs --wait on a sent message"
"$OUTBOXFS" --wait --timeout 1 "$d"; assert_eq 75 "$?" "outboxfs --wait --timeout 1 on a deferred one"
"$OUTBOXFS" --wait --timeout 1 "$s" "$d"; assert_eq 75 "$?" "outboxfs --wait on both"
"$OUTBOXFS" --wait "$M/nonexistent" 2>/dev/null; assert_eq 66 "$?" "outboxfs --wait on no message"
echo "sendmail_callers: ok"
