#!/usr/bin/env bash
# connection_cache: after its last message a connection stays open for a
# moment, so the next message of the account pays no connect, greeting
# or EHLO (its transcript says the connection was reused); it is checked
# by an RSET that opens the message's pipelined group (NOOP, a round trip
# of its own, only without PIPELINING); it is closed with QUIT when the
# time is up; a connection the server closed or refused meanwhile is
# replaced without the message seeing it; connection_cache 0 quits at
# once.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
connects() { grep -c '^# connect [0-9]*$' "$1"; }
msg() { printf 'To: bob@example.com\nSubject: %s\n\nbody\n' "$1"; }

# --- kept, reused, then closed --------------------------------------------------
outbox_start -t "$T" -c "settle 0" -c "connection_cache 2s" -- --log "$T/log1"
msg one >"$M/one"
wait_state "$M/one.status" sent 20
grep -q '^C: QUIT' "$M/one.status" && fail "QUIT right after one:
$(cat "$M/one.status")"
msg two >"$M/two"
wait_state "$M/two.status" sent 20
assert_line "$M/two.status" '\(connection reused; it opened with:\)'
assert_line "$M/two.status" '^C: RSET$'
grep -q '^C: NOOP' "$T/log1" && fail "a NOOP round trip on a pipelining server: $(cat "$T/log1")"
assert_eq 1 "$(connects "$T/log1")" "connections for two messages"
_quit() { grep -q '^C: QUIT' "$T/log1"; }
wait_until 10 _quit || fail "the kept connection was never closed: $(tail -n 5 "$T/log1")"
# the QUIT exchange ends the transcript of the last message it carried
_quit_shown() { grep -q '^S: 221' "$M/two.status"; }
wait_until 10 _quit_shown || fail "two.status does not end with the QUIT:
$(cat "$M/two.status")"
assert_eq "S: 221 2.0.0 Bye" "$(tail -n 1 "$M/two.status")" "last line of two.status"
grep -q '^C: QUIT' "$M/one.status" && fail "one.status shows a QUIT it did not see"
note "two messages, one connection, QUIT after the cache time, shown in two.status"

# --- the server refused it (421), then closed it, at the RSET: new ones ------
umount_outbox "$M"
smtpd_start "$T/rx2" --log "$T/log2" --reply 'RSET#1=421 4.4.2 idle too long' \
	--reply 'RSET#2=close'
write_config "$T/config" "$SMTP_PORT" "settle 0" "connection_cache 5s"
mount_outbox "$M" "$T/config"
for n in three four nine; do
	msg $n >"$M/$n"
	wait_state "$M/$n.status" sent 20
	grep -q '^error:' "$M/$n.status" && fail "$n shows an error:
$(cat "$M/$n.status")"
done
for n in four nine; do
	grep -q 'connection reused' "$M/$n.status" && fail "$n's transcript is not a first connection's:
$(cat "$M/$n.status")"
	assert_line "$M/$n.status" '^S: 220 '
	assert_line "$M/$n.status" 'attempts: 1$'
done
assert_eq 3 "$(connects "$T/log2")" "connections when the kept one was refused, then closed"
assert_eq 3 "$(count_eml "$T/rx2")" "messages received"
note "a kept connection refused (four), then one closed (nine), at its RSET: replaced, sent cleanly once"

# --- without PIPELINING the check is a NOOP of its own ---------------------
umount_outbox "$M"
smtpd_start "$T/rx4" --log "$T/log4" --no-pipelining \
	--reply 'NOOP=421 4.4.2 idle too long'
write_config "$T/config" "$SMTP_PORT" "settle 0" "connection_cache 5s"
mount_outbox "$M" "$T/config"
msg seven >"$M/seven"
wait_state "$M/seven.status" sent 20
msg eight >"$M/eight"
wait_state "$M/eight.status" sent 20
grep -q '^error:' "$M/eight.status" && fail "eight shows an error:
$(cat "$M/eight.status")"
assert_line "$T/log4" '^C: NOOP'
assert_eq 2 "$(connects "$T/log4")" "connections when the kept one was refused its NOOP"
note "no PIPELINING: NOOP refused, replaced, eight sent cleanly"

# --- connection_cache 0 ----------------------------------------------------------
umount_outbox "$M"
smtpd_start "$T/rx3" --log "$T/log3"
write_config "$T/config" "$SMTP_PORT" "settle 0" "connection_cache 0"
mount_outbox "$M" "$T/config"
msg five >"$M/five"
wait_state "$M/five.status" sent 20
assert_line "$M/five.status" '^C: QUIT'
msg six >"$M/six"
wait_state "$M/six.status" sent 20
assert_eq 2 "$(connects "$T/log3")" "connections with connection_cache 0"
note "connection_cache 0: QUIT after each message"
san_check
exit 0
