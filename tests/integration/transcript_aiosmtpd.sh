#!/usr/bin/env bash
# Transcript tests of the SMTP client against aiosmtpd on 127.0.0.1, a
# second SMTP implementation beside testsmtpd: smtpsend's exact client
# lines, and the saved bytes equal to the expected wire bytes (CRLF,
# unstuffed dot lines, Bcc gone). Skips only when python3-aiosmtpd is
# absent.
set -u
. "$(dirname "$0")/../lib-servers.sh" || exit 1
srv_need_built "$TOOLS/smtpsend"
srv_need_aiosmtpd
srv_scratch tmp


start() { srv_aiosmtpd "$1" 60 "${@:2}"; }

# the MAIL FROM parameters depend on what the server offers: take them
# from the transcript, but check them below
mail_line() { sed -n 's/^C: \(MAIL FROM:.*\)/\1/p' "$tmp/$1.out" | head -n1; }

start A --smtputf8

# ---- 1. LF input, dot lines, Bcc ----
cat >"$tmp/m1" <<'EOF'
From: Alice <alice@example.com>
To: bob@example.com, Carol <carol@example.com>
Bcc: dan@example.com
Subject: aiosmtpd transcript
Date: Sat, 28 Nov 2026 16:00:00 +0000
Message-ID: <a1@example.com>

Hello,
.dot line
..
.
bye
EOF
tr_send m1 "$tmp/m1"
tr_rc m1 0
ml=$(mail_line m1) b=$(tr_bytes_of m1)
case $ml in
"MAIL FROM:<alice@example.com> SIZE="[0-9]*) tap_ok "m1: MAIL line";;
*) tap_bad "m1: MAIL line \"$ml\"";;
esac
tr_expect_c m1 <<EOF
EHLO client.test
$ml
RCPT TO:<bob@example.com>
RCPT TO:<carol@example.com>
RCPT TO:<dan@example.com>
DATA
[$b bytes of message data]
.
QUIT
EOF
tr_expect_line m1 '^S: 220 '
tr_expect_line m1 '^S: 221 '
tr_expect_line m1 '^result: sent 250 '
grep -v '^Bcc:' "$tmp/m1" | sed 's/$/\r/' >"$tmp/m1.want"
wait_file "$tmp/A/sp/1.env" 5 || tap_bad "m1: no saved envelope"
tr_same_bytes m1 "$tmp/A/sp/1.eml" "$tmp/m1.want"
for r in bob carol dan; do
	grep -q "^rcpt: <$r@example.com>$" "$tmp/A/sp/1.env" && tap_ok "m1: $r in the envelope" ||
		tap_bad "m1: $r not in the envelope"
done

# ---- 2. CRLF input, three messages on one connection ----
printf 'From: alice@example.com\r\nTo: bob@example.com\r\nSubject: crlf\r\nDate: Sat, 28 Nov 2026 16:00:00 +0000\r\nMessage-ID: <a2@example.com>\r\n\r\n.\r\n. x\r\n...\r\nlast\r\n' >"$tmp/m2"
tr_send m2 "$tmp/m2" -n 3
tr_rc m2 0
ml=$(mail_line m2) b=$(tr_bytes_of m2)
tr_expect_c m2 <<EOF
EHLO client.test
$ml
RCPT TO:<bob@example.com>
DATA
[$b bytes of message data]
.
$ml
RCPT TO:<bob@example.com>
DATA
[$b bytes of message data]
.
$ml
RCPT TO:<bob@example.com>
DATA
[$b bytes of message data]
.
QUIT
EOF
for i in 2 3 4; do
	wait_file "$tmp/A/sp/$i.env" 5 || tap_bad "m2: message $i not saved"
	tr_same_bytes "m2 #$i" "$tmp/A/sp/$i.eml" "$tmp/m2"
done

# ---- 3. an 8-bit body and a non-ASCII recipient with SMTPUTF8 ----
printf 'From: alice@example.com\nTo: j\303\266rg@example.com\nSubject: utf8\nDate: Sat, 28 Nov 2026 16:00:00 +0000\nMessage-ID: <a3@example.com>\n\nGr\303\274\303\237e\n' >"$tmp/m3"
tr_send m3 "$tmp/m3"
tr_rc m3 0
tr_expect_line m3 '^C: MAIL FROM:<alice@example\.com> SIZE=[0-9]+ BODY=8BITMIME SMTPUTF8$'
tr_expect_line m3 $'^C: RCPT TO:<j\303\266rg@example\\.com>$'
wait_file "$tmp/A/sp/5.env" 5 || tap_bad "m3: not saved"
if grep -q $'Gr\303\274\303\237e\r$' "$tmp/A/sp/5.eml"; then tap_ok "m3: 8-bit body"; else
	tap_bad "m3: 8-bit body not saved as sent"; od -c "$tmp/A/sp/5.eml" | tail -5; fi

# ---- 4. a 1 MB message ----
{
	printf 'From: alice@example.com\nTo: bob@example.com\nSubject: big\nDate: Sat, 28 Nov 2026 16:00:00 +0000\nMessage-ID: <a4@example.com>\n\n'
	"$PY" -c '
import sys
for i in range(15000):
    sys.stdout.write(("." if i % 5 == 0 else "") + "row %06d " % i + "y" * 55 + "\n")'
} >"$tmp/m4"
tr_send m4 "$tmp/m4"
tr_rc m4 0
sed 's/$/\r/' "$tmp/m4" >"$tmp/m4.want"
wait_file "$tmp/A/sp/6.env" 5 || tap_bad "m4: not saved"
tr_same_bytes m4 "$tmp/A/sp/6.eml" "$tmp/m4.want"

# ---- 5. a server without SMTPUTF8: refused locally, before MAIL ----
start B
tr_send m5 "$tmp/m3"
tr_rc m5 1
tr_expect_c m5 <<EOF
EHLO client.test
QUIT
EOF
tr_expect_line m5 '^result: error local permanent MAIL FROM: .*SMTPUTF8'

# ---- 6. SIZE smaller than the message ----
start C --size 200
tr_send m6 "$tmp/m4"
tr_rc m6 1
tr_expect_c m6 <<EOF
EHLO client.test
QUIT
EOF
tr_expect_line m6 'the server accepts at most 200 '

tap_end
