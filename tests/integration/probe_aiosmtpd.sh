#!/usr/bin/env bash
# outboxfs --probe against aiosmtpd with STARTTLS + AUTH and with implicit
# TLS: every step shown in C:/S: form, the certificate, what the server
# offers, exit 0, the password nowhere in the output; the configuration
# found as the daemon finds it ($XDG_CONFIG_HOME, ~/.config, ~/.msmtprc).
set -u
. "$(dirname "$0")/../lib-servers.sh" || exit 1
srv_need_aiosmtpd
srv_need_built "$OUTBOXFS"
srv_scratch tmp
srv_certs C
PW='aio-Pa55word'

expect() { tap_expect "$1" "$2" "$(basename "$1")"; }    # expect FILE REGEX
order() {         # order FILE PATTERN...: the patterns match lines in order
	local f=$1 line=0 p l
	shift
	for p in "$@"; do
		l=$(awk -v from="$line" -v re="$p" 'NR > from && $0 ~ re { print NR; exit }' "$f")
		if [ -z "$l" ]; then tap_bad "$(basename "$f"): /$p/ not after line $line"
			sed 's/^/    /' "$f"; return; fi
		line=$l
	done
	tap_ok "$(basename "$f"): $# steps in order"
}
write_cfg() {     # write_cfg FILE PORT TLSLINES...
	local f=$1 port=$2
	shift 2
	mkdir -p "$(dirname "$f")"
	{
		echo "defaults"
		printf '%s\n' "$@"
		echo "tls_trust_file $C/ca.pem"
		echo
		echo "account work"
		echo "host localhost"
		echo "port $port"
		echo "from alice@example.com"
		echo "auth on"
		echo "user alice"
		echo "password $PW"
		echo
		echo "account default : work"
	} >"$f"
	chmod 600 "$f"
}

# STARTTLS + AUTH
srv_aiosmtpd st 60 --starttls --cert "$C/server.pem" \
	--key "$C/server.key" --auth-user alice --auth-pass "$PW"
write_cfg "$tmp/st/cfg" "$AIOSMTPD_PORT" "tls on" "tls_starttls on"
"$OUTBOXFS" --probe -o config="$tmp/st/cfg" --rcpt bob@example.com \
	>"$tmp/st/out" 2>"$tmp/st/err"
rc=$?
[ $rc -eq 0 ] && tap_ok "starttls: exit 0" || { tap_bad "starttls: exit $rc"; cat "$tmp/st/err"; }
order "$tmp/st/out" '^S: 220 ' '^C: EHLO ' '^S: 250.*STARTTLS' '^C: STARTTLS$' \
	'^S: 220 ' '^C: EHLO ' '^S: 250-AUTH LOGIN PLAIN$' \
	'^--- TLS TLSv1\.[23] .*, certificate verified$' '^    subject: +CN=localhost$' \
	'^    issuer: +CN=outboxfs test CA' '^    valid: +[0-9-]+T[0-9:]+Z to [0-9-]+T[0-9:]+Z$' \
	'^    fingerprint: +[0-9A-F:]+ \(SHA-256\)$' \
	'^C: AUTH PLAIN \[credentials hidden\]$' '^S: 235 ' \
	'^C: MAIL FROM:<alice@example\.com>$' '^S: 250 ' \
	'^C: RCPT TO:<bob@example\.com>$' '^S: 250 ' '^C: RSET$' '^S: 250 ' \
	'^--- the server offers$' '^    SIZE +104857600 bytes$' \
	'^    8BITMIME +yes$' '^    STARTTLS +yes$' '^    AUTH +LOGIN PLAIN$' \
	'^--- server: localhost:[0-9]+ starttls TLSv1\.[23] .* verified auth=plain$' \
	'^C: QUIT$' '^S: 221 ' '^--- result: every step worked$'
fp=$(openssl x509 -in "$C/server.pem" -noout -fingerprint -sha256 | cut -d= -f2)
expect "$tmp/st/out" "fingerprint: +$fp "
if grep -qF "$PW" "$tmp/st/out" "$tmp/st/err" ||
   grep -qF "$(printf '\0alice\0%s' "$PW" | base64 -w0)" "$tmp/st/out"; then
	tap_bad "starttls: password visible"
else tap_ok "starttls: password not shown"; fi
[ -z "$(ls "$tmp/st/sp")" ] && tap_ok "starttls: no message sent" || tap_bad "starttls: a message was sent"

# Implicit TLS, found through $XDG_CONFIG_HOME
srv_aiosmtpd im 60 --implicit-tls --cert "$C/server.pem" \
	--key "$C/server.key" --auth-user alice --auth-pass "$PW"
write_cfg "$tmp/im/xdg/outboxfs/config" "$AIOSMTPD_PORT" "tls on" "tls_starttls off"
XDG_CONFIG_HOME=$tmp/im/xdg HOME=$tmp/im/home "$OUTBOXFS" --probe work \
	>"$tmp/im/out" 2>"$tmp/im/err"
rc=$?
[ $rc -eq 0 ] && tap_ok "implicit: exit 0" || { tap_bad "implicit: exit $rc"; cat "$tmp/im/err"; }
order "$tmp/im/out" "^--- account work from $tmp/im/xdg/outboxfs/config$" \
	'^--- connect localhost:[0-9]+, tls tls \(implicit\), auth on$' '^S: 220 ' \
	'^C: EHLO ' '^--- TLS TLSv1\.[23]' '^C: AUTH PLAIN \[credentials hidden\]$' \
	'^S: 235 ' '^C: MAIL FROM:<alice@example\.com>$' '^C: RSET$' \
	'^--- server: localhost:[0-9]+ tls TLSv1\.[23] .* verified auth=plain$' \
	'^--- result: every step worked$'
if grep -q '^C: STARTTLS' "$tmp/im/out"; then tap_bad "implicit: STARTTLS sent"
else tap_ok "implicit: no STARTTLS"; fi

# ~/.msmtprc when there is no outboxfs config; AUTH LOGIN named
mkdir -p "$tmp/rc/home"
write_cfg "$tmp/rc/home/.msmtprc" "$AIOSMTPD_PORT" "tls on" "tls_starttls off"
sed -i 's/^auth on$/auth login/' "$tmp/rc/home/.msmtprc"
env -u XDG_CONFIG_HOME HOME=$tmp/rc/home "$OUTBOXFS" --probe \
	>"$tmp/rc/out" 2>"$tmp/rc/err"
rc=$?
[ $rc -eq 0 ] && tap_ok "msmtprc: exit 0" || { tap_bad "msmtprc: exit $rc"; cat "$tmp/rc/err"; }
expect "$tmp/rc/out" "^--- account work from $tmp/rc/home/\\.msmtprc$"
order "$tmp/rc/out" '^C: AUTH LOGIN$' '^S: 334 ' '^C: \[credentials hidden\]$' \
	'^S: 334 ' '^C: \[credentials hidden\]$' '^S: 235 '
if grep -qF "$(printf '%s' "$PW" | base64 -w0)" "$tmp/rc/out"; then
	tap_bad "msmtprc: LOGIN password visible"
else tap_ok "msmtprc: LOGIN password not shown"; fi

tap_end
