#!/usr/bin/env bash
# 8-bit text under the user's own MIME headers, through smtpsend to
# testsmtpd on 127.0.0.1:
#   without 8BITMIME (--no-8bitmime) the bytes the server saves are 7-bit,
#   no BODY=8BITMIME is sent, SIZE= is the number of bytes sent, and every
#   part decodes (Python's email package) back to the text written;
#   what cannot be converted (8-bit in a part that is not text) fails
#   before MAIL FROM, permanently, with what to fix, and nothing is saved;
#   with 8BITMIME the same message goes out as written, BODY=8BITMIME;
#   a 20 MB message streams: smtpsend's memory does not grow with it.
set -u
. "$(dirname "$0")/../lib-servers.sh" || exit 1
srv_need_built "$TOOLS/testsmtpd" "$TOOLS/smtpsend"
srv_scratch tmp

start() { srv_testsmtpd "$1" 60 "${@:2}"; }   # start NAME ARGS...: PORT, PORT_NAME

# 7bit NAME EML: no byte >= 0x80 in the saved message.
seven_bit() {
	if [ ! -s "$2" ]; then
		tap_bad "$1: $2 was not saved"
	elif LC_ALL=C grep -q $'[\x80-\xff]' "$2"; then
		tap_bad "$1: 8-bit bytes reached the server:"
		LC_ALL=C grep -n $'[\x80-\xff]' "$2" | head -5 | cat -v
	else
		tap_ok "$1: the saved message is 7-bit"
	fi
}

# same_text NAME ORIGINAL EML: the same parts, each decoding to the same
# bytes (line ends aside), as Python's email package reads them.
same_text() {
	if out=$("$PY" - "$2" "$3" <<'PYEOF' 2>&1
import sys, email, email.policy
def leaves(path):
    m = email.message_from_binary_file(open(path, "rb"), policy=email.policy.default)
    return [(p.get_content_type(), (p.get_payload(decode=True) or b"").replace(b"\r\n", b"\n"))
            for p in m.walk() if not p.is_multipart()]
a, b = leaves(sys.argv[1]), leaves(sys.argv[2])
if a != b:
    sys.exit(("want %r\ngot  %r" % (a, b))[:600])
print(len(a))
PYEOF
	); then
		tap_ok "$1: $out part(s) decode to the text written"
	else
		tap_bad "$1: decoded parts differ: $out"
	fi
}

# ---- a text/plain body, Content-Transfer-Encoding: 8bit ----
cat >"$tmp/m1" <<'EOF'
From: alice@example.com
To: bob@example.com
Subject: own MIME, 8bit
Date: Sat, 28 Nov 2026 16:00:00 +0000
Message-ID: <e1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße aus Köln, ça va? 日本 = equal  
.a line with a dot
-- 
sig
EOF
start A --no-8bitmime
tr_send m1 "$tmp/m1"
tr_rc m1 0
n=$(tr_size_of m1) b=$(tr_bytes_of m1)
tr_expect_c m1 <<EOF
EHLO client.test
MAIL FROM:<alice@example.com> SIZE=$n
RCPT TO:<bob@example.com>
DATA
[$b bytes of message data]
.
QUIT
EOF
[ "$n" = "$b" ] && tap_ok "m1: SIZE=$n is the bytes sent" ||
	tap_bad "m1: SIZE=$n, $b bytes sent"
seven_bit m1 "$tmp/A/sp/1.eml"
grep -q $'^Content-Transfer-Encoding: quoted-printable\r$' "$tmp/A/sp/1.eml" &&
	tap_ok "m1: Content-Transfer-Encoding rewritten" ||
	tap_bad "m1: no quoted-printable Content-Transfer-Encoding"
grep -qi '^Content-Transfer-Encoding: 8bit' "$tmp/A/sp/1.eml" &&
	tap_bad "m1: the 8bit line is still there" || tap_ok "m1: no 8bit line left"
same_text m1 "$tmp/m1" "$tmp/A/sp/1.eml"

# ---- a multipart: 8-bit text parts (one nested), a 7-bit part, base64 ----
cat >"$tmp/m2" <<'EOF'
From: alice@example.com
To: bob@example.com
Subject: own MIME, multipart
Date: Sat, 28 Nov 2026 16:00:00 +0000
Message-ID: <e2@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=-outer b"
Content-Transfer-Encoding: 8bit

This is a multi-part message in MIME format.
--=-outer b
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Zürich, Ørsted, 東京
--=-outer bx is not the boundary
.dot line
--=-outer b
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/html; charset=utf-8

<p>crème brûlée</p>
--inner
Content-Type: text/plain

ascii only
--inner--
--=-outer b
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQF/w==
--=-outer b--
EOF
tr_send m2 "$tmp/m2"
tr_rc m2 0
n=$(tr_size_of m2) b=$(tr_bytes_of m2)
tr_no_line m2 'BODY=8BITMIME'
[ "$n" = "$b" ] && tap_ok "m2: SIZE=$n is the bytes sent" ||
	tap_bad "m2: SIZE=$n, $b bytes sent"
