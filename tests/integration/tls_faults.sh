#!/usr/bin/env bash
# TLS faults against testsmtpd, through the client of smtp/ (the
# smtpsend_tls tool): each must end with the right failure class, step,
# temporary flag and error text, never fall back to plain text, and the
# good cases must say how the connection was verified.
set -u
. "$(dirname "$0")/../lib-servers.sh" || exit 1
srv_need_built "$TOOLS/testsmtpd" "$TOOLS/smtpsend_tls"
srv_scratch tmp
srv_certs C

# start NAME testsmtpd-args...: a fresh server; sets PORT
start() { srv_testsmtpd "$1" 30 "${@:2}"; }
# client NAME args...: runs smtpsend_tls, output in $tmp/NAME/out
client() {
	local name=$1
	shift
	timeout 30 "$TOOLS/smtpsend_tls" --port "$PORT" --timeout 5000 "$@" \
		>"$tmp/$name/out" 2>&1
}
# expect NAME WHAT PATTERN: grep -E PATTERN in the output (WHAT = out|log)
expect() { tap_expect "$tmp/$1/$2" "$3" "$1"; }
refute() { tap_refute "$tmp/$1/$2" "$3" "$1"; }
# count NAME WHAT PATTERN N: exactly N lines match
count() {
	local got
	got=$(grep -Ec -- "$3" "$tmp/$1/$2")
	if [ "$got" = "$4" ]; then
		tap_ok "$1: $4 x /$3/"
	else
		tap_bad "$1: $got x /$3/, want $4:"; sed 's/^/    /' "$tmp/$1/$2"
	fi
}
SRV="--cert $C/server.pem --key $C/server.key"

# A verified STARTTLS session: EHLO again after TLS, desc says verified
start good $SRV
client good --tls starttls --trust "$C/ca.pem" --from a@example.com --rcpt b@example.com
expect good out '^result: ok server=127\.0\.0\.1:[0-9]+ starttls TLSv1\.[23] [A-Z0-9_-]+ verified$'
expect good out '^C: STARTTLS$'
count good out '^C: EHLO' 2
expect good log '^# tls'

# Implicit TLS from the first byte
start implicit $SRV --implicit-tls
client implicit --tls implicit --trust "$C/ca.pem"
expect implicit out '^result: ok server=127\.0\.0\.1:[0-9]+ tls TLSv1\.[23] .* verified$'
refute implicit out '^C: STARTTLS'

# Host name checked: localhost is in the certificate, so is 127.0.0.1
start byname $SRV
client byname --host localhost --tls starttls --trust "$C/ca.pem"
expect byname out '^result: ok server=localhost:'

# IPv6 literal: the address is checked (the certificate holds IP ::1)
if have_ipv6_loopback; then
	start v6 -l ::1 $SRV
	client v6 --host ::1 --tls starttls --trust "$C/ca.pem"
	expect v6 out '^result: ok server=\[::1\]:[0-9]+ starttls .* verified$'
	start v6w -l ::1 --cert "$C/wrong.pem" --key "$C/wrong.key"
	client v6w --host ::1 --tls starttls --trust "$C/ca.pem"
	expect v6w out 'hostname mismatch \(certificate is for wrong\.example, connected to ::1\)'
else
	skip_part "no IPv6 loopback (::1): the ::1 certificate cases"
fi

# Certificate for another name
start wrongname --cert "$C/wrong.pem" --key "$C/wrong.key"
client wrongname --tls starttls --trust "$C/ca.pem"
expect wrongname out '^result: fail class=tls temporary=1 step=STARTTLS .*text=certificate verify failed: hostname mismatch \(certificate is for wrong\.example, connected to 127\.0\.0\.1\)$'
refute wrongname out '^C: (MAIL|AUTH)'
count wrongname out '^C: EHLO' 1
refute wrongname log '^C: MAIL'

# Expired
start expired --cert "$C/expired.pem" --key "$C/expired.key"
client expired --tls starttls --trust "$C/ca.pem"
expect expired out 'class=tls temporary=1 step=STARTTLS .*certificate expired on 2020-01-01T00:00:00Z'

