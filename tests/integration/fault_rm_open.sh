#!/usr/bin/env bash
# rm of a deferred message that a reader still holds open cancels it when
# rm returns, not when the reader lets go: after a kill -9 (the reader's
# release never reaches the daemon) and a remount, the message is gone
# and the server never gets it.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -r rx451 -- --reply 'RCPT=451 4.7.1 later'
SRV=$SMTPD_PID

msg()
{
	printf 'To: bob@example.com\nSubject: rm open %s\n\nbody %s\n' "$1" "$1"
}
msg x >"$M/x"
msg q >"$M/q"
wait_state "$M/x.status" deferred 20
wait_state "$M/q.status" deferred 20

exec 6<"$M/x"
exec 7<"$M/q"
rm "$M/x" || fail "rm of a deferred message held open by a reader"
ls "$M" | grep -qx x && fail "x is still listed after rm: $(ls "$M")"
grep -q '^x ' "$M/.queue" && fail "x is still in .queue after rm: $(cat "$M/.queue")"
# q: the same with a reader that has read nothing yet.
rm "$M/q" || fail "rm of a deferred message held open by an idle reader"
note "rm returned 0 with readers holding x and q open"

kill_outbox "$M"
exec 6<&- 7<&-
stop_by_pid "$SRV"
smtpd_start "$T/rx" -p "$OUTBOX_PORT"
mount_outbox "$M" "$T/config"
for m in x q; do
	ls "$M" | grep -qx "$m" && fail "$m is back after rm and kill -9:
$(cat "$M/.queue")
$(cat "$M/$m.status")"
	assert_missing "$M/$m"
done
# A message accepted now retries every deferred one at once: had x or q
# come back, they would be sent with it.
msg y >"$M/y"
wait_state "$M/y.status" sent 20
_idle() { ! grep -qE '^[^ ]+ (queued|sending) ' "$M/.queue"; }
wait_until 10 _idle || fail "the queue did not go idle: $(cat "$M/.queue")"
sleep 1
for m in x q; do
	assert_eq 0 "$(eml_with "$T/rx" "Subject: rm open $m" | grep -c .)" "copies of the removed $m received"
done
note "after kill -9: x and q gone, never sent"
san_check
exit 0
