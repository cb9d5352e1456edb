#!/usr/bin/env bash
# What the mount does to a message's content, end to end (decoded with
# Python's email package on the receiving side):
#   a UTF-8 Subject is RFC 2047 encoded and decodes to the original; a
#   UTF-8 body gets charset=utf-8 and decodes to the original;
#   a bare CR in the body never reaches the wire (server in strict mode);
#   a 2,000-octet line is encoded, never cut;
#   Attach: PATH becomes a MIME attachment, and the pseudo-header is gone;
#   a header value with a bare CR inside is refused (failed, error:);
#   a message over the account's max_size fails before any connection;
#   a UTF-8 address goes out with SMTPUTF8 where offered, and is refused
#   with a clear error where it is not;
#   8-bit text under the user's own MIME headers reaches a server without
#   8BITMIME as quoted-printable (7-bit, decodes to the original), and an
#   8-bit part that is not text fails before MAIL FROM with what to fix.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
smtpd_start "$T/rx-old" --no-smtputf8 --no-8bitmime
outbox_start -t "$T" \
	-c "" -c "account small" -c "from alice@example.com" -c "max_size 2000" \
	-c "" -c "account old" -c "from alice@example.com" -c "port $SMTP_PORT" \
	-- --strict-crlf

# decoded EML: Subject and text body (or the attachment) as Python sees them.
decoded()
{
	"$PY" - "$1" "${2:-}" <<'PYEOF'
import sys, email, email.policy
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
what = sys.argv[2]
if what == "subject":
    print(str(msg["subject"]))
elif what == "attachment":
    for part in msg.iter_attachments():
        sys.stdout.buffer.write(part.get_content() if isinstance(part.get_content(), bytes)
                                else part.get_content().encode())
        break
    else:
        sys.exit("no attachment in " + sys.argv[1])
elif what == "ctype":
    print(msg.get_content_type(), msg.get_content_charset())
else:
    body = msg.get_body(preferencelist=("plain",))
    sys.stdout.write(body.get_content())
PYEOF
}

subject='Grüße aus Köln — ça va? 日本'
utf_body='Zürich, Ørsted, 東京
second line ünïcödé'
printf 'To: bob@example.com\nSubject: %s\n\n%s\n' "$subject" "$utf_body" >"$M/utf8"

printf 'To: bob@example.com\nSubject: bare cr\n\nbefore\rafter\nnext\n' >"$M/barecr"

long=$("$PY" -c 'print("".join("%05d " % i for i in range(334)))')   # 2004 octets
printf 'To: bob@example.com\nSubject: long line\n\n%s\nshort\n' "$long" >"$M/long"

head -c 3000 /dev/urandom >"$T/attached.bin"
printf 'To: bob@example.com\nSubject: with attachment\nAttach: %s\n\nsee attached\n' "$T/attached.bin" >"$M/attach"

printf 'To: bob@example.com\nSubject: injected\rBcc: evil@example.com\n\nx\n' >"$M/inject"

"$PY" -c 'print("To: bob@example.com\nSubject: too big\n\n" + "x" * 70 + ("\n" + "y" * 70) * 60)' >"$M/small/big"

printf 'To: jörg@bücher.example\nSubject: utf8 address\n\nhallo\n' >"$M/utf8addr"
printf 'To: jörg@bücher.example\nSubject: utf8 address old\n\nhallo\n' >"$M/old/utf8addr"

own_body='Grüße, ça va? 日本'
printf 'To: bob@example.com\nSubject: own mime old\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n' "$own_body" >"$M/old/ownmime"
printf 'To: bob@example.com\nSubject: own mime image old\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--b\nContent-Type: image/png\n\n\x89PNG\xff\n--b--\n' >"$M/old/ownimage"

# --- UTF-8 subject and body ---------------------------------------------------------
wait_state "$M/utf8.status" sent 20
eml=$(eml_of "$M/utf8.status" "$T/rx") || exit 1
hdr=$(eml_headers "$eml")
grep -qE '^Subject: .*=\?[Uu][Tt][Ff]-8\?[BbQq]\?' <<<"$hdr" ||
	fail "Subject not RFC 2047 encoded: $(grep -i '^Subject' <<<"$hdr")"
LC_ALL=C grep -q $'[\x80-\xff]' <<<"$hdr" && fail "raw 8-bit bytes in the header of $eml"
assert_eq "$subject" "$(decoded "$eml" subject)" "decoded Subject"
assert_eq "text/plain utf-8" "$(decoded "$eml" ctype)" "Content-Type of a UTF-8 body"
assert_eq "$utf_body" "$(decoded "$eml" body)" "decoded UTF-8 body"
note "UTF-8 subject and body"

