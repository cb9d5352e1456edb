#!/usr/bin/env bash
# AUTH through the client of smtp/ (smtpsend_tls) against testsmtpd (every
# mechanism, refusals, no mechanism in common) and aiosmtpd (STARTTLS and
# implicit TLS with PLAIN and LOGIN): the right outcome, the mechanism in
# the server line, and the password never in any transcript.
set -u
. "$(dirname "$0")/../lib-servers.sh" || exit 1
srv_need_built "$TOOLS/testsmtpd" "$TOOLS/smtpsend_tls"
srv_scratch tmp
srv_certs C
SRV="--cert $C/server.pem --key $C/server.key"
export PW='Pa55,w=rd!x'           # ',' and '=' exercise SCRAM escaping
export TOKEN='ya29.tok3n-SECRET'
export BADPW='not-the-password'

start() { srv_testsmtpd "$1" 30 "${@:2}"; }
client() {
	local name=$1
	shift
	mkdir -p "$tmp/$name"
	timeout 30 "$TOOLS/smtpsend_tls" --port "$PORT" --timeout 5000 "$@" \
		>"$tmp/$name/out" 2>&1
}
expect() { tap_expect "$tmp/$1/out" "$2" "$1"; }    # expect NAME REGEX
# The secret, and its base64 forms as PLAIN/LOGIN would send them, must
# not be in the client's output.
hidden() {
	local f=$tmp/$1/out s b
	for s in "$PW" "$TOKEN"; do
		b=$(printf '%s' "$s" | base64 -w0)
		if grep -qF -- "$s" "$f" || grep -qF -- "$b" "$f" ||
		   grep -qF -- "$(printf '\0alice\0%s' "$s" | base64 -w0)" "$f"; then
			tap_bad "$1: secret visible"; return
		fi
	done
	tap_ok "$1: secret not in transcript"
}

# Every mechanism, one server each (so the choice is forced by the offer)
for m in PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256; do
	name=m_$m
	start "$name" $SRV --auth "$m" --user alice --pass "$PW" --require-auth
	client "$name" --tls starttls --trust "$C/ca.pem" --auth on --user alice \
		--pass-env PW --from alice@example.com --rcpt bob@example.com
	lower=$(printf '%s' "$m" | tr 'A-Z' 'a-z')
	expect "$name" "^result: ok server=.* verified auth=$lower$"
	expect "$name" "^C: AUTH $m( \\[credentials hidden\\])?$"
	expect "$name" '^S: 250 2\.1\.5'
	hidden "$name"
	# every line the client sent after AUTH and before MAIL is hidden
	if awk '/^C: AUTH/{a=1;next} /^C: MAIL/{a=0} a && /^C: / && $0 != "C: [credentials hidden]"' \
	    "$tmp/$name/out" | grep -q .; then tap_bad "$name: a continuation shown"
	else tap_ok "$name: continuations hidden"; fi
done

# The strongest both have
start pick $SRV --auth 'PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256' \
	--user alice --pass "$PW"
client pick --tls starttls --trust "$C/ca.pem" --auth on --user alice --pass-env PW
expect pick 'auth=scram-sha-256$'
start pick2 $SRV --auth 'LOGIN PLAIN CRAM-MD5' --user alice --pass "$PW"
client pick2 --tls starttls --trust "$C/ca.pem" --auth on --user alice --pass-env PW
expect pick2 'auth=cram-md5$'
# A named mechanism is used even when a stronger one is offered
start named $SRV --auth 'PLAIN SCRAM-SHA-256' --user alice --pass "$PW"
client named --tls starttls --trust "$C/ca.pem" --auth PLAIN --user alice --pass-env PW
expect named 'auth=plain$'

# OAuth mechanisms, only when named; the token is the secret
for m in XOAUTH2 OAUTHBEARER; do
	name=o_$m
	start "$name" $SRV --auth "$m" --user alice --pass "$TOKEN"
	client "$name" --tls starttls --trust "$C/ca.pem" --auth "$m" \
		--user alice --pass-env TOKEN
	expect "$name" "auth=$(printf '%s' "$m" | tr 'A-Z' 'a-z')$"
	hidden "$name"
	start "${name}_on" $SRV --auth "$m" --user alice --pass "$TOKEN"
	client "${name}_on" --tls starttls --trust "$C/ca.pem" --auth on \
		--user alice --pass-env TOKEN
	expect "${name}_on" "class=auth temporary=0 step=AUTH .*no authentication mechanism in common: the server offers $m"
