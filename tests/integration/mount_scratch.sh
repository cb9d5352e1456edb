#!/usr/bin/env bash
# Files that are never sent, and .queue:
#   scratch names (.x, x~, x.swp, x.tmp, #x#) holding a complete message
#   stay ordinary files: readable, writable, removable, never sent;
#   an empty file (created with : > or touch) is not sent;
#   .queue lists each pending message with its state and attempts.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start

scratch=(.x 'x~' x.swp x.tmp '#x#' .hidden.msg 'a b~')
for f in "${scratch[@]}"; do
	printf 'To: bob@example.com\nSubject: scratch %s\n\nnever send\n' "$f" >"$M/$f"
done
: >"$M/empty1"
touch "$M/empty2"

# A real message written after them is sent; once it is, the scratch files
# (written earlier, settle long past) would have been sent too.
sleep 0.5
printf 'To: bob@example.com\nSubject: scratch real\n\nsend\n' >"$M/real"
wait_state "$M/real.status" sent 20
sleep 1
assert_eq 1 "$(count_eml "$T/rx")" "messages received (only 'real' should be)"
assert_eq "" "$(eml_with "$T/rx" "never send")" "scratch files sent"

for f in "${scratch[@]}"; do
	got=$(cat "$M/$f") || fail "cannot read back $f"
	assert_contains "$got" "Subject: scratch $f" "content of $f"
	echo more >>"$M/$f" || fail "cannot append to the scratch file $f"
	# scratch files are never sent and have no status file
	assert_missing "$M/$f.status"
	ls -a "$M" | grep -qxF "$f.status" && fail "ls shows $f.status"
done
for f in empty1 empty2; do
	[ -f "$M/$f" ] || fail "empty file $f is gone"
	[ -e "$M/$f.status" ] && assert_eq draft "$(status_state "$M/$f.status")" "state of $f"
done
rm "$M/.x" "$M/x~" || fail "cannot remove a scratch file"
assert_missing "$M/.x"
note "scratch names and empty files not sent"

# .queue: pending messages, one line each: NAME STATE ATTEMPTS NEXT REPLY.
stop_by_pid "$SMTPD_PID"
printf 'To: bob@example.com\nSubject: q1\n\nq\n' >"$M/q1"
printf 'To: bob@example.com\nSubject: q2\n\nq\n' >"$M/q2"
wait_state "$M/q1.status" deferred 20
wait_state "$M/q2.status" deferred 20
Q=$(cat "$M/.queue") || fail "cannot read .queue"
for m in q1 q2; do
	line=$(printf '%s\n' "$Q" | grep "^$m ") || fail ".queue has no line for $m:
$Q"
	set -- $line
	assert_eq deferred "$2" "state of $m in .queue"
	assert_eq 1 "$3" "attempts of $m in .queue"
	[[ $4 =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]] || fail ".queue: next attempt of $m is [$4]: $line"
done
printf '%s\n' "$Q" | grep -q '^\.x \|^x\.swp ' && fail ".queue lists a scratch file:
$Q"
note ".queue lists the deferred messages"
exit 0
