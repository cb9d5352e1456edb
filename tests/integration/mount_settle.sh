#!/usr/bin/env bash
# The settle time after the last close: a file opened for writing again
# within it goes back to draft, and the message is sent once, with its
# final content. Held open by one process while another appends, it is
# not submitted before the last handle closes.
. "$(dirname "$0")/../lib.sh" || exit 1

# A long settle, so the reopen below falls inside it on a loaded machine.
outbox_start -o settle=1500

printf 'To: bob@example.com\nSubject: settle\n\nfirst\n' >"$M/m"
sleep 0.2
echo second >>"$M/m"
sleep 0.2
echo third >>"$M/m"
wait_state "$M/m.status" sent 20
eml=$(one_eml_with "$T/rx" "Subject: settle") || exit 1
assert_body "$eml" "first
second
third"
note "reopened within settle: sent once with the final content"

# Two handles: the first close does not submit.
exec 8>>"$M/two"   # O_APPEND: the child appends too
printf 'To: bob@example.com\nSubject: two handles\n\n' >&8
sh -c 'echo from a child >>"$1"' sh "$M/two"
sleep 2   # past settle: only the child's handle was closed
s=$(status_state "$M/two.status")
assert_eq draft "$s" "state while a handle is still open"
echo last line >&8
exec 8>&-
wait_state "$M/two.status" sent 20
eml=$(one_eml_with "$T/rx" "Subject: two handles") || exit 1
assert_body "$eml" "from a child
last line"
exit 0
