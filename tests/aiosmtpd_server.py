#!/usr/bin/python3
"""A capture SMTP server for the outboxfs tests, built on aiosmtpd.

A second, independent SMTP implementation beside testsmtpd: mail the
daemon sends must be accepted by both. Listens on loopback only, never
relays, and exits by itself after --idle-timeout seconds without a client.
Run it with /usr/bin/python3 (Debian's python3-aiosmtpd).

usage: aiosmtpd_server.py -d DIR --port-file FILE [options]
  -d DIR             save message N as DIR/N.eml and DIR/N.env (N = 1, 2...)
  -l ADDR            127.0.0.1 (default) or ::1
  -p PORT            0 (default) = ephemeral
  --port-file FILE   the bound port, written once listening (tmp + rename)
  --pid-file FILE    the process id
  --starttls         offer STARTTLS and require it before MAIL
                     (needs --cert and --key)
  --implicit-tls     TLS from the first byte (needs --cert and --key)
  --cert FILE --key FILE
  --auth-user U --auth-pass P
                     offer AUTH PLAIN and LOGIN (only under TLS, as
                     aiosmtpd does by default) and require it before MAIL
  --auth-plain-ok    offer AUTH without TLS too
  --smtputf8         advertise SMTPUTF8
  --size N           SIZE limit in bytes (default 104857600, 0 = none)
  --idle-timeout S   exit after S seconds without a client (default 300);
                     also the per-connection timeout

Spool files are those of testsmtpd: N.eml is envelope.original_content
(the DATA bytes, dot-unstuffed, CRLF as received); N.env holds the lines
  helo: NAME / tls: VERSION (if TLS) / auth: MECH USER (if AUTH) /
  from: <addr> / params: MAIL FROM parameters / rcpt: <addr> (each)
N.eml is renamed into place before N.env, so once N.env exists the
message is complete. SIGTERM and SIGINT stop the server with exit 0.
"""

import argparse
import asyncio
import os
import signal
import ssl
import sys
import tempfile
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def write_atomic(path, data):
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Capture:
    """The aiosmtpd handler: saves each message, numbered from 1."""

    def __init__(self, spool):
        self.spool = spool
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        n = self.count
        lines = ["helo: %s" % (session.host_name or "")]
        sslobj = None
        if server.transport is not None:
            sslobj = server.transport.get_extra_info("ssl_object")
        if sslobj is not None:
            lines.append("tls: %s" % sslobj.version())
        if session.authenticated:
            login = getattr(session, "auth_data", None)
            user = ""
            if isinstance(login, LoginPassword):
                user = login.login.decode("utf-8", "replace")
            elif isinstance(login, str):
                user = login
            lines.append("auth: %s %s" % (getattr(server, "_last_mech", ""),
                                          user))
        sender = envelope.mail_from or ""
        if sender == "<>":          # aiosmtpd keeps the null path as is
            sender = ""
        lines.append("from: <%s>" % sender)
        lines.append("params: %s" % " ".join(envelope.mail_options or []))
        for r in envelope.rcpt_tos:
            lines.append("rcpt: <%s>" % r)
        env = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
        write_atomic(os.path.join(self.spool, "%d.eml" % n),
                     envelope.original_content or b"")
        write_atomic(os.path.join(self.spool, "%d.env" % n), env)
        return "250 2.0.0 Ok: queued as %d" % n


class CountingSMTP(SMTP):
    """Counts live connections so the server can exit when idle."""

    state = None

    def connection_made(self, transport):
        CountingSMTP.state.active += 1
        super().connection_made(transport)

    def connection_lost(self, exc):
        CountingSMTP.state.active -= 1
        if CountingSMTP.state.active == 0:
            CountingSMTP.state.idle_since = time.monotonic()
        super().connection_lost(exc)


class State:
    def __init__(self):
        self.active = 0
        self.idle_since = time.monotonic()


def parse_args(argv):
    p = argparse.ArgumentParser(description="loopback capture SMTP server")
    p.add_argument("-d", dest="spool", required=True)
    p.add_argument("-l", dest="addr", default="127.0.0.1")
    p.add_argument("-p", dest="port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--pid-file")
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth-user")
    p.add_argument("--auth-pass")
    p.add_argument("--auth-plain-ok", action="store_true")
    p.add_argument("--smtputf8", action="store_true")
    p.add_argument("--size", type=int, default=104857600)
    p.add_argument("--idle-timeout", type=float, default=300)
    a = p.parse_args(argv)
    if a.addr not in ("127.0.0.1", "::1"):
        p.error("refusing to listen on %s: only 127.0.0.1 or ::1" % a.addr)
    if (a.starttls or a.implicit_tls) and not (a.cert and a.key):
        p.error("--starttls and --implicit-tls need --cert and --key")
    if (a.auth_user is None) != (a.auth_pass is None):
        p.error("--auth-user and --auth-pass go together")
    if not os.path.isdir(a.spool):
        p.error("-d %s: not a directory" % a.spool)
    return a


def main(argv):
    a = parse_args(argv)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    state = State()
    CountingSMTP.state = state
    handler = Capture(a.spool)

    ctx = None
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)

    authenticator = None
    if a.auth_user is not None:
        want_user = a.auth_user.encode()
        want_pass = a.auth_pass.encode()

        def authenticator(server, session, envelope, mechanism, auth_data):
            server._last_mech = mechanism
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login == want_user
                  and auth_data.password == want_pass)
            return AuthResult(success=ok, handled=False,
                              auth_data=auth_data if ok else None)

    def factory():
        kw = dict(
            hostname="localhost",
            data_size_limit=a.size or None,
            enable_SMTPUTF8=a.smtputf8,
            timeout=a.idle_timeout or 300,
            loop=loop,
        )
        if a.starttls:
            kw.update(tls_context=ctx, require_starttls=True)
        if authenticator is not None:
            # aiosmtpd only counts STARTTLS as TLS: with implicit TLS
            # every connection is encrypted, so AUTH is offered at once
            kw.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=not (a.auth_plain_ok or a.implicit_tls))
        return CountingSMTP(handler, **kw)

    server = loop.run_until_complete(loop.create_server(
        factory, host=a.addr, port=a.port,
        ssl=ctx if a.implicit_tls else None))
    port = server.sockets[0].getsockname()[1]
    if a.pid_file:
        write_atomic(a.pid_file, b"%d\n" % os.getpid())
    write_atomic(a.port_file, b"%d\n" % port)

    stop = loop.create_future()

    def request_stop():
        if not stop.done():
            stop.set_result(None)

    loop.add_signal_handler(signal.SIGTERM, request_stop)
    loop.add_signal_handler(signal.SIGINT, request_stop)

    async def idle_watch():
        while a.idle_timeout > 0:
            await asyncio.sleep(0.5)
            if (state.active == 0 and
                    time.monotonic() - state.idle_since >= a.idle_timeout):
                request_stop()
                return

    watcher = loop.create_task(idle_watch())
    loop.run_until_complete(stop)
    watcher.cancel()
    server.close()
    try:
        loop.run_until_complete(asyncio.wait_for(server.wait_closed(), 2))
    except (asyncio.TimeoutError, Exception):
        pass
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
