#!/usr/bin/env bash
# The commit cannot open a message file (the descriptor table is full):
# the file cannot be read for its check nor synced, so the message is
# never shown queued. It stays a draft whose error: line says why and
# when it is tried again; once files open again it is sent, once.
# A message renamed from a scratch name has no writer's descriptor left
# for the committer, so the commit's own open is the one that fails.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
fault_setup "$T/ctl"
outbox_start -t "$T"
SP=$T/spool

printf 'To: bob@example.com\nSubject: commit open\n\nopened at last\n' >"$M/.x" ||
	fail "writing .x"
fault_on open-emfile-spool "$SP/msg"
mv "$M/.x" "$M/x" || fail "mv .x x"
_refused() { grep -q '^error: .*could not be opened to make it durable' "$M/x.status"; }
wait_until 15 _refused || fail "x: no error line about the open:
$(cat "$M/x.status")
hits: $(cat "$FAULT_CTL/hits" 2>/dev/null)"
assert_eq draft "$(status_state "$M/x.status")" "state of x while its file cannot be opened"
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

umount_outbox "$M"
san_check
exit 0
