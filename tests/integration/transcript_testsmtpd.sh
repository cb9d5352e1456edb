#!/usr/bin/env bash
# Transcript tests of the SMTP client against testsmtpd on 127.0.0.1:
# smtpsend sends message files; each case asserts the exact sequence of
# client lines in the transcript, the result line, and that the bytes the
# server saved are the expected wire bytes (CRLF line ends, dot-stuffed
# lines unstuffed by the server, Bcc gone).
set -u
. "$(dirname "$0")/../lib-servers.sh" || exit 1
srv_need_built "$TOOLS/testsmtpd" "$TOOLS/smtpsend"
srv_scratch tmp

# start NAME args...: testsmtpd with spool $tmp/NAME/sp; sets PORT, PORT_NAME.
start() { srv_testsmtpd "$1" 60 "${@:2}"; }

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
tr_send m1 "$tmp/m1"
tr_rc m1 0
n=$(tr_size_of m1) b=$(tr_bytes_of m1)
tr_expect_c m1 <<EOF
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
tr_expect_line m1 '^S: 220 '
tr_expect_line m1 '^S: 250 2\.0\.0 Ok: queued as 1$'
tr_expect_line m1 '^result: sent 250 '
tr_expect_line m1 '^rcpt: dan@example\.com ok 250 '
# the saved message: Bcc gone, CRLF, unstuffed = the input itself
grep -v '^Bcc:' "$tmp/m1" | sed 's/$/\r/' >"$tmp/m1.want"
tr_same_bytes m1 "$tmp/A/sp/1.eml" "$tmp/m1.want"
# the wire carried one more byte per stuffed line (3 lines start with .)
want_b=$(( $(stat -c %s "$tmp/m1.want") + 3 ))
[ "$b" = "$want_b" ] && tap_ok "m1: $b bytes of data" || tap_bad "m1: $b bytes of data, want $want_b"
[ "$n" -ge "$b" ] 2>/dev/null && tap_ok "m1: SIZE=$n" || tap_bad "m1: SIZE=$n below the $b bytes sent"
grep -q '^rcpt: <dan@example.com>$' "$tmp/A/sp/1.env" && tap_ok "m1: Bcc recipient in the envelope" ||
	tap_bad "m1: Bcc recipient not in the envelope"
if grep -q 'improper pipelining' "$tmp/A/log"; then tap_bad "m1: improper pipelining"; else tap_ok "m1: pipelining"; fi

# ---- 2. CRLF input with dot-only and dot-space lines; 2 messages on one
# connection, no RSET between them ----
printf 'From: alice@example.com\r\nTo: bob@example.com\r\nSubject: crlf\r\nDate: Sat, 28 Nov 2026 16:00:00 +0000\r\nMessage-ID: <t2@example.com>\r\n\r\n.\r\n. x\r\n...\r\nlast\r\n' >"$tmp/m2"
tr_send m2 "$tmp/m2" -n 2
tr_rc m2 0
n=$(tr_size_of m2) b=$(tr_bytes_of m2)
tr_expect_c m2 <<EOF
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
tr_same_bytes m2 "$tmp/A/sp/2.eml" "$tmp/m2"
tr_same_bytes m2b "$tmp/A/sp/3.eml" "$tmp/m2"

# ---- 3. a body without a final line end gets CRLF ----
printf 'From: alice@example.com\nTo: bob@example.com\nSubject: noeol\nDate: Sat, 28 Nov 2026 16:00:00 +0000\nMessage-ID: <t3@example.com>\n\nno newline at the end' >"$tmp/m3"
tr_send m3 "$tmp/m3"
{ cat "$tmp/m3"; echo; } | sed 's/$/\r/' >"$tmp/m3.want"
tr_same_bytes m3 "$tmp/A/sp/4.eml" "$tmp/m3.want"

# ---- 4. one recipient refused, others delivered ----
start B --reply 'RCPT/carol@=550 5.1.1 No such user'
tr_send m4 "$tmp/m1"
tr_rc m4 1
tr_expect_line m4 '^rcpt: carol@example\.com perm 550 5\.1\.1 No such user$'
tr_expect_line m4 '^rcpt: bob@example\.com ok 250 '
tr_expect_line m4 '^result: partial 250 '
if grep -q '^rcpt: <carol@example.com>$' "$tmp/B/sp/1.env"; then tap_bad "m4: carol delivered"; else tap_ok "m4: carol not delivered"; fi
tr_same_bytes m4 "$tmp/B/sp/1.eml" "$tmp/m1.want"

