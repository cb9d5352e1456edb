#!/usr/bin/env bash
# The daemon under valgrind's memcheck, which sees what the sanitizer
# build does not: a branch on an uninitialised value (ASan does not
# track them). A message deferred while the server is down and retried
# by touch, three sent one after another over one kept connection (an
# outcome is made on the same stack each time), a removal, status and
# .queue reads, a clean unmount; any report, or memory definitely lost
# at exit, fails.
. "$(dirname "$0")/../lib.sh" || exit 1

if [ "$OUTBOXFS_SAN" = 1 ]; then
	echo "SKIP: a sanitizer build does not run under valgrind (the plain pass runs this)"
	exit 77
fi
command -v valgrind >/dev/null 2>&1 ||
	{ echo "SKIP: valgrind is not installed (Debian package valgrind)"; exit 77; }
skip_without_fuse

mk_tmp T
# The daemon through a wrapper: memcheck's reports go to a file of
# their own, not to the daemon's stderr.
cat >"$T/vg" <<EOF || fail "cannot write $T/vg"
#!/bin/sh
exec valgrind -q --track-origins=yes --leak-check=full \\
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \\
	--log-file="$T/memcheck.log" "$OUTBOXFS" "\$@"
EOF
chmod +x "$T/vg"
OUTBOXFS=$T/vg

msg() { printf 'To: bob@example.com\nSubject: %s\n\nbody of %s\n' "$1" "$1"; }

outbox_start -t "$T" -n -c "settle 0" -c "connection_cache 1s"
msg d1 >"$M/d1"
wait_state "$M/d1.status" deferred 60
smtpd_start "$T/rx" -p "$OUTBOX_PORT"
touch "$M/d1"
wait_state "$M/d1.status" sent 60
for m in m1 m2 m3; do
	msg "$m" >"$M/$m"
	wait_state "$M/$m.status" sent 60
done
assert_line "$M/m3.status" '\(connection reused; it opened with:\)'
cat "$M/.queue" "$M"/*.status >/dev/null || fail "reading the status files failed"
rm "$M/m1" || fail "rm of a sent message failed"
assert_missing "$M/m1"
umount_outbox "$M"

[ -f "$T/memcheck.log" ] || fail "memcheck wrote no log: was the daemon run under it?"
[ -s "$T/memcheck.log" ] && fail "memcheck reports:
$(head -n 60 "$T/memcheck.log")"
for m in d1 m2 m3; do
	one_eml_with "$T/rx" "Subject: $m" >/dev/null || exit 1
done
note "deferred, retried, 3 on one kept connection, rm, unmount: memcheck silent"
