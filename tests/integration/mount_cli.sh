#!/usr/bin/env bash
# The command line a user types:
#   outboxfs -o config=FILE MNT     goes to the background once mounted,
#                                   exit 0; fusermount3 -u stops it
#   mount -t fuse -o config=FILE /path/outboxfs#label MNT   (mount.fuse3
#                                   with the source argument before MNT
#                                   and rw,dev,suid added to the options)
#   a configuration error: exit 1, the message names FILE:LINE, no mount
#   a password file readable by others is refused
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse

mk_tmp T
smtpd_start "$T/rx"
write_config "$T/config" "$SMTP_PORT"

# pid_of_mount MNT: the outboxfs process serving MNT (our own unique
# temp path is on its command line).
pid_of_mount()
{
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' '\n' <"$p/cmdline"; } 2>/dev/null | grep -qxF "$1" || continue
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$(readlink -f "$OUTBOXFS")" ] || continue
		echo "${p#/proc/}"
		return 0
	done
	return 1
}

# stop_daemon MNT: unmount a daemonized outboxfs and wait for it (10 s).
stop_daemon()
{
	local mnt=$1 pid
	pid=$(pid_of_mount "$mnt")
	fusermount3 -u "$mnt" || fusermount3 -u -z "$mnt"
	[ -n "$pid" ] || return 0
	wait_until 10 sh -c '! kill -0 "$1" 2>/dev/null' sh "$pid" || {
		kill "$pid" 2>/dev/null
		fail "outboxfs (pid $pid) still running 10 s after fusermount3 -u"
	}
}

# --- background mode ----------------------------------------------------------
mkdir -p "$T/bg" "$T/mt" "$T/bad"
register_mount "$T/bg"
register_mount "$T/mt"
register_mount "$T/bad"
san_watch "$T/bg.out"
timeout 20 "$OUTBOXFS" -o "config=$T/config" "$T/bg" >"$T/bg.out" 2>&1
rc=$?
assert_eq 0 "$rc" "exit status of outboxfs -o config=... MNT (output: $(cat "$T/bg.out"))"
is_mounted "$T/bg" || fail "outboxfs exited 0 but $T/bg is not mounted"
register_pid "$(pid_of_mount "$T/bg")"
printf 'To: bob@example.com\nSubject: cli bg\n\nbackground\n' >"$T/bg/m" ||
	fail "cannot write a message into the background mount"
wait_state "$T/bg/m.status" sent 20
stop_daemon "$T/bg"
is_mounted "$T/bg" && fail "$T/bg still mounted"
note "background mode: mounted, sent, unmounted"

# --- mount(8) ---------------------------------------------------------------------------
# mount -t fuse.outboxfs needs outboxfs installed in mount's PATH; the
# older -t fuse syntax names the program, and runs it the same way.
if [ "$(id -u)" = 0 ] && command -v mount.fuse3 >/dev/null 2>&1; then
	timeout 20 mount -t fuse -o "config=$T/config" "$OUTBOXFS#outbox" "$T/mt" >"$T/mt.out" 2>&1
	rc=$?
	assert_eq 0 "$rc" "exit status of mount -t fuse (output: $(cat "$T/mt.out"))"
	is_mounted "$T/mt" || fail "mount -t fuse exited 0 but nothing is mounted"
	register_pid "$(pid_of_mount "$T/mt")"
	# The same spool: bg's message m is there, sent, read-only.
	assert_eq sent "$(status_state "$T/mt/m.status")" "state of m, sent by the first mount"
	printf 'To: bob@example.com\nSubject: cli mount\n\nvia mount\n' >"$T/mt/m2" ||
		fail "cannot write a message into the mount made by mount(8)"
	wait_state "$T/mt/m2.status" sent 20
	stop_daemon "$T/mt"
	note "mount -t fuse works"
else
	skip_part "not root or no mount.fuse3 (Debian package fuse3): mount -t fuse"
fi

# --- SIGTERM unmounts -----------------------------------------------------------------
mount_outbox "$T/bg" "$T/config"
pid=$OUTBOX_PID
kill -TERM "$pid"
wait_until 10 sh -c '! kill -0 "$1" 2>/dev/null' sh "$pid" ||
	fail "outboxfs still running 10 s after SIGTERM"
wait "$pid"
rc=$?
assert_eq 0 "$rc" "exit status of outboxfs after SIGTERM"
is_mounted "$T/bg" && fail "still mounted after SIGTERM"
note "SIGTERM: unmounted, exit 0"

# --- configuration errors -------------------------------------------------------------
printf 'account default\nhost 127.0.0.1\nport %s\nfrom alice@example.com\nbogus_keyword 1\n' \
	"$SMTP_PORT" >"$T/bad.conf"
chmod 600 "$T/bad.conf"
san_watch "$T/bad.out"
timeout 20 "$OUTBOXFS" -f -o "config=$T/bad.conf" "$T/bad" >"$T/bad.out" 2>&1
rc=$?
assert_eq 1 "$rc" "exit status with an unknown keyword (output: $(cat "$T/bad.out"))"
assert_file_contains "$T/bad.out" "$T/bad.conf:5"
is_mounted "$T/bad" && fail "mounted despite a configuration error"

printf 'account default\nhost 127.0.0.1\nport %s\nfrom alice@example.com\nuser alice\npassword secret\n' \
	"$SMTP_PORT" >"$T/open.conf"
chmod 644 "$T/open.conf"
san_watch "$T/open.out"
timeout 20 "$OUTBOXFS" -f -o "config=$T/open.conf" "$T/bad" >"$T/open.out" 2>&1
rc=$?
[ "$rc" != 0 ] || fail "a password file readable by others was accepted"
assert_file_contains "$T/open.out" "$T/open.conf"
assert_not_contains "$(cat "$T/open.out")" "secret" "the refusal message"
is_mounted "$T/bad" && fail "mounted with a password file readable by others"
note "configuration errors refused with FILE:LINE"
exit 0
