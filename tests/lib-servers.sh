# Shell functions that start and stop the loopback SMTP test servers, and
# the scaffolding of the integration scripts that do not use tests/lib.sh.
# tests/lib.sh sources it; a test without tests/lib.sh sources it alone,
# and stops when it cannot (its checks would not exist):
#     . "$(dirname "$0")/../lib-servers.sh" || exit 1
#
# Needs $TOOLS (dir of testsmtpd) and $PY (/usr/bin/python3) from
# tests/run-integration.sh; for a plain run it defaults them, $TOP and
# $OUTBOXFS as tests/lib.sh does. Sourcing registers no trap: the caller
# owns cleanup, either tests/lib.sh's or srv_scratch's below.
#
#   start_testsmtpd DIR [testsmtpd args...]
#       starts testsmtpd in the background with --port-file DIR/port,
#       --pid-file DIR/pid; waits up to 10 s for the port; sets SMTP_PORT
#       and SMTPD_PID. Its stderr goes to DIR/stderr. Returns 1 on failure.
#   start_aiosmtpd DIR [aiosmtpd_server.py args...]
#       the same for tests/aiosmtpd_server.py (port file DIR/aio-port,
#       pid file DIR/aio-pid, stderr DIR/aio-stderr); sets AIOSMTPD_PORT
#       and AIOSMTPD_PID.
#   stop_pid PID        TERM, wait up to 5 s, then KILL. Never fails.
#   wait_file FILE SEC  waits until FILE exists (non-empty); 1 on timeout.
#   wait_gone PID SEC   waits until PID exited (or is a zombie); 1 on
#                       timeout. Never signals it.
#   have_ipv6_loopback  0 when a socket can be bound on ::1.
#
# A test runs all it tests, or says it did not: a prerequisite missing for
# the whole test is "echo 'SKIP: why'; exit 77"; for a part of it:
#
#   skip_part WHY       the part WHY names is not run here (WHY says what
#                       is missing and what is left out). The rest runs;
#                       at exit (either cleanup) a test that would have
#                       passed exits 77 with "SKIP: WHY" as its last line,
#                       a failing one still fails.
#
# Neither starts with a default spool: pass -d DIR yourself.
#
# For scripts without tests/lib.sh (never call these next to it: it owns
# the EXIT trap there):
#
#   srv_need_built FILE...  exit 1 unless each FILE is an executable.
#   srv_need_openssl        exit 77 without the openssl command.
#   srv_need_aiosmtpd       exit 77 when $PY cannot import aiosmtpd.
#   srv_scratch VAR         a new temp directory, its path in VAR; an EXIT
#                           trap stops every tracked server, then removes
#                           it.
#   srv_self_cert           a self-signed certificate for localhost and
#                           127.0.0.1 in SCRATCH/cert.pem, its key in
#                           SCRATCH/key.pem; without the openssl command
#                           returns 1 after skip_part (the caller leaves
#                           its TLS part out); exits 1 when openssl fails.
#   srv_track PID           stop PID at exit.
#   srv_stop_all            stop every tracked server now.
#   srv_certs VAR           tests/certs.sh SCRATCH/c, that directory in
#                           VAR; exit 77 without the openssl command, 1
#                           when certs.sh fails.
#   srv_testsmtpd NAME IDLE [testsmtpd args...]
#       testsmtpd in SCRATCH/NAME, saving to SCRATCH/NAME/sp, its log in
#       SCRATCH/NAME/log, --idle-timeout IDLE; tracked; sets PORT, and
#       PORT_NAME where NAME is a shell name (and SMTP_PORT, SMTPD_PID).
#       Exits 1 when it does not start.
#   srv_aiosmtpd NAME IDLE [aiosmtpd_server.py args...]
#       the same with aiosmtpd (no log); sets PORT, AIOSMTPD_PORT and
#       AIOSMTPD_PID.
#
# TAP-style checks ("ok N - what", "not ok N - what"), counted:
#
#   tap_ok WHAT / tap_bad WHAT   one check that passed / failed.
#   tap_expect FILE REGEX LABEL  passes when a line of FILE matches the
#                                extended REGEX; else shows FILE.
#   tap_refute FILE REGEX LABEL  passes when no line matches.
#   tap_end                      prints "N checks, N failed"; returns 1
#                                when a check failed (end the script with
#                                it).
#
# Transcripts of tests/tools/smtpsend (needs srv_scratch; each tr_ check
# counts as one TAP check):
#
#   tr_send NAME FILE [smtpsend args...]
#       sends FILE to 127.0.0.1:$PORT as alice@example.com, HELO
#       client.test; its output in SCRATCH/NAME.out, its exit status in RC.
#   tr_rc NAME WANT              RC is WANT.
#   tr_expect_c NAME             the client lines (C: ...) of NAME.out are
#                                exactly the lines on stdin.
#   tr_expect_line NAME REGEX    some line of NAME.out matches.
#   tr_no_line NAME REGEX        no line of NAME.out matches.
#   tr_same_bytes WHAT GOT WANT  files GOT and WANT hold the same bytes.
#   tr_bytes_of NAME             prints N of the "[N bytes of message
#                                data]" line.
#   tr_size_of NAME              prints N of the MAIL FROM line's SIZE=N.

