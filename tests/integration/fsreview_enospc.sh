#!/usr/bin/env bash
# A full disk under the spool (a 1 MiB tmpfs: also a spool on another file
# system than /tmp). A writer gets ENOSPC and the daemon stays up; a
# submission whose record cannot be written (no zeros written ahead in
# the journal: OUTBOXFS_JOURNAL_AHEAD=0) is never shown queued, says why,
# and is sent once there is room again: nothing is lost. With the zeros
# the journal keeps ahead, its records still go in on the full disk: it
# is queued and sent, and the outcome whose transcript cannot be written
# waits for room, shown with its error, and is recorded once.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: mounting a small tmpfs needs root"
	exit 77
fi

mk_tmp T
SP=$T/spool
mkdir -p "$SP"
if ! mount -t tmpfs -o size=1m,mode=0700 tmpfs "$SP" 2>/dev/null; then
	echo "SKIP: cannot mount a tmpfs here"
	exit 77
fi
fsr_exit()
{
	local rc=$? mnt
	for mnt in "${!lib_mount_pid[@]}"; do
		umount_outbox "$mnt" 2>/dev/null
	done
	umount "$SP" 2>/dev/null || umount -l "$SP" 2>/dev/null
	(exit "$rc")
	cleanup
}
trap fsr_exit EXIT

smtpd_start "$T/rx"
write_config "$T/config" "$SMTP_PORT" "settle 1500"
lib_daemon_env=("OUTBOXFS_JOURNAL_AHEAD=0")
mount_outbox "$T/mnt" "$T/config"
lib_daemon_env=()
M=$T/mnt
PID=$OUTBOX_PID

# room_again NAME SUBJECT: the daemon up, the disk given room: NAME sent,
# its error gone, received once.
room_again()
{
	kill -0 "$PID" || fail "the daemon died"
	rm -f "$SP/filler"
	wait_state "$M/$1.status" sent 30
	grep -q '^error:' "$M/$1.status" && fail "the error stayed after $1 was sent"
	one_eml_with "$T/rx" "Subject: $2" >/dev/null || exit 1
}

# --- a writer that does not fit ----------------------------------------------
err=$( { head -c 2000000 /dev/zero >"$M/big"; } 2>&1 ) &&
	fail "writing 2 MB into a 1 MiB spool worked"
assert_contains "$err" "No space left" "the writer's error"
kill -0 "$PID" || fail "the daemon died on ENOSPC"
rm -f "$M/big" || fail "rm big"
note "a write that does not fit: ENOSPC to the writer, daemon up"

# --- the record of a submission does not fit ------------------------------------
to=$(for ((i = 0; i < 300; i++)); do printf 'r%03d@example.com, ' "$i"; done)
printf 'To: %s\nSubject: full disk\n\nwaits for room\n' "${to%, }" >"$M/full"
# fill what is left before the settle time ends
dd if=/dev/zero of="$SP/filler" bs=4096 2>/dev/null
sleep 0.5
wait_until 10 grep -q '^error: spool: .*No space left' "$M/full.status" ||
	fail "no spool error in the status:
$(cat "$M/full.status")"
assert_eq draft "$(status_state "$M/full.status")" "state while the disk is full"
grep -q '^full queued ' "$M/.queue" && fail ".queue shows it queued"
room_again full "full disk"
note "record did not fit: draft with error:, sent once there was room"

# --- the journal's zeros ahead: its records still fit ----------------------------
umount_outbox "$M"
mount_outbox "$M" "$T/config"
PID=$OUTBOX_PID
printf 'To: bob@example.com\nSubject: full again\n\nsent on a full disk\n' >"$M/again"
dd if=/dev/zero of="$SP/filler" bs=4096 2>/dev/null
[ "$(stat -c %s "$SP/journal")" -gt "$(journal_used "$SP/journal")" ] ||
	fail "the journal has no zeros ahead of its records"
wait_until 20 grep -q '^error: spool: .*transcript: No space left' "$M/again.status" ||
	fail "no transcript error in the status on the full disk:
$(cat "$M/again.status")"
one_eml_with "$T/rx" "Subject: full again" >/dev/null || exit 1
grep -q '^again queued ' "$M/.queue" && fail "queued again while its outcome waits"
room_again again "full again"
note "record in the journal's zeros: queued and sent on the full disk, outcome recorded once there was room"
san_check
exit 0
