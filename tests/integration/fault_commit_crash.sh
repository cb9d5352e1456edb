#!/usr/bin/env bash
# The committer writes a message's queued record, then syncs the message
# file and the journal at the same time. A crash of the system in
# between (a power loss) can leave the record on disk without the bytes.
# Here the daemon is killed -9 as it starts to sync the message file
# (the record is written by then), and the test then leaves the file as
# a power loss could have: whole, cut short, or with a block of zeros.
#  - whole: at the next mount it is sent, once, as written;
#  - cut short or zeroed: it is not sent; it is a draft again, its status
#    says why, the mount says so on stderr; written again, it is sent.
# The same for a draft submitted without a commit: closed by its writer
# within a long settle time, or renamed from a scratch name (the daemon
# killed as it syncs the rename's record); nothing syncs a draft's file.
# Then COMMIT_ROUNDS (8) rounds pick one of those, or the file gone (set
# aside, never sent), at random: the seed is printed, and COMMIT_SEED=N
# replays it.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
fault_setup "$T/ctl"
outbox_start -t "$T"
SP=$T/spool

BODY=$(for ((i = 0; i < 60; i++)); do printf 'line %02d of the body\n' "$i"; done)
msg() { printf 'To: bob@example.com\nSubject: commit %s\n\n%s\n' "$1" "$BODY"; }

