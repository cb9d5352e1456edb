#!/usr/bin/env bash
# A commit that cannot make a message durable never shows it queued: it
# stays a draft whose error: line says why and when it is tried again,
# and once the fault is gone it is sent, once.
#  - The commit cannot open the message file (the descriptor table is
#    full): a message renamed from a scratch name has no writer's
#    descriptor left for the committer, so its own open is what fails.
#  - The message file cannot be synced (EIO): its queued record may be
#    on disk all the same. Later batches succeed meanwhile; a crash
#    then, with the file cut short (a power loss), must not send it:
#    the mount still checks that record.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
fault_setup "$T/ctl"
outbox_start -t "$T"
SP=$T/spool

# refused NAME TEXT: NAME's status gets an error: line starting with TEXT
# (a grep pattern), and NAME stays a draft.
refused()
{
	REF_NAME=$1 REF_TEXT=$2
	_refused() { grep -q "^error: $REF_TEXT" "$M/$REF_NAME.status"; }
	wait_until 15 _refused || fail "$1: no error line [$2]:
$(cat "$M/$1.status")
hits: $(cat "$FAULT_CTL/hits" 2>/dev/null)"
	assert_eq draft "$(status_state "$M/$1.status")" "state of $1 while refused"
}

printf 'To: bob@example.com\nSubject: commit open\n\nopened at last\n' >"$M/.x" ||
	fail "writing .x"
fault_on open-emfile-spool "$SP/msg"
mv "$M/.x" "$M/x" || fail "mv .x x"
refused x "spool: the message file could not be opened to make it durable"
assert_contains "$(cat "$M/x.status")" "Too many open files" "status of x"
assert_contains "$(cat "$M/x.status")" "submitted again in 5 s" "status of x"
[ "$(fault_hits open-emfile-spool)" -ge 1 ] || fail "the fault was not met"
grep -aq "^state queued" "$SP/journal" &&
	fail "a queued record was written for x while its file could not be opened"
assert_eq 0 "$(eml_with "$T/rx" "Subject: commit open" | grep -c .)" "copies of x received while refused"
note "the commit cannot open x: a draft, $(grep '^error:' "$M/x.status")"

# files open again: it is submitted by itself, and sent once
fault_off open-emfile-spool
wait_state "$M/x.status" sent 20
one_eml_with "$T/rx" "Subject: commit open" >/dev/null || exit 1
assert_not_contains "$(cat "$M/x.status")" "could not be opened" "status of x once sent"
note "files open again: sent once"

# --- the message file cannot be synced; a later batch can ------------------
printf 'To: bob@example.com\nSubject: commit eio\n\n%s\n' "$(seq 1 200)" >"$T/fb.src"
fault_on fsync-eio-text "Subject: commit eio"
cp "$T/fb.src" "$M/fb" || fail "writing fb"
refused fb "spool: the message and its record could not be synced to the disk (Input/output error); submitted again in 5 s"
grep -aq "^state queued" "$SP/journal" ||
	fail "no queued record in the journal: the batch failed before its record"
note "fb cannot be synced: a draft, $(grep '^error:' "$M/fb.status")"
# two batches, one after the other: the first may share the failed
# batch's stamp, the second must too
for l in later1 later2; do
	printf 'To: bob@example.com\nSubject: commit %s\n\nlater\n' "$l" >"$M/$l"
	wait_state "$M/$l.status" sent 15
done
assert_eq draft "$(status_state "$M/fb.status")" "state of fb after later messages were sent"
kill_outbox "$M"
fault_off fsync-eio-text
FILE=$(grep -lF "Subject: commit eio" "$SP"/msg/*)
[ "$(printf '%s\n' "$FILE" | wc -l)" = 1 ] || fail "fb: not one spool file: [$FILE]"
size=$(stat -c %s "$FILE")
truncate -s 40 "$FILE"
mount_outbox "$M" "$T/config"
assert_eq draft "$(status_state "$M/fb.status")" "state of fb after the crash"
grep -q "^error: this message was not sent: its bytes had not all reached the disk.*(40 bytes of $size" "$M/fb.status" ||
	fail "fb: no error line naming the cut:
$(cat "$M/fb.status")"
printf 'To: bob@example.com\nSubject: commit last\n\nlast\n' >"$M/last"
wait_state "$M/last.status" sent 15
assert_eq 0 "$(eml_with "$T/rx" "Subject: commit eio" | grep -c .)" "copies of fb received"
note "a crash after a later batch, fb cut: a draft, not sent"

# written again: sent once
cp "$T/fb.src" "$M/fb" || fail "writing fb again"
wait_state "$M/fb.status" sent 15
one_eml_with "$T/rx" "Subject: commit eio" >/dev/null || exit 1
note "written again: sent once"

umount_outbox "$M"
san_check
exit 0
