#!/usr/bin/env bash
# After a failed fsync, Linux marks the file's pages clean and reports
# the error once: a sync tried again on that file returns 0 whether or
# not its bytes ever reach the disk. So a file (or journal) whose sync
# failed is never synced again to make it durable: its bytes are
# written to a new file, synced, which replaces it.
#  - A message file's sync fails once: the message stays a draft, is
#    submitted again 5 s later from a new file, and is sent once.
#  - The same, and its pages are dropped meanwhile (reads give what the
#    disk has: zeros): the copy does not match the check of the closed
#    file, so it is not sent, and its status says why; written again,
#    it is sent.
#    Opening it (touch, an append), renaming it, a restart do not
#    change that: only writing it again whole does.
#  - kill -9 before that retry: the mount copies the file too; when it
#    cannot (a full disk), it fails and changes nothing.
#  - The user's own fsync(2) fails: the daemon's later sync would prove
#    nothing either, so the message is copied.
#  - The journal's sync fails once: a new journal is written from
#    memory before anything more is reported durable; the message is
#    sent once. While that rewrite fails too, every sync fails.
#  - A sync of the msg/ directory fails: nothing more is durable until
#    the next mount.
#    After kill -9 a mount finds every state.
# The shim makes a sync of a file whose sync failed return 0 without
# syncing, as Linux does, and counts it ("fsync-after-eio"): there must
# be none.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
fault_setup "$T/ctl"
# retries of what the spool could not make durable: after 1 s, not 5,
# but where a kill must come before the retry (retry_default)
shim_env=("${lib_daemon_env[@]}")
retry_fast() { lib_daemon_env=("${shim_env[@]}" "OUTBOXFS_SPOOL_RETRY=1"); }
retry_default() { lib_daemon_env=("${shim_env[@]}"); }
retry_fast
outbox_start -t "$T"
SP=$T/spool

# listed: the inodes whose sync failed ("DEV INO" of each line)
listed() { cut -d' ' -f1,2 "$FAULT_CTL/eio-inodes" 2>/dev/null; }
# inode_of FILE: "DEV INO" as the shim lists them
inode_of() { stat -c '%d %i' "$1"; }
# batch_fails: the batches this mount could not make durable (logged)
batch_fails() { outbox_log "$M" | grep -c 'spool: making the batch durable'; }
# commit_fails: the records this mount could not make durable (logged)
commit_fails() { outbox_log "$M" | grep -c 'spool: committing the journal'; }
no_retried_sync()
{
	[ "$(fault_hits fsync-after-eio)" = 0 ] || fail "a file whose sync failed was synced again and trusted ($1):
$(grep '^fsync-after-eio' "$FAULT_CTL/hits")"
}
# spool_file SUBJECT: the spool file holding that Subject (one)
spool_file()
{
	local f
	f=$(grep -lF "Subject: $1" "$SP"/msg/[0-9]* 2>/dev/null)
	[ -n "$f" ] && [ "$(printf '%s\n' "$f" | wc -l)" = 1 ] ||
		fail "$1: not one spool file: [$f]"
	printf '%s\n' "$f"
}

# --- a message file's sync fails once ---------------------------------------
printf 'To: bob@example.com\nSubject: retry copy\n\n%s\n' "$(seq 1 300)" >"$T/a.src"
fault_on fsync-eio-once-text "Subject: retry copy"
cp "$T/a.src" "$M/a" || fail "writing a"
_a_err() { grep -q '^error: spool: the message and its record could not be synced' "$M/a.status"; }
wait_until 15 _a_err || fail "a: no error line after the failed sync:
$(cat "$M/a.status")
hits: $(cat "$FAULT_CTL/hits" 2>/dev/null)"
assert_eq draft "$(status_state "$M/a.status")" "state of a after the failed sync"
[ "$(fault_hits fsync-eio-once-text)" = 1 ] || fail "the sync of a failed $(fault_hits fsync-eio-once-text) times, not once"
fault_off fsync-eio-once-text
bad=$(listed)
note "a: its sync failed (inode $bad): $(grep '^error:' "$M/a.status")"
wait_state "$M/a.status" sent 20
no_retried_sync "a"
[ "$(inode_of "$(spool_file "retry copy")")" != "$bad" ] ||
	fail "a was sent from the file whose sync failed (inode $bad)"
