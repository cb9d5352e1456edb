#!/usr/bin/env bash
# While the server works on a message's "." (and the next envelope sent
# behind it), the message after those two is made ready: it shows
# `sending` before its turn. Not behind a next message of more than
# 64 KiB, whose whole transfer it would wait through: it stays queued.
# Then a drain through the test server's random faults (421 at MAIL,
# 451 to RCPTs, a line dropped in DATA, a body cut short, 451 after the
# ".", a message saved and the line dropped) with some recipients
# refused: every message ends sent (or failed for its refused
# recipient), none arrives twice without its warning, and each status
# file's last attempt holds its own envelope and the reply to its own
# ".", which names the file holding that very message. SEED=N replays
# the faults of a run (the seed is printed).
. "$(dirname "$0")/../lib.sh" || exit 1

SEED=${SEED:-$RANDOM}
echo "seed $SEED"

# ---- made ready ahead, and not behind a large one ----------------------

# ahead_run DIR SIZE: s1 alone, its DATA answered after 1 s while m2
# (SIZE bytes of body) and then s3 are queued; s1's "." answered after
# 2 s. Prints s3's state while that reply is held, once m2 (sent ahead
# behind the ".") shows sending.
ahead_run()
{
	local dir=$1 size=$2 i
	smtpd_start "$T/$dir" -p "$OUTBOX_PORT" --log "$T/$dir/log" \
		--reply 'DATA#1=delay:1000:354 go ahead' \
		--reply 'DOT#1=delay:2000:250 slow ok'
	printf 'To: bob@example.com\nSubject: s1 %s\n\nfirst\n' "$dir" >"$M/$dir-s1"
	wait_state "$M/$dir-s1.status" sending 10
	{ printf 'To: bob@example.com\nSubject: m2 %s\n\n' "$dir"
	  head -c "$size" /dev/zero | tr '\0' 'x' | fold -w 76; } >"$M/$dir-m2"
	wait_state "$M/$dir-m2.status" queued 10
	printf 'To: bob@example.com\nSubject: s3 %s\n\nthird\n' "$dir" >"$M/$dir-s3"
	wait_state "$M/$dir-s3.status" queued 10
	wait_state "$M/$dir-m2.status" sending 10
	# s1's "." is out and held: whatever is made ready ahead of it
	# was made ready right then
	for ((i = 0; i < 10; i++)); do
		[ "$(status_state "$M/$dir-s3.status")" = sending ] && break
		sleep 0.05
	done
	status_state "$M/$dir-s3.status"
	for i in s1 m2 s3; do
		wait_state "$M/$dir-$i.status" sent 20
	done
	stop_by_pid "$SMTPD_PID"
}

outbox_start -n -c "connections 1" -c "settle 0"
st=$(ahead_run small 2000)
[ "$st" = sending ] ||
	fail "behind a small message, the one after it was not made ready ahead (s3: $st)"
st=$(ahead_run large 100000)
[ "$st" = queued ] ||
	fail "behind a message of 100 kB, the one after it was made ready ahead (s3: $st)"
umount_outbox "$M"

# ---- through random faults ----------------------------------------------

N=30
outbox_start -n -c "connections 1" -c "settle 0" -c "retry_min 1" -c "retry_max 2"
for ((i = 1; i <= N; i++)); do
	to=bob@example.com
	((i % 7 == 0)) && to=carol@example.com
	printf 'To: %s\nSubject: ahead %d\n\nbody %d\n' "$to" "$i" "$i" >"$M/m$i"
done
for ((i = 1; i <= N; i++)); do
	wait_state "$M/m$i.status" deferred 20
done
# the first MAIL answered late: by then all are due, and each "." has a
# next message and one made ready behind it
smtpd_start "$T/rx" -p "$OUTBOX_PORT" --log "$T/rx/log" --hold-dot-reply 300 \
	--chaos "$SEED:25" --reply 'MAIL#1=delay:800:250 2.1.0 Ok' \
	--reply 'RCPT/carol@=550 5.1.1 no such user'
touch "$M"/m*
for ((i = 1; i <= N; i++)); do
	want=sent
	((i % 7 == 0)) && want=failed
	wait_state "$M/m$i.status" "$want" 60
done
bad=()
for ((i = 1; i <= N; i++)); do
	f=$M/m$i.status
	n=$(grep -l "^Subject: ahead $i"$'\r'"\$" "$T"/rx/*.eml 2>/dev/null | wc -l)
	if ((i % 7 == 0)); then
		[ "$n" = 0 ] || bad+=("m$i: its recipient was refused, yet it arrived $n times")
		continue
	fi
	if [ "$n" != 1 ] && ! grep -qi twice "$f"; then
		bad+=("m$i: arrived $n times, and its status does not warn")
	fi
	# the last attempt: from its "--- attempt" line to the end
	sed -n '/^--- attempt/h; /^--- attempt/!H; ${x;p}' "$f" >"$T/last"
	[ "$(grep -c '^C: MAIL FROM' "$T/last")" = 1 ] ||
		bad+=("m$i: its last attempt holds $(grep -c '^C: MAIL FROM' "$T/last") MAIL FROMs")
	num=$(sed -n 's/^S: 250 2\.0\.0 Ok: queued as \([0-9]*\)$/\1/p' "$T/last")
	if [ -z "$num" ] || ! grep -q "^Subject: ahead $i"$'\r'"\$" "$T/rx/$num.eml"; then
		bad+=("m$i: the reply to its last \".\" ($num) does not name its file")
	fi
done
grep -q "improper pipelining" "$T/rx/log" && bad+=("the server saw improper pipelining")
if [ ${#bad[@]} -gt 0 ]; then
	printf '%s\n' "${bad[@]}" >&2
	fail "seed $SEED: ${#bad[@]} defects"
fi
umount_outbox "$M"
echo "PASS mount_ahead (seed $SEED)"