# spool_file NAME: sets FILE to the one spool file that holds NAME.
spool_file()
{
	FILE=$(grep -lF "Subject: commit $1" "$SP"/msg/* 2>/dev/null)
	[ -n "$FILE" ] && [ "$(printf '%s\n' "$FILE" | wc -l)" = 1 ] ||
		fail "$1: expected one spool file holding it, found [$FILE]"
}

# sent_whole NAME: mounted again, NAME is sent, once, as written.
sent_whole()
{
	local eml
	mount_outbox "$M" "$T/config"
	wait_state "$M/$1.status" sent 15
	eml=$(one_eml_with "$T/rx" "Subject: commit $1"$'\r') || exit 1
	assert_body "$eml" "$BODY"
}

# crash_at_commit NAME: write NAME; the daemon dies at its file's sync.
# Sets FILE to its spool file.
crash_at_commit()
{
	local pid=$OUTBOX_PID
	fault_on fsync-kill-spool "$SP/msg"
	msg "$1" >"$M/$1" || fail "writing $1"
	_dead() { ! kill -0 "$pid" 2>/dev/null; }
	wait_until 15 _dead || fail "$1: the daemon did not reach the sync of the message file (hits: $(cat "$FAULT_CTL/hits" 2>/dev/null))"
	kill_outbox "$M"
	fault_off fsync-kill-spool
	spool_file "$1"
	grep -q "^fsync-kill-spool 0 $FILE\$" "$FAULT_CTL/hits" ||
		fail "$1: the kill was not at the sync of $FILE: $(cat "$FAULT_CTL/hits")"
	grep -aq "^state queued" "$SP/journal" ||
		fail "$1: no queued record in the journal before the sync"
}

# --- whole: sent once, as written --------------------------------------------
crash_at_commit whole
sent_whole whole
assert_not_contains "$(cat "$M/whole.status")" "may arrive twice" "status of whole"
assert_not_contains "$(outbox_log "$M")" "had not reached the disk" "daemon log"
note "whole file: sent once, unchanged, without a warning"

# not_sent NAME: NAME is a draft with the reason, and a later message
# goes out while NAME does not.
# is_draft NAME WHY: NAME is a draft again, its error line naming WHY.
is_draft()
{
	local f=$M/$1.status
	assert_eq draft "$(status_state "$f")" "state of $1 after the mount ($2)"
	grep -q "^error: this message was not sent: its bytes had not all reached the disk.*($2" "$f" ||
		fail "$1: no error line naming [$2]:
$(cat "$f")"
}

not_sent()
{
	local f=$M/$1.status
	is_draft "$1" "$2"
	assert_contains "$(outbox_log "$M")" "1 submitted messages had not reached the disk" "daemon log"
	msg "after-$1" >"$M/after-$1"
	wait_state "$M/after-$1.status" sent 15
	assert_eq 0 "$(eml_with "$T/rx" "Subject: commit $1" | grep -c .)" "copies of $1 received"
	assert_eq draft "$(status_state "$f")" "state of $1 after a later message was sent"
}

# --- cut short: a draft, not sent --------------------------------------------
umount_outbox "$M"
mount_outbox "$M" "$T/config"
crash_at_commit short
size=$(stat -c %s "$FILE")
truncate -s 100 "$FILE"
mount_outbox "$M" "$T/config"
not_sent short "100 bytes of $size"
note "cut short: a draft with the reason, not sent"

# written again, it is sent
msg short >"$M/short"
wait_state "$M/short.status" sent 15
eml=$(one_eml_with "$T/rx" "Subject: commit short") || exit 1
assert_body "$eml" "$BODY"
note "written again: sent once"

# --- a block of zeros, the length kept: a draft, not sent --------------------
umount_outbox "$M"
mount_outbox "$M" "$T/config"
crash_at_commit zeroed
dd if=/dev/zero of="$FILE" bs=1 seek=200 count=512 conv=notrunc status=none
mount_outbox "$M" "$T/config"
not_sent zeroed "its bytes differ"
note "zeroed block: a draft with the reason, not sent"

# --- a closed draft, not committed yet: submitted at the next mount ----------
write_config "$T/slow.conf" "$OUTBOX_PORT" "settle 60000"
# closed_draft NAME: NAME written and closed within a settle time of a
# minute, then kill -9. Sets FILE.
closed_draft()
{
	umount_outbox "$M"
	mount_outbox "$M" "$T/slow.conf"
	msg "$1" >"$M/$1" || fail "writing $1"
	assert_eq draft "$(status_state "$M/$1.status")" "state of $1 in its settle time"
	kill_outbox "$M"
	spool_file "$1"
}
closed_draft cwhole
sent_whole cwhole
note "closed draft, whole: submitted at the mount, sent once"
closed_draft cshort
size=$(stat -c %s "$FILE")
truncate -s 60 "$FILE"
mount_outbox "$M" "$T/config"
not_sent cshort "60 bytes of $size"
note "closed draft, cut short: a draft with the reason, not sent"
# written out of order (its end first, then its start): the release
# reads the file for the check instead of following the writes
umount_outbox "$M"
mount_outbox "$M" "$T/slow.conf"
msg cseek >"$T/cseek.src"
dd if="$T/cseek.src" of="$M/cseek" bs=100 skip=1 seek=1 status=none ||
	fail "writing the end of cseek"
dd if="$T/cseek.src" of="$M/cseek" bs=100 count=1 conv=notrunc status=none ||
	fail "writing the start of cseek"
cmp -s "$T/cseek.src" "$M/cseek" || fail "cseek does not read back as written"
kill_outbox "$M"
spool_file cseek
truncate -s 150 "$FILE"
mount_outbox "$M" "$T/config"
not_sent cseek "150 bytes of $(stat -c %s "$T/cseek.src")"
note "closed draft written out of order, cut short: a draft, not sent"

# --- a closed draft across a rewrite of the journal ------------------------
# The journal is rewritten while the draft waits out its settle time: the
# new journal must still say what bytes it was closed with. Before that,
# an open for writing fails (its record cannot be written: the disk is
# full), which leaves it the closed draft it was.
lib_daemon_env+=("OUTBOXFS_COMPACT_MIN=8192")
umount_outbox "$M"
mount_outbox "$M" "$T/slow.conf"
msg cjour >"$M/cjour" || fail "writing cjour"
fault_on write-enospc-journal
if (: >>"$M/cjour") 2>/dev/null; then
	fail "cjour: opened for writing while its record could not be written"
fi
fault_off write-enospc-journal
[ "$(fault_hits write-enospc-journal)" -ge 1 ] || fail "cjour: the journal fault was not met"
for ((i = 0; i < 60; i++)); do
	printf 'To: bob@example.com\nSubject: pad %d\n\npad\n' "$i" >"$M/pad$i" &&
		rm "$M/pad$i" || fail "writing and removing pad$i"
	outbox_log "$M" | grep -q "journal rewritten" && break
done
_rewritten() { outbox_log "$M" | grep -q "journal rewritten"; }
wait_until 10 _rewritten || fail "the journal was not rewritten: $(outbox_log "$M")"
assert_eq draft "$(status_state "$M/cjour.status")" "state of cjour after the rewrite"
kill_outbox "$M"
unset 'lib_daemon_env[-1]'
spool_file cjour
size=$(stat -c %s "$FILE")
truncate -s 60 "$FILE"
mount_outbox "$M" "$T/config"
not_sent cjour "60 bytes of $size"
note "closed draft, the journal rewritten, cut short: a draft, not sent"

# --- the mount makes the closed draft durable before it drops the check -----
# The journal a mount writes carries no check: the mount first makes the
# file it accepted durable, as a copy (msg/.rsID, synced, then renamed
# over it: a sync of the file itself could follow one that failed before
# the crash). Killed at that sync, the journal is the old one.
closed_draft cmount
fault_on fsync-kill-spool "$SP/msg"
if try_mount_outbox "$M" "$T/config"; then
	fail "cmount: the mount did not sync the closed draft's file"
fi
fault_off fsync-kill-spool
COPY=$(dirname "$FILE")/.rs$(basename "$FILE")
grep -q "^fsync-kill-spool 0 $COPY\$" "$FAULT_CTL/hits" ||
	fail "cmount: the kill was not at the sync of $COPY: $(cat "$FAULT_CTL/hits")"
grep -aq "^check 0 $(stat -c %s "$FILE") " "$SP/journal" ||
	fail "cmount: the journal was replaced before the draft was synced"
sent_whole cmount
note "closed draft: the mount syncs it before rewriting the journal"

# --- renamed from a scratch name: the kill as the rename's record syncs ------
# rename_crash NAME: .NAME written, then mv .NAME NAME with the daemon
# killed at the journal's sync (the rename's record written, not synced;
# mv sees the daemon go). Sets FILE.
rename_crash()
{
	local pid
	umount_outbox "$M"
	mount_outbox "$M" "$T/slow.conf"
	pid=$OUTBOX_PID
	msg "$1" >"$M/.$1" || fail "writing .$1"
	fault_on fsync-kill-spool "$SP"
	mv "$M/.$1" "$M/$1" 2>/dev/null
	_dead() { ! kill -0 "$pid" 2>/dev/null; }
	wait_until 15 _dead || fail "$1: the daemon did not reach the journal's sync"
	kill_outbox "$M"
	fault_off fsync-kill-spool
	grep -q "^fsync-kill-spool 0 $SP/journal\$" "$FAULT_CTL/hits" ||
		fail "$1: the kill was not at the journal's sync: $(cat "$FAULT_CTL/hits")"
	spool_file "$1"
}
rename_crash rwhole
sent_whole rwhole
note "renamed, whole: sent once under its new name"
rename_crash rzero
size=$(stat -c %s "$FILE")
dd if=/dev/zero of="$FILE" bs=1 seek=100 count=300 conv=notrunc status=none
mount_outbox "$M" "$T/config"
not_sent rzero "its bytes differ"
note "renamed, a block zeroed: a draft with the reason, not sent"

# --- random rounds ----------------------------------------------------------
ROUNDS=${COMMIT_ROUNDS:-8}
SEED=${COMMIT_SEED:-$((RANDOM * 32768 + RANDOM))}
note "random rounds: $ROUNDS, seed $SEED (COMMIT_SEED=$SEED replays them)"
RANDOM=$SEED
damaged=()
for ((i = 1; i <= ROUNDS; i++)); do
	umount_outbox "$M"
	mount_outbox "$M" "$T/config"
	crash_at_commit "r$i"
	size=$(stat -c %s "$FILE")
	case $((RANDOM % 4)) in
	0)
		sent_whole "r$i"
		note "round $i: whole: sent once";;
	1)
		len=$((RANDOM % size))
		truncate -s "$len" "$FILE"
		mount_outbox "$M" "$T/config"
		is_draft "r$i" "$len bytes of $size)"
		damaged+=("r$i")
		note "round $i: cut to $len of $size bytes: a draft";;
	2)
		off=$((RANDOM % size))
		n=$((RANDOM % 512 + 1))
		((n > size - off)) && n=$((size - off))
		dd if=/dev/zero of="$FILE" bs=1 seek="$off" count="$n" conv=notrunc status=none
		mount_outbox "$M" "$T/config"
		is_draft "r$i" "its bytes differ"
		damaged+=("r$i")
		note "round $i: $n bytes zeroed at $off: a draft";;
	3)
		rm -f "$FILE"
		mount_outbox "$M" "$T/config"
		assert_missing "$M/r$i"
		assert_contains "$(outbox_log "$M")" "set aside" "daemon log"
		damaged+=("r$i")
		note "round $i: the file gone: set aside";;
	esac
done
# none of the damaged ones goes out, also after a later message has
msg last >"$M/last"
wait_state "$M/last.status" sent 15
for n in "${damaged[@]}"; do
	assert_eq 0 "$(eml_with "$T/rx" "Subject: commit $n"$'\r' | grep -c .)" "copies of $n received"
done

umount_outbox "$M"
exit 0
