#!/usr/bin/env bash
# Self-test of tests/tools/testsmtpd: the server every transcript and mount
# test trusts. A small client (Python's smtplib and raw sockets) checks the
# replies, the scripted faults, the saved .env/.eml bytes, dot-unstuffing,
# pipelining, the lifetime options, the seeded faults of --chaos (same
# seed, same faults) and STARTTLS/AUTH with a certificate made here by
# openssl.
set -u
. "$(dirname "$0")/../lib-servers.sh" || exit 1
srv_need_built "$TOOLS/testsmtpd"
[ -x "$PY" ] || { echo "SKIP: $PY absent"; exit 77; }
srv_scratch tmp

fail=0
start() {          # start NAME args...: sets port_NAME, pid_NAME
	srv_testsmtpd "$1" 60 "${@:2}"
	printf -v "port_$1" '%s' "$SMTP_PORT"
	printf -v "pid_$1" '%s' "$SMTPD_PID"
}

# A: defaults, with rules selected by argument
start A \
	--reply 'RCPT/carol@=550 5.1.1 No such user' \
	--reply 'RCPT/multi@=250-first line\n250 second line' \
	--reply 'MAIL/garbage@=garbage' \
	--reply 'MAIL/huge@=huge' \
	--reply 'MAIL/many@=many' \
	--reply 'MAIL/close@=close' \
	--reply 'RCPT/slow@=delay:200:250 2.1.5 slow ok' \
	--reply 'NOOP/inject=inject:250 injected' \
	--reply 'DOT/Subject: refuse-me=554 5.6.0 Content refused'
# B: counted rules, strict CRLF, one refused connection, reduced EHLO
start B --fail-connections 1 --no-pipelining --no-8bitmime --no-smtputf8 \
	--no-dsn --size 2000 --ext 'X-TEST foo' --strict-crlf \
	--reply 'GREETING#1=554 5.3.2 Not now' \
	--reply 'MAIL#1=451 4.3.0 Try later' \
	--reply 'DOT#1=452 4.3.1 Full' \
	--reply 'DOT#2=saveclose'
# C: no EHLO at all
start C --no-ehlo --reply 'DATA#1=cut:10'

TLS=0
if srv_self_cert; then
	TLS=1
	MECHS='PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 XOAUTH2 OAUTHBEARER'
	start T --cert "$tmp/cert.pem" --key "$tmp/key.pem" --auth "$MECHS" \
		--user alice --pass 'p@ss w,rd=' --require-auth
	start I --cert "$tmp/cert.pem" --key "$tmp/key.pem" --implicit-tls \
		--auth 'PLAIN' --user alice --pass pw
	start J --cert "$tmp/cert.pem" --key "$tmp/key.pem" \
		--reply 'STARTTLS=inject:250 injected'
	start P --auth 'PLAIN LOGIN' --auth-plain-ok --user bob --pass pw
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=testclient \
		-keyout "$tmp/ckey.pem" -out "$tmp/ccert.pem" >/dev/null 2>&1 ||
		{ echo "FAIL: cannot make a client certificate"; exit 1; }
	start K --cert "$tmp/cert.pem" --key "$tmp/key.pem" --tls-version 1.2 \
		--client-ca "$tmp/ccert.pem"
	start R --cert "$tmp/cert.pem" --key "$tmp/key.pem" \
		--client-ca "$tmp/ccert.pem" --require-client-cert
fi

"$PY" - "$tmp" "$TLS" <<'EOF' || fail=1
import base64, hashlib, hmac, os, smtplib, socket, ssl, sys, time

tmp, tls = sys.argv[1], sys.argv[2] == "1"
def port(n): return int(open(os.path.join(tmp, n, "port")).read())
def spool(n, f): return open(os.path.join(tmp, n, "sp", f), "rb").read()
def log(n): return open(os.path.join(tmp, n, "log"), "rb").read()

npass = nfail = 0
def check(cond, what):
    global npass, nfail
    if cond:
        npass += 1
    else:
        nfail += 1
        print("FAIL:", what)

