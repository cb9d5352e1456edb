#!/usr/bin/env bash
# Hostile input through a real mount: names with newlines, 255-byte and
# non-UTF-8 names (in .queue too), a write at a 1 TB offset (refused by
# max_size before anything reads it), many files in one directory with a
# listing that sees every one once, and an idle daemon that uses no CPU.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -c "max_size 1M"
PID=$OUTBOX_PID

# --- an idle daemon: no CPU ---------------------------------------------------
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
sleep 1
c0=$(cpu)
sleep 5
c1=$(cpu)
[ $((c1 - c0)) -le 2 ] || fail "idle daemon used $((c1 - c0)) ticks in 5 s"
note "idle 5 s: $((c1 - c0)) clock ticks of CPU"

# --- names ------------------------------------------------------------------------
nl=$'a\nb'
printf 'To: bob@example.com\nSubject: newline name\n\nx\n' >"$M/$nl" ||
	fail "a name with a newline was refused"
long=$(printf 'x%.0s' $(seq 1 248))
printf 'To: bob@example.com\nSubject: long name\n\nx\n' >"$M/$long" ||
	fail "a 248-byte name was refused"
# 249 .. 255 bytes: NAME.status would not fit NAME_MAX
long249=$(printf 'y%.0s' $(seq 1 249))
err=$( { printf 'x' >"$M/$long249"; } 2>&1 ) &&
	fail "a 249-byte name was accepted (its .status cannot be opened)"
assert_contains "$err" "File name too long" "create with a 249-byte name"
printf 'x' >"$M/.short" || fail "create .short"
mv "$M/.short" "$M/$long249" 2>/dev/null && fail "rename to a 249-byte name worked"
rm -f "$M/.short"
bad=$'\xff\xfe-bad'
printf 'To: bob@example.com\nSubject: non-utf8 name\n\nx\n' >"$M/$bad" ||
	fail "a non-UTF-8 name was refused"
wait_state "$M/$nl.status" sent 20
wait_state "$M/$long.status" sent 20
wait_state "$M/$bad.status" sent 20
q=$(cat "$M/.queue")
n=$(printf '%s\n' "$q" | wc -l)
# one line per message: a newline in a name never splits a line
[ "$n" -eq "$(printf '%s\n' "$q" | grep -c ' sent \| draft \| failed ')" ] ||
	fail ".queue lines are not one per message:
$q"
printf '%s\n' "$q" | grep -q "^$bad sent " || fail ".queue lacks the non-UTF-8 name:
$q"
outbox_log "$M" | grep -q "file=a?b" ||
	fail "the log line of a name with a newline is not one line"
note "names with a newline, 248 bytes, non-UTF-8: sent, .queue one line each"

# --- a write at a 1 TB offset ---------------------------------------------------
printf 'To: bob@example.com\nSubject: sparse\n\n' >"$M/.sparse"
if dd if=/dev/zero of="$M/.sparse" bs=1 count=1 seek=1T conv=notrunc \
	2>/dev/null; then
	mv "$M/.sparse" "$M/sparse"
	wait_state "$M/sparse.status" failed 20
	assert_line "$M/sparse.status" '^error: .*too large.*max_size'
	du_k=$(du -k "$T/spool" | tail -n1 | cut -f1)
	[ "$du_k" -lt 102400 ] || fail "the spool grew to $du_k KiB"
	note "1 TB offset: failed as too large, without reading it"
else
	note "1 TB offset: the write was refused"
fi
kill -0 "$PID" || fail "the daemon died"

# --- 10,000 files, listed while they change ------------------------------------
mkdir -p "$T/src"
for ((i = 0; i < 10000; i++)); do
	: >"$M/.d$i"
done
cnt=$(ls -A "$M" | grep -c '^\.d[0-9]*$')
assert_eq 10000 "$cnt" "scratch files listed"
# listings taken while files go away see no name twice (one rm for all:
# a process per file would cost more than the listings test)
( for ((i = 0; i < 10000; i += 2)); do printf '%s\0' "$M/.d$i"; done |
	xargs -0 rm -f ) &
rmpid=$!
dups=0 lists=0
while [ "$lists" = 0 ] || kill -0 "$rmpid" 2>/dev/null; do
	d=$(ls -A -f "$M" | grep "^\.d[0-9]*$" | sort | uniq -d | wc -l)
	dups=$((dups + d)) lists=$((lists + 1))
done
wait "$rmpid" || fail "removing half the files failed"
assert_eq 0 "$dups" "names listed twice during removals"
cnt=$(ls -A "$M" | grep -c '^\.d[0-9]*$')
assert_eq 5000 "$cnt" "scratch files left"
kill -0 "$PID" || fail "the daemon died"
note "10,000 files: listed, half removed while listing ($lists listings), no duplicates"
san_check
exit 0
