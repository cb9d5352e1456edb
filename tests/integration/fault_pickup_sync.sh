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
san_check
exit 0
