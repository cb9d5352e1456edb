#!/usr/bin/env bash
# A spool written by the version-1 daemon (tests/fixtures/spool-v1, made
# by tests/fixtures/make-spool-v1.sh) still mounts: every message is
# listed in its state, what was sent is not sent again, what was queued,
# in flight or deferred is sent once, the open draft stays a draft; and
# the journal is carried over to the current format, whose first line is
# "outboxfs-journal 2".
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse

FIX=$TOP/tests/fixtures/spool-v1
[ -f "$FIX/journal" ] || fail "no fixture $FIX"
mk_tmp T
SP=$T/spool
mkdir -p "$SP"
cp -R "$FIX/journal" "$FIX/msg" "$FIX/log" "$SP/" || fail "copy of the fixture"
chmod -R go-rwx "$SP"
# The fixture's clock is the day it was made: move its times (created,
# queued, next attempt; version-1 lines "KEY SECONDS") to now, so that no
# message is past max_queue_time however old the fixture gets.
fix_now=$(sed -n 's/^queued \([1-9][0-9]*\)$/\1/p' "$FIX/journal" | sort -n | tail -n1)
[ -n "$fix_now" ] || fail "the fixture journal has no queued time"
shift_by=$(($(date +%s) - fix_now))
awk -v d="$shift_by" '
	/^(created|queued|next) [1-9][0-9]*$/ { print $1 " " ($2 + d); next }
	{ print }' "$FIX/journal" >"$SP/journal" || fail "shifting the fixture's times"

smtpd_start "$T/rx"
write_config "$T/config" "$SMTP_PORT" "connections 1" "" "account work" \
	"from w@example.com"
mount_outbox "$T/mnt" "$T/config"
M=$T/mnt

# Listed, each in a state it may be in right after the mount.
declare -A may=(
	[s1]="sent" [work/w1]="sent"
	[d1]="deferred|queued|sending|sent"
	[q0]="queued|sending|sent" [q1]="queued|sending|sent"
	[draft]="draft"
)
for m in "${!may[@]}"; do
	[ -f "$M/$m" ] || fail "$m from the v1 spool is not listed: $(ls -R "$M")"
	s=$(status_state "$M/$m.status")
	case "|${may[$m]}|" in
	*"|$s|"*) ;;
	*) fail "$m from the v1 spool is [$s], expected ${may[$m]}:
$(cat "$M/$m.status")";;
	esac
done
assert_line "$M/d1.status" '^rcpt: bob@example.com 250'
note "every v1 message listed: $(tr '\n' ';' <"$M/.queue")"

[ "$(status_state "$M/d1.status")" = deferred ] && touch "$M/d1"
for m in q0 q1 d1; do
	wait_state "$M/$m.status" sent 20
	one_eml_with "$T/rx" "Subject: v1 $m" >/dev/null || exit 1
done
assert_line "$M/q0.status" '^warning: '
# d1: bob had accepted it in v1; only carol is left.
d1=$(one_eml_with "$T/rx" "Subject: v1 d1")
env=${d1%.eml}.env
assert_file_contains "$env" "rcpt: <carol@example.com>"
grep -q 'rcpt: <bob@example.com>' "$env" && fail "d1 sent again to bob, who had it: $(cat "$env")"
sleep 1
assert_eq 3 "$(count_eml "$T/rx")" "messages received (q0, q1, d1 only)"
assert_eq "" "$(eml_with "$T/rx" "Subject: v1 s1")" "copies of the sent s1"
assert_eq "" "$(eml_with "$T/rx" "Subject: v1 w1")" "copies of the sent work/w1"
assert_eq draft "$(status_state "$M/draft.status")" "state of the open draft"
note "v1 spool: sent ones not resent, the others sent once"

# The journal is in the current format, also after an unmount.
umount_outbox "$M"
assert_eq "outboxfs-journal 2" "$(head -n1 "$SP/journal")" "first line of the migrated journal"
mount_outbox "$M" "$T/config"
for m in s1 work/w1 d1 q0 q1; do
	assert_eq sent "$(status_state "$M/$m.status")" "state of $m after the migration"
done
assert_eq draft "$(status_state "$M/draft.status")" "state of the draft after the migration"
sleep 1
assert_eq 3 "$(count_eml "$T/rx")" "messages received after the second mount"
san_check
exit 0
