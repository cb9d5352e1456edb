#!/usr/bin/env bash
# In the background (no -f), with drafts left closed by the last stop:
# the mount submits them before it forks, and the daemon that goes on
# after the fork still commits batches of several messages (the sync
# helper threads are made after the fork: threads made before it would
# not exist in the daemon, and a batch would wait for them for ever).
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
[ "$OUTBOXFS_SAN" = 1 ] && { echo "SKIP: a daemonized ASan daemon's reports would be lost"; exit 77; }

mk_tmp T
outbox_start -t "$T" -c "settle 60000"
msg() { printf 'To: bob@example.com\nSubject: bg %s\n\nbody %s\n' "$1" "$1"; }
for i in 1 2 3 4; do
	msg "closed$i" >"$M/closed$i" || fail "writing closed$i"
done
kill_outbox "$M"

# bg_pid: the daemon this test started in the background (its command
# line names this test's own config file).
bg_pid()
{
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "config=$T/bg.conf" &&
			echo "${p#/proc/}"
	done
}
# bg_stop: unmounted, and the daemon gone within 10 s (else killed).
bg_stop()
{
	local i pid
	pid=$(bg_pid)
	bg_umount "$M"
	for ((i = 0; i < 100; i++)); do
		[ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null && return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	return 1
}
trap 'rc=$?; bg_stop; (exit "$rc"); cleanup' EXIT

write_config "$T/bg.conf" "$OUTBOX_PORT" "settle 0" "logfile $T/bg.log"
"$OUTBOXFS" -o config="$T/bg.conf" "$M" 2>"$T/err" || fail "mount: $(cat "$T/err")"
for i in 1 2 3 4; do
	wait_state "$M/closed$i.status" sent 20
done
note "4 drafts closed before the stop: submitted at the mount, sent"
# 40 messages written in a burst: those that come while a batch is
# being synced make the next one, of several files
for ((i = 1; i <= 40; i++)); do
	msg "burst$i" >"$M/burst$i" || fail "writing burst$i"
done
for ((i = 1; i <= 40; i++)); do
	wait_state "$M/burst$i.status" sent 20
done
note "40 messages in a burst after the fork: committed and sent"
assert_eq 44 "$(count_eml "$T/rx")" "messages received"
bg_stop || fail "the daemon did not exit within 10 s of the unmount"
grep -q " $M fuse" /proc/mounts && fail "$M still mounted"
exit 0
