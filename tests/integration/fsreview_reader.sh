#!/usr/bin/env bash
# A reader holding a just-written message open past the settle time (a
# pager, an indexer) delays its submission; the reader's close then
# submits it. It must not stay a draft forever.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start

printf 'To: bob@example.com\nSubject: read while settling\n\nx\n' >"$M/r1"
exec 3<"$M/r1"
sleep 1
assert_eq draft "$(status_state "$M/r1.status")" "state while a reader has it open"
exec 3<&-
wait_state "$M/r1.status" sent 20
one_eml_with "$T/rx" "Subject: read while settling" >/dev/null || exit 1
note "a reader open past the settle time: sent after its close"
san_check
exit 0
