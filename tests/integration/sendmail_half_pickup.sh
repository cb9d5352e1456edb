#!/usr/bin/env bash
# A pickup cut by a kill -9 between its message file and its record (the
# fsync of the file kills the daemon): the mount after it takes the half
# message over from its drop and sends it, once. It is not taken for a
# draft a stop cut short (those wait to be written again).
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
: "${SENDMAIL:=$(dirname "$OUTBOXFS")/outboxfs-sendmail}"

mk_tmp T
fault_setup "$T/ctl"
outbox_start -t "$T"
fault_on fsync-kill-spool "$(realpath "$T/spool/msg")"
printf 'To: bob@example.com\nSubject: half\n\nTHE END of half\n' |
	"$SENDMAIL" -C "$T/config" -t || fail "outboxfs-sendmail failed"
wait_until 10 sh -c "grep -q '^fsync-kill-spool ' '$FAULT_CTL/hits'" ||
	fail "the pickup never synced its message file"
fault_off fsync-kill-spool
kill_outbox "$M"
ls "$T/spool/maildrop" | grep -q '^[0-9]\{8\}T' || fail "the drop is gone after the kill"

mount_outbox "$M" "$T/config"
f=$(ls "$M" | grep '^sendmail-.*[^s]$' | grep -v '\.status$' | head -n1)
[ -n "$f" ] || fail "no message after the mount: $(ls -a "$M")"
wait_state "$M/$f.status" sent 20
assert_eq 1 "$(count_eml "$T/rx")" "messages received"
[ -n "$(eml_with "$T/rx" 'THE END of half')" ] || fail "half did not arrive whole"
umount_outbox "$M"
san_check
exit 0
