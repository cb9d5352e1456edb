#!/usr/bin/env bash
# SMTP behaviour seen from the server and the status files:
#   PIPELINING is used correctly (the server's log has no "improper
#   pipelining") and one connection carries many messages; a server
#   without PIPELINING gets one command at a time;
#   a connection lost after the final dot: the status warns that the
#   message may arrive twice, and it is delivered (at least once);
#   while the data is being sent, a progress: line shows the bytes;
#   a message deferred past max_queue_time fails;
#   .queue escapes a space in a name as \040.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -n -c "connections 2"

# --- many messages, few connections ---------------------------------------------------
for i in $(seq 1 20); do
	printf 'To: bob@example.com\nSubject: reuse %d\n\nm %d\n' "$i" "$i" >"$M/r$i"
done
for i in $(seq 1 20); do
	wait_state "$M/r$i.status" deferred 20
done
smtpd_start "$T/rx" -p "$OUTBOX_PORT" --log "$T/rx/log"
printf 'To: bob@example.com\nSubject: reuse trigger\n\nnow\n' >"$M/trigger"
wait_state "$M/trigger.status" sent 20
for i in $(seq 1 20); do
	[ "$(status_state "$M/r$i.status")" = deferred ] && touch "$M/r$i"
done
for i in $(seq 1 20); do
	wait_state "$M/r$i.status" sent 20
done
sleep 0.5
conns=$(grep -cE '^# connect [0-9]+$' "$T/rx/log")
[ "$conns" -ge 1 ] || fail "the server log shows no connection:
$(head -n 20 "$T/rx/log")"
[ "$conns" -le 6 ] || fail "21 messages took $conns connections; one connection should carry many"
grep -i 'improper pipelining' "$T/rx/log" && fail "the client pipelined where it must wait"
note "21 messages over $conns connection(s), pipelining correct"

# --- a server without PIPELINING ------------------------------------------------------
stop_by_pid "$SMTPD_PID"
smtpd_start "$T/rx-np" -p "$OUTBOX_PORT" --no-pipelining --log "$T/rx-np/log"
printf 'To: bob@example.com, carol@example.com\nSubject: no pipelining\n\nx\n' >"$M/nopipe"
wait_state "$M/nopipe.status" sent 20
grep -i 'improper pipelining' "$T/rx-np/log" && fail "commands pipelined to a server without PIPELINING"
note "no PIPELINING: one command at a time"

# --- the connection lost after the final dot -----------------------------------------
stop_by_pid "$SMTPD_PID"
smtpd_start "$T/rx2" -p "$OUTBOX_PORT" --reply 'DOT#1=saveclose'
printf 'To: bob@example.com\nSubject: lost reply\n\ntwice maybe\n' >"$M/lost"
wait_until 20 grep -q '^warning: ' "$M/lost.status" ||
	fail "no warning: line after a connection lost after the final dot:
$(cat "$M/lost.status")"
assert_line "$M/lost.status" '^warning: .*(twice|duplicate|RFC 1047)'
[ "$(status_state "$M/lost.status")" = sent ] || touch "$M/lost"
wait_state "$M/lost.status" sent 20
n=$(eml_with "$T/rx2" "Subject: lost reply" | grep -c .)
[ "$n" -ge 1 ] || fail "the message was never delivered"
note "lost reply after the dot: warned, delivered $n time(s)"

# --- progress while sending -----------------------------------------------------------
stop_by_pid "$SMTPD_PID"
smtpd_start "$T/rx3" -p "$OUTBOX_PORT" --reply 'DOT=delay:3000:250 2.0.0 Ok slow'
"$PY" -c 'print("To: bob@example.com\nSubject: progress\n\n" + ("z" * 70 + "\n") * 3000)' >"$M/prog"
wait_state "$M/prog.status" sending 20
wait_until 20 grep -qE '^progress: [0-9]+ of [0-9]+ bytes$' "$M/prog.status" ||
	fail "no progress: line while sending:
$(cat "$M/prog.status")"
wait_state "$M/prog.status" sent 20
grep -q '^progress:' "$M/prog.status" && fail "progress: line left after sending"
note "progress: shown while sending"

# --- .queue escapes names ---------------------------------------------------------------
stop_by_pid "$SMTPD_PID"
printf 'To: bob@example.com\nSubject: spaced\n\nx\n' >"$M/with space"
wait_state "$M/with space.status" deferred 20
grep -q '^with\\040space deferred ' "$M/.queue" ||
	fail ".queue should list 'with\\040space deferred ...':
$(cat "$M/.queue")"
note ".queue escapes a space"
umount_outbox "$M"

# --- max_queue_time -------------------------------------------------------------------
mkdir -p "$T/e"
write_config "$T/e/config" "$OUTBOX_PORT" "max_queue_time 2" "retry_min 1" "retry_max 1"
mount_outbox "$T/e/mnt" "$T/e/config"
printf 'To: bob@example.com\nSubject: expire\n\nold\n' >"$T/e/mnt/old"
wait_state "$T/e/mnt/old.status" deferred 20
sleep 3
touch "$T/e/mnt/old"
wait_state "$T/e/mnt/old.status" failed 20
assert_line "$T/e/mnt/old.status" '^error: .+'
note "expired after max_queue_time: $(sed -n 's/^error: //p' "$T/e/mnt/old.status")"
exit 0
