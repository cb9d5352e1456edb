#!/usr/bin/env bash
# A message whose file could not be synced keeps the check of the bytes
# that sync was for until its copy is made (see fault_sync_retry): the
# copy must match it, or the message is not sent. Nothing in between may
# replace that check with one read from the file, whose pages may be
# dropped and read back from a disk that never had them:
#  - opened for writing without a write (`: >>`, touch) before the
#    retry, then its pages dropped: its copy does not match the kept
#    check; not sent, its status says its bytes were lost;
#  - its copy cannot be made (a full disk), then its pages dropped: the
#    same at the next retry;
#  - appended to before the retry: part of it may be lost bytes, and no
#    check says which: not sent, its status says why; written again
#    whole, it is sent once, as written;
#  - the writer's own fsync(2) fails, and it writes a byte in the middle
#    after it, or had before it (no check then of what the file was):
#    not sent, its status says why;
#  - a reader's fsync of a sent message fails: nothing changes.
# The shim makes a sync of a file whose sync failed return 0 without
# syncing, as Linux does, and counts it ("fsync-after-eio"): there must
# be none.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
fault_setup "$T/ctl"
# retries after 3 s: each open below comes before its message's retry
lib_daemon_env+=("OUTBOXFS_SPOOL_RETRY=3")
outbox_start -t "$T"
SP=$T/spool

no_retried_sync()
{
	[ "$(fault_hits fsync-after-eio)" = 0 ] || fail "a file whose sync failed was synced again and trusted ($1):
$(grep '^fsync-after-eio' "$FAULT_CTL/hits")"
}
# failed_sync NAME SUBJECT: NAME written (300 lines), the sync of its
# file fails once; returns when its status says so
failed_sync()
{
	: >"$FAULT_CTL/eio-inodes"
	printf 'To: bob@example.com\nSubject: %s\n\n%s\n' "$2" "$(seq 1 300)" \
		>"$T/$1.src"
	fault_on fsync-eio-once-text "Subject: $2"
	cp "$T/$1.src" "$M/$1" || fail "writing $1"
	FS_NAME=$1
	_fs_err() { grep -q '^error: spool: the message and its record could not be synced' "$M/$FS_NAME.status"; }
	wait_until 10 _fs_err || fail "$1: no error line after the failed sync:
$(cat "$M/$1.status")
hits: $(cat "$FAULT_CTL/hits" 2>/dev/null)"
	fault_off fsync-eio-once-text
}
# lost NAME: its status says its bytes were lost
lost() { grep -q "^error: spool: this message's bytes were lost" "$M/$1.status"; }
received() { eml_with "$T/rx" "Subject: $1" | grep -c .; }

# --- opened for writing, nothing written, then its pages dropped -------------
failed_sync j "reopen touch"
fault_on read-lost-eio
: >>"$M/j" || fail ": >> j"
wait_until 15 lost j || fail "j: its copy was not found lost:
$(cat "$M/j.status")"
assert_eq draft "$(status_state "$M/j.status")" "state of j"
[ "$(fault_hits read-lost-eio)" -ge 1 ] || fail "the lost pages of j were never read"
fault_off read-lost-eio
note "j: opened for writing after its failed sync: $(grep '^error:' "$M/j.status")"

# --- its copy cannot be made, then its pages dropped -------------------------
failed_sync k "reopen copy full"
fault_on write-enospc-spool "$SP/msg"
_k_full() { grep -q '^error: spool: the message could not be copied to a new file after a failed sync (No space left on device)' "$M/k.status"; }
wait_until 15 _k_full || fail "k: no error line for the copy it could not make:
$(cat "$M/k.status")"
fault_off write-enospc-spool
fault_on read-lost-eio
wait_until 15 lost k || fail "k: its copy was not found lost:
$(cat "$M/k.status")"
assert_eq draft "$(status_state "$M/k.status")" "state of k"
fault_off read-lost-eio
note "k: its copy failed (ENOSPC), then: $(grep '^error:' "$M/k.status")"

