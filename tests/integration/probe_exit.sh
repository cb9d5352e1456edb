#!/usr/bin/env bash
# outboxfs --probe: one exit status per failing step (outboxfs(1) EXIT
# STATUS), the step named on stderr, nothing after the failed step, and
# never a password in the output.
set -u
. "$(dirname "$0")/../lib-servers.sh" || exit 1
srv_need_built "$OUTBOXFS" "$TOOLS/testsmtpd"
srv_scratch tmp
srv_certs C
SRV="--cert $C/server.pem --key $C/server.key"
PW='probe-Secret-77'


start() { srv_testsmtpd "$1" 30 "${@:2}"; }   # start NAME ARGS...: sets PORT
cfg() {           # cfg NAME PORT EXTRA-LINES...: $tmp/NAME/cfg
	local name=$1 port=$2
	shift 2
	mkdir -p "$tmp/$name"
	{
		echo "account default"
		echo "host 127.0.0.1"
		echo "port $port"
		echo "from alice@example.com"
		echo "timeout 5"
		printf '%s\n' "$@"
	} >"$tmp/$name/cfg"
	chmod 600 "$tmp/$name/cfg"
}
# probe NAME WANT-EXIT STEP-ON-STDERR [probe args...]
probe() {
	local name=$1 want=$2 step=$3 rc
	shift 3
	timeout 60 "$OUTBOXFS" --probe -o config="$tmp/$name/cfg" "$@" \
		>"$tmp/$name/out" 2>"$tmp/$name/err"
	rc=$?
	if [ "$rc" = "$want" ]; then tap_ok "$name: exit $rc"; else
		tap_bad "$name: exit $rc, want $want"
		sed 's/^/    out: /' "$tmp/$name/out"; sed 's/^/    err: /' "$tmp/$name/err"
	fi
	if [ "$want" != 0 ]; then
		if grep -q "^outboxfs --probe: $step failed: " "$tmp/$name/err"; then
			tap_ok "$name: stderr names $step"
		else tap_bad "$name: stderr does not name $step:"; sed 's/^/    /' "$tmp/$name/err"; fi
	fi
	if grep -qF "$PW" "$tmp/$name/out" "$tmp/$name/err"; then
		tap_bad "$name: password visible"
	fi
}
expect() { tap_expect "$tmp/$1/$2" "$3" "$1"; }    # expect NAME out|err REGEX
refute() { tap_refute "$tmp/$1/$2" "$3" "$1"; }
STLS=("tls on" "tls_starttls on" "tls_trust_file $C/ca.pem")
AUTH=("auth on" "user alice" "password $PW")

# 2: configuration
mkdir -p "$tmp/nocfg"
timeout 10 "$OUTBOXFS" --probe -o config="$tmp/nocfg/none" >"$tmp/nocfg/out" 2>"$tmp/nocfg/err"
[ $? = 2 ] && tap_ok "nocfg: exit 2" || tap_bad "nocfg: exit not 2"
expect nocfg err '^outboxfs --probe: config failed: '
cfg noacct 25
probe noacct 2 config nosuch
expect noacct err 'no account nosuch'
cfg perms 25 "${AUTH[@]}"
chmod 644 "$tmp/perms/cfg"
probe perms 2 config
cfg usage 25
timeout 10 "$OUTBOXFS" --probe --bogus >"$tmp/usage/out" 2>"$tmp/usage/err"
[ $? = 1 ] && tap_ok "usage: exit 1" || tap_bad "usage: exit not 1"

# 3: connect refused (a port whose server has gone)
start gone
gone_port=$PORT
stop_pid "$SMTPD_PID"
cfg refused "$gone_port"
probe refused 3 connect
expect refused err 'connect failed: .*(refused|Connection)'

# 4: greeting
start greet --reply 'GREETING=554 5.3.2 go away'
cfg greet "$PORT"
probe greet 4 greeting
expect greet err '554 5\.3\.2 go away'
refute greet out '^C: EHLO'

# 5: EHLO (and HELO) refused
start ehlo --reply 'EHLO=421 4.3.2 shutting down'
cfg ehlo "$PORT"
probe ehlo 5 EHLO
expect ehlo err '421 4\.3\.2 shutting down'

