#!/usr/bin/env bash
# SIGTERM, SIGINT, SIGHUP and SIGQUIT that come while outboxfs-sendmail
# writes its drop wait (they are blocked); once the drop is durable they
# must not turn a queued message into a death by signal (143), which a
# caller (timeout, systemd, a job runner) reads as "not queued" and
# retries: the mail would go twice. Without --wait the run ends 0; with
# --wait the wait is cut short and it ends 75 (queued, not final).
# The fault shim holds the command in the fsync of maildrop/ that
# follows the rename of its drop, so the signal comes at a known point.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
: "${SENDMAIL:=$(dirname "$OUTBOXFS")/outboxfs-sendmail}"
shim=$TOOLS/faultshim.so
[ -f "$shim" ] || fail "the fault shim $shim is not built (make all)"

# a sanitizer build's runtime must come first unless told otherwise (as
# fault_setup does for the daemon)
san_env=()
[ "${OUTBOXFS_SAN:-0}" = 1 ] &&
	san_env=("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")

mk_tmp T
smtpd_start "$T/rx" --reply 'RCPT/later@=451 4.3.0 Try later'
write_config "$T/config" "$SMTP_PORT"
mkdir -p "$T/spool/maildrop" "$T/ctl"
CTL=$(realpath "$T/ctl")
MD=$(realpath "$T/spool/maildrop")
drops() { ls "$MD" | grep -c '^[0-9]\{8\}T[0-9]\{6\}-[0-9a-f]\{8\}$'; }
hits() { grep -c '^fsync-hold-dir ' "$CTL/hits" 2>/dev/null; }

# held SIG SUBJECT ARGS...: runs the command with ARGS on a message with
# SUBJECT, held in the fsync of maildrop/ after its rename; sends SIG
# there, releases it; RC its exit status, ERR its stderr.
held()
{
	local sig=$1 subj=$2 before pid
	shift 2
	before=$(hits); before=${before:-0}
	printf '%s\n' "$MD" >"$CTL/fsync-hold-dir"
	printf 'To: bob@example.com\nSubject: %s\n\nx\n' "$subj" |
		env "${san_env[@]}" FAULTSHIM_CTL="$CTL" LD_PRELOAD="$shim" \
		"$SENDMAIL" -C "$T/config" -t "$@" 2>"$T/err" &
	pid=$!
	register_pid "$pid"
	_held_hit() { local h; h=$(hits); [ "${h:-0}" -gt "$before" ]; }
	wait_until 10 _held_hit || fail "$subj: the command never reached the fsync of maildrop/"
	kill -"$sig" "$pid" || fail "$subj: kill -$sig"
	sleep 0.2               # the signal is pending in the held process
	rm -f "$CTL/fsync-hold-dir"
	wait "$pid"
	RC=$?
	ERR=$(cat "$T/err")
}

# no daemon: each run queues its message whatever the signal
n=0
for sig in TERM INT HUP QUIT; do
	held "$sig" "plain $sig"
	n=$((n + 1))
	assert_eq 0 "$RC" "exit status after SIG$sig while the drop was written"
	assert_eq "" "$ERR" "stderr after SIG$sig"
	assert_eq "$n" "$(drops)" "drops after SIG$sig"
done

# --wait: the wait is cut short at once (no daemon: it would wait 30 s),
# the exit says queued, not final
start=$(date +%s)
held TERM "wait TERM" --wait=30
n=$((n + 1))
assert_eq 75 "$RC" "--wait exit status after SIGTERM while the drop was written"
assert_contains "$ERR" "is queued; the wait was cut short by SIGTERM"
[ $(( $(date +%s) - start )) -lt 10 ] || fail "--wait was not cut short by SIGTERM"
assert_eq "$n" "$(drops)" "drops after --wait and SIGTERM"

# --wait on a mount, SIGTERM during the wait (a message the server
# defers): 75, not a death
mount_outbox "$T/mnt" "$T/config"
wait_count "$T/rx" "$n" 30
printf 'To: later@example.com\nSubject: term in wait\n\nx\n' |
	"$SENDMAIL" -C "$T/config" -t --wait=30 2>"$T/err" &
pid=$!
register_pid "$pid"
wait_until 10 sh -c "ls '$T/mnt' | grep -q '^sendmail-.*\.status$' && grep -qs 'term in wait' '$T/mnt'/sendmail-*[0-9a-f]" ||
	fail "the message of the wait did not show in the mount"
sleep 0.3
kill -TERM "$pid"
wait "$pid"
assert_eq 75 "$?" "--wait exit status after SIGTERM during the wait"
assert_contains "$(cat "$T/err")" "the wait was cut short by SIGTERM"

# every message queued above was sent exactly once
for sig in TERM INT HUP QUIT; do
	one_eml_with "$T/rx" "Subject: plain $sig" >/dev/null || exit 1
done
one_eml_with "$T/rx" "Subject: wait TERM" >/dev/null || exit 1
umount_outbox "$T/mnt"
san_check
exit 0