# Sourced once (tests/lib.sh sources it, and some callers again).
[ -z "${_ls_top:-}" ] || return 0
_ls_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${TOP:=$_ls_top}"
: "${TOOLS:=$TOP/build/tools}"
: "${PY:=/usr/bin/python3}"
: "${OUTBOXFS:=$TOP/outboxfs}"
export TOOLS PY

wait_file() {
	local f=$1 secs=${2:-10} i=0
	while [ ! -s "$f" ]; do
		[ $i -ge $((secs * 20)) ] && return 1
		sleep 0.05
		i=$((i + 1))
	done
	return 0
}

# _ls_start PORTFILE PIDFILE ERRFILE CMD...; sets _ls_port and _ls_pid.
_ls_start() {
	local portf=$1 pidf=$2 errf=$3 i=0
	shift 3
	rm -f "$portf" "$pidf"
	"$@" 2>"$errf" &
	_ls_pid=$!
	while [ ! -s "$portf" ]; do
		if ! kill -0 "$_ls_pid" 2>/dev/null; then
			echo "server exited at start: $*" >&2
			cat "$errf" >&2
			_ls_pid=
			return 1
		fi
		if [ $i -ge 200 ]; then
			echo "server did not listen within 10 s: $*" >&2
			kill "$_ls_pid" 2>/dev/null
			_ls_pid=
			return 1
		fi
		sleep 0.05
		i=$((i + 1))
	done
	_ls_port=$(cat "$portf")
	return 0
}

start_testsmtpd() {
	local dir=$1
	shift
	mkdir -p "$dir" || return 1
	_ls_start "$dir/port" "$dir/pid" "$dir/stderr" \
		"${TOOLS:?TOOLS not set}/testsmtpd" --port-file "$dir/port" \
		--pid-file "$dir/pid" "$@" || return 1
	SMTP_PORT=$_ls_port
	SMTPD_PID=$_ls_pid
}

start_aiosmtpd() {
	local dir=$1
	shift
	mkdir -p "$dir" || return 1
	_ls_start "$dir/aio-port" "$dir/aio-pid" "$dir/aio-stderr" \
		"${PY:-/usr/bin/python3}" "$_ls_top/tests/aiosmtpd_server.py" \
		--port-file "$dir/aio-port" --pid-file "$dir/aio-pid" "$@" ||
		return 1
	AIOSMTPD_PORT=$_ls_port
	AIOSMTPD_PID=$_ls_pid
}

wait_gone() {
	local pid=$1 secs=$2 i=0
	while kill -0 "$pid" 2>/dev/null; do
		# an exited child stays a zombie until `wait`: that is gone too
		[ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)" = Z ] &&
			return 0
		[ $i -ge $((secs * 20)) ] && return 1
		sleep 0.05
		i=$((i + 1))
	done
	return 0
}

stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	wait_gone "$pid" 5 || kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

have_ipv6_loopback() {
	"${PY:-/usr/bin/python3}" -c 'import socket
socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null
}

# ---- parts not run ----------------------------------------------------------

_skipped=()

skip_part() {
	_skipped+=("$1")
	echo "# not run here: $1"
}

