#!/usr/bin/env bash
# The size stat shows for .queue is kept up to date without rendering it
# (a stat must not cost O(messages)): after every kind of change it equals
# the bytes a read of .queue returns, and it is 0 when .queue is empty:
#   empty outbox; drafts beside scratch files; sent; deferred; touched
#   (retried); renamed; removed; after a remount; 300 deferred at once.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start

# same_size WHAT: stat's size of .queue equals the bytes cat reads.
same_size()
{
	local st rd
	st=$(stat -c %s "$M/.queue") || fail "stat .queue ($1)"
	rd=$(cat "$M/.queue" | wc -c) || fail "read .queue ($1)"
	assert_eq "$rd" "$st" ".queue size after: $1 (it reads:
$(cat "$M/.queue"))"
}

same_size "mount, empty"
assert_eq 0 "$(stat -c %s "$M/.queue")" "size of an empty .queue"

printf 'To: bob@example.com\nSubject: s\n\nbody\n' >"$M/x.swp"
printf 'To: bob@example.com\nSubject: s\n\nbody\n' >"$M/#y#"
exec 3>"$M/open draft"
printf 'To: bob@example.com\n' >&3
same_size "an open draft and scratch files"
exec 3>&-

printf 'To: bob@example.com\nSubject: one\n\nbody\n' >"$M/one"
printf 'To: bob@example.com\nSubject: two\n\nbody\n' >"$M/two"
wait_state "$M/one.status" sent 20
wait_state "$M/two.status" sent 20
wait_state "$M/open draft.status" sent 20
same_size "three sent"

stop_by_pid "$SMTPD_PID"
printf 'To: bob@example.com\nSubject: three\n\nbody\n' >"$M/three"
wait_state "$M/three.status" deferred 20
same_size "one deferred"

touch "$M/three"
wait_until 20 grep -q '^attempts: 2$' "$M/three.status" ||
	fail "touch did not retry three: $(cat "$M/three.status")"
wait_state "$M/three.status" deferred 20
same_size "touched and deferred again"

mv "$M/three" "$M/a much longer name with spaces\\and a backslash"
same_size "renamed"
mv "$M/x.swp" "$M/now a message"
wait_state "$M/now a message.status" deferred 20
same_size "a scratch file renamed into a message"
rm "$M/one" "$M/#y#"
same_size "removed"

umount_outbox "$M"
mount_outbox "$M" "$T/config"
same_size "remount"

for ((i = 0; i < 300; i++)); do
	printf 'To: bob@example.com\nSubject: m%d\n\nbody\n' "$i" >"$M/m$i"
done
wait_state "$M/m299.status" deferred 60
pending() { [ "$(awk '$2 ~ /^(draft|queued|sending)$/' "$M/.queue" | wc -l)" = 0 ]; }
wait_until 60 pending ||
	fail "300 messages not all deferred: $(grep -c deferred "$M/.queue")"
same_size "300 deferred"
note ".queue size equals its text after drafts, sends, deferrals, touch, rename, removal, remount"
exit 0
