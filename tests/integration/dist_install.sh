#!/usr/bin/env bash
# make install puts the programs, the man pages, the systemd user unit
# and the example configuration under DESTDIR/PREFIX; the unit is valid
# (systemd-analyze verify, when installed) and starts the installed
# daemon; the example configuration works once pointed at a local server.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
make -s -C "$TOP" install DESTDIR="$T/root" PREFIX=/usr/local >"$T/install.log" 2>&1 ||
	fail "make install: $(cat "$T/install.log")"
R=$T/root/usr/local
for f in bin/outboxfs bin/outboxfs-sendmail share/man/man1/outboxfs.1 \
    share/man/man5/outboxfs.conf.5 share/man/man8/outboxfs-sendmail.8 \
    lib/systemd/user/outboxfs.service share/doc/outboxfs/config.example; do
	[ -e "$R/$f" ] || fail "make install did not install $f"
done
assert_line "$R/lib/systemd/user/outboxfs.service" '^ExecStart=/usr/local/bin/outboxfs -f %h/outbox$'
note "installed: programs, man pages, unit, example"

if command -v systemd-analyze >/dev/null 2>&1; then
	# the unit as installed, pointing at this build's daemon
	sed "s|@BINDIR@|$(dirname "$OUTBOXFS")|" "$TOP/dist/outboxfs.service.in" \
		>"$T/outboxfs.service"
	out=$(cd "$T" && systemd-analyze verify --man=no ./outboxfs.service 2>&1)
	rc=$?
	[ $rc = 0 ] && [ -z "$out" ] || fail "systemd-analyze verify (exit $rc):
$out"
	note "systemd-analyze verify: the unit is clean"
else
	skip_part "systemd-analyze is not installed (Debian package systemd): the unit's verification"
fi

# the example configuration is a working one once pointed at a local
# server: the probe goes through every step with it
smtpd_start "$T/rx"
sed "s/^host .*/host 127.0.0.1/; s/^port .*/port $SMTP_PORT/; /^passwordeval/d;
    s/^auth on/auth off/; s/^tls on/tls off/; s/^tls_starttls on/tls_starttls off/;
    s|^logfile .*|logfile $T/log|" "$TOP/dist/config.example" >"$T/config"
chmod 600 "$T/config"
out=$("$OUTBOXFS" --probe -o config="$T/config" 2>&1) ||
	fail "the probe with the example configuration failed (exit $?): $out"
note "the example configuration, pointed at a local server: probe exit 0"
exit 0
