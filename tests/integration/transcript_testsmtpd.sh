#!/usr/bin/env bash
# Transcript tests of the SMTP client against testsmtpd on 127.0.0.1:
# smtpsend sends message files; each case asserts the exact sequence of
# client lines in the transcript, the result line, and that the bytes the
# server saved are the expected wire bytes (CRLF line ends, dot-stuffed
# lines unstuffed by the server, Bcc gone).
set -u
. "$(dirname "$0")/../lib-servers.sh"
srv_need_built "$TOOLS/testsmtpd" "$TOOLS/smtpsend"
srv_scratch tmp

fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { fails=$((fails + 1)); echo "FAIL: $*"; }

# start NAME args...: testsmtpd with spool $tmp/NAME/sp; sets PORT.
start() {
	srv_testsmtpd "$1" 60 "${@:2}"
	printf -v "PORT_$1" '%s' "$PORT"
}

# send NAME FILE [smtpsend args...]: output in $tmp/NAME.out, status in RC.
send() {
	local name=$1 file=$2
	shift 2
	timeout 60 "$TOOLS/smtpsend" -h 127.0.0.1 -p "$PORT" -f alice@example.com \
		--helo client.test --timeout 10000 "$@" "$file" >"$tmp/$name.out" 2>&1
	RC=$?
}

# expect_c NAME: stdin is the exact list of client lines wanted.
expect_c() {
	local name=$1
	if diff -u - <(sed -n 's/^C: //p' "$tmp/$name.out") >"$tmp/$name.diff"; then
		ok
	else
		bad "$name: client lines differ (want -, got +):"
		cat "$tmp/$name.diff"
		echo "--- transcript:"; cat "$tmp/$name.out"
	fi
}

# expect_line NAME REGEX: some output line matches.
expect_line() {
	if grep -Eq -- "$2" "$tmp/$1.out"; then ok; else
		bad "$1: no line matching /$2/"; cat "$tmp/$1.out"; fi
}

no_line() {
	if grep -Eq -- "$2" "$tmp/$1.out"; then
		bad "$1: unexpected line matching /$2/"; cat "$tmp/$1.out"
	else ok; fi
}

# same_bytes WHAT GOT WANT
same_bytes() {
	if cmp -s "$2" "$3"; then ok; else
		bad "$1: saved bytes differ from the expected wire bytes"
		cmp "$2" "$3"; od -c "$2" | head -20; echo ---; od -c "$3" | head -20
	fi
}

size_of() { sed -n 's/^C: MAIL FROM:.* SIZE=\([0-9]*\).*/\1/p' "$tmp/$1.out" | head -n1; }
bytes_of() { sed -n 's/^C: \[\([0-9]*\) bytes of message data\]/\1/p' "$tmp/$1.out" | head -n1; }

# ---- 1. plain message, LF line ends, dot lines, Bcc, pipelining ----
start A
cat >"$tmp/m1" <<'EOF'
From: Alice <alice@example.com>
To: bob@example.com, Carol <carol@example.com>
Bcc: dan@example.com
Subject: transcript test
Date: Sat, 28 Nov 2026 16:00:00 +0000
Message-ID: <t1@example.com>

