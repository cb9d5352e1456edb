#!/usr/bin/env bash
# TLS and AUTH through a real mount: what the status file shows for a
# verified STARTTLS + SCRAM session, for implicit TLS with aiosmtpd, and
# the state, error and transcript for a refused login (fixed, then sent
# after touch), a certificate for another name, injected bytes after
# STARTTLS and no common mechanism. The password never appears in a
# status file, .queue or the daemon's output.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
command -v openssl >/dev/null || { echo "SKIP: no openssl command"; exit 77; }

mk_tmp T
"$TOP/tests/certs.sh" "$T/c" || fail "certs.sh failed"
C=$T/c
SRV=(--cert "$C/server.pem" --key "$C/server.key")
PW='mount-Secret-42'
STLS=("tls on" "tls_starttls on" "tls_trust_file $C/ca.pem")

# no_secret FILE...: neither the password nor its base64 forms
no_secret() {
	local f b1 b2
	b1=$(printf '%s' "$PW" | base64 -w0)
	b2=$(printf '\0alice\0%s' "$PW" | base64 -w0)
	for f in "$@"; do
		grep -qF -e "$PW" -e "$b1" -e "$b2" "$f" &&
			fail "$f shows the password:
$(cat "$f")"
	done
	return 0
}

# --- STARTTLS + SCRAM-SHA-256, verified ------------------------------------
smtpd_start "$T/rx1" "${SRV[@]}" --auth 'PLAIN LOGIN SCRAM-SHA-256' \
	--user alice --pass "$PW" --require-auth
write_config "$T/c1" "$SMTP_PORT" "spool $T/spool-c1" "${STLS[@]}" "auth on" "user alice" \
	"password $PW"
mount_outbox "$T/m1" "$T/c1"
printf 'To: bob@example.com\nSubject: over tls\n\nsecret stuff\n' >"$T/m1/a"
wait_state "$T/m1/a.status" sent 20
S=$T/m1/a.status
assert_line "$S" "^server: 127\\.0\\.0\\.1:$SMTP_PORT starttls TLSv1\\.[23] [A-Z0-9_-]+ verified auth=scram-sha-256\$"
assert_line "$S" '^C: STARTTLS$'
assert_line "$S" '^C: AUTH SCRAM-SHA-256 \[credentials hidden\]$'
assert_line "$S" '^S: 235 '
# every client line between AUTH and MAIL is hidden
awk '/^C: AUTH/{a=1;next} /^C: MAIL/{a=0} a && /^C: / && $0 != "C: [credentials hidden]"' "$S" |
	grep -q . && fail "an AUTH continuation is shown:
