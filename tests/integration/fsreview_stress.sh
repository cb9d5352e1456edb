#!/usr/bin/env bash
# Many hands at once on one mount, for the race detectors: writers,
# renames from scratch names, removals, touches, readers of status files
# and .queue, listings, while the server goes away and comes back. Every
# message not removed ends sent, exactly the ones expected arrive, and
# the daemon stays up.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -c "connections 4"
PID=$OUTBOX_PID
N=40

writer()   # $1: worker number
{
	local i f
	for ((i = 0; i < N; i++)); do
		f=w$1-$i
		if ((i % 3 == 0)); then
			printf 'To: bob@example.com\nSubject: %s\n\nvia rename\n' "$f" >"$M/.$f"
			mv "$M/.$f" "$M/$f"
		else
			{ printf 'To: bob@example.com\n'; printf 'Subject: %s\n\n' "$f"; } >"$M/$f"
			printf 'appended\n' >>"$M/$f"
		fi
		if ((i % 7 == 0)); then
			printf 'To: bob@example.com\nSubject: gone-%s\n\nx\n' "$f" >"$M/gone-$f"
			rm -f "$M/gone-$f" 2>/dev/null
		fi
	done
}
reader()
{
	local i
	for ((i = 0; i < 4 * N; i++)); do
		cat "$M/.queue" >/dev/null
		ls -l "$M" >/dev/null 2>&1
		for s in "$M"/*.status; do
			cat "$s" >/dev/null 2>&1
			break
		done
		touch "$M"/w0-1 2>/dev/null
	done
}

pids=()
for w in 0 1 2 3; do writer $w & pids+=($!); done
reader & pids+=($!)
reader & pids+=($!)
sleep 0.5
stop_by_pid "$SMTPD_PID"
sleep 1
smtpd_start "$T/rx2" -p "$SMTP_PORT"
for p in "${pids[@]}"; do wait "$p" || fail "a worker failed"; done
kill -0 "$PID" || fail "the daemon died"
# the ones deferred while the server was away go now
for f in "$M"/w*-*; do
	case $f in *.status) continue;; esac
	touch "$f" 2>/dev/null
done
for w in 0 1 2 3; do
	for ((i = 0; i < N; i++)); do
		wait_state "$M/w$w-$i.status" sent 60
	done
done
got=$(cat "$T"/rx/*.eml "$T"/rx2/*.eml 2>/dev/null | grep -c '^Subject: w[0-3]-')
[ "$got" -ge $((4 * N)) ] || fail "only $got of $((4 * N)) messages arrived"
for w in 0 1 2 3; do
	for ((i = 0; i < N; i++)); do
		n=$(cat "$T"/rx/*.eml "$T"/rx2/*.eml 2>/dev/null | tr -d "\r" | grep -c "^Subject: w$w-$i\$")
		[ "$n" -ge 1 ] || fail "w$w-$i never arrived"
	done
done
grep -q '^Subject: gone-' "$T"/rx/*.eml "$T"/rx2/*.eml 2>/dev/null &&
	note "(a removed message had been sent before its rm: allowed)"
note "$((4 * N)) messages through writers, renames, removals and readers at once"
san_check
exit 0