class Raw:
    def __init__(self, p, wrap=None):
        self.s = socket.create_connection(("127.0.0.1", p), timeout=10)
        if wrap:
            self.s = wrap.wrap_socket(self.s, server_hostname="localhost")
        self.buf = b""
    def send(self, b): self.s.sendall(b)
    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return l[:-1] if l.endswith(b"\r") else l
    def reply(self):
        out = []
        while True:
            l = self.line()
            out.append(l)
            if len(l) < 4 or l[3:4] != b"-":
                return out
    def code(self): return int(self.reply()[-1][:3])
    def eof(self):
        try:
            return not self.buf and self.s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True
    def starttls(self, ctx):
        self.s = ctx.wrap_socket(self.s, server_hostname="localhost")
    def close(self): self.s.close()

def wait_for(path, secs=10):
    for _ in range(secs * 20):
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False

# ---- A: plain SMTP -------------------------------------------------------
a = port("A")
r = Raw(a)
check(r.reply() == [b"220 localhost ESMTP testsmtpd"], "greeting")
r.send(b"MAIL FROM:<x@y>\r\n")
check(r.code() == 503, "MAIL before EHLO is 503")
r.send(b"EHLO client.test\r\n")
ehlo = r.reply()
check(ehlo == [b"250-localhost", b"250-PIPELINING", b"250-SIZE 104857600",
               b"250-8BITMIME", b"250-ENHANCEDSTATUSCODES", b"250-SMTPUTF8",
               b"250 DSN"], "default EHLO capabilities: %r" % ehlo)
r.send(b"RCPT TO:<b@y>\r\n")
check(r.code() == 503, "RCPT before MAIL is 503")
r.send(b"MAIL FROM:<a@x>\r\n")
check(r.code() == 250, "MAIL 250")
r.send(b"DATA\r\n")
check(r.code() == 503, "DATA without RCPT is 503")
r.send(b"RCPT TO:<carol@example.com>\r\n")
check(r.reply() == [b"550 5.1.1 No such user"], "scripted RCPT/carol@")
r.send(b"DATA\r\n")
check(r.code() == 503, "DATA with only refused RCPT is 503")
r.send(b"RCPT TO:<b@y>\r\nRSET\r\nDATA\r\n")
check([r.code(), r.code(), r.code()] == [250, 250, 503], "RSET clears")
r.send(b"NOOP\r\nFOO bar\r\nVRFY x\r\n")
check([r.code(), r.code(), r.code()] == [250, 500, 252], "NOOP, unknown, VRFY")
r.send(b"NOOP " + b"x" * 1100 + b"\r\nNOOP\r\n")
check([r.code(), r.code()] == [500, 250], "long line 500, then goes on")
r.send(b"NOOP inject\r\n")
check(r.reply() == [b"250 2.0.0 Ok"] and r.reply() == [b"250 injected"],
      "inject: normal reply then the text")
r.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<multi@y>\r\n")
check(r.code() == 250 and r.reply() == [b"250-first line", b"250 second line"],
      "scripted multi-line reply")
r.send(b"RSET\r\nMAIL FROM:<garbage@x>\r\n")
check(r.code() == 250 and r.line() == b"hello there", "garbage reply")
r.send(b"RSET\r\nMAIL FROM:<huge@x>\r\n")
r.code()
l = r.line()
check(len(l) == 100000 and l.startswith(b"250 x"), "huge: 100000-byte line")
r.send(b"RSET\r\nMAIL FROM:<many@x>\r\n")
r.code()
m = r.reply()
check(len(m) == 1000 and m[-1] == b"250 line 1000", "many: 1000 lines")
r.send(b"RSET\r\nMAIL FROM:<a@x>\r\nRCPT TO:<slow@y>\r\n")
check(r.code() == 250 and r.code() == 250 and
      r.reply() == [b"250 2.1.5 slow ok"], "delay: reply arrives")
r.send(b"RSET\r\nMAIL FROM:<close@x>\r\n")
check(r.code() == 250 and r.eof(), "close: disconnect without reply")
r.close()

# exact bytes: dot-stuffing, bare LF kept, CRLF kept, pipelined
r = Raw(a)
r.reply()
data = (b"Subject: dots\r\n\r\n..leading dot\r\n...two\r\n.\r\x00x\r\n"
        b"bare\nlf and bare\rcr\r\nno dot. here\r\n")
want = (b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\n\r\x00x\r\n"
        b"bare\nlf and bare\rcr\r\nno dot. here\r\n")
r.send(b"EHLO pipe.test\r\n")
check(r.code() == 250, "EHLO")
r.send(b"MAIL FROM:<a@x> BODY=8BITMIME SIZE=100\r\n"
       b"RCPT TO:<b@y>\r\nRCPT TO:<carol@z>\r\nRCPT TO:<c@z> NOTIFY=NEVER\r\n"
       b"DATA\r\n")