# 6: STARTTLS not offered / 454 / injection / certificate
start noffer
cfg noffer "$PORT" "${STLS[@]}"
probe noffer 6 STARTTLS
expect noffer err 'does not offer STARTTLS'
refute noffer out '^C: (STARTTLS|MAIL|AUTH)'
start r454 $SRV --reply 'STARTTLS=454 4.7.0 TLS not available'
cfg r454 "$PORT" "${STLS[@]}"
probe r454 6 STARTTLS
expect r454 err '454 4\.7\.0 TLS not available; not sending in plain text'
start inject $SRV --reply 'STARTTLS=inject:250 ok'
cfg inject "$PORT" "${STLS[@]}"
probe inject 6 STARTTLS
expect inject err 'response injection'
start wrong --cert "$C/wrong.pem" --key "$C/wrong.key"
cfg wrong "$PORT" "${STLS[@]}"
probe wrong 6 STARTTLS
expect wrong err 'hostname mismatch \(certificate is for wrong\.example, connected to 127\.0\.0\.1\)'
start self --cert "$C/self.pem" --key "$C/self.key" --implicit-tls
cfg self "$PORT" "tls on" "tls_starttls off" "tls_trust_file $C/ca.pem"
probe self 6 TLS
expect self err 'self-signed certificate .*tls_fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}'
# ... and pinning what the error showed makes it work, with "pinned"
fp=$(grep -Eo 'tls_fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}' "$tmp/self/err" | cut -d' ' -f2)
start pinned --cert "$C/self.pem" --key "$C/self.key" --implicit-tls
cfg pinned "$PORT" "tls on" "tls_starttls off" "tls_fingerprint $fp"
probe pinned 0 -
expect pinned out '^--- TLS TLSv1\.[23] .*, certificate matches tls_fingerprint$'
expect pinned out '^--- server: 127\.0\.0\.1:[0-9]+ tls .* pinned$'

# 7: AUTH refused, no mechanism in common
start r535 $SRV --auth 'PLAIN LOGIN' --user alice --pass other-password
cfg r535 "$PORT" "${STLS[@]}" "${AUTH[@]}"
probe r535 7 AUTH
expect r535 err 'login refused \(535 .*\): check user and password'
expect r535 out '^C: AUTH PLAIN \[credentials hidden\]$'
refute r535 out '^C: MAIL'
start nomech $SRV --auth 'XOAUTH2' --user alice --pass "$PW"
cfg nomech "$PORT" "${STLS[@]}" "${AUTH[@]}"
probe nomech 7 AUTH
expect nomech err 'no authentication mechanism in common: the server offers XOAUTH2'
start scram $SRV --auth 'PLAIN SCRAM-SHA-256' --user alice --pass "$PW"
cfg scram "$PORT" "${STLS[@]}" "${AUTH[@]}"
probe scram 0 -
expect scram out '^C: AUTH SCRAM-SHA-256 \[credentials hidden\]$'
expect scram out 'verified auth=scram-sha-256$'
# passwordeval: first line of the command's output
start peval $SRV --auth 'CRAM-MD5' --user alice --pass "$PW"
cfg peval "$PORT" "${STLS[@]}" "auth on" "user alice" \
	"passwordeval echo $PW; echo second line"
probe peval 0 -
expect peval out 'auth=cram-md5$'

# 8: MAIL FROM refused
start mail $SRV --reply 'MAIL=550 5.7.1 sender rejected'
cfg mail "$PORT" "${STLS[@]}"
probe mail 8 "MAIL FROM"
expect mail err '550 5\.7\.1 sender rejected'
refute mail out '^C: RCPT'

# 9: RCPT TO refused (only the asked recipient)
start rcpt $SRV --reply 'RCPT/nobody@=550 5.1.1 no such user'
cfg rcpt "$PORT" "${STLS[@]}"
probe rcpt 9 "RCPT TO" --rcpt bob@example.com --rcpt nobody@example.com
expect rcpt out '^C: RCPT TO:<bob@example\.com>$'
expect rcpt err '550 5\.1\.1 no such user'
expect rcpt out '^--- the server offers$'

# 0: everything, plain text to loopback without TLS (allowed only there)
start plain --auth PLAIN --auth-plain-ok --user alice --pass "$PW"
cfg plain "$PORT" "${AUTH[@]}"
probe plain 0 - --rcpt bob@example.com
expect plain out '^--- server: 127\.0\.0\.1:[0-9]+ plain auth=plain$'
expect plain out '^--- result: every step worked$'
[ -z "$(ls "$tmp/plain/sp")" ] && tap_ok "plain: nothing sent" || tap_bad "plain: a message was sent"

tap_end
