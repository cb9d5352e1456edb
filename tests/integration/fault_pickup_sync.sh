#!/usr/bin/env bash
# A drop is removed from maildrop/ only once the record of its message is
# durable (fs/pickup.c, step 4). When the journal cannot be synced then,
# the drop stays and the message waits with it: not sent, and rm gets
# EBUSY, since a message removed with its drop left behind would be
# picked up again, a second copy. Once the journal is written again, the
# retry of the drop removes it and the message goes, once; removing it
# then, a later pickup pass and a mount after kill -9 make no second
# message.
. "$(dirname "$0")/../lib.sh" || exit 1
: "${SENDMAIL:=$(dirname "$OUTBOXFS")/outboxfs-sendmail}"

mk_tmp T
fault_setup "$T/ctl"
outbox_start -t "$T"
SP=$T/spool
sm() { "$SENDMAIL" -C "$T/config" "$@"; }
received() { eml_with "$T/rx" "Subject: $1" | grep -c .; }
# msg_of SUBJECT: the outbox file holding that Subject
msg_of()
{
	grep -lF "Subject: $1" "$M"/sendmail-* 2>/dev/null | grep -v '\.status$' | head -n 1
}

# the journal's sync fails, and so does every rewrite of it until the
# disk has room again: the drop's step 4 cannot be done
: >"$FAULT_CTL/eio-inodes"
fault_on write-enospc-spool "$SP/journal.new"
fault_on fsync-eio-once-journal
printf 'To: bob@example.com\nSubject: pickup one\n\nbody\n' | sm -t || fail "drop 1"
_kept() { outbox_log "$M" | grep -q 'the drop is kept and tried again'; }
wait_until 15 _kept || fail "no log line for the kept drop: $(outbox_log "$M")"
f=$(msg_of "pickup one")
[ -n "$f" ] || fail "no message made of the drop: $(ls -a "$M")"
[ "$(ls "$SP/maildrop" | grep -vc '^\.')" = 1 ] || fail "the drop is gone: $(ls -a "$SP/maildrop")"
assert_eq draft "$(status_state "$f.status")" "state of the message while its drop stays"
rm "$f" 2>"$T/rm.err" && fail "rm of a message whose drop is still there worked"
assert_contains "$(cat "$T/rm.err")" "busy" "rm's error"
note "the journal cannot be synced: the drop stays, $(basename "$f") is a draft and rm says: $(cat "$T/rm.err")"

# the disk has room: the journal is written again, the retry removes the
# drop, the message goes
fault_off write-enospc-spool
wait_state "$f.status" sent 30
[ "$(ls "$SP/maildrop" | grep -vc '^\.')" = 0 ] || fail "the drop is still there: $(ls -a "$SP/maildrop")"
rm "$f" || fail "rm $f once sent"
printf 'To: bob@example.com\nSubject: pickup two\n\nbody\n' | sm -t || fail "drop 2"
_two() { f2=$(msg_of "pickup two"); [ -n "$f2" ] && [ "$(status_state "$f2.status")" = sent ]; }
wait_until 20 _two || fail "the second drop was not sent: $(ls -a "$M")"
kill_outbox "$M"
mount_outbox "$M" "$T/config"
_idle() { ! awk '$2 == "queued" || $2 == "sending"' "$M/.queue" | grep -q .; }
wait_until 10 _idle || fail "not idle after the mount: $(cat "$M/.queue")"
assert_eq 1 "$(received "pickup one")" "copies of the first drop received"
assert_eq 1 "$(received "pickup two")" "copies of the second drop received"
# the removed message's file (the kernel may still hold its inode at the
# kill) is removed by the mount, not taken for bytes without a record
assert_eq "" "$(ls "$SP/corrupt")" "files set aside in corrupt/"
[ "$(fault_hits fsync-after-eio)" = 0 ] || fail "the journal whose sync failed was synced again and trusted"
note "sent once after the journal was written again; removed, a later pickup and a mount after kill -9 made no second copy"

