#!/usr/bin/env bash
# The journal stays small: it is rewritten while the daemon runs once it
# holds mostly dead records, also when no new mail comes in (only
# removals), so its size follows the live messages, not the mail ever
# sent. OUTBOXFS_COMPACT_MIN lowers the floor (4 MiB) for the test. What
# the rewrite kept is exactly what a remount shows.
. "$(dirname "$0")/../lib.sh" || exit 1

lib_daemon_env=("OUTBOXFS_COMPACT_MIN=16384")
outbox_start
J=$T/spool/journal

n=300
for ((i = 1; i <= n; i++)); do
	printf 'To: bob@example.com\nSubject: bound %d\n\nbody %d\n' "$i" "$i" \
		>"$M/b$i" || fail "write b$i"
done
wait_count "$T/rx" "$n" 60
for ((i = 1; i <= n; i++)); do
	wait_state "$M/b$i.status" sent 20
done
# keep 5, remove the rest: no new mail after this
for ((i = 6; i <= n; i++)); do
	rm "$M/b$i" || fail "rm b$i"
done
_small() { [ "$(journal_used "$J")" -le 16384 ]; }
wait_until 20 _small || fail "the journal did not shrink with 5 live messages: $(journal_used "$J") bytes of records"
# what is written ahead stays within 256 KiB past the records
ahead=$(( $(stat -c %s "$J") - $(journal_used "$J") ))
[ "$ahead" -le $((256 * 1024 + 4096 + 4096)) ] ||
	fail "the journal holds $ahead bytes past its records"
note "300 sent, 295 removed: journal $(journal_used "$J") bytes of records, $ahead written ahead"
outbox_log "$M" | grep -q 'journal rewritten' ||
	fail "no rewrite logged: $(outbox_log "$M")"
umount_outbox "$M"
lib_daemon_env=()
mount_outbox "$M" "$T/config"
for ((i = 1; i <= 5; i++)); do
	assert_eq sent "$(status_state "$M/b$i.status")" "b$i after the remount"
done
[ -e "$M/b6" ] && fail "a removed message came back after the rewrite"
left=$(ls -p "$M" | grep -v / | grep -vc '\.status$')
assert_eq 5 "$left" "messages after the remount"
assert_eq "$n" "$(ls "$T/rx"/*.eml | wc -l)" "messages received (none twice)"
san_check
exit 0