got=$(one_eml_with "$T/rx" "Subject: retry copy") || exit 1
tr -d '\r' <"$got" | grep -qx 300 || fail "a arrived without its last line: $(tail -n 3 "$got")"
assert_not_contains "$(cat "$M/a.status")" "could not be synced" "status of a once sent"
note "a: copied to a new file, synced, sent once"

# --- the same, and the pages are lost before the retry ----------------------
: >"$FAULT_CTL/eio-inodes"
printf 'To: bob@example.com\nSubject: retry lost\n\n%s\n' "$(seq 1 300)" >"$T/b.src"
fault_on fsync-eio-once-text "Subject: retry lost"
fault_on read-lost-eio
cp "$T/b.src" "$M/b" || fail "writing b"
_b_lost() { grep -q "^error: spool: this message's bytes were lost" "$M/b.status"; }
wait_until 20 _b_lost || fail "b: no error line saying its bytes were lost:
$(cat "$M/b.status")
hits: $(cat "$FAULT_CTL/hits" 2>/dev/null)"
fault_off fsync-eio-once-text
assert_eq draft "$(status_state "$M/b.status")" "state of b with its bytes lost"
[ "$(fault_hits read-lost-eio)" -ge 1 ] || fail "the lost pages were never read"
no_retried_sync "b"
note "b: $(grep '^error:' "$M/b.status")"
# it stays so: not submitted again by itself, nor by an open for
# writing that does not write it whole
touch "$M/b" || fail "touch b"
: >>"$M/b" || fail ": >> b"
sleep 3    # three retry times
assert_eq draft "$(status_state "$M/b.status")" "state of b 3 s later, touched"
_b_lost || fail "b: the error line is gone:
$(cat "$M/b.status")"
assert_eq 0 "$(eml_with "$T/rx" "Subject: retry lost" | grep -c .)" "copies of b received with its bytes lost"
# renamed, the daemon killed, mounted again: it is still lost (its
# record says so), and a touch still does not send it
mv "$M/b" "$M/b2" || fail "mv b b2"
kill_outbox "$M"
retry_default
mount_outbox "$M" "$T/config"
assert_eq draft "$(status_state "$M/b2.status")" "state of b2 after kill -9"
touch "$M/b2" || fail "touch b2"
sleep 2    # twenty times the settle time
assert_eq draft "$(status_state "$M/b2.status")" "state of b2 touched after the mount"
assert_eq 0 "$(eml_with "$T/rx" "Subject: retry lost" | grep -c .)" "copies of b2 received with its bytes lost"
no_retried_sync "b2 after the mount"
note "b renamed b2, kill -9, mount, touch: still a draft, not sent"
# written again (the disk reads again): sent, once, whole
fault_off read-lost-eio
cp "$T/b.src" "$M/b2" || fail "writing b2 again"
wait_state "$M/b2.status" sent 20
got=$(one_eml_with "$T/rx" "Subject: retry lost") || exit 1
tr -d '\r' <"$got" | grep -qx 300 || fail "b2 arrived without its last line"
no_retried_sync "b2 written again"
note "b2 written again: sent once"

# killed_after_failed_sync NAME SUBJECT: NAME arrives whole (renamed from
# a scratch name), the sync of its file fails once, and the daemon is
# killed before the retry 5 s later
killed_after_failed_sync()
{
	: >"$FAULT_CTL/eio-inodes"
	printf 'To: bob@example.com\nSubject: %s\n\n%s\n' "$2" "$(seq 1 300)" \
		>"$M/$1.src.tmp" || fail "writing $1"
	fault_on fsync-eio-once-text "Subject: $2"
	mv "$M/$1.src.tmp" "$M/$1" || fail "mv $1"
	KF_NAME=$1
	_kf_err() { grep -q '^error: spool: the message and its record could not be synced' "$M/$KF_NAME.status"; }
	wait_until 4 _kf_err || fail "$1: no error line after the failed sync:
$(cat "$M/$1.status")"
	kill_outbox "$M"
}

