#!/usr/bin/env bash
# A message with Attach: lines is expanded when it is submitted, and its
# file replaced by the expansion (outboxfs(1), Attachments). The
# expansion is made durable and recorded with its check before it
# replaces the file, so no crash can leave the expansion in place with a
# record of the original's bytes (which a mount takes for lost bytes: not
# sent, "write it again").
#  - the journal is full when the message is submitted, then kill -9: a
#    mount finds the original as its record says, expands it, sends it
#    once;
#  - kill -9 just before the expansion replaces the file, its record
#    durable: a mount puts the expansion in place and sends it once;
#  - the disk full as the expansion is written: the message stays a
#    draft (never queued with its Attach: lines, which a send does not
#    expand), submitted again, sent once.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
fault_setup "$T/ctl"
# what the spool could not do is tried again after 1 s, not 5
lib_daemon_env+=("OUTBOXFS_SPOOL_RETRY=1")
outbox_start -t "$T" -c "settle 1500ms"
SP=$T/spool
printf 'attachment payload %s\n' $(seq 1 50) >"$T/att.txt"
payload=$(base64 -w0 <"$T/att.txt" | head -c 40)

# check_sent NAME SUBJECT: NAME sent, received once, with the attachment;
# nothing left in corrupt/ or as an expansion in msg/
check_sent()
{
	local got
	wait_state "$M/$1.status" sent 20
	got=$(one_eml_with "$T/rx" "Subject: $2") || exit 1
	grep -q 'Content-Type: multipart/mixed' "$got" || fail "$1 arrived without its MIME parts"
	tr -d '\r\n' <"$got" | grep -qF "$payload" || fail "$1 arrived without the attached file"
	assert_eq "" "$(ls "$SP/corrupt")" "files set aside in corrupt/"
	assert_eq "" "$(ls -A "$SP/msg" | grep '^\.att')" "expansions left in msg/"
}

# --- the journal full at the submission, then kill -9 ------------------------
printf 'To: bob@example.com\nSubject: attach full\nAttach: %s\n\nbody\n' "$T/att.txt" >"$M/x" ||
	fail "writing x"
# its closed record is written at the release; then the disk fills
fault_on write-enospc-journal
_x_err() { grep -q '^error: spool: ' "$M/x.status"; }
wait_until 15 _x_err || fail "x: no error line with the journal full:
$(cat "$M/x.status")"
note "x: $(grep '^error:' "$M/x.status")"
kill_outbox "$M"
fault_off write-enospc-journal
mount_outbox "$M" "$T/config"
check_sent x "attach full"
note "x: the journal full at its submission, kill -9: sent once after the mount"

# --- kill -9 just before the expansion replaces the file -------------------------
fault_on rename-kill-name ".att"
printf 'To: bob@example.com\nSubject: attach crash\nAttach: %s\n\nbody\n' "$T/att.txt" >"$M/y" ||
	fail "writing y"
_dead() { ! kill -0 "$OUTBOX_PID" 2>/dev/null; }
wait_until 15 _dead || fail "the daemon was not killed at the rename of the expansion"
grep -q "^rename-kill-name 0 .*\.att" "$FAULT_CTL/hits" || fail "the kill was not at the expansion's rename: $(cat "$FAULT_CTL/hits")"
kill_outbox "$M"
fault_off rename-kill-name
mount_outbox "$M" "$T/config"
check_sent y "attach crash"
note "y: killed as its expansion was to replace it: the mount put it in place; sent once"

# --- the disk full as the expansion is written: a draft, submitted again ----
printf 'To: bob@example.com\nSubject: attach again\nAttach: %s\n\nbody\n' "$T/att.txt" >"$M/.z" ||
	fail "writing .z"
# the disk fills for msg/; then z arrives whole (a rename: submitted at once)
fault_on write-enospc-spool "$SP/msg"
mv "$M/.z" "$M/z" || fail "mv .z z"
_z_err() { grep -q '^error: spool: the message could not be expanded with its attachments (No space left on device)' "$M/z.status"; }
wait_until 15 _z_err || fail "z: no error line for the expansion the full disk refused:
$(cat "$M/z.status")"
assert_eq draft "$(status_state "$M/z.status")" "state of z with the disk full"
fault_off write-enospc-spool
check_sent z "attach again"
note "z: the disk full at its expansion: a draft, then expanded and sent once"
san_check
exit 0
