#!/usr/bin/env bash
# A journal that cannot be read whole (an I/O error half-way) is not
# taken for a shorter journal: the mount fails, saying which file and
# why, and the spool is left exactly as it was. Mounted again once the
# disk reads, every message is there in its state and nothing sent is
# sent again.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -- --reply 'RCPT/later@=451 4.7.1 later' \
	--reply 'RCPT/nobody@=550 5.1.1 no such user'
SP=$T/spool

msg()
{
	printf 'To: %s\nSubject: eio %s\n\nbody %s\n' "$2" "$1" "$1"
}
declare -A want=(
	[s1]=sent [s2]=sent [s3]=sent [s4]=sent
	[d1]=deferred [d2]=deferred [f1]=failed
)
for m in s1 s2 s3 s4; do msg "$m" bob@example.com >"$M/$m"; done
for m in d1 d2; do msg "$m" later@example.com >"$M/$m"; done
msg f1 nobody@example.com >"$M/f1"
for m in "${!want[@]}"; do
	wait_state "$M/$m.status" "${want[$m]}" 20
done
wait_count "$T/rx" 4 10
umount_outbox "$M"
assert_eq 0 "$OUTBOX_RC" "exit status of the first unmount"
sent_before=$(count_eml "$T/rx")
assert_eq 4 "$sent_before" "messages received before the fault"

cp -a "$SP" "$T/spool.copy" || fail "cp -a of the spool"
jsize=$(journal_used "$SP/journal")
[ "$jsize" -gt 200 ] || fail "the journal's records are only $jsize bytes"
half=$((jsize / 2))
note "journal of $jsize bytes of records; reads fail with EIO from byte $half"

# --- the mount with a journal that fails half-way ----------------------------
fault_setup "$T/ctl"
fault_on read-eio-journal "$half"
if try_mount_outbox "$M" "$T/config"; then
	fail "outboxfs mounted a spool whose journal failed with EIO at byte $half of $jsize; .queue:
$(cat "$M/.queue")
--- journal after this mount (was $jsize bytes, now $(stat -c %s "$SP/journal")):
$(diff <(cat "$T/spool.copy/journal") "$SP/journal" | head -n 20)"
fi
err=$(cat "$TRY_LOG")
[ "$(fault_hits read-eio-journal)" -gt 0 ] ||
	fail "the daemon exited ($TRY_RC) without meeting the read fault: $err"
[ "$TRY_RC" != 0 ] || fail "outboxfs exited 0 on an unreadable journal: $err"
is_mounted "$M" && fail "$M is mounted after a refused mount"
assert_contains "$err" "journal" "the daemon's error"
assert_contains "$err" "Input/output error" "the daemon's error"
note "refused (exit $TRY_RC): $(head -n 3 "$TRY_LOG")"
diff -r "$T/spool.copy" "$SP" >"$T/spool.diff" 2>&1 ||
	fail "the spool changed during the refused mount:
$(cat "$T/spool.diff")"
cmp -s "$T/spool.copy/journal" "$SP/journal" ||
	fail "the journal changed during the refused mount"

# --- the disk reads again ----------------------------------------------------
fault_off read-eio-journal
fault_clear_env
mount_outbox "$M" "$T/config"
for m in "${!want[@]}"; do
	[ -f "$M/$m" ] || fail "$m is missing after the remount: $(ls -a "$M")"
	assert_eq "${want[$m]}" "$(status_state "$M/$m.status")" "state of $m after the remount"
done
sleep 2
assert_eq "$sent_before" "$(count_eml "$T/rx")" "messages received after the remount"
for m in s1 s2 s3 s4; do
	one_eml_with "$T/rx" "Subject: eio $m" >/dev/null || exit 1
done
note "mounted without the fault: every message in its state, none sent twice"
san_check
exit 0
