#!/usr/bin/env bash
# In the background (no -f) on a machine without a syslog socket, the
# daemon's lines go to the default account's logfile; without one, the
# mount says on stderr that they go nowhere.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
if [ -S /dev/log ]; then
	echo "SKIP: this machine has a syslog socket (/dev/log): the case of a machine without one cannot be made here"
	exit 77
fi
[ "$OUTBOXFS_SAN" = 1 ] && { echo "SKIP: a daemonized ASan daemon's reports would be lost"; exit 77; }

mk_tmp T
smtpd_start "$T/rx"
trap 'rc=$?; bg_umount "$T/mnt"; bg_umount "$T/mnt2"; (exit "$rc"); cleanup' EXIT

write_config "$T/config" "$SMTP_PORT" "logfile $T/out.log"
mkdir -p "$T/mnt"
"$OUTBOXFS" -o config="$T/config" "$T/mnt" 2>"$T/err1" || fail "mount: $(cat "$T/err1")"
assert_contains "$(cat "$T/err1")" "no syslog socket" "stderr at mount"
assert_contains "$(cat "$T/err1")" "the log goes to $T/out.log" "stderr at mount"
printf 'To: bob@example.com\nSubject: bg\n\nx\n' >"$T/mnt/bg"
wait_state "$T/mnt/bg.status" sent 20
bg_umount "$T/mnt"
_logged() { grep -q "unmounted $T/mnt" "$T/out.log"; }
wait_until 10 _logged || fail "the daemon's lines are not in the logfile: $(cat "$T/out.log")"
assert_file_contains "$T/out.log" "mounted $T/mnt"
assert_file_contains "$T/out.log" "smtpstatus=250"
note "no syslog socket: the daemon's lines went to the logfile"

write_config "$T/config2" "$SMTP_PORT" "spool $T/spool2"
mkdir -p "$T/mnt2"
"$OUTBOXFS" -o config="$T/config2" "$T/mnt2" 2>"$T/err2" || fail "mount: $(cat "$T/err2")"
assert_contains "$(cat "$T/err2")" "the log goes nowhere; set logfile" "stderr at mount"
bg_umount "$T/mnt2"
note "no syslog socket, no logfile: the mount said the log goes nowhere"
exit 0