codes = [r.code() for _ in range(5)]
check(codes == [250, 250, 550, 250, 354], "pipelined replies in order %r" % codes)
r.send(data + b".\r\nQUIT\r\n")
dot = r.reply()
check(dot[0].startswith(b"250 2.0.0 Ok: queued as "), "250 after dot")
n = dot[0].rsplit(b" ", 1)[1].decode()
check(r.code() == 221, "QUIT 221")
check(r.eof(), "closed after QUIT")
check(wait_for(os.path.join(tmp, "A", "sp", n + ".env")), "N.env appears")
check(spool("A", n + ".eml") == want, "eml bytes exact: %r" % spool("A", n + ".eml"))
check(spool("A", n + ".env") ==
      b"helo: pipe.test\nfrom: <a@x>\nparams: BODY=8BITMIME SIZE=100\n"
      b"rcpt: <b@y>\nrcpt: <c@z>\nrcpt-params: <c@z> NOTIFY=NEVER\n",
      "env exact: %r" % spool("A", n + ".env"))
L = log("A")
check(b"\nC: MAIL FROM:<a@x> BODY=8BITMIME SIZE=100\n" in L, "log C: line")
check(b"\nC: [%d bytes of message data]\nC: .\n" % len(want) in L, "log data note")
check(b"\nS: 250 2.0.0 Ok: queued as %s\n" % n.encode() in L, "log S: line")
check(b"# improper pipelining" not in L, "no pipelining complaint with PIPELINING")
check(not [f for f in os.listdir(os.path.join(tmp, "A", "sp")) if f.startswith(".")],
      "no temp files left")

# smtplib, SMTPUTF8 and SIZE checks, two connections at once
s1 = smtplib.SMTP("127.0.0.1", a, timeout=10, local_hostname="client.test")
s2 = smtplib.SMTP("127.0.0.1", a, timeout=10, local_hostname="client.test")     # concurrent: both greeted
check(s1.noop()[0] == 250 and s2.noop()[0] == 250, "two connections at once")
s2.quit()
s1.ehlo("utf.test")
check(s1.docmd("MAIL FROM:<a@x> SIZE=200000000")[0] == 552, "SIZE over limit 552")
r = Raw(a)
r.reply()
r.send(b"EHLO utf.test\r\nMAIL FROM:<j\xc3\xb6rg@x>\r\n")
check(r.code() == 250 and r.code() == 553, "non-ASCII sender without SMTPUTF8: 553")
r.send(b"MAIL FROM:<j\xc3\xb6rg@x> SMTPUTF8\r\nRCPT TO:<\xc3\xa9@y>\r\n")
check(r.code() == 250 and r.code() == 250, "SMTPUTF8 sender and recipient 250")
r.close()
refused = s1.sendmail("a@x", ["b@y", "carol@z"], b"Subject: s\r\n\r\nhi\r\n")
check(list(refused) == ["carol@z"], "sendmail partial refusal")
try:
    s1.sendmail("a@x", ["b@y"], b"Subject: refuse-me\r\n\r\nhi\r\n")
    check(False, "DOT/MATCH on content must refuse")
except smtplib.SMTPDataError as ex:
    check(ex.smtp_code == 554, "DOT/MATCH on the message content: 554")
s1.quit()

# four connections at once, 50 messages each: every one saved, numbers unique
import threading
errs = []
def sender(k):
    try:
        c = smtplib.SMTP("127.0.0.1", a, timeout=20, local_hostname="client.test")
        for i in range(50):
            c.sendmail("t%d@x" % k, ["b@y"], b"Subject: par %d-%d\r\n\r\nx\r\n" % (k, i))
        c.quit()
    except Exception as ex:
        errs.append(ex)
before = len([f for f in os.listdir(os.path.join(tmp, "A", "sp")) if f.endswith(".env")])
ts = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
for t_ in ts: t_.start()
for t_ in ts: t_.join()
check(not errs, "parallel senders: %r" % errs)
envs = [f for f in os.listdir(os.path.join(tmp, "A", "sp")) if f.endswith(".env")]
subjects = set()
for f in envs:
    body = spool("A", f[:-4] + ".eml")
    if body.startswith(b"Subject: par "):
        subjects.add(body.split(b"\r\n")[0])