Hello Bob,
.a line with a dot
..two dots
.
end
EOF
send m1 "$tmp/m1"
[ "$RC" -eq 0 ] && ok || bad "m1: exit $RC"
n=$(size_of m1) b=$(bytes_of m1)
expect_c m1 <<EOF
EHLO client.test
MAIL FROM:<alice@example.com> SIZE=$n
RCPT TO:<bob@example.com>
RCPT TO:<carol@example.com>
RCPT TO:<dan@example.com>
DATA
[$b bytes of message data]
.
QUIT
EOF
expect_line m1 '^S: 220 '
expect_line m1 '^S: 250 2\.0\.0 Ok: queued as 1$'
expect_line m1 '^result: sent 250 '
expect_line m1 '^rcpt: dan@example\.com ok 250 '
# the saved message: Bcc gone, CRLF, unstuffed = the input itself
grep -v '^Bcc:' "$tmp/m1" | sed 's/$/\r/' >"$tmp/m1.want"
same_bytes m1 "$tmp/A/sp/1.eml" "$tmp/m1.want"
# the wire carried one more byte per stuffed line (3 lines start with .)
want_b=$(( $(stat -c %s "$tmp/m1.want") + 3 ))
[ "$b" = "$want_b" ] && ok || bad "m1: $b bytes of data, want $want_b"
[ "$n" -ge "$b" ] 2>/dev/null && ok || bad "m1: SIZE=$n below the $b bytes sent"
grep -q '^rcpt: <dan@example.com>$' "$tmp/A/sp/1.env" && ok || bad "m1: Bcc recipient not in the envelope"
if grep -q 'improper pipelining' "$tmp/A/log"; then bad "m1: improper pipelining"; else ok; fi

# ---- 2. CRLF input with dot-only and dot-space lines; 2 messages on one
# connection, no RSET between them ----
printf 'From: alice@example.com\r\nTo: bob@example.com\r\nSubject: crlf\r\nDate: Sat, 28 Nov 2026 16:00:00 +0000\r\nMessage-ID: <t2@example.com>\r\n\r\n.\r\n. x\r\n...\r\nlast\r\n' >"$tmp/m2"
send m2 "$tmp/m2" -n 2
[ "$RC" -eq 0 ] && ok || bad "m2: exit $RC"
n=$(size_of m2) b=$(bytes_of m2)
expect_c m2 <<EOF
EHLO client.test
MAIL FROM:<alice@example.com> SIZE=$n
RCPT TO:<bob@example.com>
DATA
[$b bytes of message data]
.
MAIL FROM:<alice@example.com> SIZE=$n
RCPT TO:<bob@example.com>
DATA
[$b bytes of message data]
.
QUIT
EOF
same_bytes m2 "$tmp/A/sp/2.eml" "$tmp/m2"
same_bytes m2b "$tmp/A/sp/3.eml" "$tmp/m2"

# ---- 3. a body without a final line end gets CRLF ----
printf 'From: alice@example.com\nTo: bob@example.com\nSubject: noeol\nDate: Sat, 28 Nov 2026 16:00:00 +0000\nMessage-ID: <t3@example.com>\n\nno newline at the end' >"$tmp/m3"
send m3 "$tmp/m3"
{ cat "$tmp/m3"; echo; } | sed 's/$/\r/' >"$tmp/m3.want"
same_bytes m3 "$tmp/A/sp/4.eml" "$tmp/m3.want"

# ---- 4. one recipient refused, others delivered ----
start B --reply 'RCPT/carol@=550 5.1.1 No such user'
send m4 "$tmp/m1"
[ "$RC" -eq 1 ] && ok || bad "m4: exit $RC, want 1 (partial)"
expect_line m4 '^rcpt: carol@example\.com perm 550 5\.1\.1 No such user$'
expect_line m4 '^rcpt: bob@example\.com ok 250 '
expect_line m4 '^result: partial 250 '
if grep -q '^rcpt: <carol@example.com>$' "$tmp/B/sp/1.env"; then bad "m4: carol delivered"; else ok; fi
same_bytes m4 "$tmp/B/sp/1.eml" "$tmp/m1.want"

# ---- 5. every recipient refused: RSET, never DATA ----
start C --reply 'RCPT=550 5.1.1 No such user'
send m5 "$tmp/m2"
[ "$RC" -eq 1 ] && ok || bad "m5: exit $RC"
n=$(size_of m5)
# with PIPELINING the DATA went out with the RCPTs and got 554 (503)
expect_c m5 <<EOF
EHLO client.test
MAIL FROM:<alice@example.com> SIZE=$n
RCPT TO:<bob@example.com>
DATA
RSET
QUIT
EOF
expect_line m5 '^result: error permanent permanent RCPT TO: no recipient accepted'
[ ! -e "$tmp/C/sp/1.eml" ] && ok || bad "m5: a message was saved"

