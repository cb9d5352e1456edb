#!/usr/bin/env bash
# Self-test of tests/aiosmtpd_server.py, the second capture server: saved
# .env/.eml bytes (dot-unstuffed, CRLF kept), STARTTLS required before
# MAIL, implicit TLS, AUTH PLAIN/LOGIN, idle exit and a clean SIGTERM.
set -u
. "$(dirname "$0")/../lib-servers.sh" || exit 1
srv_need_aiosmtpd
srv_scratch tmp

fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
start() {          # start NAME args...: port in $tmp/NAME/aio-port
	srv_aiosmtpd "$1" 60 "${@:2}"
	printf -v "pid_$1" '%s' "$AIOSMTPD_PID"
}

start A
TLS=0
if srv_self_cert; then
	TLS=1
	start S --starttls --cert "$tmp/cert.pem" --key "$tmp/key.pem" \
		--auth-user alice --auth-pass 'p@ss w,rd='
	start I --implicit-tls --cert "$tmp/cert.pem" --key "$tmp/key.pem" \
		--auth-user alice --auth-pass pw
fi

"$PY" - "$tmp" "$TLS" <<'EOF' || fail=1
import os, smtplib, socket, ssl, sys, time

tmp, tls = sys.argv[1], sys.argv[2] == "1"
def port(n): return int(open(os.path.join(tmp, n, "aio-port")).read())
def spool(n, f): return open(os.path.join(tmp, n, "sp", f), "rb").read()

npass = nfail = 0
def check(cond, what):
    global npass, nfail
    if cond:
        npass += 1
    else:
        nfail += 1
        print("FAIL:", what)

# exact bytes through a raw socket: stuffed dots, CRLF, a bare LF inside
s = socket.create_connection(("127.0.0.1", port("A")), timeout=10)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline()
        lines.append(l)
        if len(l) < 4 or l[3:4] != b"-":
            return lines
check(reply()[0].startswith(b"220 localhost"), "greeting")
s.sendall(b"EHLO raw.test\r\n")
check(reply()[-1].startswith(b"250 "), "EHLO")
s.sendall(b"MAIL FROM:<a@x> BODY=8BITMIME\r\n")
check(reply()[0].startswith(b"250"), "MAIL")
s.sendall(b"RCPT TO:<b@y>\r\n")
check(reply()[0].startswith(b"250"), "RCPT b")
s.sendall(b"RCPT TO:<c@z>\r\n")
check(reply()[0].startswith(b"250"), "RCPT c")
s.sendall(b"DATA\r\n")
check(reply()[0].startswith(b"354"), "354")
s.sendall(b"Subject: x\r\n\r\n..dot\r\n...two\r\nbare\nlf\r\nend\r\n.\r\n")
check(reply()[0] == b"250 2.0.0 Ok: queued as 1\r\n", "queued as 1")
s.sendall(b"QUIT\r\n")
check(reply()[0].startswith(b"221"), "QUIT")
s.close()
check(spool("A", "1.eml") == b"Subject: x\r\n\r\n.dot\r\n..two\r\nbare\nlf\r\nend\r\n",
      "eml bytes: %r" % spool("A", "1.eml"))
check(spool("A", "1.env") == b"helo: raw.test\nfrom: <a@x>\nparams: BODY=8BITMIME\n"
      b"rcpt: <b@y>\nrcpt: <c@z>\n", "env: %r" % spool("A", "1.env"))

# smtplib, two messages on one connection
c = smtplib.SMTP("127.0.0.1", port("A"), timeout=10, local_hostname="client.test")
c.ehlo("lib.test")
check(c.sendmail("<>", ["b@y"], b"one\r\n") == {}, "null sender")
check(c.sendmail("a@x", ["b@y"], b"two\r\n") == {}, "second on same connection")
c.quit()
check(spool("A", "2.env").startswith(b"helo: lib.test\nfrom: <>\n"),
      "null sender env: %r" % spool("A", "2.env"))