$(cat "$S")"
env=$(ls "$T/rx1"/*.env | head -n1)
assert_line "$env" '^tls: TLSv1\.[23]'
assert_line "$env" '^auth: SCRAM-SHA-256 alice$'
no_secret "$S" "$T/m1/.queue"
note "STARTTLS + SCRAM-SHA-256: sent, status shows verified auth=scram-sha-256"

# --- refused login: deferred; fix the password, touch, sent -----------------
smtpd_start "$T/rx2" "${SRV[@]}" --auth 'PLAIN' --user alice --pass "$PW"
printf 'wrong-password\n' >"$T/pw"
chmod 600 "$T/pw"
write_config "$T/c2" "$SMTP_PORT" "spool $T/spool-c2" "${STLS[@]}" "auth plain" "user alice" \
	"passwordeval cat $T/pw"
mount_outbox "$T/m2" "$T/c2"
printf 'To: bob@example.com\nSubject: login\n\nwait for me\n' >"$T/m2/b"
wait_state "$T/m2/b.status" deferred 20
S=$T/m2/b.status
assert_line "$S" '^error: .*login refused \(535 5\.7\.8 .*\): check user and password'
assert_line "$S" '^C: AUTH PLAIN \[credentials hidden\]$'
grep -q '^C: MAIL' "$S" && fail "MAIL sent after a refused login:
$(cat "$S")"
grep -qF wrong-password "$S" && fail "the wrong password is shown"
printf '%s\n' "$PW" >"$T/pw"
touch "$T/m2/b"
wait_state "$S" sent 20
assert_line "$S" '^server: .* verified auth=plain$'
no_secret "$S" "$T/m2/.queue"
note "535: deferred with a clear error, sent after the password was fixed"

# --- certificate for another name: deferred, says why ----------------------
smtpd_start "$T/rx3" --cert "$C/wrong.pem" --key "$C/wrong.key"
write_config "$T/c3" "$SMTP_PORT" "spool $T/spool-c3" "${STLS[@]}"
mount_outbox "$T/m3" "$T/c3"
printf 'To: bob@example.com\nSubject: wrong name\n\nno\n' >"$T/m3/c"
wait_state "$T/m3/c.status" deferred 20
assert_line "$T/m3/c.status" '^error: .*certificate verify failed: hostname mismatch \(certificate is for wrong\.example, connected to 127\.0\.0\.1\)'
grep -q '^C: MAIL' "$T/m3/c.status" && fail "MAIL sent without verified TLS"
[ -z "$(ls "$T/rx3"/*.env 2>/dev/null)" ] || fail "a message reached the server"
note "wrong certificate name: deferred, error names both"

# --- injected bytes after STARTTLS: deferred -------------------------------
smtpd_start "$T/rx4" "${SRV[@]}" --reply 'STARTTLS=inject:250 ok'
write_config "$T/c4" "$SMTP_PORT" "spool $T/spool-c4" "${STLS[@]}"
mount_outbox "$T/m4" "$T/c4"
printf 'To: bob@example.com\nSubject: inject\n\nno\n' >"$T/m4/d"
wait_state "$T/m4/d.status" deferred 20
assert_line "$T/m4/d.status" '^error: .*response injection'
note "response injection after STARTTLS: deferred"

# --- STARTTLS required, server without it: deferred, never plain ------------
smtpd_start "$T/rx5"
write_config "$T/c5" "$SMTP_PORT" "spool $T/spool-c5" "${STLS[@]}"
mount_outbox "$T/m5" "$T/c5"
printf 'To: bob@example.com\nSubject: no tls\n\nno\n' >"$T/m5/e"
wait_state "$T/m5/e.status" deferred 20
assert_line "$T/m5/e.status" '^error: .*does not offer STARTTLS'
grep -q '^C: MAIL' "$T/m5/e.status" && fail "MAIL sent in plain text"
note "STARTTLS not offered: deferred, nothing sent in plain text"

# --- no mechanism in common: failed for good, lists the offer ---------------
smtpd_start "$T/rx6" "${SRV[@]}" --auth 'XOAUTH2' --user alice --pass "$PW"
write_config "$T/c6" "$SMTP_PORT" "spool $T/spool-c6" "${STLS[@]}" "auth on" "user alice" \
	"password $PW"
mount_outbox "$T/m6" "$T/c6"
printf 'To: bob@example.com\nSubject: no mech\n\nno\n' >"$T/m6/f"
wait_state "$T/m6/f.status" failed 20
assert_line "$T/m6/f.status" '^error: .*no authentication mechanism in common: the server offers XOAUTH2'
no_secret "$T/m6/f.status"
note "no common mechanism: failed, the offer listed"

# --- implicit TLS + LOGIN against aiosmtpd ----------------------------------
if "$PY" -c 'import aiosmtpd' 2>/dev/null; then
	aiosmtpd_start "$T/rx7" --implicit-tls --cert "$C/server.pem" \
		--key "$C/server.key" --auth-user alice --auth-pass "$PW"
	write_config "$T/c7" "$AIOSMTPD_PORT" "spool $T/spool-c7" "tls on" "tls_starttls off" \
		"tls_trust_file $C/ca.pem" "auth login" "user alice" "password $PW"
	mount_outbox "$T/m7" "$T/c7"
	printf 'To: bob@example.com\nSubject: implicit\n\nhi\n' >"$T/m7/g"
	wait_state "$T/m7/g.status" sent 20
	S=$T/m7/g.status
	assert_line "$S" "^server: 127\\.0\\.0\\.1:$AIOSMTPD_PORT tls TLSv1\\.[23] .* verified auth=login\$"
	assert_line "$S" '^C: AUTH LOGIN$'
	[ "$(grep -c '^C: \[credentials hidden\]$' "$S")" = 2 ] ||
		fail "LOGIN should show two hidden lines:
$(cat "$S")"
	no_secret "$S" "$T/m7/.queue"
	note "implicit TLS + LOGIN with aiosmtpd: sent"
fi

# the daemon's own output never holds the password either
for m in m1 m2 m3 m4 m5 m6; do
	outbox_log "$T/$m" >"$T/$m.out"
	no_secret "$T/$m.out"
done
echo "tls_mount: all cases passed"
