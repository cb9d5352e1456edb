#!/usr/bin/env bash
# tests/bench.sh — `make bench`: outboxfs beside the tools people use today
# and beside bounds measured on this machine in the same run. Prints
# figures, ratios and the targets of issue 9; asserts nothing (never part
# of make check). Peers that are not installed are skipped or replaced:
# msmtp; Postfix's smtp-sink (else tests/tools/testsmtpd) and smtp-source
# (else tests/tools/smtpsend).
#
# Every message is the same: To, Subject, a blank line and a 1 KiB body.
# Every outboxfs mount runs at settle 0 with its default 2 connections.
#
# Bounds (what the machine gives, measured in each round):
#   FUSE  the same shell loop into tests/tools/nullfs, a FUSE file system
#         that keeps nothing, run the way fs/main.c runs outboxfs
#   wire  smtp-source into the same smtp-sink: 1 session (-d: one reused
#         connection), 2 sessions, 8 sessions; 1 KiB messages (-l 1024)
#   disk  tests/tools/diskcommit: one group commit of 1, 8 or 64 message
#         files and a journal record each, in the spool's file system,
#         synced as the spool syncs a batch of that size
#
# Parts (targets from issue 9, printed beside each figure):
#   (1) 1 writer: BENCH_N messages by one shell loop; the loop's msgs/s
#       over the same loop into nullfs (>= 0.9); until all accepted,
#       over msmtp run once per message (>= 50)
#   (2) BENCH_WRITERS (8) loops at once, BENCH_N in all, until all
#       accepted: msgs/s over smtp-source in one session (>= 0.9); the
#       same loops into nullfs over smtp-source: what any file system
#       could reach of that target on this machine
#   (3) drain: BENCH_DRAIN_N messages queued while the server is down
#       (all deferred); the server comes up and one more message goes
#       through, which retries the rest (as a touch would): until all
#       accepted, over smtp-source with 2 sessions, as many as outboxfs's
#       default connections (>= 0.9)
#   (4) system calls of the daemon per message (strace -c -f -p) over
#       BENCH_SYSCALL_N messages (<= 25), the most frequent ones; in a
#       second run, by thread (FUSE workers, commit, sync helpers, SMTP,
#       spare files); the same loop into nullfs (the calls the FUSE
#       requests themselves cost); how often each message file is
#       opened, read and written (strace -y over BENCH_TRACE_N messages;
#       a file the spool made ahead is not counted as opened by its
#       creation); beside one msmtp run
#   (5) BENCH_SPOOL_N (100,000) messages in the spool: mount time (<= 2 s),
#       the daemon's RSS after it and after ls and cat .queue (<= 48 MB),
#       their times, and the peak (VmHWM)
#   (6) close -> state: sent, one message at a time (BENCH_LAT_N): p50,
#       p95, max (p50 about 2 ms), beside msmtp's whole run per message;
#       then again while dd writes BENCH_DIRTY_MB (1024) MB into the same
#       file system (it must not grow: no syncfs); as root, also with the
#       spool on ext4 with its own journal (a loop-mounted image)
#   (7) a BENCH_BIG_MB (50) MB message: the daemon's peak RSS while it is
#       written and sent (<= 16 MB), beside msmtp's
#   (8) idle CPU: the daemon's user+system time over 5 idle seconds, on
#       the mount of (1) and on the mount of (5) (0)
#
# Rounds: each figure is taken BENCH_ROUNDS (3) times and printed as
# min / median / max; in round k outboxfs, its bound and msmtp run back to
# back, and each ratio is taken within the round. (4) runs once (counts,
# not times); (5) builds its spool once and mounts it once per round.
#
# Environment: BENCH_ROUNDS (3), BENCH_N (1000), BENCH_WRITERS (8),
# BENCH_MSMTP_N (100), BENCH_DRAIN_N (20000), BENCH_SYSCALL_N (1000),
# BENCH_TRACE_N (20), BENCH_SPOOL_N (100000), BENCH_LAT_N (200),
# BENCH_BIG_MB (50), BENCH_PARTS (12345678: the parts to run).
#
# Waiting for "all accepted" is one process, tests/tools/sinkwait, reading
# the last bytes of smtp-sink's counter file every 5 ms. Everything runs
# on 127.0.0.1; everything started is stopped by PID on exit, every mount
# unmounted, and the temporary directory removed.
set -u
export LC_ALL=C

TOP=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$TOP/$B;; esac
if [ "$B" = "$TOP/build" ]; then OUTBOXFS=$TOP/outboxfs; else OUTBOXFS=$B/outboxfs; fi
TOOLS=$B/tools
export TOP OUTBOXFS TOOLS
. "$TOP/tests/lib.sh"
. "$TOP/tests/lib-servers.sh"

ROUNDS=${BENCH_ROUNDS:-3}
N=${BENCH_N:-1000}
WRITERS=${BENCH_WRITERS:-8}
MSMTP_N=${BENCH_MSMTP_N:-100}
DRAIN_N=${BENCH_DRAIN_N:-20000}
SYS_N=${BENCH_SYSCALL_N:-1000}
TRACE_N=${BENCH_TRACE_N:-20}
SPOOL_N=${BENCH_SPOOL_N:-100000}
LAT_N=${BENCH_LAT_N:-200}
DIRTY_MB=${BENCH_DIRTY_MB:-1024}
BIG_MB=${BENCH_BIG_MB:-50}
PARTS=${BENCH_PARTS:-12345678}
IDLE_S=5

if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
	echo "bench: FUSE is not available (/dev/fuse or fusermount3 missing)" >&2
	exit 1
fi
for f in "$OUTBOXFS" "$TOOLS/nullfs" "$TOOLS/sinkwait" "$TOOLS/closesent" \
	"$TOOLS/diskcommit" "$TOOLS/smtpsend" "$TOOLS/testsmtpd"; do
	[ -x "$f" ] || { echo "bench: $f is not built (make all)" >&2; exit 1; }
done

# ---- helpers -------------------------------------------------------------

# part X: X is one of the parts to run.
part() { case $PARTS in *"$1"*) return 0;; esac; return 1; }
# calc EXPR [DIGITS]: floating-point arithmetic with awk.
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
# The wall clock in microseconds, without a process: ${EPOCHREALTIME/./}.
# rate COUNT MICROSECONDS: messages per second.
rate() { calc "$1 * 1000000 / $2" 0; }
# busy: the CPU time every process of the machine used so far (user,
# nice, system, irq, softirq), in microseconds, from /proc/stat.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
busy() { awk -v hz="$CLK_TCK" '/^cpu / { printf "%.0f", ($2 + $3 + $4 + $7 + $8) * 1000000 / hz }' /proc/stat; }
# cpu_per N B0: microseconds of machine CPU per message since busy was B0.
cpu_per() { calc "($(busy) - $2) / $1" 0; }
secs() { calc "$1 / 1000000" 3; }

