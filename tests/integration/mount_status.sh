#!/usr/bin/env bash
# NAME.status of a sent message: the header keys with their values, a
# blank line, then the transcript of the attempt in the order the
# conversation happened (220, EHLO, 250, MAIL FROM, RCPT TO, DATA, 354,
# the data line, ".", 250, QUIT, 221). The status file exists from the
# moment the message is created and cannot be written.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -c "domain client.example.org"

# The status file appears with the message, before it is closed.
exec 7>"$M/hello"
[ -f "$M/hello.status" ] || fail "hello.status should exist while hello is being written"
assert_eq draft "$(status_state "$M/hello.status")" "state of an open message"
printf 'To: bob@example.com\nSubject: status\n\nHello Bob\n' >&7
exec 7>&-
ls "$M" | grep -qx 'hello.status' || fail "ls does not show hello.status: $(ls -a "$M")"

wait_state "$M/hello.status" sent 20
S=$M/hello.status
wait_quit "$S" 10

# The message reads back as written, with its size.
want='To: bob@example.com
Subject: status

Hello Bob'
assert_eq "$want" "$(cat "$M/hello")" "content of hello read back"
assert_eq 47 "$(stat -c %s "$M/hello")" "size of hello"
# The status file's size is what cat reads from it.
assert_eq "$(cat "$S" | wc -c)" "$(stat -c %s "$S")" "size of hello.status against its content"
eml=$(one_eml_with "$T/rx" "Subject: status") || exit 1
wire=$(stat -c %s "$eml")

# Header block: keys and values.
head=$(sed '/^$/q' "$S")
assert_eq "state: sent" "$(sed -n 1p "$S")" "first line of hello.status"
assert_line "$S" '^message-id: <[^>]+@[^>]+>$'
assert_line "$S" '^from: alice@example\.com$'
assert_line "$S" '^recipients: 1$'
assert_line "$S" '^size: [0-9]+$'
assert_line "$S" '^queued: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
assert_line "$S" '^attempts: 1$'
assert_line "$S" "^server: 127\\.0\\.0\\.1:$SMTP_PORT( |\$)"
assert_line "$S" '^rcpt: bob@example\.com 250( |$)'
assert_line "$S" '^reply: 250( |$)'
assert_not_contains "$head" "next-attempt:" "header of a sent message"
assert_not_contains "$head" "error:" "header of a sent message"
# Every header line is "key: value" with a lowercase key.
bad=$(printf '%s\n' "$head" | grep -vE '^([a-z][a-z-]*: .*)?$' || true)
assert_eq "" "$bad" "header lines not of the form 'key: value'"

# size: is what went on the wire, and the data line says the same.
size=$(sed -n 's/^size: //p' "$S")
assert_eq "$wire" "$size" "size: against the bytes the server received"
assert_line "$S" "^C: \\[$size bytes of message data\\]\$"
assert_line "$S" "^C: MAIL FROM:<alice@example\\.com>( SIZE=$size)?( |\$)"

# Transcript: its lines in conversation order (with PIPELINING the client
# may send MAIL, RCPT and DATA before the replies; the order below holds
# either way).
"$PY" - "$S" <<'PYEOF' || fail "transcript of hello.status is not in conversation order"
import re, sys
text = open(sys.argv[1]).read()
head, sep, tr = text.partition("\n\n")
if not sep:
    sys.exit("no blank line after the header")
lines = tr.splitlines()
if not lines or not re.match(r"--- attempt 1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1:\d+", lines[0]):
    sys.exit("first transcript line should be '--- attempt 1 TIME 127.0.0.1:PORT', is %r" % (lines[:1],))
for l in lines[1:]:
    if not (l.startswith("S: ") or l.startswith("C: ") or l.startswith("--- attempt ")):
        sys.exit("transcript line is neither S:, C: nor --- attempt: %r" % l)
steps = [r"S: 220 ", r"C: EHLO client\.example\.org$", r"S: 250[ -]",
         r"C: MAIL FROM:<alice@example\.com>", r"C: RCPT TO:<bob@example\.com>",
         r"C: DATA$", r"S: 354 ", r"C: \[\d+ bytes of message data\]$", r"C: \.$",
         r"S: 250 ", r"C: QUIT$", r"S: 221 "]
pos = 0
for s in steps:
    while pos < len(lines) and not re.match(s, lines[pos]):
        pos += 1
    if pos == len(lines):
        sys.exit("transcript: no line matching /%s/ where expected; transcript:\n%s" % (s, tr))
    pos += 1
# Replies to MAIL and RCPT are in the transcript too: 4 or more S: 250.
if sum(1 for l in lines if l.startswith("S: 250")) < 4:
    sys.exit("expected replies to EHLO, MAIL, RCPT and the data, found:\n" + tr)
PYEOF

# The status file cannot be written, nor removed alone.
"$PY" - "$S" <<'PYEOF' || fail "hello.status could be opened for writing"
import os, sys
try:
    os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
except OSError:
    sys.exit(0)
sys.exit(1)
PYEOF
[ "$(stat -c %a "$S")" = 444 ] || [ "$(stat -c %a "$S")" = 400 ] ||
	fail "hello.status mode should be read-only, is $(stat -c %a "$S")"
exit 0
