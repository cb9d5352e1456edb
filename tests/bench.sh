#!/usr/bin/env bash
# tests/bench.sh — `make bench`: outboxfs beside the tools people use today,
# on this machine, in one run. Prints figures and ratios; asserts nothing
# (never part of make check). Peers that are not installed are skipped:
# msmtp, Postfix's smtp-source and smtp-sink.
#
#   (a) 1,000 small messages written by a shell loop into the mount: time
#       until the local server has accepted every one; messages/s
#   (b) the same loop calling msmtp once per message (fewer, extrapolated);
#       ratio outboxfs/msmtp (target >= 50)
#   (c) the floor per message: FUSE's cost per file + one durable write +
#       what smtp-source needs per message on one reused connection;
#       ratio outboxfs/floor (target <= 1.5)
#   (d) a 50 MB message: the daemon's peak RSS before and after
#   (e) a big spool: time to mount, ls and cat .queue
#   (f) idle CPU: the daemon's user+system time over 5 idle seconds
#   (g) close -> sent, one message at a time at settle 0: p50, p95, max,
#       beside one msmtp run's p50 from (b)
#
# Environment: BENCH_N (1000), BENCH_MSMTP_N (100), BENCH_SPOOL_N (100000),
# BENCH_BIG_MB (50), BENCH_LAT_N (200), BENCH_PARTS (abcdefg: the parts to
# run; b and c need a for their ratios, g b for its). Everything on 127.0.0.1; everything started is stopped
# by PID on exit and the temporary directory removed.
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$TOP/$B;; esac
if [ "$B" = "$TOP/build" ]; then OUTBOXFS=$TOP/outboxfs; else OUTBOXFS=$B/outboxfs; fi
TOOLS=$B/tools
export TOP OUTBOXFS TOOLS
. "$TOP/tests/lib.sh"
. "$TOP/tests/lib-servers.sh"

N=${BENCH_N:-1000}
MSMTP_N=${BENCH_MSMTP_N:-100}
SPOOL_N=${BENCH_SPOOL_N:-100000}
PARTS=${BENCH_PARTS:-abcdefg}
BIG_MB=${BENCH_BIG_MB:-50}

if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
	echo "bench: FUSE is not available (/dev/fuse or fusermount3 missing)" >&2
	exit 1
fi
[ -x "$OUTBOXFS" ] || { echo "bench: $OUTBOXFS is not built" >&2; exit 1; }

now() { date +%s.%N; }
# part X: X is one of the parts to run.
part() { case $PARTS in *"$1"*) return 0;; esac; return 1; }
# calc EXPR: floating-point arithmetic with awk.
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
# elapsed START: seconds since START.
elapsed() { calc "$(now) - $1" 3; }

mk_tmp D

# ---- the server ------------------------------------------------------------

SINK=/usr/sbin/smtp-sink
SOURCE=/usr/sbin/smtp-source
have_sink=0
[ -x "$SINK" ] && have_sink=1
have_source=0
[ -x "$SOURCE" ] && have_source=1

# start_server: a local SMTP server that accepts everything; sets PORT
# and the function accepted() that prints how many messages it accepted.
start_server()
{
	local dir=$1 i
	mkdir -p "$dir"
	if [ $have_sink = 1 ]; then
		PORT=$(free_port)
		local user=()
		[ "$(id -u)" = 0 ] && user=(-u nobody)
		"$SINK" -c "${user[@]}" "127.0.0.1:$PORT" 256 >"$dir/counter" 2>"$dir/stderr" &
		SERVER_PID=$!
		register_pid "$SERVER_PID"
		for ((i = 0; i < 200; i++)); do
			"$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$PORT" 2>/dev/null && break
			sleep 0.05
		done
		SERVER_NAME="smtp-sink (Postfix)"
		SERVER_DIR=$dir
	else
		smtpd_start "$dir" --idle-timeout 600
		PORT=$SMTP_PORT
		SERVER_PID=$SMTPD_PID
		SERVER_NAME="testsmtpd"
		SERVER_DIR=$dir
	fi
}