mk_tmp D
mkdir -p "$D/res"

# rec NAME VALUE: one round's value of the figure NAME.
rec() { echo "$2" >>"$D/res/$1"; }
# MEDIAN: awk that prints the min, the median and the max of its lines.
MEDIAN='BEGIN { OFMT = "%.6f" } { v[NR] = $1 } END { if (NR) print v[1], (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2, v[NR] }'
# mmm NAME [DIGITS]: "min / median / max" of NAME over the rounds.
mmm()
{
	[ -s "$D/res/$1" ] || { printf -- '-'; return; }
	sort -g "$D/res/$1" | awk "$MEDIAN" |
		awk -v d="${2:-0}" '{ printf "%.*f / %.*f / %.*f", d, $1, d, $2, d, $3 }'
}
# med NAME: the median of NAME.
med() { sort -g "$D/res/$1" 2>/dev/null | awk "$MEDIAN" | cut -d' ' -f2; }
# verdict NAME OP TARGET: whether the median of NAME meets the target.
verdict()
{
	local m
	m=$(med "$1")
	[ -n "$m" ] || { printf 'no figure'; return; }
	if awk -v m="$m" -v t="$3" -v op="$2" 'BEGIN { exit !(op == ">=" ? m >= t : m <= t) }'; then
		printf 'met'
	else
		printf 'NOT met'
	fi
}
# line LABEL NAME DIGITS [UNIT]: one summary line.
line() { printf '    %-44s %s%s\n' "$1" "$(mmm "$2" "$3")" "${4:+ $4}"; }
# tline LABEL NAME DIGITS OP TARGET: a ratio line with its target.
tline()
{
	printf '    %-44s %s   target %s %s: %s\n' "$1" "$(mmm "$2" "$3")" "$4" "$5" \
		"$(verdict "$2" "$4" "$5")"
}
have() { [ -s "$D/res/$1" ]; }

# Processes started here outside lib.sh (loops, servers, nullfs, strace):
# stopped by PID on exit. A PID leaves the list once waited for.
bench_pids=()
bench_null_mnt=
track() { bench_pids+=("$1"); }
untrack()
{
	local i
	for i in "${!bench_pids[@]}"; do
		[ "${bench_pids[$i]}" = "$1" ] && unset "bench_pids[$i]"
	done
}
# stop PID: TERM, up to 5 s, KILL; then forget it.
stop() { stop_by_pid "$1"; untrack "$1"; }

bench_cleanup()
{
	local rc=$? p
	for p in "${bench_pids[@]}"; do
		stop_by_pid "$p"
	done
	bench_pids=()
	if [ -n "$bench_null_mnt" ] && grep -qF " $bench_null_mnt fuse.nullfs " /proc/mounts; then
		fusermount3 -u -z "$bench_null_mnt" 2>/dev/null
	fi
	(exit "$rc")
	cleanup
}
trap bench_cleanup EXIT

# The message: 16 lines of 63 characters and a newline, 1 KiB.
BODY=
for ((i = 0; i < 16; i++)); do
	BODY+="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ."$'\n'
done
printf 'To: bob@example.com\nSubject: bench\n\n%s' "$BODY" >"$D/msg"
MSG_SIZE=$(stat -c %s "$D/msg")

# write_loop DIR TAG COUNT [SUFFIX]: the loop of (1) and (2), the same for
# outboxfs and nullfs: one printf with a redirect per message, into
# DIR/TAG-I (SUFFIX added: .tmp makes them scratch files of the outbox).
write_loop()
{
	local dir=$1 tag=$2 n=$3 suf=${4:-} i
	for ((i = 1; i <= n; i++)); do
		printf 'To: bob@example.com\nSubject: bench %s %d\n\n%s' "$tag" "$i" "$BODY" \
			>"$dir/$tag-$i$suf" || return 1
	done
}

# at_once W CMD...: W copies of CMD at once, the Jth with J as one more
# argument; waits for all, 1 when one failed.
at_once()
{
	local w=$1 j rc=0 pids=()
	shift
	for ((j = 1; j <= w; j++)); do
		"$@" "$j" &
		pids+=($!)
		track $!
	done
	for j in "${pids[@]}"; do
		wait "$j" || rc=1
		untrack "$j"
	done
	return $rc
}

# writer DIR TAG COUNT J: the Jth of several write_loops.
writer() { write_loop "$1" "$2-w$4" "$3"; }
# writers DIR TAG COUNT W: W write_loops at once, COUNT messages each.
writers() { at_once "$4" writer "$1" "$2" "$3"; }

# ---- the servers ---------------------------------------------------------

SINK=/usr/sbin/smtp-sink
SOURCE=/usr/sbin/smtp-source
have_sink=0
[ -x "$SINK" ] && have_sink=1
have_source=0
[ -x "$SOURCE" ] && have_source=1
have_msmtp=0
command -v msmtp >/dev/null 2>&1 && have_msmtp=1

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# server_start DIR PORT: a server that accepts everything on PORT (smtp-sink,
# else testsmtpd). Sets SRV_PID and SRV_COUNTER (what sinkwait reads).
server_start()
{
	local dir=$1 port=$2 i user=()
	mkdir -p "$dir"
	if [ $have_sink = 1 ]; then
		[ "$(id -u)" = 0 ] && user=(-u nobody)
		"$SINK" -c "${user[@]}" "127.0.0.1:$port" 256 >"$dir/counter" 2>"$dir/stderr" &
		SRV_PID=$!
		SRV_COUNTER=$dir/counter
	else
		mkdir -p "$dir/rx"
		"$TOOLS/testsmtpd" -p "$port" -d "$dir/rx" --idle-timeout 3600 \
			2>"$dir/stderr" &
		SRV_PID=$!
		SRV_COUNTER=$dir/rx
	fi
	track "$SRV_PID"
	for ((i = 0; i < 200; i++)); do
		listening "$port" && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "the server on 127.0.0.1:$port did not start: $(cat "$dir/stderr")"
}
SERVER_NAME="smtp-sink (Postfix)"
[ $have_sink = 1 ] || SERVER_NAME="testsmtpd (smtp-sink is not installed: Debian package postfix)"

# accepted COUNTER: what the server behind COUNTER accepted so far.
accepted() { "$TOOLS/sinkwait" "$1" | cut -d' ' -f1; }