check(len(envs) - before == 200 and len(subjects) == 200,
      "200 parallel messages saved once each (%d, %d)" % (len(envs) - before, len(subjects)))

# ---- B: counted rules, fail-connections, strict CRLF --------------------
b = port("B")
r = Raw(b)
check(r.eof(), "--fail-connections 1: first connection closed")
r = Raw(b)
check(r.reply() == [b"554 5.3.2 Not now"], "GREETING#1 scripted")
r.close()
r = Raw(b)
check(r.code() == 220, "second greeting normal")
r.send(b"EHLO b.test\r\n")
e = r.reply()
check(e == [b"250-localhost", b"250-SIZE 2000", b"250-ENHANCEDSTATUSCODES",
            b"250 X-TEST foo"], "reduced EHLO %r" % e)
r.send(b"MAIL FROM:<a@x>\r\n")
check(r.code() == 451, "MAIL#1 scripted 451")
r.send(b"MAIL FROM:<a@x> BODY=8BITMIME\r\n")
check(r.code() == 555, "BODY=8BITMIME refused without 8BITMIME")
r.send(b"MAIL FROM:<a@x>\r\n")
check(r.code() == 250, "MAIL#2 normal")
r.send(b"RCPT TO:<b@y>\r\n")
check(r.code() == 250, "RCPT")
r.send(b"DATA\r\n")
check(r.code() == 354, "354")
r.send(b"one\r\n.\r\n")
check(r.reply() == [b"452 4.3.1 Full"], "DOT#1 scripted 452")
r.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n")
check(r.code() == 250 and r.code() == 250, "next transaction")
check(b"# improper pipelining after MAIL" in log("B"),
      "pipelining without PIPELINING is logged")
r.send(b"DATA\r\n")
r.code()
r.send(b"two\r\n.\r\n")
check(r.eof(), "DOT#2 saveclose: no reply, closed")
check(wait_for(os.path.join(tmp, "B", "sp", "1.env")) and
      spool("B", "1.eml") == b"two\r\n", "saveclose saved the message")
s = smtplib.SMTP("127.0.0.1", b, timeout=10, local_hostname="client.test")
s.helo("b.test")          # HELO: smtplib then sends no SIZE= parameter
try:
    s.sendmail("a@x", ["b@y"], b"bare\nLF\r\n")
    check(False, "strict CRLF must refuse a bare LF")
except smtplib.SMTPDataError as ex:
    check(ex.smtp_code == 550, "strict CRLF: 550")
try:
    s.sendmail("a@x", ["b@y"], b"x" * 3000 + b"\r\n")
    check(False, "message over --size must be refused")
except smtplib.SMTPDataError as ex:
    check(ex.smtp_code == 552, "over --size after dot: 552")
check(s.sendmail("a@x", ["b@y"], b"ok\r\n") == {}, "clean message accepted")
s.quit()
check(spool("B", "2.eml") == b"ok\r\n" and not os.path.exists(
      os.path.join(tmp, "B", "sp", "3.eml")), "refused messages not saved")

# ---- C: --no-ehlo ---------------------------------------------------------
r = Raw(port("C"))
r.reply()
r.send(b"EHLO c.test\r\nHELO c.test\r\nMAIL FROM:<a@x> SIZE=10\r\n")
check([r.code(), r.code(), r.code()] == [500, 250, 555],
      "--no-ehlo: EHLO 500, HELO 250, no parameters after HELO")
r.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n")
check([r.code(), r.code(), r.code()] == [250, 250, 354], "DATA#1=cut: 354 first")
try:
    r.send(b"x" * 100 + b"\r\n")
except OSError:
    pass
check(r.eof(), "cut:10 drops the connection inside DATA")
r.close()
s = smtplib.SMTP("127.0.0.1", port("C"), timeout=10, local_hostname="client.test")
s.helo("c.test")
check(s.sendmail("a@x", ["b@y"], b"whole\r\n") == {}, "next DATA is normal")
s.quit()
check(spool("C", "1.eml") == b"whole\r\n" and not os.path.exists(
      os.path.join(tmp, "C", "sp", "2.eml")), "the cut message was not saved")
check(b"# connection 1 cut inside DATA (scripted)" in log("C"), "cut logged")