# --- bare CR ------------------------------------------------------------------------
wait_state "$M/barecr.status" sent 20
eml=$(eml_of "$M/barecr.status" "$T/rx") || exit 1
eml_body "$eml" >/dev/null || fail "a bare CR reached the wire"
got=$(eml_body "$eml")
assert_contains "$got" "before" "body with a bare CR"
assert_contains "$got" "after" "body with a bare CR"
note "bare CR did not reach the wire"

# --- long line --------------------------------------------------------------------
wait_state "$M/long.status" sent 20
eml=$(eml_of "$M/long.status" "$T/rx") || exit 1
"$PY" - "$eml" <<'PYEOF' || fail "a line over 998 octets was sent"
import sys
for l in open(sys.argv[1], "rb").read().split(b"\r\n"):
    if len(l) > 998:
        sys.exit("line of %d octets" % len(l))
PYEOF
assert_eq "$long
short" "$(decoded "$eml" body)" "decoded body with a 2,000-octet line"
note "long line encoded, not cut"

# --- Attach: ----------------------------------------------------------------------
wait_state "$M/attach.status" sent 20
eml=$(eml_of "$M/attach.status" "$T/rx") || exit 1
assert_not_contains "$(eml_headers "$eml")" "Attach:" "header of the message with an attachment"
decoded "$eml" attachment >"$T/got.bin" || fail "no attachment received"
cmp -s "$T/attached.bin" "$T/got.bin" || fail "the attachment differs from the file"
assert_eq "see attached" "$(decoded "$eml" body)" "text part of the message with an attachment"
note "Attach: became an attachment"

# --- refused before any connection ----------------------------------------------------
wait_state "$M/inject.status" failed 20
assert_line "$M/inject.status" '^error: .+'
assert_eq "" "$(eml_with "$T/rx" "evil@example.com")" "the injected Bcc"
wait_state "$M/small/big.status" failed 20
assert_line "$M/small/big.status" '^error: .*([Ss]ize|large)'
grep -q '^--- attempt' "$M/small/big.status" && fail "a message over max_size was tried:
$(cat "$M/small/big.status")"
note "header injection and max_size refused: $(sed -n 's/^error: //p' "$M/small/big.status")"

# --- SMTPUTF8 ---------------------------------------------------------------------
wait_state "$M/utf8addr.status" sent 20
eml=$(eml_of "$M/utf8addr.status" "$T/rx") || exit 1
assert_line "${eml%.eml}.env" '^rcpt: <jörg@bücher\.example>$'
assert_line "${eml%.eml}.env" '^params: .*SMTPUTF8'
wait_state "$M/old/utf8addr.status" failed 20
assert_line "$M/old/utf8addr.status" '^error: .*SMTPUTF8'
assert_eq "" "$(eml_with "$T/rx-old" "utf8 address old")" "the UTF-8 address at the server without SMTPUTF8"
note "UTF-8 address: SMTPUTF8 used where offered, refused where not"

# --- own MIME headers, 8-bit text, no 8BITMIME ----------------------------------------
wait_state "$M/old/ownmime.status" sent 20
eml=$(eml_of "$M/old/ownmime.status" "$T/rx-old") || exit 1
LC_ALL=C grep -q $'[\x80-\xff]' "$eml" && fail "8-bit bytes sent to a server without 8BITMIME: $eml"
grep -q '^C: MAIL FROM:.*BODY=8BITMIME' "$M/old/ownmime.status" && fail "BODY=8BITMIME sent to a server without 8BITMIME"
assert_line "$eml" '^Content-Transfer-Encoding: quoted-printable'
assert_eq "$own_body" "$(decoded "$eml" body)" "decoded own-MIME body"
wait_state "$M/old/ownimage.status" failed 20
assert_line "$M/old/ownimage.status" '^error: .*MIME part 2 \(image/png\) is not text: encode it as base64, or use a server with 8BITMIME'
grep -q '^C: MAIL FROM' "$M/old/ownimage.status" && fail "MAIL FROM sent for a message that cannot be made 7-bit"
assert_eq "" "$(eml_with "$T/rx-old" "own mime image old")" "the 8-bit image at the server without 8BITMIME"
note "own MIME, no 8BITMIME: text made quoted-printable, an 8-bit image refused: $(sed -n 's/^error: //p' "$M/old/ownimage.status")"
exit 0