seven_bit m2 "$tmp/A/sp/2.eml"
[ "$(grep -c $'^Content-Transfer-Encoding: quoted-printable\r$' "$tmp/A/sp/2.eml")" = 2 ] &&
	tap_ok "m2: two parts made quoted-printable" ||
	tap_bad "m2: not two quoted-printable parts"
same_text m2 "$tmp/m2" "$tmp/A/sp/2.eml"

# ---- 8-bit in a part that is not text: refused before MAIL FROM ----
{
	sed -n '1,9p' "$tmp/m2"
	printf -- '--=-outer b\nContent-Type: image/png\n\n\x89PNG\xff\n--=-outer b--\n'
} >"$tmp/m3"
tr_send m3 "$tmp/m3"
tr_rc m3 1
tr_expect_c m3 <<EOF
EHLO client.test
QUIT
EOF
tr_expect_line m3 '^result: error local permanent MAIL FROM: the message has 8-bit data outboxfs cannot convert and the server does not offer 8BITMIME: MIME part 1 \(image/png\) is not text: encode it as base64, or use a server with 8BITMIME$'
[ ! -e "$tmp/A/sp/3.eml" ] && tap_ok "m3: nothing saved" || tap_bad "m3: a message was saved"

# ---- with 8BITMIME: as written, BODY=8BITMIME ----
start B
for m in m1 m2; do
	tr_send "$m-8" "$tmp/$m"
	tr_rc "$m-8" 0
	tr_expect_line "$m-8" '^C: MAIL FROM:<alice@example\.com> SIZE=[0-9]+ BODY=8BITMIME$'
	n=$(tr_size_of "$m-8") b=$(tr_bytes_of "$m-8")
	[ "$n" = "$b" ] && tap_ok "$m-8: SIZE=$n is the bytes sent" ||
		tap_bad "$m-8: SIZE=$n, $b bytes sent"
	sed 's/$/\r/' "$tmp/$m" >"$tmp/$m.want"
done
tr_same_bytes m1-8 "$tmp/B/sp/1.eml" "$tmp/m1.want"
tr_same_bytes m2-8 "$tmp/B/sp/2.eml" "$tmp/m2.want"
tr_send m3-8 "$tmp/m3"
tr_rc m3-8 0
sed 's/$/\r/' "$tmp/m3" >"$tmp/m3.want"
tr_same_bytes m3-8 "$tmp/B/sp/3.eml" "$tmp/m3.want"

# ---- 2 MB and 20 MB: the same memory ----
big() {
	sed -n '1,9p' "$tmp/m2"
	printf -- '--=-outer b\nContent-Type: text/plain; charset=utf-8\n\n'
	"$PY" -c '
import sys
line = ("Grüße -- ça va? " * 4 + "\n").encode()
sys.stdout.buffer.write(line * ('"$1"' // len(line)))'
	printf -- '--=-outer b--\n'
}
big 2000000 >"$tmp/m4"
big 20000000 >"$tmp/m5"
# Run here, not in $(...): RC must reach tr_rc. The peak RSS (KB) is left
# in $tmp/NAME.rss by /usr/bin/time (Debian package time).
[ -x /usr/bin/time ] ||
	tap_bad "/usr/bin/time is missing (Debian package time): no peak memory"
rss() {
	/usr/bin/time -f %M -o "$tmp/$1.rss" "$TOOLS/smtpsend" -h 127.0.0.1 \
		-p "$PORT_A" -f alice@example.com --helo client.test \
		--timeout 30000 "$2" >"$tmp/$1.out" 2>&1
	RC=$?
}
PORT=$PORT_A
rss m4 "$tmp/m4"
tr_rc m4 0
r4=$(cat "$tmp/m4.rss" 2>/dev/null)
rss m5 "$tmp/m5"
tr_rc m5 0
r5=$(cat "$tmp/m5.rss" 2>/dev/null)
n=$(tr_size_of m5) b=$(tr_bytes_of m5)
[ "$n" = "$b" ] && tap_ok "m5: SIZE=$n is the bytes sent" ||
	tap_bad "m5: SIZE=$n, $b bytes sent"
# m3 was refused: m4 is 3.eml, m5 4.eml
seven_bit m5 "$tmp/A/sp/4.eml"
same_text m5 "$tmp/m5" "$tmp/A/sp/4.eml"
# 18 MB more message: at most 2 MB more memory (maximum resident KB)
if [ -n "$r4" ] && [ -n "$r5" ] && [ "$r5" -le $((r4 + 2048)) ]; then
	tap_ok "m4/m5: max RSS ${r4} KB for 2 MB, ${r5} KB for 20 MB"
else
	tap_bad "m4/m5: max RSS ${r4:-?} KB for 2 MB, ${r5:-?} KB for 20 MB"
fi

tap_end
