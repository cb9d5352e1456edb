#!/usr/bin/env bash
# A full fd table is a temporary failure, not a verdict on the message:
# a deferred message (from before a restart) retried while the daemon
# cannot open a file or a socket stays deferred, with an error: line that says why ("Too many
# open files"), and is sent once fds are free again. Creating a file in
# the mount at the limit fails with the errno, and the daemon lives on.
. "$(dirname "$0")/../lib.sh" || exit 1
command -v prlimit >/dev/null 2>&1 || { echo "SKIP: no prlimit (util-linux)"; exit 77; }

outbox_start -r rx451 -- --reply 'RCPT=451 4.7.1 later'
S451=$SMTPD_PID

printf 'To: bob@example.com\nSubject: fd table\n\nwaits for an fd\n' >"$M/x"
wait_state "$M/x.status" deferred 20
# A restart in between: the retry has to read the message from the spool
# again (the daemon that deferred it may still hold it prepared).
umount_outbox "$M"
mount_outbox "$M" "$T/config"
PID=$OUTBOX_PID
assert_eq deferred "$(status_state "$M/x.status")" "state of x after the remount"
attempts0=$(sed -n 's/^attempts: //p' "$M/x.status")

# --- the daemon's fd table runs full ------------------------------------------
prlimit --pid "$PID" --nofile --noheadings --output SOFT,HARD >"$T/limit.orig" ||
	fail "prlimit cannot read the daemon's limit"
read -r soft hard <"$T/limit.orig"
# On any exit: the shell's fds closed and the daemon's limit restored
# first, so that it can stop cleanly.
fdt_exit()
{
	local rc=$? fd
	for fd in "${held[@]}"; do
		exec {fd}>&-
	done
	held=()
	kill -0 "$PID" 2>/dev/null && prlimit --pid "$PID" --nofile="$soft:$hard"
	(exit "$rc")
	cleanup
}
held=()
trap fdt_exit EXIT
nfd=$(ls "/proc/$PID/fd" | wc -l)
lim=$((nfd + 3))
prlimit --pid "$PID" --nofile="$lim:$hard" || fail "prlimit --pid $PID --nofile=$lim:$hard"
# the daemon keeps up to 16 empty spool files reserved for new messages
# (a new draft takes one of them) and makes more in batches, giving out
# a batch only once its names are synced: it runs out once those are
# gone too. A batch made just before the limit may be given out after
# the first refusal, so drafts are held until a second round, after the
# reserving thread's one-second retry, is refused as well.
i=1
for round in 1 2; do
	for ((; i <= 60; i++)); do
		{ exec {fd}>"$M/d$i"; } 2>"$T/open.err" || break
		held+=("$fd")
	done
	[ "$i" -le 60 ] || fail "60 drafts held open and the daemon (limit $lim, $nfd fds before) never ran out"
	[ "$round" = 1 ] && sleep 1.5
done
note "daemon had $nfd fds, limit $lim: ${#held[@]} drafts held open, the next open failed: $(cat "$T/open.err")"
err=$( { : >"$M/new"; } 2>&1 ) && fail "creating a file worked with the daemon's fd table full"
case $err in
*"Too many open files"*) ;;
*) fail "creating a file at the fd limit: expected EMFILE or ENFILE, got: $err";;
esac
kill -0 "$PID" || fail "the daemon died at the fd limit"

touch "$M/x" || fail "touch of the deferred message"
_tried() {
	grep -q '^error: .*Too many open files' "$M/x.status" && return 0
	case $(status_state "$M/x.status") in
	sent|partial|failed) return 0;;
	esac
	[ "$(sed -n 's/^attempts: //p' "$M/x.status")" != "$attempts0" ]
}
wait_until 10 _tried
sleep 0.5
s=$(status_state "$M/x.status")
[ "$s" = deferred ] || fail "a retry at the fd limit left the message $s, not deferred:
$(cat "$M/x.status")"
grep -q '^error: .*Too many open files' "$M/x.status" ||
	fail "no error: line naming \"Too many open files\" after a retry at the fd limit:
$(cat "$M/x.status")"
kill -0 "$PID" || fail "the daemon died at the fd limit"
note "retried at the fd limit: $(grep '^error:' "$M/x.status")"

# --- fds free again; the server takes mail ----------------------------------
for fd in "${held[@]}"; do
	exec {fd}>&-
done
held=()
prlimit --pid "$PID" --nofile="$soft:$hard" || fail "prlimit cannot restore the limit"
stop_by_pid "$S451"
smtpd_start "$T/rx" -p "$OUTBOX_PORT"
touch "$M/x" || fail "touch after the fds were freed"
wait_state "$M/x.status" sent 20
one_eml_with "$T/rx" "Subject: fd table" >/dev/null || exit 1
kill -0 "$PID" || fail "the daemon died"
note "fds freed: sent once"
san_check
exit 0