check(spool("A", "3.eml") == b"two\r\n", "3.eml")
check(not [x for x in os.listdir(os.path.join(tmp, "A", "sp")) if x.startswith(".")],
      "no temp files left")

if tls:
    ctx = ssl.create_default_context(cafile=os.path.join(tmp, "cert.pem"))
    PW = "p@ss w,rd="
    c = smtplib.SMTP("127.0.0.1", port("S"), timeout=10, local_hostname="client.test")
    code, caps = c.ehlo("s.test")
    check(b"STARTTLS" in caps and b"AUTH" not in caps, "STARTTLS, no AUTH in clear")
    code, _ = c.docmd("MAIL FROM:<a@x>")
    check(code == 530, "MAIL before STARTTLS refused: %d" % code)
    c.starttls(context=ctx)
    code, caps = c.ehlo("s.test")
    check(b"AUTH" in caps and b"PLAIN" in caps and b"LOGIN" in caps,
          "AUTH PLAIN LOGIN after TLS")
    code, _ = c.docmd("MAIL FROM:<a@x>")
    check(code == 530, "MAIL before AUTH refused: %d" % code)
    try:
        c.login("alice", "wrong")
        check(False, "wrong password accepted")
    except smtplib.SMTPAuthenticationError as ex:
        check(ex.smtp_code == 535, "wrong password 535")
    c.quit()
    for mech in ("PLAIN", "LOGIN"):
        c = smtplib.SMTP("127.0.0.1", port("S"), timeout=10, local_hostname="client.test")
        c.starttls(context=ctx)
        c.ehlo("s.test")
        c.user, c.password = "alice", PW
        code = c.auth(mech, getattr(c, "auth_" + mech.lower()),
                      initial_response_ok=(mech == "PLAIN"))[0]
        check(code == 235, "AUTH %s: %d" % (mech, code))
        check(c.sendmail("a@x", ["b@y"], b"secret\r\n") == {}, "mail after %s" % mech)
        c.quit()
    env = spool("S", "1.env")
    check(env.startswith(b"helo: s.test\ntls: TLSv1.") and b"\nauth: PLAIN alice\n" in env,
          "env tls and auth: %r" % env)
    check(b"\nauth: LOGIN alice\n" in spool("S", "2.env"), "LOGIN env")

    c = smtplib.SMTP_SSL("127.0.0.1", port("I"), context=ctx, timeout=10, local_hostname="client.test")
    c.login("alice", "pw")
    check(c.sendmail("a@x", ["b@y"], b"implicit\r\n") == {}, "implicit TLS mail")
    c.quit()
    check(spool("I", "1.eml") == b"implicit\r\n", "implicit TLS eml")

print("aiosmtpd selftest: %d passed, %d failed" % (npass, nfail))
sys.exit(1 if nfail else 0)
EOF

# SIGTERM: exits 0 at once
kill "$pid_A"
wait_gone "$pid_A" 5
wait "$pid_A"; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"

# idle timeout
mkdir -p "$tmp/D/sp"
if start_aiosmtpd "$tmp/D" -d "$tmp/D/sp" --idle-timeout 1; then
	srv_track "$AIOSMTPD_PID"
	wait_gone "$AIOSMTPD_PID" 10 && ok "--idle-timeout 1 exits" ||
		bad "--idle-timeout ignored"
else
	bad "cannot start for the idle test"
fi

# loopback only
mkdir -p "$tmp/X"
"$PY" "$TOP/tests/aiosmtpd_server.py" -l 0.0.0.0 -d "$tmp/X" \
	--port-file "$tmp/X/port" --idle-timeout 1 2>/dev/null
rc=$?
[ $rc -ne 0 ] && [ ! -e "$tmp/X/port" ] && ok "refuses 0.0.0.0" ||
	bad "-l 0.0.0.0 not refused"

exit $fail
