# tests/lib.sh — helpers for the mount tests, sourced by
# tests/integration/*.sh, tests/demo.sh and tests/bench.sh. It sources
# tests/lib-servers.sh too. A test begins with
#     . "$(dirname "$0")/../lib.sh" || exit 1
# so that a library not found stops it at once (without the library
# every check would be a "command not found" and the script would end 0).
#
# What it gives: temp dirs, a config writer, mount/unmount of the daemon
# by PID, bounded waits, assertions that print what was expected and what
# was found, and one cleanup that runs on exit (trap) and stops only what
# this script started. It never kills by name and never waits unbounded.
#
# Environment (set by tests/run-integration.sh, defaults for a plain run):
#   TOP       the source tree
#   OUTBOXFS  the daemon
#   TOOLS     directory of the test tool binaries (testsmtpd)
#   PY        a python3 that has aiosmtpd (Debian's /usr/bin/python3)
#   OUTBOXFS_SAN=1  the daemon is built with ASan/UBSan: its stderr is
#             checked for reports at unmount and at exit.

set -u

: "${TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${OUTBOXFS:=$TOP/outboxfs}"
: "${TOOLS:=$TOP/build/tools}"
: "${PY:=/usr/bin/python3}"
: "${OUTBOXFS_SAN:=0}"
export TOP OUTBOXFS TOOLS PY

. "$(dirname "${BASH_SOURCE[0]}")/lib-servers.sh" ||
	{ echo "FAIL: cannot source tests/lib-servers.sh" >&2; exit 1; }

lib_tmps=()                 # directories removed by cleanup
lib_pids=()                 # other processes stopped by cleanup
lib_mounts=()               # other mounts lazily unmounted by cleanup
lib_umounts=()              # file systems (tmpfs) unmounted by cleanup
declare -A lib_mount_pid    # mountpoint -> daemon PID
declare -A lib_mount_log    # mountpoint -> daemon stderr file
lib_logs=()                 # every daemon stderr file, for the ASan check
lib_nmount=0
lib_cleaning=0
lib_daemon_env=()           # NAME=VALUE words for the next daemon started
lib_users=()                # users made by add_test_user, removed by cleanup
lib_groups=()               # groups made by add_test_group, removed too

# ---- reporting ---------------------------------------------------------

# fail MSG: print MSG with the line of the test that failed, exit 1.
fail()
{
	local i where=""
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		case ${BASH_SOURCE[$i]} in
		*/lib.sh|*/lib-servers.sh) continue;;
		esac
		where="$(basename "${BASH_SOURCE[$i]}"):${BASH_LINENO[$((i - 1))]}: "
		break
	done
	printf 'FAIL: %s%s\n' "$where" "$*" >&2
	exit 1
}

note()
{
	printf '# %s\n' "$*"
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq()
{
	[ "$1" = "$2" ] && return 0
	fail "${3:-value}: expected [$1], found [$2]"
}

# assert_contains HAYSTACK NEEDLE [WHAT]: fixed-string match.
assert_contains()
{
	case $1 in
	*"$2"*) return 0;;
	esac
	fail "${3:-text} should contain [$2]; found:
$1"
}

assert_not_contains()
{
	case $1 in
	*"$2"*) fail "${3:-text} should not contain [$2]; found:
$1";;
	esac
	return 0
}

# assert_file_contains FILE NEEDLE
assert_file_contains()
{
	[ -f "$1" ] || fail "$1 should exist"
	grep -qF -- "$2" "$1" && return 0
	fail "$1 should contain [$2]; found:
$(cat "$1")"
}

# assert_line FILE REGEX: some line of FILE matches the extended REGEX.
assert_line()
{
	[ -f "$1" ] || fail "$1 should exist"
	grep -qE -- "$2" "$1" && return 0
	fail "$1 should have a line matching /$2/; found:
$(cat "$1")"
}

assert_missing()
{
	[ -e "$1" ] && fail "$1 should not exist"
	return 0
}

# ---- temp dirs, ports --------------------------------------------------