# ---- 5. every recipient refused: RSET, never DATA ----
start C --reply 'RCPT=550 5.1.1 No such user'
tr_send m5 "$tmp/m2"
tr_rc m5 1
n=$(tr_size_of m5)
# with PIPELINING the DATA went out with the RCPTs and got 554 (503)
tr_expect_c m5 <<EOF
EHLO client.test
MAIL FROM:<alice@example.com> SIZE=$n
RCPT TO:<bob@example.com>
DATA
RSET
QUIT
EOF
tr_expect_line m5 '^result: error permanent permanent RCPT TO: no recipient accepted'
[ ! -e "$tmp/C/sp/1.eml" ] && tap_ok "m5: nothing saved" || tap_bad "m5: a message was saved"

# ---- 6. no EHLO (HELO fallback), no pipelining: one command at a time ----
start D --no-ehlo
tr_send m6 "$tmp/m2"
tr_rc m6 0
b=$(tr_bytes_of m6)
tr_expect_c m6 <<EOF
EHLO client.test
HELO client.test
MAIL FROM:<alice@example.com>
RCPT TO:<bob@example.com>
DATA
[$b bytes of message data]
.
QUIT
EOF
tr_same_bytes m6 "$tmp/D/sp/1.eml" "$tmp/m2"

# ---- 7. 421 to MAIL: temporary, no more commands, not even QUIT ----
start E --no-pipelining --reply 'MAIL=421 4.3.2 Shutting down'
tr_send m7 "$tmp/m2"
tr_rc m7 1
n=$(tr_size_of m7)
tr_expect_c m7 <<EOF
EHLO client.test
MAIL FROM:<alice@example.com> SIZE=$n
EOF
tr_expect_line m7 '^result: error temporary temporary MAIL FROM: server answered MAIL FROM with 421 4\.3\.2 Shutting down$'

# ---- 8. SIZE too small: refused before MAIL, with both sizes ----
start F --size 100
tr_send m8 "$tmp/m1"
tr_rc m8 1
tr_expect_c m8 <<EOF
EHLO client.test
QUIT
EOF
tr_expect_line m8 '^result: error permanent permanent MAIL FROM: message is [0-9]+ bytes, the server accepts at most 100 '

# ---- 9. connection lost after the dot (saved, no reply): maybe
# delivered, temporary ----
start G --reply 'DOT=saveclose'
tr_send m9 "$tmp/m2"
tr_rc m9 1
tr_expect_line m9 '^maybe-delivered: yes$'
tr_expect_line m9 '^result: error connection temporary end of data: '
tr_no_line m9 '^C: QUIT$'
tr_same_bytes m9 "$tmp/G/sp/1.eml" "$tmp/m2"

# ---- 10. final 451: the recipient is deferred, the session goes on ----
start H --reply 'DOT#1=451 4.7.1 Try again later'
tr_send m10 "$tmp/m2"
tr_rc m10 1
tr_expect_line m10 '^rcpt: bob@example\.com temp 451 4\.7\.1 Try again later$'
tr_expect_line m10 '^result: error temporary temporary end of data: server answered end of data with 451 4\.7\.1 Try again later$'
tr_expect_line m10 '^C: QUIT$'

# ---- 11. a malformed reply: protocol error, connection dropped ----
start I --no-pipelining --reply 'MAIL=garbage'
tr_send m11 "$tmp/m2"
tr_rc m11 1
tr_expect_line m11 '^result: error protocol temporary MAIL FROM: MAIL FROM: malformed reply "hello there"$'
tr_no_line m11 '^C: (QUIT|RSET)$'

# ---- 12. a 2 MB message streams through intact ----
{
	printf 'From: alice@example.com\nTo: bob@example.com\nSubject: big\nDate: Sat, 28 Nov 2026 16:00:00 +0000\nMessage-ID: <t12@example.com>\n\n'
	"$PY" -c '
import sys
for i in range(30000):
    sys.stdout.write(("." if i % 7 == 0 else "") + "line %06d " % i + "x" * 50 + "\n")'
} >"$tmp/m12"
PORT=$PORT_A
tr_send m12 "$tmp/m12"
tr_rc m12 0
sed 's/$/\r/' "$tmp/m12" >"$tmp/m12.want"
tr_same_bytes m12 "$tmp/A/sp/5.eml" "$tmp/m12.want"

tap_end