# ---- 6. no EHLO (HELO fallback), no pipelining: one command at a time ----
start D --no-ehlo
send m6 "$tmp/m2"
[ "$RC" -eq 0 ] && ok || bad "m6: exit $RC"
b=$(bytes_of m6)
expect_c m6 <<EOF
EHLO client.test
HELO client.test
MAIL FROM:<alice@example.com>
RCPT TO:<bob@example.com>
DATA
[$b bytes of message data]
.
QUIT
EOF
same_bytes m6 "$tmp/D/sp/1.eml" "$tmp/m2"

# ---- 7. 421 to MAIL: temporary, no more commands, not even QUIT ----
start E --no-pipelining --reply 'MAIL=421 4.3.2 Shutting down'
send m7 "$tmp/m2"
[ "$RC" -eq 1 ] && ok || bad "m7: exit $RC"
n=$(size_of m7)
expect_c m7 <<EOF
EHLO client.test
MAIL FROM:<alice@example.com> SIZE=$n
EOF
expect_line m7 '^result: error temporary temporary MAIL FROM: server answered MAIL FROM with 421 4\.3\.2 Shutting down$'

# ---- 8. SIZE too small: refused before MAIL, with both sizes ----
start F --size 100
send m8 "$tmp/m1"
[ "$RC" -eq 1 ] && ok || bad "m8: exit $RC"
expect_c m8 <<EOF
EHLO client.test
QUIT
EOF
expect_line m8 '^result: error permanent permanent MAIL FROM: message is [0-9]+ bytes, the server accepts at most 100 '

# ---- 9. connection lost after the dot (saved, no reply): maybe
# delivered, temporary ----
start G --reply 'DOT=saveclose'
send m9 "$tmp/m2"
[ "$RC" -eq 1 ] && ok || bad "m9: exit $RC"
expect_line m9 '^maybe-delivered: yes$'
expect_line m9 '^result: error connection temporary end of data: '
no_line m9 '^C: QUIT$'
same_bytes m9 "$tmp/G/sp/1.eml" "$tmp/m2"

# ---- 10. final 451: the recipient is deferred, the session goes on ----
start H --reply 'DOT#1=451 4.7.1 Try again later'
send m10 "$tmp/m2"
[ "$RC" -eq 1 ] && ok || bad "m10: exit $RC"
expect_line m10 '^rcpt: bob@example\.com temp 451 4\.7\.1 Try again later$'
expect_line m10 '^result: error temporary temporary end of data: server answered end of data with 451 4\.7\.1 Try again later$'
expect_line m10 '^C: QUIT$'

# ---- 11. a malformed reply: protocol error, connection dropped ----
start I --no-pipelining --reply 'MAIL=garbage'
send m11 "$tmp/m2"
[ "$RC" -eq 1 ] && ok || bad "m11: exit $RC"
expect_line m11 '^result: error protocol temporary MAIL FROM: MAIL FROM: malformed reply "hello there"$'
no_line m11 '^C: (QUIT|RSET)$'

# ---- 12. a 2 MB message streams through intact ----
{
	printf 'From: alice@example.com\nTo: bob@example.com\nSubject: big\nDate: Sat, 28 Nov 2026 16:00:00 +0000\nMessage-ID: <t12@example.com>\n\n'
	"$PY" -c '
import sys
for i in range(30000):
    sys.stdout.write(("." if i % 7 == 0 else "") + "line %06d " % i + "x" * 50 + "\n")'
} >"$tmp/m12"
PORT=$PORT_A
send m12 "$tmp/m12"
[ "$RC" -eq 0 ] && ok || bad "m12: exit $RC"
sed 's/$/\r/' "$tmp/m12" >"$tmp/m12.want"
same_bytes m12 "$tmp/A/sp/5.eml" "$tmp/m12.want"

echo "transcript_testsmtpd: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
