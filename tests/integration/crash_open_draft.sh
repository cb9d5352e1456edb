#!/usr/bin/env bash
# A draft open for writing when the daemon dies may be cut short: after
# the mount it is a draft whose status says so, and nothing sends it as
# it is: not a touch(1) (which opens it for writing), not an append, not
# a rename to a scratch name and back, not a second mount. Written again
# whole (>) it is sent, whole. A draft closed before the kill is still
# submitted by the mount, as before.
. "$(dirname "$0")/../lib.sh" || exit 1

mk_tmp T
outbox_start -t "$T" -c "settle 3s"
RX=$T/rx
cut_error() { grep -q '^error: this message was open for writing when outboxfs stopped' "$1"; }

# done: written and closed, not yet submitted (its settle time runs)
printf 'To: bob@example.com\nSubject: done\n\nTHE END of done\n' >"$M/done"
# cut: its writer still writing when the daemon dies
exec 3>"$M/cut" || fail "cannot create cut"
printf 'To: bob@example.com\nSubject: cut\n\nfirst part of cut\n' >&3 ||
	fail "the first write of cut failed"
kill_outbox "$M"
exec 3>&-

mount_outbox "$M" "$T/config"
wait_state "$M/done.status" sent 20
assert_eq draft "$(status_state "$M/cut.status")" "state of cut after the mount"
cut_error "$M/cut.status" || fail "cut.status does not say why it is not sent:
$(cat "$M/cut.status")"

touch "$M/cut" || fail "touch cut failed"
printf 'second part of cut\n' >>"$M/cut" || fail "the append to cut failed"
mv "$M/cut" "$M/.cut.x" && mv "$M/.cut.x" "$M/cut" || fail "mv cut to .cut.x and back failed"
# a message written after them, and sent: had cut been submitted (settle
# 3 s), it would be gone by the time this one is, settled after it
sleep 3.5
printf 'To: bob@example.com\nSubject: good\n\nTHE END of good\n' >"$M/good"
wait_state "$M/good.status" sent 20
assert_eq draft "$(status_state "$M/cut.status")" "state of cut after touch, >> and mv"
cut_error "$M/cut.status" || fail "cut.status lost its error line:
$(cat "$M/cut.status")"

# a second mount keeps it so
umount_outbox "$M"
mount_outbox "$M" "$T/config"
assert_eq draft "$(status_state "$M/cut.status")" "state of cut after a second mount"
cut_error "$M/cut.status" || fail "cut.status lost its error line at the second mount:
$(cat "$M/cut.status")"
assert_eq 2 "$(count_eml "$RX")" "messages received before cut was written again"
[ -z "$(eml_with "$RX" 'first part of cut')" ] || fail "cut was sent as it was"

# written again whole: sent, whole
printf 'To: bob@example.com\nSubject: cut\n\nfirst part of cut\nTHE END of cut\n' >"$M/cut"
wait_state "$M/cut.status" sent 20
f=$(eml_with "$RX" 'THE END of cut')
[ -n "$f" ] || fail "cut, written again, did not arrive whole"
assert_eq 3 "$(count_eml "$RX")" "messages received in all"
umount_outbox "$M"
san_check
exit 0