# --- the drop cannot be removed (EIO), also at the next mount -----------------
fault_on unlink-eio-dir "$(realpath "$SP/maildrop")"
printf 'To: bob@example.com\nSubject: pickup three\n\nbody\n' | sm -t || fail "drop 3"
_kept3() { outbox_log "$M" | grep -q 'cannot remove .*; tried again'; }
wait_until 15 _kept3 || fail "no log line for the drop that cannot be removed: $(outbox_log "$M")"
f3=$(msg_of "pickup three")
[ -n "$f3" ] || fail "no message made of the third drop"
held()
{
	assert_eq draft "$(status_state "$f3.status")" "state of $(basename "$f3") $1"
	assert_line "$f3.status" '^error: maildrop: its drop .* could not be removed'
	rm "$f3" 2>/dev/null && fail "rm of $(basename "$f3") worked $1"
	return 0
}
held "while its drop stays"
# killed while it waits; the mount cannot remove the drop either: it holds
# the message it finds (sent, it could be removed, and the drop taken
# for a new one)
kill_outbox "$M"
mount_outbox "$M" "$T/config"
_held_again() { grep -q '^error: maildrop: its drop' "$f3.status"; }
wait_until 10 _held_again || fail "not held after the mount: $(cat "$f3.status")"
held "after kill -9 and a mount, its drop still there"
# the drop goes otherwise (its owner removes it; this shell is not under
# the shim), and maildrop/ cannot be synced: that removal is not durable
# (a power loss could bring the drop back), so the message stays held,
# and nothing more is durable until a mount
fault_on fsync-eio-dir "$(realpath "$SP/maildrop")"
rm -f "$SP"/maildrop/[!.]* || fail "removing the drop"
fault_off unlink-eio-dir
_dirsync() { [ "$(fault_hits fsync-eio-dir)" -ge 1 ]; }
wait_until 15 _dirsync || fail "maildrop/ was never synced after its drop went: $(cat "$FAULT_CTL/hits")"
held "with its drop gone and maildrop/ not synced"
fault_off fsync-eio-dir
umount_outbox "$M"
mount_outbox "$M" "$T/config"
wait_state "$f3.status" sent 20
grep -q '^error:' "$f3.status" && fail "an error line left once sent: $(cat "$f3.status")"
id=$(( ($(stat -c %i "$f3") - 4096) / 2 ))   # its spool id (fs/outbox.h)
[ -f "$SP/msg/$id" ] || fail "msg/$id is not the file of $(basename "$f3"): $(ls "$SP/msg")"
rm "$f3" || fail "rm $(basename "$f3") once sent"
# its last reference goes (the kept connection lets go of it at its QUIT):
# its files with it
_gone() { [ ! -e "$SP/msg/$id" ]; }
wait_until 10 _gone || fail "msg/$id stays after its message was removed: $(ls "$SP/msg")"
assert_eq 1 "$(received "pickup three")" "copies of the third drop received"
note "a drop that cannot be removed holds its message, also across kill -9 and a mount; gone otherwise, the message went once"

# --- rm of a message while its pickup runs -----------------------------------
# The message is busy from the moment its name shows: each journal write
# of the pickup waits 2 s here, so the rm below comes seconds before the
# pickup is done; it must not remove an empty draft and let the drop go
# unsent.
fault_on write-sleep-journal 2000
printf 'To: bob@example.com\nSubject: pickup four\n\nbody\n' | sm -t || fail "drop 4"
_shown() { f4=$(ls "$M" | grep '^sendmail-' | grep -v '\.status$' | grep -vxF "$(basename "$f2")"); [ -n "$f4" ]; }
wait_until 15 _shown || fail "the fourth drop's message never showed: $(ls "$M")"
rm "$M/$f4" 2>"$T/rm4.err" && fail "rm of $f4 worked while its pickup ran"
assert_contains "$(cat "$T/rm4.err")" "busy" "rm's error while the pickup runs"
fault_off write-sleep-journal
wait_state "$M/$f4.status" sent 30
assert_eq 1 "$(received "pickup four")" "copies of the fourth drop received"
note "rm while the pickup ran: $(cat "$T/rm4.err"); then sent once"
san_check
exit 0