# wait_accepted COUNTER WANT SECONDS: blocks in sinkwait until WANT were
# accepted; sets DONE_US to when, or fails the run.
wait_accepted()
{
	local out
	out=$("$TOOLS/sinkwait" "$1" "$2" "$3") ||
		fail "only ${out%% *} of $2 messages accepted after $3 s"
	DONE_US=${out#* }
	DONE_US=${DONE_US/./}
}

# source_run PORT SESSIONS COUNT: the wire bound; COUNT messages in
# SESSIONS sessions, each on one reused connection. Sets SRC_US.
source_run()
{
	local port=$1 s=$2 n=$3 t0 rc=0
	t0=${EPOCHREALTIME/./}
	if [ $have_source = 1 ]; then
		"$SOURCE" -d -s "$s" -m "$n" -l 1024 -f alice@example.com \
			-t bob@example.com "127.0.0.1:$port" >/dev/null 2>"$D/source.err" || rc=1
	else
		at_once "$s" smtpsend_session "$port" "$s" "$n" || rc=1
	fi
	SRC_US=$(( ${EPOCHREALTIME/./} - t0 ))
	[ $rc = 0 ] || fail "the wire bound ($SOURCE_NAME, $s sessions) failed: $(cat "$D/source.err" 2>/dev/null)"
}
# smtpsend_session PORT S COUNT J: the Jth of S sessions of smtpsend,
# its share of COUNT messages on one connection.
smtpsend_session()
{
	"$TOOLS/smtpsend" -h 127.0.0.1 -p "$1" -f alice@example.com \
		-n $(( $3 / $2 + ($4 <= $3 % $2 ? 1 : 0) )) "$D/msg" >/dev/null 2>>"$D/source.err"
}
SOURCE_NAME=smtp-source
[ $have_source = 1 ] || SOURCE_NAME="smtpsend (outboxfs's client; smtp-source is not installed)"

# msmtp_loop PORT TAG COUNT TIMES: COUNT messages, one msmtp run each;
# each run's milliseconds appended to TIMES.
msmtp_loop()
{
	local port=$1 tag=$2 n=$3 times=$4 i t1 us
	for ((i = 1; i <= n; i++)); do
		t1=${EPOCHREALTIME/./}
		printf 'To: bob@example.com\nSubject: bench %s %d\n\n%s' "$tag" "$i" "$BODY" |
			msmtp --host=127.0.0.1 --port="$port" --tls=off --auth=off \
				--from=alice@example.com -t || return 1
		us=$(( ${EPOCHREALTIME/./} - t1 ))
		printf '%d.%03d\n' $((us / 1000)) $((us % 1000)) >>"$times"
	done
}

# msmtp_writer PORT TAG COUNT J: the Jth of several msmtp loops.
msmtp_writer() { msmtp_loop "$1" "$2-w$4" "$3" "$D/msmtp-w.times"; }
# msmtp_writers PORT TAG COUNT W: W msmtp loops at once. Sets MS_US.
msmtp_writers()
{
	local t0 rc=0
	t0=${EPOCHREALTIME/./}
	at_once "$4" msmtp_writer "$1" "$2" "$3" || rc=1
	MS_US=$(( ${EPOCHREALTIME/./} - t0 ))
	return $rc
}

# bench_config FILE PORT SPOOL: settle 0, the default 2 connections.
bench_config() { write_config "$1" "$2" "settle 0" "spool $3"; }

# pending MNT: messages of MNT not yet final or deferred (reads .queue).
pending()
{
	awk '$2 == "draft" || $2 == "queued" || $2 == "sending"' "$1/.queue" | wc -l
}

# wait_settled MNT SECONDS: until nothing is pending, reading .queue every
# second (each read renders all of it).
wait_settled()
{
	local k
	for ((k = 0; k < $2; k++)); do
		[ "$(pending "$1")" = 0 ] && return 0
		sleep 1
	done
	return 1
}

cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# idle_ms PID: the daemon's CPU milliseconds over IDLE_S idle seconds.
idle_ms()
{
	local c0 c1
	c0=$(cpu_ticks "$1")
	sleep "$IDLE_S"
	c1=$(cpu_ticks "$1")
	echo $(( (c1 - c0) * 1000 / $(getconf CLK_TCK) ))
}
# kb PID FIELD: VmHWM or VmRSS of PID in kB.
kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
mb() { calc "$1 / 1024" 1; }

# null_mount DIR: nullfs on DIR, in the foreground in the background, as
# mount_outbox runs outboxfs. Sets NULL_PID.
null_mount()
{
	local i
	mkdir -p "$1"
	"$TOOLS/nullfs" -f "$1" >"$D/nullfs.log" 2>&1 </dev/null &
	NULL_PID=$!
	track "$NULL_PID"
	bench_null_mnt=$(realpath "$1")
	for ((i = 0; i < 200; i++)); do
		grep -qF " $bench_null_mnt fuse.nullfs " /proc/mounts && return 0
		kill -0 "$NULL_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "nullfs did not mount $1: $(cat "$D/nullfs.log")"
}

null_umount()
{
	fusermount3 -u "$bench_null_mnt" 2>/dev/null || fusermount3 -u -z "$bench_null_mnt" 2>/dev/null
	stop "$NULL_PID"
	bench_null_mnt=
}

printf 'outboxfs bench: %s CPUs, %s, load %s, all on 127.0.0.1\n' "$(nproc)" "$(uname -sr)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'spool and temp files in %s (%s); message %d bytes (1 KiB body); %d rounds\n' \
	"$D" "$(df -T "$D" | awk 'NR == 2 { print $2 }')" "$MSG_SIZE" "$ROUNDS"
printf 'server: %s; wire bound: %s; msmtp: %s\n' "$SERVER_NAME" "$SOURCE_NAME" \
	"$([ $have_msmtp = 1 ] && msmtp --version | head -n1 || echo 'not installed (Debian package msmtp)')"

# ---- the mounts of the rounds ----------------------------------------------

PORT=$(free_port)
server_start "$D/srv" "$PORT"
MAIN=$SRV_COUNTER

A=$D/a
bench_config "$D/a.conf" "$PORT" "$D/spool-a"
mount_outbox "$A" "$D/a.conf"
A_PID=$OUTBOX_PID

if part 1 || part 2; then
	null_mount "$D/null"
fi
# (1) again with the spool in memory (root: a tmpfs): what the loop costs
# without the spool's file system (a new inode per message on a disk file
# system; ext4 pays much more after many files were deleted)
have_tfs=0
if part 1 && [ "$(id -u)" = 0 ] && mkdir -p "$D/tfs" &&
    mount -t tmpfs -o size=1g,mode=0700 tmpfs "$D/tfs" 2>/dev/null; then
	register_umount "$D/tfs"
	bench_config "$D/t.conf" "$PORT" "$D/tfs/spool"
	mount_outbox "$D/tm" "$D/t.conf"
	have_tfs=1
fi
# (6) again with the spool on ext4 with its own journal (root: a loop-
# mounted image), the file system most spools are on: /tmp here may be
# without one, where a commit costs less
have_ext4j=0
if part 6 && [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null &&
    truncate -s 512M "$D/ext4.img" && mkfs.ext4 -q -F "$D/ext4.img" &&
    mkdir -p "$D/ext4j" && mount -o loop "$D/ext4.img" "$D/ext4j" 2>/dev/null; then
	register_umount "$D/ext4j"
	bench_config "$D/j.conf" "$PORT" "$D/ext4j/spool"
	mount_outbox "$D/jm" "$D/j.conf"
	have_ext4j=1
fi
if part 7; then
	bench_config "$D/big.conf" "$PORT" "$D/spool-big"
	mount_outbox "$D/bigm" "$D/big.conf"
	BIG_PID=$OUTBOX_PID
	"$PY" - "$D/big" "$BIG_MB" <<'PYEOF'
import sys
mb = int(sys.argv[2])
line = b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"To: bob@example.com\nSubject: bench big\n\n")
    for i in range(mb * 1024 * 1024 // len(line)):
        f.write(line)
PYEOF
fi

PER=$(( N / WRITERS )); [ "$PER" -ge 1 ] || PER=1
N2=$(( PER * WRITERS ))
MPER=$(( MSMTP_N / WRITERS )); [ "$MPER" -ge 1 ] || MPER=1

# lat_run MNT KEY WHAT: (6) on the outbox on MNT, its p50, p95 and max
# recorded as KEY_p50 and so on (P50 set to the p50).
lat_run()
{
	local lat p95 pmax
	lat=$("$TOOLS/closesent" "$1" "$LAT_N" "$D/msg") ||
		fail "(6) a message was not final within 30 s$3"
	read -r P50 p95 pmax <<<"$lat"
	rec "$2_p50" "$P50"
	rec "$2_p95" "$p95"
	rec "$2_max" "$pmax"
}

# outbox_loop MNT TAG KEY: the loop of N messages into the outbox on MNT;
# its rate recorded as KEY, once the server has them all (T0: the start).
outbox_loop()
{
	local base t1
	base=$(accepted "$MAIN")
	T0=${EPOCHREALTIME/./}
	write_loop "$1" "$2" "$N" || fail "(1) the loop into $1 failed"
	t1=${EPOCHREALTIME/./}
	wait_accepted "$MAIN" $((base + N)) 300
	rec "$3" "$(rate "$N" $((t1 - T0)))"
}

# ---- the rounds --------------------------------------------------------------

# A first, untimed pass through each path: the FUSE threads started, the
# first connection made, the code paged in.
if part 1 || part 2 || part 6; then
	base=$(accepted "$MAIN")
	write_loop "$A" warm 50 || fail "the loop into the outbox failed"
	wait_accepted "$MAIN" $((base + 50)) 60
fi
if part 1 || part 2; then
	write_loop "$D/null" warm 50 || fail "the loop into nullfs failed"
	[ $have_tfs = 1 ] && { write_loop "$D/tm" warm 50 || fail "the loop into the tmpfs outbox failed"; }
fi

echo
for ((k = 1; k <= ROUNDS; k++)); do
	progress="round $k/$ROUNDS:"
	: >"$D/msmtp.times"

	if part 1; then
		# outboxfs, then the FUSE bound, then msmtp
		b0=$(busy)
		outbox_loop "$A" "r$k-one" one_loop
		rec one_cpu "$(cpu_per "$N" "$b0")"
		rec one_done "$(rate "$N" $((DONE_US - T0)))"
		b0=$(busy)
		t0=${EPOCHREALTIME/./}
		write_loop "$D/null" "r$k-one" "$N" || fail "(1) the loop into nullfs failed"
		t1=${EPOCHREALTIME/./}
		rec null_cpu "$(cpu_per "$N" "$b0")"
		rec one_null "$(rate "$N" $((t1 - t0)))"
		# the CPU the wire itself takes: smtp-source and the sink,
		# the same messages in one session
		b0=$(busy)
		source_run "$PORT" 1 "$N"
		rec src_cpu "$(cpu_per "$N" "$b0")"
		# what that leaves any FUSE outbox on this machine, over
		# nullfs: every CPU busy all the time, each message costing the
		# nullfs loop's CPU and the wire's, nothing for storing it or
		# committing it (a loop can go faster only by leaving the
		# sending for after it)
		rec one_cpu_bound "$(calc "$(nproc) * 1000000 / ($(tail -n1 "$D/res/null_cpu") + $(tail -n1 "$D/res/src_cpu")) / $(tail -n1 "$D/res/one_null")" 2)"
		rec one_vs_null "$(calc "$(tail -n1 "$D/res/one_loop") / $(tail -n1 "$D/res/one_null")" 2)"
		progress+=" (1) $(tail -n1 "$D/res/one_loop")/s loop, nullfs $(tail -n1 "$D/res/one_null")/s"
		# the same loop into scratch names: stored in the spool as
		# any message is written, never committed nor sent (the
		# file system alone); removed again, untimed
		b0=$(busy)
		t0=${EPOCHREALTIME/./}
		write_loop "$A" "r$k-scr" "$N" .tmp || fail "(1) the loop into scratch names failed"
		t1=${EPOCHREALTIME/./}
		rec scr_cpu "$(cpu_per "$N" "$b0")"
		rec one_scr "$(rate "$N" $((t1 - t0)))"
		# the same with outboxfs's file system as it is: its own
		# loop's CPU and the wire's, nothing for committing
		rec scr_cpu_bound "$(calc "$(nproc) * 1000000 / ($(tail -n1 "$D/res/scr_cpu") + $(tail -n1 "$D/res/src_cpu")) / $(tail -n1 "$D/res/one_null")" 2)"
		rec one_scr_vs_null "$(calc "$(tail -n1 "$D/res/one_scr") / $(tail -n1 "$D/res/one_null")" 2)"
		rm -f "$A/r$k-scr-"*.tmp || fail "(1) the scratch files could not be removed"
		if [ $have_tfs = 1 ]; then
			outbox_loop "$D/tm" "r$k-one" one_tfs
			rec one_tfs_vs_null "$(calc "$(tail -n1 "$D/res/one_tfs") / $(tail -n1 "$D/res/one_null")" 2)"
		fi
		if [ $have_msmtp = 1 ]; then
			t0=${EPOCHREALTIME/./}
			msmtp_loop "$PORT" "r$k-msmtp" "$MSMTP_N" "$D/msmtp.times" || fail "(1) msmtp failed"
			t1=${EPOCHREALTIME/./}
			rec one_msmtp "$(calc "$MSMTP_N * 1000000 / $((t1 - t0))" 1)"
			rec one_vs_msmtp "$(calc "$(tail -n1 "$D/res/one_done") / $(tail -n1 "$D/res/one_msmtp")" 1)"
			rec msmtp_p50 "$(sort -g "$D/msmtp.times" | awk "$MEDIAN" | cut -d' ' -f2)"
			progress+=", msmtp $(tail -n1 "$D/res/one_msmtp")/s"
		fi
	fi

	if part 2; then
		base=$(accepted "$MAIN")
		t0=${EPOCHREALTIME/./}
		writers "$A" "r$k-many" "$PER" "$WRITERS" || fail "(2) a loop into the outbox failed"
		wait_accepted "$MAIN" $((base + N2)) 300
		rec many_done "$(rate "$N2" $((DONE_US - t0)))"
		source_run "$PORT" 1 "$N2"
		rec wire_1 "$(rate "$N2" "$SRC_US")"
		source_run "$PORT" 8 "$N2"
		rec wire_8 "$(rate "$N2" "$SRC_US")"
		rec many_vs_wire1 "$(calc "$(tail -n1 "$D/res/many_done") / $(tail -n1 "$D/res/wire_1")" 2)"
		# the FUSE bound of 8 writers: the same loops into nullfs
		t0=${EPOCHREALTIME/./}
		writers "$D/null" "r$k-many" "$PER" "$WRITERS" || fail "(2) a loop into nullfs failed"
		t1=${EPOCHREALTIME/./}
		rec many_null "$(rate "$N2" $((t1 - t0)))"
		rec many_vs_null "$(calc "$(tail -n1 "$D/res/many_done") / $(tail -n1 "$D/res/many_null")" 2)"
		# what the target asks of the machine: the FUSE bound alone,
		# over the wire bound (below 0.9, no file system reaches it)
		rec null_vs_wire1 "$(calc "$(tail -n1 "$D/res/many_null") / $(tail -n1 "$D/res/wire_1")" 2)"
		progress+="; (2) $(tail -n1 "$D/res/many_done")/s, wire $(tail -n1 "$D/res/wire_1")/s"
		if [ $have_msmtp = 1 ]; then
			msmtp_writers "$PORT" "r$k-msmtp-many" "$MPER" "$WRITERS" || fail "(2) msmtp failed"
			rec many_msmtp "$(calc "$MPER * $WRITERS * 1000000 / $MS_US" 1)"
			rec many_vs_msmtp "$(calc "$(tail -n1 "$D/res/many_done") / $(tail -n1 "$D/res/many_msmtp")" 1)"
		fi
	fi

	if part 1 || part 2 || part 3; then
		for b in 1 8 64; do
			read -r d_med _ <<<"$("$TOOLS/diskcommit" "$D/disk" "$MSG_SIZE" "$b" $(( b > 8 ? 10 : 20 )))" ||
				fail "diskcommit failed"
			rec "disk_ms_$b" "$d_med"
			rec "disk_rate_$b" "$(calc "$b * 1000 / $d_med" 0)"
		done
	fi

	if part 6; then
		lat_run "$A" lat ""
		if [ -s "$D/msmtp.times" ]; then
			rec lat_vs_msmtp "$(calc "$P50 / $(tail -n1 "$D/res/msmtp_p50")" 3)"
		fi
		progress+="; (6) p50 $P50 ms"
		# the same while another writer dirties BENCH_DIRTY_MB on the
		# spool's file system: durability costs outboxfs's own bytes
		# only, so close -> sent must not grow with theirs
		dd if=/dev/zero of="$D/dirty" bs=1M count="$DIRTY_MB" \
		    status=none conv=notrunc 2>/dev/null &
		dd_pid=$!
		register_pid "$dd_pid"
		lat_run "$A" lat_dirty " (dirty)"
		kill "$dd_pid" 2>/dev/null
		wait "$dd_pid" 2>/dev/null
		rm -f "$D/dirty"
		if [ $have_ext4j = 1 ]; then
			read -r d_med _ <<<"$("$TOOLS/diskcommit" "$D/ext4j/disk" "$MSG_SIZE" 1 20)" ||
				fail "diskcommit on the ext4 image failed"
			rec disk_ms_j "$d_med"
			lat_run "$D/jm" lat_j " (ext4 image)"
		fi
	fi

	if part 7; then
		echo 5 >"/proc/$BIG_PID/clear_refs" 2>/dev/null ||
			echo "bench: cannot reset the peak RSS of $BIG_PID; (7) shows the peak since the mount" >&2
		r0=$(kb "$BIG_PID" VmRSS)
		t0=${EPOCHREALTIME/./}
		cp "$D/big" "$D/bigm/big$k" || fail "(7) cp into the outbox failed"
		"$OUTBOXFS" --wait --timeout 300 "$D/bigm/big$k" ||
			fail "(7) the $BIG_MB MB message: $(status_state "$D/bigm/big$k.status") after 300 s"
		t1=${EPOCHREALTIME/./}
		h=$(kb "$BIG_PID" VmHWM)
		rec big_hwm "$(mb "$h")"
		rec big_grew "$(mb $((h - r0)))"
		rec big_s "$(secs $((t1 - t0)))"
		if [ $have_msmtp = 1 ] && [ -x /usr/bin/time ]; then
			t0=${EPOCHREALTIME/./}
			m=$(/usr/bin/time -f %M msmtp --host=127.0.0.1 --port="$PORT" --tls=off --auth=off \
				--from=alice@example.com -t <"$D/big" 2>&1 >/dev/null | tail -n1)
			t1=${EPOCHREALTIME/./}
			rec big_msmtp "$(mb "$m")"
			rec big_msmtp_s "$(secs $((t1 - t0)))"
			rec big_vs_msmtp "$(calc "$h / $m" 2)"
		fi
		progress+="; (7) $(tail -n1 "$D/res/big_hwm") MB"
	fi

	if part 3; then
		dport=$(free_port)
		bench_config "$D/d$k.conf" "$dport" "$D/spool-d$k"
		mount_outbox "$D/dr" "$D/d$k.conf"
		writers "$D/dr" "r$k-drain" $(( DRAIN_N / WRITERS )) "$WRITERS" ||
			fail "(3) a loop into the outbox failed"
		wait_settled "$D/dr" 600 || fail "(3) messages still pending 600 s after the loops"
		dn=$(( DRAIN_N / WRITERS * WRITERS ))
		server_start "$D/srv-d$k" "$dport"
		t0=${EPOCHREALTIME/./}
		printf 'To: bob@example.com\nSubject: bench trigger\n\n%s' "$BODY" >"$D/dr/r$k-trigger"
		wait_accepted "$SRV_COUNTER" $((dn + 1)) 900
		rec drain_done "$(rate $((dn + 1)) $((DONE_US - t0)))"
		rec drain_s "$(secs $((DONE_US - t0)))"
		umount_outbox "$D/dr"
		rm -rf "$D/spool-d$k"
		source_run "$dport" 2 "$dn"
		rec wire_2 "$(rate "$dn" "$SRC_US")"
		rec drain_vs_wire2 "$(calc "$(tail -n1 "$D/res/drain_done") / $(tail -n1 "$D/res/wire_2")" 2)"
		stop "$SRV_PID"
		progress+="; (3) $(tail -n1 "$D/res/drain_done")/s, wire $(tail -n1 "$D/res/wire_2")/s"
	fi

	if part 8; then
		sleep 3     # the connection kept 2 s after the last message closes
		rec idle_a "$(idle_ms "$A_PID")"
		progress+="; (8) $(tail -n1 "$D/res/idle_a") ms"
	fi
	echo "$progress"
done

# ---- (4) system calls per message --------------------------------------------

# strace_attach OUT ERR ARGS...: strace -p A_PID in the background, once
# it has attached to every thread. Sets ST_PID.
strace_attach()
{
	local out=$1 err=$2 i
	shift 2
	strace -f -o "$out" "$@" -p "$A_PID" 2>"$err" &
	ST_PID=$!
	track "$ST_PID"
	for ((i = 0; i < 200; i++)); do
		grep -q attached "$err" 2>/dev/null && { sleep 0.2; return 0; }
		kill -0 "$ST_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}
strace_detach()
{
	kill -INT "$ST_PID" 2>/dev/null
	wait "$ST_PID" 2>/dev/null
	untrack "$ST_PID"
}

sys_ok=0
if part 4; then
	if ! command -v strace >/dev/null 2>&1; then
		sys_why="strace is not installed (Debian package strace)"
	elif ! strace_attach "$D/strace-c.txt" "$D/strace-c.err" -c -S calls; then
		sys_why="strace cannot attach to the daemon: $(head -n3 "$D/strace-c.err")"
	else
		base=$(accepted "$MAIN")
		write_loop "$A" sys "$SYS_N" || fail "(4) the loop into the outbox failed"
		wait_accepted "$MAIN" $((base + SYS_N)) 600
		sleep 3     # the kept connection's QUIT, the last outcomes shown
		strace_detach
		sys_total=$(awk '$NF == "total" { print $4 }' "$D/strace-c.txt")
		sys_top=$(awk '/^-/ { sep++; next } sep == 1 && NF >= 5 { printf "%s %s\n", $NF, $4 }' \
			"$D/strace-c.txt" | head -n 8 |
			awk -v n="$SYS_N" '{ printf "%s%s %.1f", (NR > 1 ? ", " : ""), $1, $2 / n }')
		# Each message file: opens, reads and writes, with the paths (-y).
		spool_msg=$(realpath "$D/spool-a")/msg
		if strace_attach "$D/strace-y.txt" "$D/strace-y.err" -y \
			-e trace=open,openat,openat2,read,pread64,readv,preadv,preadv2,write,pwrite64,writev,pwritev,pwritev2,sendfile,splice,copy_file_range,mmap; then
			base=$(accepted "$MAIN")
			write_loop "$A" trace "$TRACE_N" || fail "(4) the loop into the outbox failed"
			wait_accepted "$MAIN" $((base + TRACE_N)) 300
			sleep 3
			strace_detach
			sys_files=$(awk -v dir="$spool_msg" '
				{
					# "PID call(args" starts a call; a "<... resumed>"
					# line was counted at its start
					if (!match($0, /^[0-9]+ +[a-z0-9_]+\(/)) next
					call = substr($0, 1, RLENGTH - 1)
					sub(/^[0-9]+ +/, "", call)
					rest = substr($0, RLENGTH + 1)
					file = ""
					if (call ~ /^open/) {
						# openat(DIRFD</dir>, "name", ...) or open("path", ...)
						if (match(rest, /^[^,]*<[^>]*>, "[^"]*"/)) {
							s = substr(rest, RSTART, RLENGTH)
							d = s; sub(/^[^<]*</, "", d); sub(/>.*/, "", d)
							nm = s; sub(/^.*, "/, "", nm); sub(/"$/, "", nm)
							file = nm ~ /^\// ? nm : d "/" nm
						} else if (match(rest, /^"[^"]*"/)) {
							file = substr(rest, 2, RLENGTH - 2)
						}
						# made ahead (reserved) by the spool: not
						# an open of a message the user wrote
						kind = rest ~ /O_CREAT/ ? "create" : "open"
					} else if (match(rest, /^[0-9]+<[^>]*>/)) {
						file = substr(rest, RSTART, RLENGTH)
						sub(/^[0-9]+</, "", file); sub(/>$/, "", file)
						kind = call ~ /read/ ? "read" : call ~ /write/ ? "write" : "other"
					}
					if (index(file, dir "/") != 1) next
					id = substr(file, length(dir) + 2)
					if (id !~ /^[0-9]+$/) next
					n[kind, id]++
					ids[id] = 1
				}
				END {
					# the files of the messages written meanwhile;
					# reserved files not yet taken are counted apart
					for (id in ids)
						if (n["write", id] + 0 == 0) {
							spare++
							delete ids[id]
						}
					split("open read write", ks, " ")
					for (j = 1; j <= 3; j++) {
						lo = -1; hi = 0; sum = 0; cnt = 0
						for (id in ids) {
							v = n[ks[j], id] + 0
							if (lo < 0 || v < lo) lo = v
							if (v > hi) hi = v
							sum += v; cnt++
						}
						printf "%s%s %.1f (%d..%d)", (j > 1 ? ", " : ""), ks[j], cnt ? sum / cnt : 0, lo, hi
					}
					printf "; %d files (made ahead, not counted as opens; %d more reserved)\n", cnt, spare
				}' "$D/strace-y.txt")
		else
			sys_files="strace -y could not attach"
		fi
		# By thread: the same loop traced whole (-f -o), each call
		# counted under the name of the thread that made it (FUSE
		# workers are named as the daemon is; a thread gone by the
		# end was one of them); then the loop into nullfs: what the
		# FUSE requests themselves cost, the part no file system
		# can do without.
		if strace_attach "$D/strace-t.txt" "$D/strace-t.err"; then
			base=$(accepted "$MAIN")
			write_loop "$A" thread "$SYS_N" || fail "(4) the loop into the outbox failed"
			wait_accepted "$MAIN" $((base + SYS_N)) 600
			sleep 3
			for t in /proc/"$A_PID"/task/*; do
				printf '%s %s\n' "${t##*/}" "$(cat "$t/comm" 2>/dev/null)"
			done >"$D/threads.txt"
			strace_detach
			sys_threads=$(awk -v n="$SYS_N" '
				FNR == NR { role[$1] = $2; next }
				match($0, /^[0-9]+ +[a-z0-9_]+\(/) {
					r = role[$1]
					if (r == "" || r == "outboxfs") r = "FUSE"
					sub(/^outboxfs-/, "", r)
					c[r]++
				}
				END {
					split("FUSE commit sync smtp spare pickup", o, " ")
					for (i = 1; i <= 6; i++)
						if (c[o[i]] / n >= 0.05) {
							printf "%s%s %.1f", sep, o[i], c[o[i]] / n
							sep = ", "
						}
				}' "$D/threads.txt" "$D/strace-t.txt")
		fi
		null_mount "$D/nsys"
		out_pid=$A_PID
		A_PID=$NULL_PID
		if strace_attach "$D/strace-n.txt" "$D/strace-n.err" -c -S calls; then
			write_loop "$bench_null_mnt" nsys "$SYS_N" || fail "(4) the loop into nullfs failed"
			strace_detach
			sys_null=$(awk '$NF == "total" { print $4 }' "$D/strace-n.txt")
		fi
		A_PID=$out_pid
		null_umount
		# the file system alone: the same loop into scratch names
		if strace_attach "$D/strace-s.txt" "$D/strace-s.err" -c -S calls; then
			write_loop "$A" ssys "$SYS_N" .tmp || fail "(4) the loop into scratch names failed"
			sleep 1
			strace_detach
			sys_scr=$(awk '$NF == "total" { print $4 }' "$D/strace-s.txt")
			rm -f "$A/ssys-"*.tmp
		fi
		sys_ok=1
		if [ $have_msmtp = 1 ]; then
			printf 'To: bob@example.com\nSubject: bench strace\n\n%s' "$BODY" |
				strace -f -c -o "$D/strace-m.txt" msmtp --host=127.0.0.1 --port="$PORT" \
					--tls=off --auth=off --from=alice@example.com -t
			sys_msmtp=$(awk '$NF == "total" { print $4 }' "$D/strace-m.txt")
		fi
	fi
fi

# ---- (5) a big spool -------------------------------------------------------------

# Built through the mount with no server listening: every message ends
# deferred. Writing stops after 300 s, whatever SPOOL_N asks.
spool_built=0
if part 5; then
	closed=$(free_port)
	bench_config "$D/e.conf" "$closed" "$D/spool-e"
	E=$D/e
	mount_outbox "$E" "$D/e.conf"
	t0=${EPOCHREALTIME/./}
	# build_loop COUNT J: the Jth of two loops, COUNT messages, in
	# chunks of 1,000 until 300 s have passed.
	build_loop()
	{
		local n=$1 j=$2 c
		for ((c = 0; c < n; c += 1000)); do
			write_loop "$E" "s$j-$c" $(( n - c < 1000 ? n - c : 1000 )) || return 1
			(( ${EPOCHREALTIME/./} - t0 > 300000000 )) && break
		done
		return 0
	}
	at_once 2 build_loop $(( SPOOL_N / 2 )) || fail "(5) a loop into the outbox failed"
	t_written=$(secs $(( ${EPOCHREALTIME/./} - t0 )))
	wait_settled "$E" 600
	t_settled=$(secs $(( ${EPOCHREALTIME/./} - t0 )))
	umount_outbox "$E"
	for ((k = 1; k <= ROUNDS; k++)); do
		t0=${EPOCHREALTIME/./}
		mount_outbox "$E" "$D/e.conf"
		t1=${EPOCHREALTIME/./}
		E_PID=$OUTBOX_PID
		rec spool_mount "$(secs $((t1 - t0)))"
		rec spool_rss "$(mb "$(kb "$E_PID" VmRSS)")"
		t0=${EPOCHREALTIME/./}
		ls "$E" >"$D/ls.out"
		t1=${EPOCHREALTIME/./}
		spool_built=$(grep -c '\.status$' "$D/ls.out")
		rec spool_ls "$(secs $((t1 - t0)))"
		t0=${EPOCHREALTIME/./}
		spool_lines=$(cat "$E/.queue" | wc -l)
		t1=${EPOCHREALTIME/./}
		rec spool_queue "$(secs $((t1 - t0)))"
		rec spool_hwm "$(mb "$(kb "$E_PID" VmHWM)")"
		sleep 0.5     # the listing's release reaches the daemon
		rec spool_rss2 "$(mb "$(kb "$E_PID" VmRSS)")"
		if part 8; then
			sleep 1
			rec idle_e "$(idle_ms "$E_PID")"
		fi
		umount_outbox "$E"
		echo "round $k/$ROUNDS: (5) mount $(tail -n1 "$D/res/spool_mount") s, VmHWM $(tail -n1 "$D/res/spool_hwm") MB"
	done
fi

[ -n "$bench_null_mnt" ] && null_umount

# ---- the summary ---------------------------------------------------------------------

echo
echo "min / median / max over $ROUNDS rounds; a ratio is taken within each round"
echo
if part 1 || part 2 || part 3; then
	echo "bounds:"
	have one_null && line "FUSE: the loop into nullfs, msgs/s" one_null 0
	have wire_1 && line "wire: $SOURCE_NAME, 1 session, msgs/s" wire_1 0
	have wire_2 && line "wire: 2 sessions, msgs/s" wire_2 0
	have wire_8 && line "wire: 8 sessions, msgs/s" wire_8 0
	for b in 1 8 64; do
		line "disk: commit of $b file(s) (fdatasync each), ms" "disk_ms_$b" 2
		line "      at most, msgs/s" "disk_rate_$b" 0
	done
fi
if part 1; then
	echo "(1) 1 writer, $N messages by one shell loop:"
	line "loop into outboxfs, msgs/s" one_loop 0
	tline "ratio outboxfs/nullfs (FUSE bound)" one_vs_null 2 ">=" 0.9
	if have one_scr; then
		line "the same into scratch names (never sent), msgs/s" one_scr 0
		line "ratio scratch/nullfs (the file system alone)" one_scr_vs_null 2
	fi
	if have one_tfs; then
		line "the same, spool on a tmpfs, msgs/s" one_tfs 0
		line "ratio outboxfs (tmpfs spool)/nullfs" one_tfs_vs_null 2
	fi
	line "until all accepted, msgs/s" one_done 0
	echo "    machine CPU per message (every process), us:"
	line "  the loop into nullfs" null_cpu 0
	line "  the loop into scratch names" scr_cpu 0
	line "  the loop into outboxfs, until all accepted" one_cpu 0
	line "  the wire: $SOURCE_NAME and the server" src_cpu 0
	echo "    at most, over nullfs, all CPUs busy (the CPU of the loop and of the wire):"
	line "  any FUSE outbox (nullfs loop + wire)" one_cpu_bound 2
	line "  outboxfs's file system (scratch loop + wire)" scr_cpu_bound 2
	if have one_msmtp; then
		line "msmtp, one run per message ($MSMTP_N), msgs/s" one_msmtp 1
		tline "ratio outboxfs (all accepted)/msmtp" one_vs_msmtp 1 ">=" 50
	fi
fi
if part 2; then
	echo "(2) $WRITERS writers at once, $N2 messages:"
	line "until all accepted, msgs/s" many_done 0
	tline "ratio outboxfs/wire bound (1 session)" many_vs_wire1 2 ">=" 0.9
	line "FUSE bound: the same loops into nullfs, msgs/s" many_null 0
	line "ratio outboxfs/FUSE bound" many_vs_null 2
	line "ratio FUSE bound/wire bound (the most any fs reaches)" null_vs_wire1 2
	if have many_msmtp; then
		line "msmtp, $WRITERS loops ($((MPER * WRITERS)) runs), msgs/s" many_msmtp 1
		line "ratio outboxfs/msmtp" many_vs_msmtp 1
	fi
fi
if part 3; then
	echo "(3) drain: $(( DRAIN_N / WRITERS * WRITERS )) deferred while the server was down, + 1 that retries them:"
	line "until all accepted, s" drain_s 2
	line "until all accepted, msgs/s" drain_done 0
	tline "ratio outboxfs/wire bound (2 sessions)" drain_vs_wire2 2 ">=" 0.9
	echo "    msmtp: no figure (it has no queue)"
fi
if part 4; then
	echo "(4) daemon system calls, one run of $SYS_N messages:"
	if [ $sys_ok = 1 ]; then
		per=$(calc "$sys_total / $SYS_N" 1)
		ok=$(awk -v p="$per" 'BEGIN { print (p <= 25 ? "met" : "NOT met") }')
		printf '    %-44s %s   target <= 25: %s\n' "per message ($sys_total in all)" "$per" "$ok"
		printf '    %-44s %s\n' "most frequent, per message" "$sys_top"
		[ -n "${sys_threads:-}" ] &&
			printf '    %-44s %s\n' "by thread, per message (a second run)" "$sys_threads"
		if [ -n "${sys_null:-}" ]; then
			nper=$(calc "$sys_null / $SYS_N" 1)
			printf '    %-44s %s\n' "FUSE bound: the loop into nullfs, per message" "$nper"
			printf '    %-44s %s\n' "outboxfs beyond the FUSE bound, per message" "$(calc "$per - $nper" 1)"
		fi
		[ -n "${sys_scr:-}" ] &&
			printf '    %-44s %s\n' "scratch names (stored, never sent), per message" "$(calc "$sys_scr / $SYS_N" 1)"

		printf '    %-44s %s\n' "each message file ($TRACE_N messages)" "$sys_files"
		if [ -n "${sys_msmtp:-}" ]; then
			printf '    %-44s %s\n' "msmtp, one run (one message)" "$sys_msmtp"
			printf '    %-44s %s\n' "ratio outboxfs/msmtp" "$(calc "$per / $sys_msmtp" 3)"
		fi
	else
		echo "    not measured: $sys_why"
	fi
fi
if part 5; then
	note_n=""
	[ "$spool_built" -lt "$SPOOL_N" ] && note_n=" (asked $SPOOL_N: writing stopped at 300 s)"
	echo "(5) $spool_built messages in the spool$note_n; written in $t_written s, all deferred after $t_settled s:"
	tline "mount, s" spool_mount 2 "<=" 2
	tline "RSS after the mount (VmRSS), MB" spool_rss 1 "<=" 48
	tline "RSS after ls and cat .queue (VmRSS), MB" spool_rss2 1 "<=" 48
	line "ls, s" spool_ls 2
	line "cat .queue ($spool_lines lines), s" spool_queue 2
	line "peak RSS, mount and listings (VmHWM), MB" spool_hwm 1
fi
if part 6; then
	echo "(6) close -> state: sent, $LAT_N messages one at a time:"
	line "p50, ms" lat_p50 2
	line "p95, ms" lat_p95 2
	line "max, ms" lat_max 2
	if have lat_vs_msmtp; then
		line "msmtp, its whole run per message, p50, ms" msmtp_p50 1
		line "ratio outboxfs p50/msmtp p50" lat_vs_msmtp 3
	fi
	tline "p50 (about 2 ms)" lat_p50 2 "<=" 2
	line "p50 while dd writes $DIRTY_MB MB beside it, ms" lat_dirty_p50 2
	line "p95 while dd writes $DIRTY_MB MB beside it, ms" lat_dirty_p95 2
	if have lat_j_p50; then
		line "spool on ext4 with its journal (an image): p50, ms" lat_j_p50 2
		line "the same: p95, ms" lat_j_p95 2
		line "the same: disk commit of 1 file, ms" disk_ms_j 2
	fi
fi
if part 7; then
	echo "(7) a $BIG_MB MB message (cp into the outbox, until sent):"
	line "seconds" big_s 2
	line "daemon RSS growth over the send, MB" big_grew 1
	tline "daemon peak RSS (VmHWM), MB" big_hwm 1 "<=" 16
	if have big_msmtp; then
		line "msmtp: seconds" big_msmtp_s 2
		line "msmtp: peak RSS, MB" big_msmtp 1
		line "ratio outboxfs/msmtp peak RSS" big_vs_msmtp 2
	fi
fi
if part 8; then
	echo "(8) idle CPU over $IDLE_S s:"
	have idle_a && tline "after the rounds, all mail sent, ms" idle_a 0 "<=" 0
	have idle_e && tline "with the deferred spool of (5), ms" idle_e 0 "<=" 0
fi
exit 0
