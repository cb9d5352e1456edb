#!/usr/bin/env bash
# connection_cache: after its last message a connection stays open for a
# moment, so the next message of the account pays no connect, greeting
# or EHLO (its transcript says the connection was reused); it is closed
# with QUIT when the time is up; a connection the server closed meanwhile
# is replaced without the message seeing it; connection_cache 0 quits at
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

# --- the server closed it meanwhile: a new connection, no error ---------------
umount_outbox "$M"
smtpd_start "$T/rx2" --log "$T/log2" --reply 'NOOP=421 4.4.2 idle too long'
write_config "$T/config" "$SMTP_PORT" "settle 0" "connection_cache 5s"
mount_outbox "$M" "$T/config"
msg three >"$M/three"
wait_state "$M/three.status" sent 20
msg four >"$M/four"
wait_state "$M/four.status" sent 20
grep -q '^error:' "$M/four.status" && fail "four shows an error:
$(cat "$M/four.status")"
assert_eq 2 "$(connects "$T/log2")" "connections when the kept one was refused"
note "a kept connection the server refused: replaced, four sent cleanly"

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
