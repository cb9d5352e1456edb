#!/usr/bin/env bash
# Verbs that do not last: when rm, mv or touch of a submitted message
# returns, its record is on disk, or the call failed with the errno.
# With the journal refusing writes (ENOSPC) each of them fails and
# changes nothing, also across a kill -9; with the journal writable each
# of them holds across a kill -9.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
fault_setup "$T/ctl"
outbox_start -t "$T" -r rx451 -c "connections 1" -- \
	--reply 'RCPT=451 4.7.1 later'
SRV=$SMTPD_PID

msg()
{
	printf 'To: bob@example.com\nSubject: verbs %s\n\nbody %s\n' "$1" "$1"
}
listed()
{
	ls "$M" | grep -qxF -- "$1" && grep -q "^$1 " "$M/.queue"
}
for m in r1 v1 t1; do msg "$m" >"$M/$m"; done
for m in r1 v1 t1; do wait_state "$M/$m.status" deferred 20; done
next_t1=$(sed -n 's/^next-attempt: //p' "$M/t1.status")

# --- the journal is full -------------------------------------------------------
fault_on write-enospc-journal
err=$(rm "$M/r1" 2>&1) && fail "rm of a deferred message worked with the journal full (journal writes failed: $(fault_hits))"
assert_contains "$err" "No space left on device" "rm's error"
listed r1 || fail "r1 is gone after a failed rm: $(ls "$M"); .queue: $(cat "$M/.queue")"
err=$(mv "$M/v1" "$M/v2" 2>&1) && fail "mv of a deferred message worked with the journal full (journal writes failed: $(fault_hits))"
assert_contains "$err" "No space left on device" "mv's error"
listed v1 || fail "v1 is gone after a failed mv: $(ls "$M")"
assert_missing "$M/v2"
# utime(2) itself: touch(1) opens the file for writing first and, when
# both fail, reports the open's EACCES (a submitted message is 0400)
err=$("$PY" -c 'import os, sys; os.utime(sys.argv[1])' "$M/t1" 2>&1) && fail "touch of a deferred message worked with the journal full (journal writes failed: $(fault_hits))"
assert_contains "$err" "No space left on device" "touch's error"
note "journal full: rm, mv and touch fail with ENOSPC"

kill_outbox "$M"
fault_off write-enospc-journal
mount_outbox "$M" "$T/config"
for m in r1 v1 t1; do
	listed "$m" || fail "$m is not listed after kill -9 and remount: $(ls "$M"); .queue: $(cat "$M/.queue")"
	assert_eq deferred "$(status_state "$M/$m.status")" "state of $m after the remount"
done
assert_missing "$M/v2"
assert_missing "$M/v2.status"
note "after kill -9: r1, v1, t1 as they were"

# --- the journal takes writes --------------------------------------------------
rm "$M/r1" || fail "rm of a deferred message"
mv "$M/v1" "$M/v2" || fail "mv of a deferred message"
# One connection, kept busy by a server slow to greet: the touched
# message waits for it, so only its record can say "now" after a crash.
stop_by_pid "$SRV"
smtpd_start "$T/slow" -p "$OUTBOX_PORT" --reply 'GREETING=delay:20000:220 slow'
SRV=$SMTPD_PID
msg blk >"$M/blk"
wait_state "$M/blk.status" sending 10
touch "$M/t1" || fail "touch of a deferred message"
kill_outbox "$M"
stop_by_pid "$SRV"
# Now a server that takes t1 but defers blk: no message is accepted
# before t1's own attempt (an accepted one would retry the deferred ones
# at once), so t1 is tried at once only if its touch was recorded.
smtpd_start "$T/rx" -p "$OUTBOX_PORT" --reply 'DOT/Subject: verbs blk=451 4.3.0 later'
fault_clear_env
mount_outbox "$M" "$T/config"
listed r1 && fail "r1 is back after rm and kill -9: $(cat "$M/.queue")"
assert_missing "$M/r1"
listed v2 || fail "v2 is not listed after mv and kill -9: $(ls "$M"); .queue: $(cat "$M/.queue")"
assert_missing "$M/v1"
_t1_moved() { [ "$(status_state "$M/t1.status")" != deferred ]; }
wait_until 10 _t1_moved ||
	fail "t1 was touched before the kill -9 but is not retried after the remount (its next attempt was $next_t1):
$(cat "$M/t1.status")"
wait_state "$M/t1.status" sent 10
wait_state "$M/blk.status" deferred 20
note "after kill -9: rm held, mv held, touch held (t1 sent at once; its next attempt had been $next_t1)"
one_eml_with "$T/rx" "Subject: verbs t1" >/dev/null || exit 1
sleep 1
assert_eq 0 "$(eml_with "$T/rx" "Subject: verbs r1" | grep -c .)" "copies of the removed r1 received"
[ "$(eml_with "$T/rx" "Subject: verbs v1" | grep -c .)" -le 1 ] ||
	fail "v1/v2 received more than once"
san_check
exit 0