# exit_skipped RC: exit RC, but 77 with the SKIP line when RC is 0 and a
# part was not run. For the EXIT traps of both libraries.
exit_skipped() {
	local rc=$1 why
	if [ "$rc" = 0 ] && [ ${#_skipped[@]} -gt 0 ]; then
		why=$(printf '; %s' "${_skipped[@]}")
		echo "SKIP: ${why#; } (the rest passed)"
		rc=77
	fi
	exit "$rc"
}

# ---- scripts without tests/lib.sh ----------------------------------------

_srv_dir=
_srv_pids=()

srv_need_built() {
	local f
	for f in "$@"; do
		[ -x "$f" ] || { echo "no $f: build it first"; exit 1; }
	done
}

srv_need_openssl() {
	command -v openssl >/dev/null ||
		{ echo "SKIP: no openssl command"; exit 77; }
}

srv_need_aiosmtpd() {
	"$PY" -c 'import aiosmtpd' 2>/dev/null ||
		{ echo "SKIP: $PY has no aiosmtpd (Debian python3-aiosmtpd)"; exit 77; }
}

srv_track() {
	_srv_pids+=("$1")
}

srv_stop_all() {
	local p
	for p in "${_srv_pids[@]}"; do stop_pid "$p"; done
	_srv_pids=()
}

_srv_cleanup() {
	local rc=$?
	srv_stop_all
	[ -z "$_srv_dir" ] || rm -rf "$_srv_dir"
	exit_skipped "$rc"
}

srv_scratch() {
	_srv_dir=$(mktemp -d) || { echo "FAIL: mktemp"; exit 1; }
	trap _srv_cleanup EXIT
	printf -v "$1" '%s' "$_srv_dir"
}

srv_certs() {
	srv_need_openssl
	"$_ls_top/tests/certs.sh" "$_srv_dir/c" || { echo "FAIL: certs.sh"; exit 1; }
	printf -v "$1" '%s' "$_srv_dir/c"
}

srv_self_cert() {
	if ! command -v openssl >/dev/null 2>&1; then
		skip_part "no openssl command to make a certificate: the TLS part"
		return 1
	fi
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
		-subj /CN=localhost \
		-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
		-keyout "$_srv_dir/key.pem" -out "$_srv_dir/cert.pem" \
		>"$_srv_dir/openssl.out" 2>&1 ||
		{ echo "FAIL: openssl cannot make a certificate:"; cat "$_srv_dir/openssl.out"; exit 1; }
}

srv_testsmtpd() {
	local name=$1 idle=$2 dir=$_srv_dir/$1
	shift 2
	mkdir -p "$dir/sp"
	start_testsmtpd "$dir" -d "$dir/sp" --log "$dir/log" \
		--idle-timeout "$idle" "$@" || { echo "FAIL: cannot start $name"; exit 1; }
	srv_track "$SMTPD_PID"
	PORT=$SMTP_PORT
	[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && printf -v "PORT_$name" '%s' "$PORT"
	return 0
}

srv_aiosmtpd() {
	local name=$1 idle=$2 dir=$_srv_dir/$1
	shift 2
	mkdir -p "$dir/sp"
	start_aiosmtpd "$dir" -d "$dir/sp" --idle-timeout "$idle" "$@" ||
		{ echo "FAIL: cannot start aiosmtpd $name"; exit 1; }
	srv_track "$AIOSMTPD_PID"
	PORT=$AIOSMTPD_PORT
}

# ---- TAP-style checks -----------------------------------------------------

_tap_n=0
_tap_fails=0

tap_ok() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $*"
}

tap_bad() {
	_tap_n=$((_tap_n + 1))
	_tap_fails=$((_tap_fails + 1))
	echo "not ok $_tap_n - $*"
}

tap_expect() {
	if grep -Eq -- "$2" "$1"; then
		tap_ok "$3: $2"
	else
		tap_bad "$3: no /$2/ in $(basename "$1"):"
		sed 's/^/    /' "$1"
	fi
}

tap_refute() {
	if grep -Eq -- "$2" "$1"; then
		tap_bad "$3: /$2/ found in $(basename "$1"):"
		sed 's/^/    /' "$1"
	else
		tap_ok "$3: no /$2/"
	fi
}

tap_end() {
	echo "$_tap_n checks, $_tap_fails failed"
	[ "$_tap_fails" -eq 0 ]
}

# ---- smtpsend transcripts -------------------------------------------------

tr_send() {
	local name=$1 file=$2
	shift 2
	timeout 60 "$TOOLS/smtpsend" -h 127.0.0.1 -p "$PORT" -f alice@example.com \
		--helo client.test --timeout 10000 "$@" "$file" \
		>"$_srv_dir/$name.out" 2>&1
	RC=$?
}

tr_rc() {
	if [ "$RC" -eq "$2" ]; then tap_ok "$1: exit $2"
	else tap_bad "$1: exit $RC, want $2"; fi
}

tr_expect_c() {
	local out=$_srv_dir/$1.out
	if diff -u - <(sed -n 's/^C: //p' "$out") >"$_srv_dir/$1.diff"; then
		tap_ok "$1: client lines"
	else
		tap_bad "$1: client lines differ (want -, got +):"
		cat "$_srv_dir/$1.diff"
		echo "--- transcript:"; cat "$out"
	fi
}

tr_expect_line() {
	if grep -Eq -- "$2" "$_srv_dir/$1.out"; then tap_ok "$1: /$2/"
	else tap_bad "$1: no line matching /$2/"; cat "$_srv_dir/$1.out"; fi
}

tr_no_line() {
	if grep -Eq -- "$2" "$_srv_dir/$1.out"; then
		tap_bad "$1: unexpected line matching /$2/"; cat "$_srv_dir/$1.out"
	else tap_ok "$1: no /$2/"; fi
}

tr_same_bytes() {
	if cmp -s "$2" "$3"; then
		tap_ok "$1: saved bytes are the wire bytes"
	else
		tap_bad "$1: saved bytes differ from the expected wire bytes"
		cmp "$2" "$3"; od -c "$2" | head -20; echo ---; od -c "$3" | head -20
	fi
}

tr_bytes_of() {
	sed -n 's/^C: \[\([0-9]*\) bytes of message data\]/\1/p' "$_srv_dir/$1.out" |
		head -n1
}

tr_size_of() {
	sed -n 's/^C: MAIL FROM:.* SIZE=\([0-9]*\).*/\1/p' "$_srv_dir/$1.out" | head -n1
}
