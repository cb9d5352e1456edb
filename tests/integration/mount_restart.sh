#!/usr/bin/env bash
# Nothing is lost across a crash: kill -9 the daemon while messages are
# deferred, queued and in the middle of a connection, and while a file is
# still being written; lazy-unmount, remount on the same spool: every
# submitted message is delivered exactly once, the unfinished file stays a
# draft and is not sent, and no message is in a wrong state.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -n -c "connections 1"

msg()
{
	printf 'To: bob@example.com\nSubject: restart %s\n\nbody %s\n' "$1" "$1"
}

# Deferred: no server yet.
for i in 1 2 3 4 5; do
	msg "d$i" >"$M/d$i"
done
for i in 1 2 3 4 5; do
	wait_state "$M/d$i.status" deferred 20
done

# In flight: a server that takes 30 s to greet; two of the deferred are
# retried (touch) and wait for the greeting; new ones queue behind them.
smtpd_start "$T/slow" -p "$OUTBOX_PORT" --reply 'GREETING=delay:30000:220 slow'
touch "$M/d1" "$M/d2"
for i in 1 2 3; do
	msg "q$i" >"$M/q$i"
done
wait_until 20 grep -q '^state: sending' "$M/d1.status" "$M/d2.status" "$M/q1.status" ||
	fail "no message reached sending with a slow server:
$(cat "$M/.queue")"
# With one connection, busy waiting for the greeting, the new ones queue.
for i in 1 2 3; do
	wait_state "$M/q$i.status" queued 20
done

# A file being written when the daemon dies.
exec 7>"$M/unfinished"
printf 'To: bob@example.com\nSubject: restart unfinished\n\nhalf' >&7

states_before=$(cat "$M/.queue")
kill_outbox "$M"
exec 7>&-
stop_by_pid "$SMTPD_PID"
note "killed with queue:
$states_before"

smtpd_start "$T/rx" -p "$OUTBOX_PORT"
mount_outbox "$M" "$T/config"

# Right after the remount, every message is in a state it may be in.
for m in d1 d2 d3 d4 d5 q1 q2 q3; do
	[ -f "$M/$m" ] || fail "$m is missing after the restart: $(ls -a "$M")"
	s=$(status_state "$M/$m.status")
	case $s in
	queued|sending|deferred|sent) ;;
	*) fail "$m is in state [$s] after the restart:
$(cat "$M/$m.status")";;
	esac
done
assert_eq draft "$(status_state "$M/unfinished.status")" "state of the file being written at the crash"

# The deferred ones wait for their next attempt; a touch retries them.
for m in d1 d2 d3 d4 d5 q1 q2 q3; do
	[ "$(status_state "$M/$m.status")" = deferred ] && touch "$M/$m"
done
for m in d1 d2 d3 d4 d5 q1 q2 q3; do
	wait_state "$M/$m.status" sent 20
	eml=$(one_eml_with "$T/rx" "Subject: restart $m") || exit 1
	assert_body "$eml" "body $m"
done
sleep 1
assert_eq 8 "$(count_eml "$T/rx")" "messages received after the restart"
assert_eq 0 "$(count_eml "$T/slow")" "messages the slow server received"
assert_eq draft "$(status_state "$M/unfinished.status")" "state of the unfinished file"

# A clean unmount and remount changes nothing.
umount_outbox "$M"
assert_eq 0 "$OUTBOX_RC" "exit status of outboxfs after fusermount3 -u"
mount_outbox "$M" "$T/config"
for m in d1 d2 d3 d4 d5 q1 q2 q3; do
	assert_eq sent "$(status_state "$M/$m.status")" "state of $m after a clean remount"
done
sleep 1
assert_eq 8 "$(count_eml "$T/rx")" "messages received after a clean remount"
exit 0
