#!/usr/bin/env bash
# kill -9 of the daemon while it picks drops up (at mount, and while
# mounted with drops arriving): nothing is lost, nothing is made twice.
# With no server during the kills nothing can be sent (so no RFC 1047
# duplicate is possible); at the end a server comes, sendmail -q retries
# the deferred ones, and each message arrives exactly once.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
: "${SENDMAIL:=$(dirname "$OUTBOXFS")/outboxfs-sendmail}"

mk_tmp T
port=$(free_port)
write_config "$T/config" "$port"
sm() { "$SENDMAIL" -C "$T/config" "$@"; }
N=0
drop() { N=$((N + 1)); printf 'To: bob@example.com\nSubject: crash <%d>\n\nbody %d\n' "$N" "$N" | sm -t || fail "drop $N"; }

for i in $(seq 40); do drop; done
M=$T/mnt
seed=${CRASH_SEED:-$RANDOM}
note "seed $seed"
RANDOM=$seed
for cycle in 1 2 3 4 5 6; do
	mkdir -p "$M"
	"$OUTBOXFS" -f -o "config=$T/config" "$M" >>"$T/daemon.log" 2>&1 </dev/null &
	pid=$!
	register_pid "$pid"
	# drops arrive while it starts and runs
	for i in 1 2 3 4 5; do drop; done
	sleep "0.0$((RANDOM % 10))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	fusermount3 -u -z "$M" 2>/dev/null
	wait_until 5 sh -c "! grep -q ' $M ' /proc/mounts" || fail "still mounted"
done
note "$N messages dropped, $(ls "$T/spool/maildrop" | wc -l) drops left at the last kill"

smtpd_start "$T/rx" -p "$port"
mount_outbox "$M" "$T/config"
sm -q
wait_count "$T/rx" "$N" 60
sleep 1
for i in $(seq "$N"); do
	one_eml_with "$T/rx" "Subject: crash <$i>" >/dev/null || exit 1
done
assert_eq "$N" "$(count_eml "$T/rx")" "messages received"
n=$(ls "$M" | grep -c '^sendmail-.*[0-9a-f]$')
# a pickup cut off before its record was durable may leave an unclosed
# draft it takes over at the next start: never a second sent message
sent=$(grep -l '^state: sent' "$M"/sendmail-*.status | wc -l)
assert_eq "$N" "$sent" "sent messages in the outbox ($n sendmail-* files)"
assert_eq 0 "$(ls "$T/spool/maildrop" | wc -l)" "drops left"
echo "sendmail_crash: ok"
