#!/usr/bin/env bash
# The bytes two independent SMTP servers (testsmtpd and Python's aiosmtpd)
# receive from the mount: every line ends in CRLF, Bcc is gone but its
# recipient got the message, a line starting with a dot arrives exactly as
# written (dot-stuffed on the wire, unstuffed by the server), From, Date
# and Message-ID are added, and LF and CRLF input give the same result.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse

mk_tmp T
smtpd_start "$T/rx-t"
aiosmtpd_start "$T/rx-a"
mkdir -p "$T/t" "$T/a"
write_config "$T/t/config" "$SMTP_PORT"
write_config "$T/a/config" "$AIOSMTPD_PORT"
mount_outbox "$T/t/mnt" "$T/t/config"
mount_outbox "$T/a/mnt" "$T/a/config"

body='line one
.leading dot
..two dots
.
 . space dot
last line'

# msg_lf SUBJECT: the test message with LF line ends.
msg_lf()
{
	printf 'To: Bob Example <bob@example.com>\nCc: "carol q" <carol@example.com>\nBcc: secret@example.com\nSubject: %s\n\n%s\n' "$1" "$body"
}

check_received()
{
	local rx=$1 subject=$2 eml env hdr
	eml=$(one_eml_with "$rx" "Subject: $subject") || exit 1
	env=${eml%.eml}.env
	assert_body "$eml" "$body"
	hdr=$(eml_headers "$eml")
	assert_not_contains "$hdr" "Bcc" "header of $eml"
	assert_not_contains "$(cat "$eml")" "secret@example.com" "$eml"
	assert_contains "$hdr" "To: Bob Example <bob@example.com>" "header of $eml"
	assert_contains "$hdr" "carol@example.com" "header of $eml"
	assert_contains "$hdr" "alice@example.com" "From of $eml"
	grep -qi '^From:' <<<"$hdr" || fail "$eml: no From: header added"
	grep -qi '^Date:' <<<"$hdr" || fail "$eml: no Date: header added"
	grep -qi '^Message-ID: <.*@.*>' <<<"$hdr" || fail "$eml: no Message-ID: header added"
	assert_line "$env" '^from: <alice@example\.com>$'
	assert_line "$env" '^rcpt: <bob@example\.com>$'
	assert_line "$env" '^rcpt: <carol@example\.com>$'
	assert_line "$env" '^rcpt: <secret@example\.com>$'
}

for side in t a; do
	M=$T/$side/mnt
	msg_lf "wire lf" >"$M/lf"
	msg_lf "wire crlf" | sed 's/$/\r/' >"$M/crlf"
done

for side in t a; do
	M=$T/$side/mnt
	rx=$T/rx-$side
	for m in lf crlf; do
		wait_state "$M/$m.status" sent 20
		check_received "$rx" "wire $m"
		assert_line "$M/$m.status" '^recipients: 3$'
		note "$side: $m message received intact"
	done
done

# The message IDs the status files show are those that were sent.
for m in lf crlf; do
	id=$(sed -n 's/^message-id: //p' "$T/t/mnt/$m.status")
	[ -n "$id" ] || fail "$m.status has no message-id: line"
	eml=$(one_eml_with "$T/rx-t" "Subject: wire $m") || exit 1
	assert_contains "$(eml_headers "$eml")" "$id" "Message-ID of $eml"
done

# A message of 3 MB with long and dotted lines arrives byte for byte.
"$PY" - "$T/big" <<'PYEOF'
import sys, random
r = random.Random(7)
out = [b"To: bob@example.com", b"Subject: wire big", b""]
n = 0
while n < 3 * 1024 * 1024:
    l = bytes(r.choice(b"abcdefghij .") for _ in range(r.randint(0, 900)))
    out.append(l)
    n += len(l) + 1
open(sys.argv[1], "wb").write(b"\n".join(out) + b"\n")
PYEOF
cp "$T/big" "$T/t/mnt/big"
wait_state "$T/t/mnt/big.status" sent 20
eml=$(one_eml_with "$T/rx-t" "Subject: wire big") || exit 1
"$PY" - "$T/big" "$eml" <<'PYEOF' || fail "the 3 MB message was not received intact"
import sys
want = open(sys.argv[1], "rb").read().split(b"\n\n", 1)[1].replace(b"\n", b"\r\n")
got = open(sys.argv[2], "rb").read().split(b"\r\n\r\n", 1)[1]
if want != got:
    sys.exit("body differs: %d bytes expected, %d received" % (len(want), len(got)))
PYEOF
note "3 MB message received intact"
exit 0