# Self-signed: the error shows the fingerprint to pin
fp_self=$(openssl x509 -in "$C/self.pem" -noout -fingerprint -sha256 | cut -d= -f2)
start self --cert "$C/self.pem" --key "$C/self.key"
client self --tls starttls --trust "$C/ca.pem"
expect self out "class=tls temporary=1 step=STARTTLS .*self-signed certificate \\(subject CN=localhost\\).*tls_fingerprint $fp_self"

# Unknown CA (system store only)
start unknown $SRV
client unknown --tls starttls
expect unknown out 'class=tls temporary=1 step=STARTTLS .*unknown CA \(issuer CN=outboxfs test CA'

# Fingerprint pinned: right one replaces the CA check, wrong one refused
start pin --cert "$C/self.pem" --key "$C/self.key"
client pin --tls starttls --fingerprint "$(printf '%s' "$fp_self" | tr 'A-F' 'a-f')"
expect pin out '^result: ok server=.* starttls TLSv1\.[23] .* pinned$'
fp_srv=$(openssl x509 -in "$C/server.pem" -noout -fingerprint -sha256 | cut -d= -f2)
start badpin $SRV
client badpin --tls starttls --trust "$C/ca.pem" --fingerprint "$fp_self"
expect badpin out "class=tls temporary=1 step=STARTTLS .*fingerprint mismatch: the server's is $fp_srv, tls_fingerprint is $fp_self"
start shortpin $SRV
client shortpin --tls starttls --fingerprint "AB:CD"
expect shortpin out 'class=tls .*tls_fingerprint AB:CD is not a SHA-256 fingerprint'

# certcheck off: works, and says unverified
start off --cert "$C/wrong.pem" --key "$C/wrong.key"
client off --tls starttls --certcheck off
expect off out '^result: ok server=.* starttls TLSv1\.[23] .* unverified$'

# STARTTLS required but not offered: no plain-text fallback
start noffer
client noffer --tls starttls --from a@example.com
expect noffer out '^result: fail class=tls temporary=1 step=STARTTLS code=0 text=the server does not offer STARTTLS; not sending in plain text'
refute noffer out '^C: (STARTTLS|MAIL)'

# 454 to STARTTLS
start r454 $SRV --reply 'STARTTLS=454 4.7.0 TLS not available'
client r454 --tls starttls --trust "$C/ca.pem" --from a@example.com
expect r454 out '^result: fail class=tls temporary=1 step=STARTTLS code=454 text=server answered STARTTLS with 454 4\.7\.0 TLS not available; not sending in plain text$'
refute r454 out '^C: MAIL'

# 220 followed by injected bytes in the same write (CVE-2011-0411 class)
start inject $SRV --reply 'STARTTLS=inject:250 ok'
client inject --tls starttls --trust "$C/ca.pem"
expect inject out '^result: fail class=protocol temporary=1 step=STARTTLS .*response injection'
refute inject out '^S: 250 ok$'
count inject out '^C: EHLO' 1
expect inject out '^C: STARTTLS$'

# The server hangs up inside TLS without close_notify: a lost connection
start hangup $SRV --reply 'EHLO#2=close'
client hangup --tls starttls --trust "$C/ca.pem"
expect hangup out '^result: fail class=connection temporary=1 step=EHLO .*connection closed by server'

# A plain-text server spoken to with implicit TLS
start plain
client plain --tls implicit --trust "$C/ca.pem"
expect plain out '^result: fail class=tls temporary=1 step=TLS .*TLS handshake with 127\.0\.0\.1'

# A client certificate is presented when configured
start clientcert $SRV
client clientcert --tls starttls --trust "$C/ca.pem" --cert "$C/client.pem" --key "$C/client.key"
expect clientcert out '^result: ok '
start badkey $SRV
client badkey --tls starttls --trust "$C/ca.pem" --cert "$C/client.pem" --key "$C/server.key"
expect badkey out 'cannot load tls_key_file'

# tls_trust_file that does not exist
start notrust $SRV
client notrust --tls starttls --trust "$tmp/nonexistent.pem"
expect notrust out "cannot load tls_trust_file $tmp/nonexistent.pem"

tap_end