done

# Wrong password: 535 defers (fix the password, the mail waits)
for m in PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256; do
	name=bad_$m
	start "$name" $SRV --auth "$m" --user alice --pass "$PW"
	client "$name" --tls starttls --trust "$C/ca.pem" --auth "$m" \
		--user alice --pass-env BADPW
	expect "$name" '^result: fail class=auth temporary=1 step=AUTH code=535 .*login refused .*check user and password'
	if grep -qF "$BADPW" "$tmp/$name/out"; then tap_bad "$name: password shown"
	else tap_ok "$name: password not shown"; fi
done

# Scripted 535 for a correct login, and a temporary 454
start r535 $SRV --auth PLAIN --user alice --pass "$PW" \
	--reply 'AUTH=535 5.7.8 Bad credentials'
client r535 --tls starttls --trust "$C/ca.pem" --auth on --user alice --pass-env PW
expect r535 'class=auth temporary=1 step=AUTH code=535 text=login refused \(535 5\.7\.8 Bad credentials\)'
start r454 $SRV --auth PLAIN --user alice --pass "$PW" \
	--reply 'AUTH=454 4.7.0 Temporary authentication failure'
client r454 --tls starttls --trust "$C/ca.pem" --auth on --user alice --pass-env PW
expect r454 'class=temporary temporary=1 step=AUTH code=454'

# No mechanism in common: final, lists the offer
start none $SRV --auth 'XOAUTH2' --user alice --pass "$PW"
client none --tls starttls --trust "$C/ca.pem" --auth on --user alice --pass-env PW
expect none 'class=auth temporary=0 step=AUTH .*the server offers XOAUTH2'
start notoffered $SRV --auth 'PLAIN' --user alice --pass "$PW"
client notoffered --tls starttls --trust "$C/ca.pem" --auth CRAM-MD5 --user alice --pass-env PW
expect notoffered 'class=auth temporary=0 step=AUTH .*does not offer CRAM-MD5: it offers PLAIN'
start noauth $SRV
client noauth --tls starttls --trust "$C/ca.pem" --auth on --user alice --pass-env PW
expect noauth 'class=auth temporary=0 step=AUTH .*offers no authentication'

# A forbidden pairing: credentials over loopback without TLS are allowed
# (the one exception), so are over verified TLS; tested above. Missing
# user or password is a local, final error.
start nouser $SRV --auth PLAIN --user alice --pass "$PW"
client nouser --tls starttls --trust "$C/ca.pem" --auth on --pass-env PW
expect nouser 'class=local temporary=0 step=AUTH .*user is not set'

# aiosmtpd: STARTTLS + PLAIN/LOGIN, implicit TLS
if "$PY" -c 'import aiosmtpd' 2>/dev/null; then
	for mode in starttls implicit; do
		for m in PLAIN LOGIN; do
			name=aio_${mode}_$m
			if [ $mode = starttls ]; then flag=--starttls; else flag=--implicit-tls; fi
			srv_aiosmtpd "$name" 30 $flag \
				--cert "$C/server.pem" --key "$C/server.key" \
				--auth-user alice --auth-pass "$PW"
			client "$name" --tls $mode --trust "$C/ca.pem" --auth "$m" \
				--user alice --pass-env PW --from alice@example.com \
				--rcpt bob@example.com
			expect "$name" "^result: ok server=.* $( [ $mode = starttls ] && echo starttls || echo tls) TLSv1\\.[23] .* verified auth=$(printf '%s' $m | tr A-Z a-z)$"
			hidden "$name"
		done
	done
	name=aio_bad
	srv_aiosmtpd "$name" 30 --starttls \
		--cert "$C/server.pem" --key "$C/server.key" \
		--auth-user alice --auth-pass "$PW"
	client "$name" --tls starttls --trust "$C/ca.pem" --auth on --user alice \
		--pass-env BADPW
	expect "$name" 'class=auth temporary=1 step=AUTH code=535'
else
	skip_part "$PY has no aiosmtpd (Debian python3-aiosmtpd): the aiosmtpd cases"
fi

tap_end
