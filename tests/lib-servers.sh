# Shell functions that start and stop the loopback SMTP test servers.
# Source it from a test: . "$TOP/tests/lib-servers.sh"
#
# Needs $TOOLS (dir of testsmtpd) and $PY (/usr/bin/python3) from
# tests/run-integration.sh. Registers no trap: the caller owns cleanup,
# e.g.  trap 'stop_pid "$SMTPD_PID"' EXIT
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
#
# Neither starts with a default spool: pass -d DIR yourself.

_ls_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

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

stop_pid() {
	local pid=$1 i=0
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null; do
		# an exited child stays a zombie until `wait`: that is gone too
		[ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)" = Z ] &&
			break
		if [ $i -ge 100 ]; then
			kill -9 "$pid" 2>/dev/null
			break
		fi
		sleep 0.05
		i=$((i + 1))
	done
	wait "$pid" 2>/dev/null
	return 0
}
