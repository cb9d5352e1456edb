#!/usr/bin/env bash
# Mistakes at mount time get a clear line and mount nothing: a second
# outboxfs on the same mount point, a directory with files in it (which
# the mount would hide; -o nonempty allows it), a mount point that is a
# file.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse

mk_tmp T
smtpd_start "$T/rx"
write_config "$T/config" "$SMTP_PORT"
write_config "$T/config2" "$SMTP_PORT" "spool $T/spool2"

mkdir -p "$T/full"
echo keep >"$T/full/notes.txt"
out=$("$OUTBOXFS" -f -o config="$T/config" "$T/full" 2>&1) &&
	fail "mounted over a directory with a file in it"
assert_contains "$out" "is not empty" "the refusal"
assert_contains "$out" "-o nonempty" "the refusal"
grep -q " $T/full fuse" /proc/mounts && fail "something was mounted on $T/full"
assert_eq keep "$(cat "$T/full/notes.txt")" "the file under the mount point"
note "a non-empty mount point: refused, says -o nonempty"

mount_outbox "$T/full" "$T/config" nonempty
printf 'To: bob@example.com\nSubject: nonempty\n\nx\n' >"$T/full/m"
wait_state "$T/full/m.status" sent 20
umount_outbox "$T/full"
assert_eq keep "$(cat "$T/full/notes.txt")" "the file after the unmount"
note "-o nonempty: mounted over it, the file is back after the unmount"

mount_outbox "$T/mnt" "$T/config"
out=$("$OUTBOXFS" -f -o config="$T/config2" "$T/mnt" 2>&1) &&
	fail "a second outboxfs mounted on $T/mnt"
assert_contains "$out" "already mounted on $T/mnt" "the refusal"
printf 'To: bob@example.com\nSubject: still\n\nx\n' >"$T/mnt/still"
wait_state "$T/mnt/still.status" sent 20
note "a second outboxfs on a mount point: refused, the first works on"

: >"$T/afile"
out=$("$OUTBOXFS" -f -o config="$T/config2" "$T/afile" 2>&1) &&
	fail "mounted on a file"
assert_contains "$out" "is not a directory" "the refusal"
san_check
exit 0
