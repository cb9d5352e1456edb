#!/usr/bin/env bash
# A journal written by hand (or by a broken disk) with values at the edge
# of what the parser takes: a next attempt far in the future, a torn
# tail. The daemon mounts, shows the message deferred, does not spin
# (idle CPU) and does no arithmetic that overflows (UBSan build). (No
# other message is sent: one accepted would retry it at once.)
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse

mk_tmp T
smtpd_start "$T/rx"
write_config "$T/config" "$SMTP_PORT"
SP=$T/spool
mkdir -p "$SP/msg" "$SP/log" "$SP/corrupt"
chmod 700 "$SP"
printf 'To: bob@example.com\nSubject: far\n\nx\n' >"$SP/msg/1"
{
	printf 'outboxfs-record 1\nid 1\nname far\nstate deferred\n'
	printf 'created 1795881600\nqueued 1795881600\nnext 4611686018427387903\n'
	printf 'attempts 1\nrcpt temp 451 bob@example.com 4.7.1 later\nend\n'
	printf 'outboxfs-record 1\nid 1\nname far\nstate se'
} >"$SP/journal"
mount_outbox "$T/mnt" "$T/config"
M=$T/mnt
PID=$OUTBOX_PID
sleep 0.5
assert_eq deferred "$(status_state "$M/far.status")" "state of far"
grep -q '^far deferred 1 ' "$M/.queue" || fail ".queue: $(cat "$M/.queue")"
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
sleep 1
c0=$(cpu)
sleep 3
c1=$(cpu)
[ $((c1 - c0)) -le 2 ] || fail "the daemon used $((c1 - c0)) ticks in 3 s with one message deferred far ahead"
kill -0 "$PID" || fail "the daemon died"
note "next attempt far ahead: deferred, idle; torn tail ignored"
san_check
exit 0