# ---- TLS and AUTH ---------------------------------------------------------
if tls:
    ctx = ssl.create_default_context(cafile=os.path.join(tmp, "cert.pem"))
    t = port("T")
    PW = "p@ss w,rd="

    def tls_session():
        s = smtplib.SMTP("127.0.0.1", t, timeout=10, local_hostname="client.test")
        s.ehlo("t.test")
        s.starttls(context=ctx)
        s.ehlo("t.test")
        return s

    r = Raw(t)
    r.reply()
    r.send(b"EHLO t.test\r\n")
    e = r.reply()
    check(b"250-STARTTLS" in e or b"250 STARTTLS" in e, "STARTTLS offered")
    check(not [x for x in e if b"AUTH" in x], "no AUTH before TLS")
    r.send(b"AUTH PLAIN AGFsaWNlAHB3\r\nMAIL FROM:<a@x>\r\n")
    check([r.code(), r.code()] == [538, 530], "AUTH needs TLS; MAIL needs AUTH")
    r.send(b"STARTTLS\r\n")
    check(r.code() == 220, "STARTTLS 220")
    r.starttls(ctx)
    r.send(b"MAIL FROM:<a@x>\r\n")
    check(r.code() == 503, "EHLO state forgotten after TLS")
    r.send(b"EHLO t.test\r\n")
    e = r.reply()
    check(b"250 AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 XOAUTH2 "
          b"OAUTHBEARER" in e and not [x for x in e if b"STARTTLS" in x],
          "after TLS: AUTH offered, STARTTLS not: %r" % e)
    r.send(b"AUTH PLAIN\r\n")
    check(r.reply() == [b"334 "], "AUTH PLAIN without initial response: 334")
    r.send(b"*\r\n")
    check(r.code() == 501, "cancel with *")
    r.send(b"AUTH FOO\r\n")
    check(r.code() == 504, "unknown mechanism 504")
    r.close()

    for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
        for pw, ok in ((PW, True), ("wrong", False)):
            s = tls_session()
            s.user, s.password = "alice", pw
            try:
                code = s.auth(mech, getattr(s, "auth_" + mech.lower().replace("-", "_")),
                              initial_response_ok=(mech == "PLAIN"))[0]
            except smtplib.SMTPAuthenticationError as ex:
                code = ex.smtp_code
            check(code == (235 if ok else 535), "%s %s: %d" % (mech, ok, code))
            s.quit()

    def scram(mech, hname, user, pw, tamper=False):
        s = tls_session()
        cnonce = base64.b64encode(os.urandom(12)).decode()
        bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), cnonce)
        code, msg = s.docmd("AUTH", mech + " " +
                            base64.b64encode(("n,," + bare).encode()).decode())
        if code != 334:
            return code, False
        sfirst = base64.b64decode(msg).decode()
        f = dict(x.split("=", 1) for x in sfirst.split(","))
        if not f["r"].startswith(cnonce):
            return -1, False
        salted = hashlib.pbkdf2_hmac(hname, pw.encode(), base64.b64decode(f["s"]),
                                     int(f["i"]))
        ckey = hmac.new(salted, b"Client Key", hname).digest()
        stored = hashlib.new(hname, ckey).digest()
        final_wo = "c=biws,r=" + f["r"]
        amsg = ",".join([bare, sfirst, final_wo]).encode()
        csig = hmac.new(stored, amsg, hname).digest()
        proof = bytes(x ^ y for x, y in zip(ckey, csig))
        if tamper:
            proof = bytes([proof[0] ^ 1]) + proof[1:]
        final = final_wo + ",p=" + base64.b64encode(proof).decode()
        code, msg = s.docmd(base64.b64encode(final.encode()).decode())
        sig_ok = False
        if code == 334:
            skey = hmac.new(salted, b"Server Key", hname).digest()
            want = b"v=" + base64.b64encode(hmac.new(skey, amsg, hname).digest())
            sig_ok = base64.b64decode(msg) == want
            code, msg = s.docmd("")
        s.quit()
        return code, sig_ok

    for mech, h in (("SCRAM-SHA-1", "sha1"), ("SCRAM-SHA-256", "sha256")):
        code, sig = scram(mech, h, "alice", PW)
        check(code == 235 and sig, "%s good: %d, server signature %s" % (mech, code, sig))
        code, _ = scram(mech, h, "alice", "wrong")
        check(code == 535, "%s wrong password: %d" % (mech, code))
        code, _ = scram(mech, h, "alice", PW, tamper=True)
        check(code == 535, "%s tampered proof: %d" % (mech, code))

    def oauth(mech, token):
        s = tls_session()
        if mech == "XOAUTH2":
            ir = "user=alice\x01auth=Bearer %s\x01\x01" % token
        else:
            ir = "n,a=alice,\x01host=localhost\x01port=25\x01auth=Bearer %s\x01\x01" % token
        code, msg = s.docmd("AUTH", mech + " " + base64.b64encode(ir.encode()).decode())
        js = None
        if code == 334:
            js = base64.b64decode(msg)
            code, msg = s.docmd("" if mech == "XOAUTH2" else "AQ==")
        s.quit()
        return code, js

    for mech in ("XOAUTH2", "OAUTHBEARER"):
        code, js = oauth(mech, PW)
        check(code == 235 and js is None, "%s good token: %d" % (mech, code))
        code, js = oauth(mech, "bad-token")
        check(code == 535 and js and js.startswith(b"{\"status\""),
              "%s bad token: 334 JSON then 535 (%r %r)" % (mech, code, js))

    s = tls_session()
    s.login("alice", PW)
    check(s.sendmail("a@x", ["b@y"], b"Subject: tls\r\n\r\nsecret\r\n") == {},
          "mail after STARTTLS + AUTH")
    s.quit()
    env = spool("T", "1.env")
    check(env.startswith(b"helo: t.test\ntls: TLSv1.") and
          b"\nauth: " in env and b" alice\n" in env, "env has tls and auth: %r" % env)
    check(b"C: AUTH PLAIN " in log("T"), "server log keeps AUTH lines")

    # plaintext sent after STARTTLS is discarded, not answered inside TLS
    r = Raw(t)
    r.reply()
    r.send(b"EHLO t.test\r\n")
    r.reply()
    r.send(b"STARTTLS\r\nNOOP\r\n")
    check(r.code() == 220, "STARTTLS with a pipelined NOOP")
    r.starttls(ctx)
    r.send(b"NOOP\r\n")
    check(r.reply() == [b"250 2.0.0 Ok"], "only the NOOP sent under TLS answered")
    r.close()
    check(b"# discarded 6 bytes received before the TLS handshake" in log("T"),
          "discarded plaintext logged")

    # injected response after 220 (the client under test must refuse it)
    r = Raw(port("J"))
    r.reply()
    r.send(b"EHLO j.test\r\nSTARTTLS\r\n")
    r.reply()
    check(r.reply() == [b"220 2.0.0 Ready to start TLS"] and
          r.reply() == [b"250 injected"], "STARTTLS=inject: extra line after 220")
    r.close()

    # implicit TLS
    s = smtplib.SMTP_SSL("127.0.0.1", port("I"), context=ctx, timeout=10, local_hostname="client.test")
    code, caps = s.ehlo("i.test")
    check(code == 250 and b"AUTH PLAIN" in caps and b"STARTTLS" not in caps,
          "implicit TLS: AUTH offered at once")
    s.login("alice", "pw")
    s.quit()

    # --auth-plain-ok: AUTH offered without TLS
    s = smtplib.SMTP("127.0.0.1", port("P"), timeout=10, local_hostname="client.test")
    code, caps = s.ehlo("p.test")
    check(b"AUTH PLAIN LOGIN" in caps, "--auth-plain-ok offers AUTH in clear")
    s.login("bob", "pw")
    check(s.sendmail("a@x", ["b@y"], b"x\r\n") == {}, "mail after clear AUTH")
    s.quit()
    check(b"auth: PLAIN bob\n" in spool("P", "1.env") or
          b"auth: LOGIN bob\n" in spool("P", "1.env"), "env auth line")

    # client certificates and a pinned TLS version
    cctx = ssl.create_default_context(cafile=os.path.join(tmp, "cert.pem"))
    cctx.load_cert_chain(os.path.join(tmp, "ccert.pem"), os.path.join(tmp, "ckey.pem"))
    s = smtplib.SMTP("127.0.0.1", port("K"), timeout=10, local_hostname="client.test")
    s.starttls(context=cctx)
    check(s.sendmail("a@x", ["b@y"], b"c\r\n") == {}, "mail with a client certificate")
    s.quit()
    env = spool("K", "1.env")
    check(b"\ntls: TLSv1.2\ntls-client: /CN=testclient\n" in env,
          "--tls-version 1.2 and client subject in env: %r" % env)
    s = smtplib.SMTP("127.0.0.1", port("K"), timeout=10, local_hostname="client.test")
    s.starttls(context=ctx)
    check(s.sendmail("a@x", ["b@y"], b"c\r\n") == {}, "client certificate optional")
    s.quit()
    check(b"tls-client" not in spool("K", "2.env"), "no tls-client line without one")
    refused = False
    try:
        s = smtplib.SMTP("127.0.0.1", port("R"), timeout=10, local_hostname="client.test")
        s.starttls(context=ctx)
        s.ehlo("r.test")
    except (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError, OSError):
        refused = True
    check(refused, "--require-client-cert: no certificate, no session")
    s = smtplib.SMTP("127.0.0.1", port("R"), timeout=10, local_hostname="client.test")
    s.starttls(context=cctx)
    check(s.noop()[0] == 250, "--require-client-cert: with certificate")
    s.quit()

