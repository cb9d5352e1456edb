#!/usr/bin/env bash
# One spool belongs to one daemon: a second outboxfs on the same spool
# (another mount point) is refused, naming the spool and the PID that
# holds it, and the first keeps working. The lock dies with its holder:
# after a kill -9 a new mount on the spool succeeds.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start
PID1=$OUTBOX_PID

printf 'To: bob@example.com\nSubject: first\n\none\n' >"$M/first"
wait_state "$M/first.status" sent 20

if try_mount_outbox "$T/mnt2" "$T/config"; then
	fail "a second outboxfs mounted $T/mnt2 on the spool $T/spool that pid $PID1 holds; its .queue:
$(cat "$T/mnt2/.queue")"
fi
err=$(cat "$TRY_LOG")
[ "$TRY_RC" != 0 ] || fail "the refused second mount exited 0: $err"
is_mounted "$T/mnt2" && fail "$T/mnt2 is mounted"
assert_contains "$err" "$T/spool" "the second daemon's error"
assert_contains "$err" "pid $PID1" "the second daemon's error"
note "second mount refused (exit $TRY_RC): $err"

kill -0 "$PID1" || fail "the first daemon died"
printf 'To: bob@example.com\nSubject: still\n\ntwo\n' >"$M/still"
wait_state "$M/still.status" sent 20
one_eml_with "$T/rx" "Subject: still" >/dev/null || exit 1
note "the first daemon keeps working"

kill_outbox "$M"
mount_outbox "$T/mnt2" "$T/config"
assert_eq sent "$(status_state "$T/mnt2/first.status")" "state of first on the new mount"
assert_eq sent "$(status_state "$T/mnt2/still.status")" "state of still on the new mount"
printf 'To: bob@example.com\nSubject: after\n\nthree\n' >"$T/mnt2/after"
wait_state "$T/mnt2/after.status" sent 20
assert_eq 3 "$(count_eml "$T/rx")" "messages received"
note "after kill -9 of the holder: a new mount works (no stale lock)"
san_check
exit 0