# accepted: messages the server has accepted so far.
accepted()
{
	if [ $have_sink = 1 ]; then
		# smtp-sink -c writes "sess=N quit=N mesg=N\r" after every message;
		# the probe connection of start_server adds a session, no message.
		tr '\r' '\n' <"$SERVER_DIR/counter" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -n1 | grep . || echo 0
	else
		count_eml "$SERVER_DIR"
	fi
}

# wait_accepted N SECONDS: until the server has accepted N messages.
wait_accepted()
{
	local want=$1 secs=$2 i
	for ((i = 0; i < secs * 50; i++)); do
		[ "$(accepted)" -ge "$want" ] && return 0
		sleep 0.02
	done
	return 1
}

# bench_config FILE PORT [LINE...]: like write_config, settle 300ms (the
# default of 2 s waits for a script's slow appends; the loop has none).
bench_config()
{
	local file=$1 port=$2
	shift 2
	write_config "$file" "$port" "$@"
	sed -i 's/^settle .*/settle 300ms/' "$file"
}

cpu_ticks()
{
	awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
idle_cpu()
{
	local pid=$1 c0 c1 hz
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "$pid")
	sleep 5
	c1=$(cpu_ticks "$pid")
	printf '%d ticks = %s ms' "$((c1 - c0))" "$(calc "($c1 - $c0) * 1000 / $hz" 0)"
}
hwm()
{
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}
printf 'outboxfs bench: %s CPUs, %s, all on 127.0.0.1\n' "$(nproc)" "$(uname -sr)"
printf 'spool and temp files in %s (%s)\n' "$D" "$(df -T "$D" | awk 'NR == 2 { print $2 }')"

# ---- (a) outboxfs ------------------------------------------------------------

t_a=
if part a || part b || part c || part d || part f || part g; then
start_server "$D/srv"
echo "server: $SERVER_NAME on 127.0.0.1:$PORT"
echo
bench_config "$D/a.conf" "$PORT"
sed -i "s|^spool .*|spool $D/spool-a|" "$D/a.conf"
mount_outbox "$D/a" "$D/a.conf"
A_PID=$OUTBOX_PID
M=$D/a

if part a; then
base=$(accepted)
t0=$(now)
for ((i = 1; i <= N; i++)); do
	printf 'To: bob@example.com\nSubject: bench %d\n\nmessage %d\n' "$i" "$i" >"$M/m$i"
done
t_write=$(elapsed "$t0")
if wait_accepted $((base + N)) 300; then
	t_a=$(elapsed "$t0")
	rate_a=$(calc "$N / $t_a" 0)
	printf '(a) outboxfs: %d messages written by a shell loop in %s s, all accepted after %s s: %s messages/s\n' \
		"$N" "$t_write" "$t_a" "$rate_a"
else
	t_a=
	printf '(a) outboxfs: only %d of %d messages accepted after 300 s; see %s/*.status\n' \
		"$(( $(accepted) - base ))" "$N" "$M"
fi
fi

# ---- (b) msmtp ---------------------------------------------------------------

t_b=
if ! part b; then
	:
elif command -v msmtp >/dev/null 2>&1; then
	base=$(accepted)
	t0=$(now)
	: >"$D/msmtp.times"
	for ((i = 1; i <= MSMTP_N; i++)); do
		t1=$(now)
		printf 'To: bob@example.com\nSubject: bench msmtp %d\n\nmessage %d\n' "$i" "$i" |
			msmtp --host=127.0.0.1 --port="$PORT" --tls=off --auth=off \
				--from=alice@example.com -t || { echo "(b) msmtp failed" >&2; break; }
		calc "($(now) - $t1) * 1000" 2 >>"$D/msmtp.times"
		echo >>"$D/msmtp.times"
	done
	t_m=$(elapsed "$t0")
	wait_accepted $((base + MSMTP_N)) 30
	rate_b=$(calc "$MSMTP_N / $t_m" 1)
	t_b=$(calc "$t_m * $N / $MSMTP_N" 2)
	printf '(b) msmtp: %d messages, one msmtp run each, in %s s: %s messages/s; %d would take %s s (extrapolated)\n' \
		"$MSMTP_N" "$t_m" "$rate_b" "$N" "$t_b"
	if [ -n "$t_a" ]; then
		printf '    ratio outboxfs/msmtp: outboxfs is %sx faster (target >= 50x)\n' "$(calc "$t_b / $t_a" 1)"
	fi
