#!/usr/bin/env bash
# passwordeval and unmount: a delivery thread waits on a command that hangs
# after starting a child of its own. Unmounting ends that command's whole
# process group at once (no thread is left behind in it, nothing of it
# outlives the daemon); the message waits, deferred with an error that
# says why, and is sent after the next mount once the command answers.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse

mk_tmp T
PW='pw-after-remount'
smtpd_start "$T/rx" --auth PLAIN --auth-plain-ok --user alice --pass "$PW" \
	--require-auth
cat >"$T/pw.sh" <<PWEOF
#!/bin/sh
if [ -e "$T/answer" ]; then
	echo '$PW'
	exit 0
fi
sleep 300 &
echo \$\$ \$! >"$T/pids"
wait
PWEOF
chmod 700 "$T/pw.sh"
write_config "$T/config" "$SMTP_PORT" "auth plain" "user alice" \
	"passwordeval $T/pw.sh"
mount_outbox "$T/mnt" "$T/config"
M=$T/mnt

# gone PID: no such process, or a zombie waiting for PID 1 to reap it.
gone()
{
	local st
	kill -0 "$1" 2>/dev/null || return 0
	st=$(sed -n 's/^.*) \([A-Z]\) .*$/\1/p' "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}
running() { ! gone "$1"; }
# fail_left MSG: stop what the command left (this test started it), fail.
fail_left()
{
	local p
	for p in "$script" "$child"; do
		gone "$p" || kill -9 "$p" 2>/dev/null
	done
	fail "$@"
}
script= child=
have_pids() { [ -s "$T/pids" ]; }

printf 'To: bob@example.com\nSubject: pweval\n\nwaits for a password\n' \
	>"$M/msg"
wait_until 20 have_pids || fail "passwordeval never started:
$(cat "$M/msg.status")"
read -r script child <"$T/pids"
running "$child" || fail_left "the command's child $child is not running"
sending() { [ "$(status_state "$M/msg.status")" = sending ]; }
wait_until 10 sending || fail_left "msg is not sending while passwordeval runs:
$(cat "$M/msg.status")"

umount_outbox "$M"
log=$(outbox_log "$M")
case $log in
*"still in a network call"*)
	fail_left "a delivery thread was still in passwordeval at exit:
$log";;
esac
[ "$OUTBOX_RC" = 0 ] || fail_left "outboxfs exited with $OUTBOX_RC:
$log"
for p in "$script" "$child"; do
	wait_until 10 gone "$p" ||
		fail_left "passwordeval process $p outlived the daemon: $(ps -o pid,pgid,stat,args -p "$p")"
done
note "unmount ended passwordeval and its child (pids $script $child)"

touch "$T/answer"
mount_outbox "$M" "$T/config"
S=$M/msg.status
assert_eq deferred "$(status_state "$S")" "state after remount"
assert_file_contains "$S" "because outboxfs is stopping"
touch "$M/msg"
wait_state "$S" sent 30
one_eml_with "$T/rx" "Subject: pweval" >/dev/null || exit 1
if grep -qF -- "$PW" "$S"; then
	fail "the password is visible in $S"
fi
note "deferred with the reason, then sent after the remount"
umount_outbox "$M"