print("testsmtpd selftest: %d passed, %d failed" % (npass, nfail))
sys.exit(1 if nfail else 0)
EOF

# ---- --chaos: a seeded fault per transaction, the same for the same seed ---
# Two servers with seed 7 and one with seed 8 each get 40 transactions, one
# connection each, in the same order. The fault sequences (the '# chaos N:'
# log lines) of the two seed-7 servers are identical, the seed-8 one
# differs, and each fault did what the usage text says.
start X1 --chaos 7:60
start X2 --chaos 7:60
start X3 --chaos 8:60
"$PY" - "$tmp" <<'EOF' || fail=1
import os, re, smtplib, sys

tmp = sys.argv[1]
N = 40
def port(n): return int(open(os.path.join(tmp, n, "port")).read())

def run(name):
    out = []
    for i in range(1, N + 1):
        msg = ("From: a@example.com\r\nTo: b@example.com\r\n"
               "X-Chaos-Id: %d\r\nSubject: chaos %d\r\n\r\n" % (i, i) +
               "line of the body\r\n" * 8).encode()
        try:
            s = smtplib.SMTP("127.0.0.1", port(name), timeout=10, local_hostname="client.test")
            try:
                s.sendmail("a@example.com", ["b@example.com"], msg)
                out.append("250")
                s.quit()
            finally:
                s.close()
        except smtplib.SMTPRecipientsRefused as e:
            out.append(str(list(e.recipients.values())[0][0]))
        except smtplib.SMTPResponseException as e:
            out.append(str(e.smtp_code))
        except (smtplib.SMTPServerDisconnected, OSError):
            out.append("eof")
    return out

