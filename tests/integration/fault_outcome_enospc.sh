#!/usr/bin/env bash
# Unchecked outcome writes: the server accepted a message but its record
# cannot be written (the journal gets ENOSPC). An outcome that is not on
# disk is not shown: the status stays "sending" with an error: line that
# says why, no new attempt starts for it, and once the journal takes
# writes again the outcome is recorded and shown. If the daemon dies
# before that, the next mount sends the message again, saying it may
# arrive twice: never a clean resend.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
fault_setup "$T/ctl"
# an outcome not recorded is tried again every second (not 5): the 3 s
# below span three tries
lib_daemon_env+=("OUTBOXFS_SPOOL_RETRY=1")
outbox_start -t "$T" -c "connections 4" -- --log "$T/rx.log" \
	--reply 'DOT=delay:3000:250 2.0.0 ok'
PID=$OUTBOX_PID

msg()
{
	printf 'To: bob@example.com\nSubject: outcome %s\n\nbody %s\n' "$1" "$1"
}
received() { eml_with "$T/rx" "Subject: outcome $1" | grep -c .; }
dots() { local n; n=$(grep -c '^C: \.$' "$T/rx.log" 2>/dev/null); echo "${n:-0}"; }
err_re='^error: spool: .*could not be recorded.*No space left on device'

# in_flight N NAME...: submit NAMEs, wait until the server has N final
# dots (their replies are 3 s away), then turn the fault on.
in_flight()
{
	local want=$1 m
	shift
	for m in "$@"; do msg "$m" >"$M/$m"; done
	_dots_ge() { [ "$(dots)" -ge "$want" ]; }
	wait_until 15 _dots_ge || fail "no final dot reached the server:
$(cat "$T/rx.log" 2>/dev/null)"
	for m in "$@"; do
		assert_eq sending "$(status_state "$M/$m.status")" "state of $m during its DATA"
	done
	fault_on write-enospc-journal
}

# wait_unrecorded NAME: the reply after NAME's dot came while the
# journal fails; NAME must show the error and stay sending.
wait_unrecorded()
{
	local f=$M/$1.status
	_err_or_moved() {
		grep -qE "$err_re" "$f" || [ "$(status_state "$f")" != sending ]
	}
	wait_until 15 _err_or_moved
	assert_eq sending "$(status_state "$f")" "state of $1 while its outcome cannot be recorded (journal writes failed: $(fault_hits))"
	grep -qE "$err_re" "$f" ||
		fail "$1: no error line for an outcome that could not be recorded (journal writes failed: $(fault_hits)):
$(cat "$f")"
}

# --- part 1: the fault lifts --------------------------------------------------
in_flight 2 a1 a2
for m in a1 a2; do
	wait_unrecorded "$m"
	assert_eq 1 "$(received "$m")" "copies of $m the server accepted"
done
note "outcome not recorded: state sending with $(grep -E "$err_re" "$M/a1.status")"
for ((i = 0; i < 3; i++)); do
	sleep 1
	for m in a1 a2; do
		assert_eq 1 "$(received "$m")" "copies of $m received ${i}s into the fault"
		assert_eq sending "$(status_state "$M/$m.status")" "state of $m ${i}s into the fault"
	done
done
grep -q '^a1 sent ' "$M/.queue" && fail ".queue shows a1 sent: $(cat "$M/.queue")"
kill -0 "$PID" || fail "the daemon died"
fault_off write-enospc-journal
for m in a1 a2; do
	wait_state "$M/$m.status" sent 20
	grep -q '^error:' "$M/$m.status" && fail "$m: error: line left after the outcome was recorded:
$(cat "$M/$m.status")"
	assert_eq 1 "$(received "$m")" "copies of $m received"
done
note "fault off: sent, no error line, one copy each"

# --- part 2: a crash while the outcome cannot be recorded -----------------------
d0=$(dots)
in_flight $((d0 + 1)) b1
wait_unrecorded b1
assert_eq 1 "$(received b1)" "copies of b1 the server accepted"
kill_outbox "$M"
fault_off write-enospc-journal
fault_clear_env
mount_outbox "$M" "$T/config"
wait_state "$M/b1.status" sent 30
assert_line "$M/b1.status" '^warning: .*(twice|may already)'
assert_eq 2 "$(received b1)" "copies of b1 received (one before the crash, one after)"
for m in a1 a2; do
	assert_eq sent "$(status_state "$M/$m.status")" "state of $m after the remount"
	assert_eq 1 "$(received "$m")" "copies of $m after the remount"
done
note "crash while unrecorded: sent again, with the may-arrive-twice warning"
san_check
exit 0
