#!/usr/bin/env bash
# A write that fails (a full disk) leaves a message that may be cut
# short: it is never sent as it is, also when the writer goes on and
# appends the rest, when it is renamed from a scratch name, and after a
# remount; its status says why. Written
# again whole (> truncates it, also > then >>), it is sent, whole. The disk is made full
# for message files only (the fault shim's ENOSPC on spool/msg), so the
# journal still takes the records that say so. Last, a mount with no
# room for its new journal is refused with a line saying what to do, and
# changes nothing.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
fault_setup "$T/ctl"
outbox_start -t "$T"

msg_head() { printf 'To: bob@example.com\nSubject: %s\n\nfirst part of %s\n' "$1" "$1"; }
lost_error() { grep -q '^error: a write to this message failed (No space left on device)' "$1"; }
# fail_midway FILE NAME: FILE made, its first lines written, then a write
# with the disk full (it must fail), then room again; FILE stays open on
# descriptor 3.
fail_midway()
{
	exec 3>"$1" || fail "cannot create $1"
	msg_head "$2" >&3 || fail "the first write of $2 failed"
	fault_on write-enospc-spool "$T/spool/msg"
	printf 'second part of %s\n' "$2" >&3 2>/dev/null &&
		fail "a write with the spool's disk full worked (faults met: $(fault_hits))"
	fault_off write-enospc-spool
}

# --- cut: the disk fills between two writes of one writer -----------------------
fail_midway "$M/cut" cut
[ "$(fault_hits write-enospc-spool)" -ge 1 ] || fail "the fault was not met"
printf 'THE END of cut\n' >&3 || fail "a write after room came back failed"
exec 3>&-
# an error line at once: the failed write said so before it returned
lost_error "$M/cut.status" || fail "cut.status has no error line after its failed write:
$(cat "$M/cut.status")"

# --- appended: the same, then the rest appended with >> ---------------------------
msg_head app >"$M/app.part"     # (a scratch name: .part is never sent)
fail_midway "$M/app" app
exec 3>&-
printf 'second part of app\nTHE END of app\n' >>"$M/app" || fail "the append to app failed"

# --- mvd: the same under a scratch name, then renamed (cat > .x; mv .x x) ------
fail_midway "$M/.mvd" mvd
exec 3>&-
mv "$M/.mvd" "$M/mvd" || fail "mv .mvd mvd failed"

# A message written after them, and sent: they were closed first, so
# had they been submitted they would have gone before or with it.
printf 'To: bob@example.com\nSubject: good\n\nTHE END of good\n' >"$M/good"
wait_state "$M/good.status" sent 20
for n in cut app mvd; do
	assert_eq draft "$(status_state "$M/$n.status")" "state of $n (a write failed)"
	lost_error "$M/$n.status" || fail "$n.status does not say why it is not sent:
$(cat "$M/$n.status")"
done
assert_eq 1 "$(count_eml "$T/rx")" "messages received (only good)"
note "a failed write: not sent, also with the rest appended or renamed from a scratch name; the status says why"

# --- a remount keeps it so -------------------------------------------------------
umount_outbox "$M"
mount_outbox "$M" "$T/config"
printf 'To: bob@example.com\nSubject: good2\n\nTHE END of good2\n' >"$M/good2"
wait_state "$M/good2.status" sent 20
for n in cut app mvd; do
	assert_eq draft "$(status_state "$M/$n.status")" "state of $n after a remount"
	lost_error "$M/$n.status" || fail "$n.status after a remount:
$(cat "$M/$n.status")"
done
assert_eq 2 "$(count_eml "$T/rx")" "messages received after the remount (good, good2)"
note "after a remount: still not sent, still says why"

# --- written again whole: sent, whole -----------------------------------------------
for n in cut mvd; do
	{ msg_head "$n"; printf 'second part of %s\nTHE END of %s\n' "$n" "$n"; } >"$M/$n" ||
		fail "rewriting $n failed"
done
# app as scripts build a file: > then >> (within the settle time)
msg_head app >"$M/app" || fail "rewriting app failed"
printf 'second part of app\nTHE END of app\n' >>"$M/app" || fail "appending to app failed"
for n in cut app mvd; do
	wait_state "$M/$n.status" sent 20
	grep -q '^error:' "$M/$n.status" && fail "$n.status still has an error line once sent:
$(cat "$M/$n.status")"
	eml=$(eml_with "$T/rx" "Subject: $n")
	[ "$(printf '%s\n' "$eml" | grep -c .)" = 1 ] || fail "$n received $(printf '%s\n' "$eml" | grep -c .) times"
	grep -q "THE END of $n" "$eml" || fail "$n was received without its end: $(cat "$eml")"
done
assert_eq 5 "$(count_eml "$T/rx")" "messages received in all"
note "written again whole: sent once, whole"

# --- a mount with no room for its new journal: refused, says what to do ------------
umount_outbox "$M"
fault_on write-enospc-journal
try_mount_outbox "$M" "$T/config" &&
	fail "mounted with no room for a new journal (faults met: $(fault_hits))"
assert_contains "$(cat "$TRY_LOG")" "No space left on device" "the refused mount's error"
assert_contains "$(cat "$TRY_LOG")" "free some space on the spool's file system" "the refused mount's error"
fault_off write-enospc-journal
mount_outbox "$M" "$T/config"
for n in cut app mvd good good2; do
	assert_eq sent "$(status_state "$M/$n.status")" "state of $n after a refused mount"
done
assert_eq 5 "$(count_eml "$T/rx")" "messages received after a refused mount"
note "no room for a new journal: the mount is refused, says to free space; then all as before"
# --- a kill -9 before its close: its record said so at the failed write ----------
fail_midway "$M/early" early
kill_outbox "$M"          # its release never comes
exec 3>&-
mount_outbox "$M" "$T/config"
assert_eq draft "$(status_state "$M/early.status")" "state of early after kill -9"
lost_error "$M/early.status" || fail "early.status after kill -9:
$(cat "$M/early.status")"
touch "$M/early"          # a close: not a submission of it
printf 'To: bob@example.com\nSubject: good3\n\nTHE END of good3\n' >"$M/good3"
wait_state "$M/good3.status" sent 20
assert_eq draft "$(status_state "$M/early.status")" "state of early after touch"
assert_eq 6 "$(count_eml "$T/rx")" "messages received (early not among them)"
note "a kill -9 between the failed write and the close: still not sent after the remount"

# --- > then >> while it settles: sent, whole ------------------------------------------
# (a long settle time: the >> reopens it after the > was released)
umount_outbox "$M"
write_config "$T/config" "$OUTBOX_PORT" "settle 1500"
mount_outbox "$M" "$T/config"
fail_midway "$M/two" two
exec 3>&-
msg_head two >"$M/two" || fail "rewriting two failed"
sleep 0.3                 # (not a timing asserted: the > is released first)
printf 'second part of two\nTHE END of two\n' >>"$M/two" || fail "appending to two failed"
wait_state "$M/two.status" sent 20
grep -q "THE END of two" "$(eml_with "$T/rx" "Subject: two")" || fail "two was received without its end"
note "> then >> within the settle time after a failed write: sent, whole"
san_check
exit 0