def faults(name):
    lines = open(os.path.join(tmp, name, "log")).read().splitlines()
    return [m.group(2) for m in
            (re.match(r"# chaos (\d+): (\S+)$", l) for l in lines) if m]

def saved(name):
    ids = []
    d = os.path.join(tmp, name, "sp")
    for f in os.listdir(d):
        if f.endswith(".env"):
            eml = open(os.path.join(d, f[:-4] + ".eml"), "rb").read()
            ids.append(int(re.search(rb"X-Chaos-Id: (\d+)", eml).group(1)))
    return sorted(ids)

npass = nfail = 0
def check(cond, what):
    global npass, nfail
    if cond:
        npass += 1
    else:
        nfail += 1
        print("FAIL:", what)

res = {n: run(n) for n in ("X1", "X2", "X3")}
f1, f2, f3 = faults("X1"), faults("X2"), faults("X3")
check(len(f1) == N, "X1: %d chaos draws logged, want %d" % (len(f1), N))
check(f1 == f2, "same seed, different faults:\n%s\n%s" % (f1, f2))
check(f1 != f3, "seeds 7 and 8 gave the same faults: %s" % f1)
check(res["X1"] == res["X2"], "same seed, different replies:\n%s\n%s" %
      (res["X1"], res["X2"]))
kinds = {"none", "mail-421", "rcpt-451", "data-close", "body-cut",
         "dot-451", "saveclose"}
check(set(f1) == kinds, "seed 7 does not show every fault: %s" % sorted(set(f1)))
# what the client saw and what was saved, per fault
want = {"none": ("250",), "mail-421": ("421",), "rcpt-451": ("451",),
        "data-close": ("eof",), "body-cut": ("eof",), "dot-451": ("451",),
        "saveclose": ("eof",)}
keep = {"none", "saveclose"}
sv = saved("X1")
for i, (f, got) in enumerate(zip(f1, res["X1"]), 1):
    check(got in want[f], "transaction %d, fault %s: client saw %s" % (i, f, got))
    check((i in sv) == (f in keep),
          "transaction %d, fault %s: saved=%s" % (i, f, i in sv))