# --- kill -9 before the retry: the mount copies it -----------------------
killed_after_failed_sync e "retry crash"
mount_outbox "$M" "$T/config"
wait_state "$M/e.status" sent 20
no_retried_sync "e, at the mount after kill -9"
[ "$(inode_of "$(spool_file "retry crash")")" != "$(listed)" ] ||
	fail "e was sent from the file whose sync failed"
one_eml_with "$T/rx" "Subject: retry crash" >/dev/null || exit 1
note "e: killed within its 5 s; the mount copied it; sent once"

# --- the mount cannot make the copy (a full disk): it fails, changing nothing
killed_after_failed_sync h "retry full"
cp "$SP/journal" "$T/journal.before"
fault_on write-enospc-spool "$SP/msg"
if try_mount_outbox "$M" "$T/config"; then
	fail "outboxfs mounted though it could not copy h to make it durable"
fi
assert_contains "$(cat "$TRY_LOG")" "making it durable: cannot copy it to a new file: No space left on device" "the mount's error"
assert_contains "$(cat "$TRY_LOG")" "free some space" "the mount's error"
cmp -s "$T/journal.before" "$SP/journal" || fail "the refused mount changed the journal"
fault_off write-enospc-spool
retry_fast
mount_outbox "$M" "$T/config"
wait_state "$M/h.status" sent 20
no_retried_sync "h, mounted once the disk had room"
one_eml_with "$T/rx" "Subject: retry full" >/dev/null || exit 1
note "h: the mount could not copy it (ENOSPC): refused, nothing changed; then sent once"

# --- the user's fsync fails ---------------------------------------------------
: >"$FAULT_CTL/eio-inodes"
printf 'To: bob@example.com\nSubject: retry fsync\n\n%s\n' "$(seq 1 300)" >"$T/f.src"
fault_on fsync-eio-once-text "Subject: retry fsync"
dd if="$T/f.src" of="$M/f" conv=fsync status=none 2>"$T/dd.err" &&
	fail "dd conv=fsync into f succeeded: its fsync was to fail"
assert_contains "$(cat "$T/dd.err")" "Input/output error" "dd's error"
wait_state "$M/f.status" sent 20
no_retried_sync "f, after the user's fsync failed"
one_eml_with "$T/rx" "Subject: retry fsync" >/dev/null || exit 1
note "f: the user's fsync failed; copied, sent once"

# --- the journal's sync fails once ------------------------------------------
: >"$FAULT_CTL/eio-inodes"
jino=$(inode_of "$SP/journal")
fault_on fsync-eio-once-journal
printf 'To: bob@example.com\nSubject: retry journal\n\nj\n' >"$M/c" || fail "writing c"
_c_err() { grep -q '^error: spool: the message and its record could not be synced' "$M/c.status"; }
wait_until 15 _c_err || fail "c: no error line after the journal's failed sync:
$(cat "$M/c.status")
hits: $(cat "$FAULT_CTL/hits" 2>/dev/null)"
fault_off fsync-eio-once-journal
[ "$(fault_hits fsync-eio-once-journal)" = 1 ] || fail "the journal's sync failed $(fault_hits fsync-eio-once-journal) times, not once"
wait_state "$M/c.status" sent 20
no_retried_sync "the journal"
[ "$(inode_of "$SP/journal")" != "$jino" ] ||
	fail "the journal whose sync failed is still the journal"
one_eml_with "$T/rx" "Subject: retry journal" >/dev/null || exit 1
note "c: the journal written again from memory, c sent once"