# mk_tmp [VAR]: a new directory under /tmp, removed by cleanup, its path
# in MK_TMP and in VAR. (Not T=$(mk_tmp): a command substitution runs in a
# subshell, which could not register the directory for cleanup.)
mk_tmp()
{
	MK_TMP=$(mktemp -d /tmp/outboxfs-test.XXXXXX) || fail "mktemp failed"
	lib_tmps+=("$MK_TMP")
	[ $# -eq 0 ] || printf -v "$1" '%s' "$MK_TMP"
}

# free_port: prints a TCP port on 127.0.0.1 that nobody listens on now.
free_port()
{
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# register_pid PID: stop PID (TERM, then KILL) at cleanup.
register_pid()
{
	lib_pids+=("$1")
}

# register_mount MNT: a mount this test made without mount_outbox (e.g.
# a daemon that went to the background); cleanup unmounts it lazily.
register_mount()
{
	lib_mounts+=("$1")
}

# register_umount DIR: a file system (a tmpfs) this test mounted on DIR;
# cleanup unmounts it after every outbox, before temp dirs go.
register_umount()
{
	lib_umounts+=("$1")
}

# stop_by_pid PID: TERM, wait up to 5 s, KILL. Only processes we started.
stop_by_pid()
{
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# ---- configuration -----------------------------------------------------

# write_config FILE PORT [LINE...]: an msmtprc for a server on
# 127.0.0.1:PORT without TLS, the spool in FILE's directory, settle 100 ms.
# Each LINE is appended as written (e.g. "account work", "from w@x").
write_config()
{
	local file=$1 port=$2 line
	shift 2
	{
		echo "# outboxfs test configuration"
		echo "defaults"
		echo "host 127.0.0.1"
		echo "port $port"
		echo "tls off"
		echo "auth off"
		echo "spool $(dirname "$file")/spool"
		echo "settle 100"
		echo
		echo "account default"
		echo "from alice@example.com"
		for line in "$@"; do
			echo "$line"
		done
	} >"$file" || fail "cannot write $file"
	chmod 600 "$file"
}

# ---- mount and unmount -------------------------------------------------

# is_mounted MNT: MNT is a fuse.outboxfs mount in /proc/mounts.
is_mounted()
{
	local m
	m=$(realpath -m "$1")
	awk -v m="$m" '$2 == m && $3 == "fuse.outboxfs" { found = 1 }
		END { exit !found }' /proc/mounts
}

# _lib_spawn MNT CONFIG OPTS: the daemon started in the foreground in the
# background on MNT (made, then resolved into _lib_mnt), its output in a
# new file next to CONFIG (_lib_log); OUTBOX_PID is its PID.
_lib_spawn()
{
	mkdir -p "$1"
	_lib_mnt=$(realpath "$1")
	lib_nmount=$((lib_nmount + 1))
	_lib_log=$(dirname "$2")/outboxfs.$lib_nmount.log
	env "${lib_daemon_env[@]}" \
		"$OUTBOXFS" -f -o "config=$2${3:+,$3}" "$_lib_mnt" \
		>>"$_lib_log" 2>&1 </dev/null &
	OUTBOX_PID=$!
	lib_logs+=("$_lib_log")
}

# mount_outbox MNT CONFIG [OPTS]: runs the daemon in the foreground in the
# background, its stderr in a file, and waits (max 10 s) for the mount.
# Sets OUTBOX_PID.
mount_outbox()
{
	local mnt log i pid
	_lib_spawn "$1" "$2" "${3:-}"
	mnt=$_lib_mnt log=$_lib_log pid=$OUTBOX_PID
	lib_mount_pid[$mnt]=$pid
	lib_mount_log[$mnt]=$log
	for ((i = 0; i < 200; i++)); do
		is_mounted "$mnt" && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			fail "outboxfs exited ($?) before mounting $mnt; its output:
$(cat "$log")"
		fi
		sleep 0.05
	done
	fail "$mnt not mounted after 10 s; outboxfs output:
$(cat "$log")"
}

# try_mount_outbox MNT CONFIG [OPTS]: like mount_outbox for a mount that
# may be refused. Returns 0 when MNT got mounted (OUTBOX_PID set, cleanup
# unmounts it), 1 when the daemon exited first: TRY_RC is its exit
# status, TRY_LOG the file with its output. Fails after 10 s of neither.
try_mount_outbox()
{
	local mnt log i pid
	_lib_spawn "$1" "$2" "${3:-}"
	mnt=$_lib_mnt log=$_lib_log pid=$OUTBOX_PID
	TRY_LOG=$log
	TRY_RC=
	for ((i = 0; i < 200; i++)); do
		if is_mounted "$mnt"; then
			lib_mount_pid[$mnt]=$pid
			lib_mount_log[$mnt]=$log
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			TRY_RC=$?
			is_mounted "$mnt" && fusermount3 -u -z "$mnt" 2>/dev/null
			return 1
		fi
		sleep 0.05
	done
	lib_mount_pid[$mnt]=$pid
	lib_mount_log[$mnt]=$log
	fail "$mnt: outboxfs neither mounted nor exited in 10 s; its output:
$(cat "$log")"
}

# ---- fault injection (tests/tools/faultshim.c) ----------------------------

# fault_setup DIR: the next daemons started by mount_outbox or
# try_mount_outbox run with the fault shim preloaded, controlled by the
# files in DIR (created here, empty: no fault on). An ASan daemon is told
# not to insist on being first in the library list.
fault_setup()
{
	local shim=$TOOLS/faultshim.so asan=${ASAN_OPTIONS:-}
	[ -f "$shim" ] || fail "the fault shim $shim is not built (make all)"
	mkdir -p "$1" || fail "mkdir $1"
	FAULT_CTL=$(realpath "$1")
	lib_daemon_env=("LD_PRELOAD=$shim" "FAULTSHIM_CTL=$FAULT_CTL")
	if [ "$OUTBOXFS_SAN" = 1 ]; then
		lib_daemon_env+=("ASAN_OPTIONS=${asan:+$asan:}verify_asan_link_order=0")
	fi
}

# fault_clear_env: the next daemons start without the shim.
fault_clear_env()
{
	lib_daemon_env=()
}

# fault_on NAME [CONTENT]: turn the fault NAME on (see faultshim.c), with
# CONTENT as its argument. The file appears whole (temp + rename).
fault_on()
{
	printf '%s\n' "${2:-}" >"$FAULT_CTL/.$1.tmp" &&
		mv -f "$FAULT_CTL/.$1.tmp" "$FAULT_CTL/$1" ||
		fail "cannot turn on fault $1"
}

# fault_off NAME: turn it off.
fault_off()
{
	rm -f "$FAULT_CTL/$1"
}

# fault_hits [NAME]: how many calls the shim failed (with fault NAME).
fault_hits()
{
	local n
	n=$(grep -c -- "^${1:-}" "$FAULT_CTL/hits" 2>/dev/null)
	echo "${n:-0}"
}

# umount_outbox MNT: fusermount3 -u, wait (max 15 s: the daemon gives a
# transaction in flight 10 s) for the daemon to exit; else lazy unmount
# and kill. Sets OUTBOX_RC to the daemon's exit
# status (or 128+signal).
umount_outbox()
{
	local mnt pid i
	mnt=$(realpath -m "$1")
	pid=${lib_mount_pid[$mnt]:-}
	OUTBOX_RC=
	if is_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null ||
			{ sleep 0.2; fusermount3 -u "$mnt" 2>/dev/null; } ||
			fusermount3 -u -z "$mnt" 2>/dev/null
	fi
	if [ -n "$pid" ]; then
		for ((i = 0; i < 300; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$pid" 2>/dev/null; then
			printf '# outboxfs (pid %s) still running 15 s after unmount; killing it\n' "$pid" >&2
			fusermount3 -u -z "$mnt" 2>/dev/null
			kill "$pid" 2>/dev/null
			sleep 0.5
			kill -9 "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
		OUTBOX_RC=$?
		unset "lib_mount_pid[$mnt]"
	fi
	is_mounted "$mnt" && fusermount3 -u -z "$mnt" 2>/dev/null
	[ "$lib_cleaning" = 1 ] || san_check
	return 0
}

# kill_outbox MNT: kill -9 the daemon (a crash) and lazily unmount.
kill_outbox()
{
	local mnt pid
	mnt=$(realpath -m "$1")
	pid=${lib_mount_pid[$mnt]:-}
	[ -n "$pid" ] || fail "kill_outbox: nothing mounted on $mnt by this test"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "lib_mount_pid[$mnt]"
	fusermount3 -u -z "$mnt" 2>/dev/null
	local i
	for ((i = 0; i < 100; i++)); do
		is_mounted "$mnt" || return 0
		sleep 0.05
	done
	fail "$mnt still mounted after kill -9 and fusermount3 -u -z"
}

# bg_umount MNT: unmount an outboxfs that runs in the background (not
# started by mount_outbox), lazily if it is busy; waits up to 5 s.
bg_umount()
{
	local i
	fusermount3 -u "$1" 2>/dev/null || fusermount3 -u -z "$1" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		grep -q " $1 fuse" /proc/mounts || return 0
		sleep 0.05
	done
}

# outbox_log MNT: the daemon's stderr so far.
outbox_log()
{
	local mnt
	mnt=$(realpath -m "$1")
	cat "${lib_mount_log[$mnt]:-/dev/null}" 2>/dev/null
}

# san_watch FILE: FILE holds output of a daemon run by hand; check it
# for sanitizer reports like the ones mount_outbox starts.
san_watch()
{
	lib_logs+=("$1")
}

# san_check: with OUTBOXFS_SAN=1, fail if a daemon reported an error.
san_check()
{
	local log
	[ "$OUTBOXFS_SAN" = 1 ] || return 0
	for log in "${lib_logs[@]}"; do
		[ -f "$log" ] || continue
		if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
			cat "$log" >&2
			lib_logs=()
			fail "sanitizer report in the daemon's output ($log)"
		fi
	done
	return 0
}

# ---- waiting -----------------------------------------------------------

# status_state FILE.status: the value of its state: line ("" if none).
status_state()
{
	sed -n 's/^state: //p' "$1" 2>/dev/null | head -n1
}

# wait_state FILE.status STATE SECONDS: poll until state: is STATE
# (several allowed as "sent|partial"). Fails early on a different final
# state, and at the deadline with the status file shown.
# wait_quit STATUS SECS: waits until the transcript in STATUS ends with
# the server's 221: a connection is kept open for connection_cache
# (2 s) after its last message, whose transcript gets the QUIT then.
wait_quit()
{
	_lib_quit() { tail -n 1 "$1" | grep -q '^S: 221'; }
	wait_until "$2" _lib_quit "$1" ||
		fail "$1 does not end with the 221 to QUIT after $2 s:
$(cat "$1")"
}

wait_state()
{
	local file=$1 want=$2 secs=$3 i n s
	n=$((secs * 20))
	for ((i = 0; i <= n; i++)); do
		s=$(status_state "$file")
		case "|$want|" in
		*"|$s|"*) [ -n "$s" ] && return 0;;
		esac
		case $s in
		sent|partial|failed)
			fail "$file: expected state $want, found final state $s:
$(cat "$file" 2>&1)";;
		esac
		sleep 0.05
	done
	fail "$file: state $want not reached in $secs s (state [$s]); it reads:
$(cat "$file" 2>&1)"
}

# wait_until SECONDS CMD...: poll CMD every 50 ms; return 1 at the deadline.
wait_until()
{
	local secs=$1 i n
	shift
	n=$((secs * 20))
	for ((i = 0; i <= n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# journal_used FILE: the bytes of the journal FILE's records (the zeros
# after them are written ahead for the records to come).
journal_used()
{
	local n
	n=$(tr -d '\0' <"$1" | wc -c)
	echo "$n"
}

# count_eml DIR: how many messages a capture server saved in DIR (it
# writes N.eml, then N.env: a message counts once its .env exists).
count_eml()
{
	local n
	n=$(find "$1" -maxdepth 1 -name '*.env' 2>/dev/null | wc -l)
	echo "$n"
}

# wait_count DIR N SECONDS: wait until DIR holds N received messages.
wait_count()
{
	local dir=$1 want=$2 secs=$3
	_lib_count_ge() { [ "$(count_eml "$dir")" -ge "$want" ]; }
	wait_until "$secs" _lib_count_ge ||
		fail "$dir: expected $want messages received in $secs s, found $(count_eml "$dir")"
}

# ---- servers (tests/lib-servers.sh), stopped by cleanup -----------------

# smtpd_start DIR [testsmtpd args...]: testsmtpd saving messages in DIR
# (its port, pid and stderr files go there too). Sets SMTP_PORT and
# SMTPD_PID.
smtpd_start()
{
	local dir=$1
	shift
	start_testsmtpd "$dir" -d "$dir" "$@" ||
		fail "testsmtpd did not start: $(cat "$dir/stderr" 2>/dev/null)"
	register_pid "$SMTPD_PID"
}

# aiosmtpd_start DIR [aiosmtpd_server.py args...]: the same with
# Python's aiosmtpd. Sets AIOSMTPD_PORT and AIOSMTPD_PID.
aiosmtpd_start()
{
	local dir=$1
	shift
	start_aiosmtpd "$dir" -d "$dir" "$@" ||
		fail "aiosmtpd did not start: $(cat "$dir/aio-stderr" 2>/dev/null)"
	register_pid "$AIOSMTPD_PID"
}

# ---- skip and cleanup --------------------------------------------------

# skip_without_fuse: exit 77 only when FUSE is truly absent.
skip_without_fuse()
{
	if [ ! -e /dev/fuse ]; then
		echo "SKIP: /dev/fuse is absent"
		exit 77
	fi
	if ! command -v fusermount3 >/dev/null 2>&1; then
		echo "SKIP: fusermount3 is not installed (Debian package fuse3)"
		exit 77
	fi
	[ -x "$OUTBOXFS" ] || fail "the daemon $OUTBOXFS is not built"
}

# outbox_start [-t DIR] [-r NAME | -n] [-c LINE]... [-o OPTS] [-- ARG...]
# The start most mount tests share: exit 77 without FUSE
# (skip_without_fuse); T, a new temp directory (mk_tmp), or DIR made
# before (when a server argument or a LINE names a file in it); testsmtpd
# saving to T/NAME (default rx) with the testsmtpd ARGs (smtpd_start:
# SMTP_PORT, SMTPD_PID); a configuration T/config for it (write_config,
# with each LINE); the outbox mounted on M=T/mnt (mount_outbox, with the
# mount options OPTS: OUTBOX_PID). OUTBOX_PORT is the port the
# configuration names. With -n no server is started: that port is one
# nobody listens on yet (free_port), so mail defers until the test starts
# a server there (smtpd_start DIR -p "$OUTBOX_PORT").
outbox_start()
{
	local dir= rx=rx opts= noserver=0 lines=()
	while [ $# -gt 0 ]; do
		case $1 in
		-t | -r | -c | -o)
			[ $# -ge 2 ] || fail "outbox_start: $1 needs a value";;
		esac
		case $1 in
		-t) dir=$2; shift 2;;
		-r) rx=$2; shift 2;;
		-n) noserver=1; shift;;
		-c) lines+=("$2"); shift 2;;
		-o) opts=$2; shift 2;;
		--) shift; break;;
		*) fail "outbox_start: unknown option [$1]";;
		esac
	done
	skip_without_fuse
	if [ -n "$dir" ]; then T=$dir; else mk_tmp T; fi
	if [ "$noserver" = 1 ]; then
		[ $# -eq 0 ] || fail "outbox_start -n: no server to take [$*]"
		OUTBOX_PORT=$(free_port)
	else
		smtpd_start "$T/$rx" "$@"
		OUTBOX_PORT=$SMTP_PORT
	fi
	write_config "$T/config" "$OUTBOX_PORT" "${lines[@]}"
	M=$T/mnt
	mount_outbox "$M" "$T/config" "$opts"
}

# add_test_user: a new local user with a unique name and its own group,
# no home directory, removed by cleanup. Sets TU_NAME, TU_UID, TU_GID.
# Exits 77 when not root or useradd (passwd package) is absent.
add_test_user()
{
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: a second user needs root (useradd)"
		exit 77
	fi
	if ! command -v useradd >/dev/null 2>&1 ||
		! command -v setpriv >/dev/null 2>&1; then
		echo "SKIP: useradd (passwd) or setpriv (util-linux) is absent"
		exit 77
	fi
	TU_NAME=obx$$$RANDOM
	TU_NAME=${TU_NAME:0:30}
	useradd -M -U -s /usr/sbin/nologin "$TU_NAME" ||
		fail "useradd $TU_NAME failed"
	lib_users+=("$TU_NAME")
	TU_UID=$(id -u "$TU_NAME") || fail "id -u $TU_NAME"
	TU_GID=$(id -g "$TU_NAME") || fail "id -g $TU_NAME"
}

# add_test_group: a new local group without members, removed by cleanup.
# Sets TG_NAME, TG_GID. Exits 77 when not root or groupadd is absent.
add_test_group()
{
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: a new group needs root (groupadd)"
		exit 77
	fi
	if ! command -v groupadd >/dev/null 2>&1; then
		echo "SKIP: groupadd (passwd) is absent"
		exit 77
	fi
	TG_NAME=obg$$$RANDOM
	TG_NAME=${TG_NAME:0:30}
	groupadd "$TG_NAME" || fail "groupadd $TG_NAME failed"
	lib_groups+=("$TG_NAME")
	TG_GID=$(getent group "$TG_NAME" | cut -d: -f3)
	[ -n "$TG_GID" ] || fail "getent group $TG_NAME"
}

# as_test_user CMD...: runs CMD as the user of add_test_user, with its
# own uid and group and no supplementary groups.
as_test_user()
{
	setpriv --reuid="$TU_UID" --regid="$TU_GID" --clear-groups -- "$@"
}

# cleanup: unmount what we mounted, stop what we started, remove temp dirs.
# Keeps the script's exit status, but turns a pass into a failure when a
# sanitizer reported something.
cleanup()
{
	local rc=$? mnt pid d
	[ "$lib_cleaning" = 1 ] && return
	lib_cleaning=1
	for mnt in "${!lib_mount_pid[@]}"; do
		umount_outbox "$mnt" 2>/dev/null
	done
	for mnt in "${lib_mounts[@]}"; do
		is_mounted "$mnt" && fusermount3 -u -z "$mnt" 2>/dev/null
	done
	for pid in "${lib_pids[@]}"; do
		stop_by_pid "$pid"
	done
	for mnt in "${lib_umounts[@]}"; do
		mountpoint -q "$mnt" && umount -l "$mnt" 2>/dev/null
	done
	for d in "${lib_users[@]}"; do
		userdel "$d" 2>/dev/null
	done
	for d in "${lib_groups[@]}"; do
		groupdel "$d" 2>/dev/null
	done
	if [ "$OUTBOXFS_SAN" = 1 ]; then
		for d in "${lib_logs[@]}"; do
			[ -f "$d" ] || continue
			if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$d"; then
				echo "FAIL: sanitizer report in the daemon's output:" >&2
				cat "$d" >&2
				rc=1
			fi
		done
	fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		for d in "${lib_logs[@]}"; do
			[ -s "$d" ] || continue
			echo "--- daemon output $d (last 40 lines):" >&2
			tail -n 40 "$d" >&2
		done
	fi
	for d in "${lib_tmps[@]}"; do
		# Never follow into a mount that is still there.
		if grep -qF " $d/" /proc/mounts; then
			echo "# leaving $d: something is still mounted inside" >&2
			continue
		fi
		rm -rf "$d"
	done
	exit_skipped "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- what a capture server received ------------------------------------

# eml_with DIR TEXT: the received messages (.eml) in DIR that contain TEXT,
# one path a line.
eml_with()
{
	local f
	for f in $(grep -lF -- "$2" "$1"/*.eml 2>/dev/null); do
		[ -e "${f%.eml}.env" ] && printf '%s\n' "$f"
	done
}

# one_eml_with DIR TEXT: the single received message containing TEXT;
# fails when there is none or more than one (a duplicate).
one_eml_with()
{
	local found n
	found=$(eml_with "$1" "$2")
	n=$(printf '%s' "$found" | grep -c .)
	[ "$n" = 1 ] || fail "$1: expected exactly one received message containing [$2], found $n: $found"
	printf '%s\n' "$found"
}

# eml_of STATUSFILE DIR: the single message in DIR whose Message-ID is the
# one NAME.status shows.
eml_of()
{
	local id
	id=$(sed -n 's/^message-id: //p' "$1")
	[ -n "$id" ] || fail "$1 has no message-id: line:
$(cat "$1")"
	one_eml_with "$2" "$id"
}

# eml_body EML: the body of a received message with CRLF turned into LF.
# Fails (exit 1, reason on stderr) when a line does not end in CRLF or a
# bare CR is inside: nothing but CRLF may reach the wire.
eml_body()
{
	"$PY" - "$1" <<'PYEOF'
import sys
data = open(sys.argv[1], "rb").read()
lines = data.split(b"\r\n")
if lines and lines[-1] == b"":
    lines.pop()
else:
    sys.exit("%s: does not end in CRLF" % sys.argv[1])
for i, l in enumerate(lines):
    if b"\n" in l or b"\r" in l:
        sys.exit("%s: line %d has a bare CR or LF: %r" % (sys.argv[1], i + 1, l))
try:
    blank = lines.index(b"")
except ValueError:
    sys.exit("%s: no blank line after the header" % sys.argv[1])
out = b"".join(l + b"\n" for l in lines[blank + 1:])
sys.stdout.buffer.write(out)
PYEOF
}

# eml_headers EML: the header of a received message, unfolded, LF ends.
eml_headers()
{
	"$PY" - "$1" <<'PYEOF'
import sys
data = open(sys.argv[1], "rb").read()
head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
out = []
for l in head.split("\r\n"):
    if l[:1] in (" ", "\t") and out:
        out[-1] += l
    else:
        out.append(l)
print("\n".join(out))
PYEOF
}

# assert_body EML EXPECTED: the body of EML (LF form) is exactly EXPECTED.
assert_body()
{
	local got
	got=$(eml_body "$1") || fail "$1 is not clean CRLF text"
	[ "$got" = "$2" ] || fail "$1: body differs.
expected:
$2
found:
$got"
}
