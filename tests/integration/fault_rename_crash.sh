#!/usr/bin/env bash
# The atomic submit (write a scratch file, rename it to a normal name)
# holds across a crash right after the rename, even with a long settle
# time: after kill -9 and a remount the message is there under its new
# name and is sent exactly once. Twenty rounds, each killed right after
# its mv. (No server listens during the rounds, so no kill can cut an
# attempt after its final dot: a duplicate would be a real one.)
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -n -c "settle 5000"
N=20

for ((i = 1; i <= N; i++)); do
	printf 'To: bob@example.com\nSubject: rename %d\n\nbody %d\n' "$i" "$i" |
		cat >"$M/.draft"
	mv "$M/.draft" "$M/mail$i" || fail "round $i: mv .draft mail$i"
	kill_outbox "$M"
	mount_outbox "$M" "$T/config"
	[ -f "$M/mail$i" ] || fail "round $i: mail$i is missing after kill -9 right after the mv; the outbox holds:
$(ls -a "$M")
.queue:
$(cat "$M/.queue")"
	assert_missing "$M/.draft"
done
note "$N rounds of cat > .draft; mv .draft mailN; kill -9: every mailN is there"

smtpd_start "$T/rx" -p "$OUTBOX_PORT"
# Those tried while no server listened wait for their next attempt: a
# touch retries them now (again each second, for one that was still
# being refused when touched).
_all_sent()
{
	local i s ok=0
	for ((i = 1; i <= N; i++)); do
		s=$(status_state "$M/mail$i.status")
		case $s in
		sent) ;;
		deferred) touch "$M/mail$i"; ok=1;;
		*) ok=1;;
		esac
	done
	return $ok
}
for ((t = 0; t < 20; t++)); do
	_all_sent && break
	sleep 1
done
for ((i = 1; i <= N; i++)); do
	wait_state "$M/mail$i.status" sent 1
done
sleep 1
for ((i = 1; i <= N; i++)); do
	one_eml_with "$T/rx" "Subject: rename $i"$'\r' >/dev/null || exit 1
done
assert_eq "$N" "$(count_eml "$T/rx")" "messages received"
note "each sent exactly once"
san_check
exit 0