check(sv == saved("X2"), "same seed, different messages saved")
cut = open(os.path.join(tmp, "X1", "log")).read().count("cut inside DATA (scripted)")
check(cut == f1.count("body-cut"), "body-cut: %d cuts logged for %d faults" %
      (cut, f1.count("body-cut")))
print("chaos: %d checks passed, %d failed (seed 7: %s)" %
      (npass, nfail, " ".join(f1)))
sys.exit(1 if nfail else 0)
EOF
"$TOOLS/testsmtpd" --chaos 7:101 --idle-timeout 1 2>/dev/null
[ $? -eq 2 ] && echo "ok: --chaos PERCENT over 100 refused" ||
	{ echo "FAIL: --chaos 7:101 accepted"; fail=1; }
"$TOOLS/testsmtpd" --chaos x:5 --idle-timeout 1 2>/dev/null
[ $? -eq 2 ] && echo "ok: --chaos without a seed refused" ||
	{ echo "FAIL: --chaos x:5 accepted"; fail=1; }

# ---- lifetime options ------------------------------------------------------
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

start M --max-conns 1
exec 3<>"/dev/tcp/127.0.0.1/$port_M"
read -r -t 10 g <&3
printf 'QUIT\r\n' >&3
read -r -t 10 q <&3
exec 3<&-
[ "${g%$'\r'}" = "220 localhost ESMTP testsmtpd" ] && [ "${q%$'\r'}" = "221 2.0.0 Bye" ] &&
	ok "bash /dev/tcp client" || bad "bash client: '$g' '$q'"
wait_gone "$pid_M" 10 && ok "--max-conns 1 exits" || bad "--max-conns 1 still running"

start E --exit-after 1
"$PY" -c 'import smtplib,sys; s=smtplib.SMTP("127.0.0.1",int(sys.argv[1]), local_hostname="client.test"); s.sendmail("a@x",["b@y"],b"m\r\n"); s.quit()' "$port_E"
wait_gone "$pid_E" 15 && ok "--exit-after 1 exits" || bad "--exit-after 1 still running"
[ -s "$tmp/E/sp/1.env" ] && ok "message saved before exit" || bad "no 1.env"

mkdir -p "$tmp/D"
start_testsmtpd "$tmp/D" --idle-timeout 1 --log "$tmp/D/log" && srv_track "$SMTPD_PID"
wait_gone "$SMTPD_PID" 10 && ok "--idle-timeout 1 exits" || bad "--idle-timeout ignored"
[ -e "$tmp/D/log" ] && [ ! -s "$tmp/D/log" ] && ok "no connection: empty log" ||
	bad "log not empty without a connection: $(cat "$tmp/D/log")"

"$TOOLS/testsmtpd" -l 0.0.0.0 --port-file "$tmp/X" --idle-timeout 1 2>"$tmp/Xerr"
rc=$?
[ $rc -eq 2 ] && [ ! -e "$tmp/X" ] && grep -q 'only 127.0.0.1 or ::1' "$tmp/Xerr" &&
	ok "refuses 0.0.0.0" || bad "-l 0.0.0.0 not refused (rc $rc)"
"$TOOLS/testsmtpd" -l 192.168.1.1 --idle-timeout 1 2>/dev/null
[ $? -eq 2 ] && ok "refuses a LAN address" || bad "-l 192.168.1.1 not refused"
"$TOOLS/testsmtpd" --help | grep -q -- '--reply' && ok "--help" || bad "--help"

if have_ipv6_loopback; then
	mkdir -p "$tmp/V"
	if start_testsmtpd "$tmp/V" -l ::1 --idle-timeout 30; then
		srv_track "$SMTPD_PID"
		"$PY" -c 'import smtplib,sys; s=smtplib.SMTP("::1",int(sys.argv[1]), local_hostname="client.test"); sys.exit(s.noop()[0]!=250)' "$SMTP_PORT" &&
			ok "listens on ::1" || bad "::1 client"
	else
		bad "cannot start on ::1"
	fi
else
	skip_part "no IPv6 loopback (::1): listening on ::1"
fi

# servers that exited by themselves ran their sanitizer checks (if built so)
srv_stop_all
if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp"/*/stderr 2>/dev/null; then
	bad "sanitizer report in testsmtpd's stderr"
	cat "$tmp"/*/stderr
fi

exit $fail
