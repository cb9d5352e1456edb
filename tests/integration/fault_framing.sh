#!/usr/bin/env bash
# Record framing: what a server says and what a user names a file can
# never be taken for the journal's own framing. A reply that reads like
# a record header or an end line, or holds '%' escapes, and file names
# that do the same (with spaces, '%', UTF-8, newlines), survive an
# unmount and a remount unchanged: nothing is sent again, nothing is
# listed as corrupt, nothing goes to corrupt/.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -- \
	--reply 'DOT/Subject: frame1=250 ok outboxfs-record 1' \
	--reply 'DOT/Subject: frame2=250-end\n250-outboxfs-record 1\n250-id 1\n250 100% done %0Aend%0A %25 %' \
	--reply 'DOT/Subject: frame3=250 end'
SP=$T/spool

msg()
{
	printf 'To: bob@example.com\nSubject: %s\n\nbody of %s\n' "$1" "$1"
}
corrupt_free()
{
	grep -q ' corrupt ' "$M/.queue" && fail "$1: .queue lists a corrupt record:
$(cat "$M/.queue")"
	[ -z "$(ls -A "$SP/corrupt" 2>/dev/null)" ] ||
		fail "$1: the spool's corrupt/ holds: $(ls -A "$SP/corrupt")"
	return 0
}

# --- replies that look like framing ------------------------------------------------
msg frame1 >"$M/m1"
msg frame2 >"$M/m2"
msg frame3 >"$M/m3"
for m in m1 m2 m3; do wait_state "$M/$m.status" sent 20; done
assert_line "$M/m1.status" '^reply: 250 ok outboxfs-record 1$'
assert_line "$M/m2.status" '100% done %0Aend%0A %25 %'
wait_count "$T/rx" 3 10
umount_outbox "$M"
mount_outbox "$M" "$T/config"
for m in m1 m2 m3; do
	assert_eq sent "$(status_state "$M/$m.status")" "state of $m after the remount"
done
assert_line "$M/m1.status" '^reply: 250 ok outboxfs-record 1$'
assert_line "$M/m2.status" '100% done %0Aend%0A %25 %'
corrupt_free "replies"
sleep 1
assert_eq 3 "$(count_eml "$T/rx")" "messages received after the remount"
note "replies that read like records: sent once, read back unchanged"

# --- names that look like framing --------------------------------------------------
sent_names=("x outboxfs-record 1" "100% sûr %41 end ✓" "end")
scratch_names=(".draft outboxfs-record 1" $'.nl\nend\noutboxfs-record 1\nid 1\n')
for n in "${sent_names[@]}"; do
	msg "name $n" >"$M/$n" || fail "cannot create [$n]"
done
for n in "${scratch_names[@]}"; do
	msg "scratch" >"$M/$n" || fail "cannot create scratch [$n]"
done
for n in "${sent_names[@]}"; do
	wait_state "$M/$n.status" sent 20
done
wait_count "$T/rx" 6 10
umount_outbox "$M"
mount_outbox "$M" "$T/config"
for n in "${sent_names[@]}"; do
	[ -f "$M/$n" ] || fail "[$n] is not listed after the remount: $(ls -A "$M")"
	assert_eq sent "$(status_state "$M/$n.status")" "state of [$n] after the remount"
	# the body: a non-ASCII Subject is encoded on the wire (RFC 2047)
	one_eml_with "$T/rx" "body of name $n" >/dev/null || exit 1
done
for n in "${scratch_names[@]}"; do
	[ -f "$M/$n" ] || fail "scratch file [$n] is not listed after the remount: $(ls -A "$M")"
	assert_eq "$(msg scratch)" "$(cat "$M/$n")" "content of scratch file [$n]"
done
for m in m1 m2 m3; do
	assert_eq sent "$(status_state "$M/$m.status")" "state of $m after the second remount"
done
corrupt_free "names"
sleep 1
assert_eq 6 "$(count_eml "$T/rx")" "messages received after the second remount"
assert_eq "" "$(eml_with "$T/rx" "Subject: scratch")" "scratch files received"
note "names that read like records: listed, sent once, scratch never sent"
san_check
exit 0
