#!/usr/bin/env bash
# poll(2) on an open NAME.status wakes when the status changes, and
# reading it again from the start gives the new text: a script can wait
# for a message without a loop of cat and sleep.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -- --reply 'RCPT#1=451 4.7.1 later'
printf 'To: bob@example.com\nSubject: poll\n\nbody\n' >"$M/p"
wait_state "$M/p.status" deferred 20

"$PY" - "$M/p.status" >"$T/poll.out" 2>&1 <<'PYEOF' &
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
first = os.read(fd, 65536).decode().splitlines()[0]
print("before:", first, flush=True)
p = select.poll()
p.register(fd, select.POLLIN)
seen = []
# wake on each change until the state is final (bounded: 20 waits of 5 s)
for _ in range(20):
    ev = p.poll(5000)
    if not ev:
        print("timeout", flush=True)
        continue
    os.lseek(fd, 0, os.SEEK_SET)
    state = os.read(fd, 65536).decode().splitlines()[0]
    if state not in seen:
        seen.append(state)
        print("woke:", state, flush=True)
    if state == "state: sent":
        break
PYEOF
PYPID=$!
register_pid "$PYPID"
_ready() { grep -q '^before:' "$T/poll.out"; }
wait_until 10 _ready || fail "the poller did not start: $(cat "$T/poll.out")"
touch "$M/p"
wait_gone "$PYPID" 60 || fail "poll never saw the message sent: $(cat "$T/poll.out")"
assert_file_contains "$T/poll.out" "before: state: deferred"
assert_file_contains "$T/poll.out" "woke: state: sent"
grep -q '^timeout' "$T/poll.out" && fail "poll timed out before the change: $(cat "$T/poll.out")"
note "poll(2) woke at the change; read again from 0: state: sent"
san_check
exit 0
