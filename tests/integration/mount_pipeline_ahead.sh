#!/usr/bin/env bash
# Messages waiting for the same server go out one round trip each: the
# next message's MAIL, RCPT and DATA follow the final dot of the one
# before (RFC 2920), so the dot's reply and the next envelope's come
# back together. testsmtpd answers a final dot only once more input has
# come behind it (or after 2 s), and logs which: most dots must have had
# the next envelope behind them. Each message's status file still shows
# its own conversation: its envelope, its data, and the reply to its own
# dot, which names the file the server saved it in. The server never
# logs improper pipelining. Then the same drain against aiosmtpd.
. "$(dirname "$0")/../lib.sh" || exit 1

N=12
outbox_start -n -c "connections 1"
# deferred_all: m1..mN written while no server listens, all deferred.
deferred_all()
{
	local i
	for ((i = 1; i <= N; i++)); do
		printf 'To: bob@example.com\nSubject: ahead %d\n\nbody %d\n' "$i" "$i" >"$M/m$i" ||
			fail "writing m$i"
	done
	for ((i = 1; i <= N; i++)); do
		wait_state "$M/m$i.status" deferred 20
	done
}
deferred_all

# drain DIR: the deferred messages retried at once (touch), all sent;
# each status names the file DIR holds it in.
drain()
{
	local i f num
	touch "$M"/m*
	for ((i = 1; i <= N; i++)); do
		wait_state "$M/m$i.status" sent 30
	done
	for ((i = 1; i <= N; i++)); do
		f=$M/m$i.status
		# the last attempt: its own envelope, then its own dot's reply
		sed -n '/^--- attempt/h; /^--- attempt/!H; ${x;p}' "$f" >"$T/last"
		grep -q "^C: MAIL FROM:<alice@example.com>" "$T/last" &&
			grep -q "^C: RCPT TO:<bob@example.com>" "$T/last" &&
			grep -q "^S: 354" "$T/last" ||
			fail "m$i: its last attempt lacks its envelope:
$(cat "$f")"
		[ "$(grep -c '^C: MAIL FROM' "$T/last")" = 1 ] ||
			fail "m$i: another message's envelope in its transcript:
$(cat "$f")"
		num=$(sed -n 's/^S: 250 2\.0\.0 Ok: queued as \([0-9]*\)$/\1/p' "$T/last")
		[ -n "$num" ] && [ -f "$1/$num.eml" ] ||
			fail "m$i: no reply naming a saved message:
$(cat "$f")"
		grep -q "^Subject: ahead $i"$'\r'"\$" "$1/$num.eml" ||
			fail "m$i: the reply to its dot names $num.eml, which holds another message: $(grep '^Subject' "$1/$num.eml")"
	done
}

smtpd_start "$T/rx" -p "$OUTBOX_PORT" --log "$T/rx/log" --hold-dot-reply 2000
drain "$T/rx"
assert_eq "$N" "$(count_eml "$T/rx")" "messages testsmtpd received"
behind=$(grep -c "dot reply held: more input came behind the dot" "$T/rx/log")
alone=$(grep -c "dot reply held: nothing came behind" "$T/rx/log")
[ "$behind" -ge $((N / 2)) ] ||
	fail "only $behind of $N final dots had the next envelope behind them ($alone had nothing)"
grep -q "improper pipelining" "$T/rx/log" &&
	fail "testsmtpd logged improper pipelining: $(grep 'improper pipelining' "$T/rx/log")"
note "testsmtpd: $behind of $N dots had the next envelope behind them; each status names its own saved message"
stop_by_pid "$SMTPD_PID"

# --- aiosmtpd: the same drain, another server's reading of the group ----
rm -f "$M"/m*
deferred_all
aiosmtpd_start "$T/rxa" -p "$OUTBOX_PORT"
touch "$M"/m*
for ((i = 1; i <= N; i++)); do
	wait_state "$M/m$i.status" sent 30
done
for ((i = 1; i <= N; i++)); do
	[ "$(eml_with "$T/rxa" "Subject: ahead $i"$'\r' | grep -c .)" = 1 ] ||
		fail "aiosmtpd: m$i not received exactly once"
done
assert_eq "$N" "$(count_eml "$T/rxa")" "messages aiosmtpd received"
note "aiosmtpd: $N sent, each received once"
umount_outbox "$M"
exit 0