# --- the journal's sync fails once, and so does its rewrite -------------
: >"$FAULT_CTL/eio-inodes"
fault_on write-enospc-spool "$SP/journal.new"
fault_on fsync-eio-once-journal
n0=$(batch_fails)
printf 'To: bob@example.com\nSubject: retry rewrite\n\ng\n' >"$M/g" || fail "writing g"
_g_err() { grep -q '^error: spool: the message and its record could not be synced' "$M/g.status"; }
wait_until 15 _g_err || fail "g: no error line after the journal's failed sync:
$(cat "$FAULT_CTL/hits")"
# g is tried again while the journal still cannot be written again: that
# batch fails too, with no sync of the old journal
_g_retried() { [ "$(batch_fails)" -ge $((n0 + 2)) ] || [ "$(status_state "$M/g.status")" != draft ]; }
wait_until 15 _g_retried || fail "g: no retry seen in the log: $(outbox_log "$M")"
_two_rewrites() { [ "$(fault_hits write-enospc-spool)" -ge 2 ]; }
wait_until 15 _two_rewrites || fail "the journal was not written again: $(cat "$FAULT_CTL/hits")"
assert_eq draft "$(status_state "$M/g.status")" "state of g while the journal cannot be written again"
no_retried_sync "the journal, while its rewrite fails"
fault_off write-enospc-spool
wait_state "$M/g.status" sent 20
no_retried_sync "the journal, rewritten at last"
one_eml_with "$T/rx" "Subject: retry rewrite" >/dev/null || exit 1
note "g: no sync while the journal could not be written again; then sent once"

# --- a sync of the msg/ directory fails: nothing is durable until a mount -
# (an attachment: its expansion renames a file in msg/, which the batch
# then syncs)
printf 'attached\n' >"$T/i.txt"
c0=$(commit_fails)
fault_on fsync-eio-dir "$SP/msg"
printf 'To: bob@example.com\nSubject: retry dir\nAttach: %s\n\ni\n' "$T/i.txt" >"$M/i" ||
	fail "writing i"
# (its expansion's name is synced first: that sync is the one that fails)
_i_err() { grep -q '^error: spool: the message could not be expanded with its attachments (Input/output error)' "$M/i.status"; }
wait_until 15 _i_err || fail "i: no error line after the directory's failed sync:
$(cat "$M/i.status")
hits: $(grep fsync-eio-dir "$FAULT_CTL/hits")"
fault_off fsync-eio-dir
# its retry a second later fails too: the directory would sync now, and that
# would prove nothing
_i_retried() { [ "$(commit_fails)" -ge $((c0 + 2)) ] || [ "$(status_state "$M/i.status")" != draft ]; }
wait_until 15 _i_retried || fail "i: no retry seen in the log: $(outbox_log "$M")"
assert_eq draft "$(status_state "$M/i.status")" "state of i after its retry, the directory syncing again"
outbox_log "$M" | grep -q "msg: the directory could not be synced (Input/output error): nothing more is reported durable; check the disk and mount again" ||
	fail "no log line about the directory: $(outbox_log "$M")"
umount_outbox "$M"
mount_outbox "$M" "$T/config"
wait_state "$M/i.status" sent 20
one_eml_with "$T/rx" "Subject: retry dir" >/dev/null || exit 1
note "i: the directory's sync failed: a draft until the next mount, then sent once"

# a crash now: every state as it was, nothing sent again
printf 'To: bob@example.com\nSubject: retry after\n\nd\n' >"$M/d"
wait_state "$M/d.status" sent 15
kill_outbox "$M"
mount_outbox "$M" "$T/config"
for f in a b2 c d e f g h i; do
	assert_eq sent "$(status_state "$M/$f.status")" "state of $f after kill -9"
done
sleep 1
assert_eq 9 "$(count_eml "$T/rx")" "messages received in all"
no_retried_sync "after the mount"
note "after kill -9 and a mount: a b2 c d e f g h i sent, 9 received"