else
	echo "(b) msmtp: not installed, skipped (Debian package msmtp)"
fi

# ---- (c) the floor -------------------------------------------------------------

if part c; then
# FUSE's own cost per file: the same loop, scratch names, never sent.
t0=$(now)
for ((i = 1; i <= N; i++)); do
	printf 'To: bob@example.com\nSubject: bench %d\n\nmessage %d\n' "$i" "$i" >"$M/.s$i"
done
t_fuse=$(elapsed "$t0")
fuse_ms=$(calc "$t_fuse * 1000 / $N" 3)

# One durable write per message, in the spool's file system.
mkdir -p "$D/durable"
t_dur=$("$PY" - "$D/durable" "$N" <<'PYEOF'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
data = b"To: bob@example.com\nSubject: bench\n\nmessage\n"
t = time.monotonic()
for i in range(n):
    fd = os.open(os.path.join(d, str(i)), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
print("%.3f" % (time.monotonic() - t))
PYEOF
)
dur_ms=$(calc "$t_dur * 1000 / $N" 3)

src_ms=
if [ $have_source = 1 ]; then
	base=$(accepted)
	t0=$(now)
	"$SOURCE" -d -s 1 -m "$N" -f alice@example.com -t bob@example.com \
		"127.0.0.1:$PORT" >/dev/null 2>&1
	wait_accepted $((base + N)) 60
	t_src=$(elapsed "$t0")
	src_ms=$(calc "$t_src * 1000 / $N" 3)
fi
if [ -n "$src_ms" ]; then
	floor_ms=$(calc "$fuse_ms + $dur_ms + $src_ms" 3)
	printf '(c) floor per message: FUSE write %s ms + durable write %s ms + smtp-source on one connection %s ms = %s ms\n' \
		"$fuse_ms" "$dur_ms" "$src_ms" "$floor_ms"
	if [ -n "$t_a" ]; then
		a_ms=$(calc "$t_a * 1000 / $N" 3)
		printf '    outboxfs per message %s ms: ratio outboxfs/floor = %s (target <= 1.5)\n' \
			"$a_ms" "$(calc "$a_ms / $floor_ms" 2)"
	fi
else
	printf '(c) floor: FUSE write %s ms + durable write %s ms per message; smtp-source not installed (Debian package postfix), no total\n' \
		"$fuse_ms" "$dur_ms"
fi
fi

# ---- (g) close -> sent, one message at a time --------------------------------

if part g; then
	write_config "$D/g.conf" "$PORT" "settle 0" "spool $D/spool-g"
	mount_outbox "$D/g" "$D/g.conf"
	if lat=$("$TOOLS/latency" "$D/g" "${BENCH_LAT_N:-200}"); then
		read -r p50 p95 pmax <<<"$lat"
		printf '(g) close -> state: sent, settle 0, %d messages one at a time: p50 %s ms, p95 %s ms, max %s ms\n' \
			"${BENCH_LAT_N:-200}" "$p50" "$p95" "$pmax"
		if [ -s "$D/msmtp.times" ]; then
			m50=$(sort -n "$D/msmtp.times" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
			printf '    msmtp, its whole run per message, p50 %s ms: ratio outboxfs/msmtp %s (target <= 0.03)\n' \
				"$m50" "$(calc "$p50 / $m50" 3)"
		fi
	else
		echo "(g) latency: a message was not final within 30 s"
	fi
	umount_outbox "$D/g"
fi

# ---- (f) idle CPU (on the mount of (a), all its mail sent) --------------------------

if part f; then
	sleep 1
	printf '(f) idle CPU of the daemon over 5 s after (a)-(c): %s\n' "$(idle_cpu "$A_PID")"
fi

# ---- (d) a 50 MB message ----------------------------------------------------------

if part d; then
"$PY" - "$D/big" "$BIG_MB" <<'PYEOF'
import sys
mb = int(sys.argv[2])
line = b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"To: bob@example.com\nSubject: bench big\n\n")
    n = mb * 1024 * 1024 // len(line)
    for i in range(n):
        f.write(line)
PYEOF
h0=$(hwm "$A_PID")
t0=$(now)
cp "$D/big" "$M/big"
t_cp=$(elapsed "$t0")
_big_done() { grep -qE '^state: (sent|partial|failed)' "$M/big.status"; }
if wait_until 300 _big_done; then
	t_big=$(elapsed "$t0")
	h1=$(hwm "$A_PID")
	printf '(d) %d MB message: copied in %s s, %s after %s s; daemon peak RSS (VmHWM) %s MB before, %s MB after (grew %s MB)\n' \
		"$BIG_MB" "$t_cp" "$(status_state "$M/big.status")" "$t_big" \
		"$(calc "$h0 / 1024" 1)" "$(calc "$h1 / 1024" 1)" "$(calc "($h1 - $h0) / 1024" 1)"
else
	printf '(d) %d MB message: not done after 300 s (state %s)\n' "$BIG_MB" "$(status_state "$M/big.status")"
fi
rm -f "$D/big"
fi
umount_outbox "$M"
fi

# ---- (e) a big spool ---------------------------------------------------------------

# Built through the mount with no server listening: every message ends
# deferred. Writing stops after 300 s, whatever SPOOL_N asks.
if part e; then
closed=$(free_port)
bench_config "$D/e.conf" "$closed"
sed -i "s|^spool .*|spool $D/spool-e|" "$D/e.conf"
mount_outbox "$D/e" "$D/e.conf"
E=$D/e
t0=$(now)
built=0
for ((i = 1; i <= SPOOL_N; i++)); do
	printf 'To: bob@example.com\nSubject: spool %d\n\nmessage %d\n' "$i" "$i" >"$E/s$i" || break
	built=$i
	if (( i % 1000 == 0 )) && [ "$(calc "($(now) - $t0 > 300)" 0)" = 1 ]; then
		break
	fi
done
t_written=$(elapsed "$t0")
# Poll gently: every read of .queue renders all of it.
pending=-1
for ((k = 0; k < 150; k++)); do
	pending=$(awk '$2 == "draft" || $2 == "queued" || $2 == "sending"' "$E/.queue" | wc -l)
	[ "$pending" = 0 ] && break
	sleep 2
done
t_build=$(elapsed "$t0")
umount_outbox "$E"
t0=$(now)
mount_outbox "$E" "$D/e.conf"
t_mount=$(elapsed "$t0")
E_PID=$OUTBOX_PID
t0=$(now)
n_ls=$(ls "$E" | wc -l)
t_ls=$(elapsed "$t0")
t0=$(now)
n_q=$(cat "$E/.queue" | wc -l)
t_q=$(elapsed "$t0")
note_n=""
[ "$built" -lt 100000 ] && note_n=" (not 100,000: BENCH_SPOOL_N=$SPOOL_N, or writing stopped at 300 s)"
printf '(e) %d messages in the spool%s: written in %s s, all deferred after %s s (%s still pending)\n' \
	"$built" "$note_n" "$t_written" "$t_build" "$pending"
printf '    mount %s s; ls %s s (%d names); cat .queue %s s (%d lines)\n' \
	"$t_mount" "$t_ls" "$n_ls" "$t_q" "$n_q"
sleep 1
printf '(f) idle CPU of the daemon over 5 s with %d deferred messages: %s\n' "$built" "$(idle_cpu "$E_PID")"
umount_outbox "$E"
fi
exit 0