# --- appended to before its retry ---------------------------------------------
failed_sync l "reopen append"
printf 'appended\n' >>"$M/l" || fail ">> l"
_l_lost() { grep -q "^error: spool: this message's bytes may be lost: .*changed in place" "$M/l.status"; }
wait_until 10 _l_lost || fail "l: appended after its failed sync, not found lost:
$(cat "$M/l.status")"
assert_eq draft "$(status_state "$M/l.status")" "state of l"
note "l: appended after its failed sync: $(grep '^error:' "$M/l.status")"
# a touch does not send it; kill -9 and a mount keep it so (its record)
touch "$M/l" || fail "touch l"
sleep 1     # ten times the settle time
assert_eq draft "$(status_state "$M/l.status")" "state of l touched"

# --- the writer's own fsync fails; it writes on, not in order ---------------
# m: written in order, its fsync fails, then a byte in the middle; n: a
# byte in the middle first, then its fsync fails. Neither is sent: m was
# changed in place after its failed sync, n has no check of what it was.
# (Its pages dropped after the close: nothing may read them for a check.)
for c in m n; do
	: >"$FAULT_CTL/eio-inodes"
	fault_on fsync-eio-once-text "Subject: reopen fsync $c"
	"$PY" - "$M/$c" "$c" "$FAULT_CTL" <<'PYEOF' || fail "the writer of $c failed"
import os, sys
path, case, ctl = sys.argv[1:4]
body = b"To: bob@example.com\nSubject: reopen fsync %s\n\n" % case.encode() + \
    b"".join(b"%d\n" % i for i in range(1, 301))
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, body)
if case == "n":
    os.pwrite(fd, b"9", len(body) - 2)
try:
    os.fsync(fd)
    sys.exit("the fsync of %s did not fail" % case)
except OSError:
    pass
if case == "m":
    os.pwrite(fd, b"9", len(body) - 2)
open(os.path.join(ctl, "read-lost-eio"), "w").close()
os.close(fd)
PYEOF
	C=$c
	_c_lost() { grep -q "^error: spool: this message's bytes may be lost" "$M/$C.status"; }
	wait_until 10 _c_lost || fail "$c: not found lost after its failed fsync:
$(cat "$M/$c.status")"
	assert_eq draft "$(status_state "$M/$c.status")" "state of $c"
	fault_off read-lost-eio
	note "$c: $(grep '^error:' "$M/$c.status")"
done

assert_eq 0 "$(received "reopen touch")" "copies of j received"
assert_eq 0 "$(received "reopen copy full")" "copies of k received"
assert_eq 0 "$(received "reopen append")" "copies of l received"
assert_eq 0 "$(received "reopen fsync m")" "copies of m received"
assert_eq 0 "$(received "reopen fsync n")" "copies of n received"
no_retried_sync "j k l"
# (j and k: their closed records stand; the mount copies their files
# and compares them with those checks: the disk behind the shim has
# their bytes, so they may go then, whole and once)
kill_outbox "$M"
mount_outbox "$M" "$T/config"
assert_eq draft "$(status_state "$M/l.status")" "state of l after kill -9"
touch "$M/l" || fail "touch l after the mount"
# written again whole: sent once, as written this time
cp "$T/l.src" "$M/l" || fail "writing l again"
wait_state "$M/l.status" sent 20
got=$(one_eml_with "$T/rx" "Subject: reopen append") || exit 1
tr -d '\r' <"$got" | tail -n 1 | grep -qx 300 || fail "l arrived not as written again: $(tail -n 2 "$got")"
note "l: written again whole after the mount: sent once"

for s in "reopen touch" "reopen copy full"; do
	for f in $(eml_with "$T/rx" "Subject: $s"); do
		tr -d '\r' <"$f" | tail -n 1 | grep -qx 300 ||
			fail "$s arrived cut after the mount: $(tail -n 2 "$f")"
	done
	[ "$(received "$s")" -le 1 ] || fail "$s arrived $(received "$s") times"
done
no_retried_sync "after the mount"

# --- a reader's fsync of a sent message fails: nothing to say of it --------
: >"$FAULT_CTL/eio-inodes"
fault_on fsync-eio-once-text "Subject: reopen append"
"$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    os.fsync(fd)
    sys.exit("the fsync did not fail")
except OSError:
    pass' "$M/l" || fail "the reader of l"
fault_off fsync-eio-once-text
assert_eq sent "$(status_state "$M/l.status")" "state of l after a reader's failed fsync"
grep -q '^error:' "$M/l.status" && fail "l, sent, got an error line from a reader's failed fsync:
$(cat "$M/l.status")"
note "l, sent: a reader's failed fsync changes nothing"

san_check
exit 0
