#!/usr/bin/env bash
# tests/demo.sh — `make demo`: one message through a real outboxfs mount to
# a capture SMTP server on 127.0.0.1, shown the way a user would type it.
#
#   tests/demo.sh --deps   check the build packages (install them as root,
#                          else print the command and exit 1)
#   tests/demo.sh          run the demo (the daemon must be built)
#
# Everything it starts (server, mount) is stopped by PID on exit, and its
# temporary directory is removed. It talks to 127.0.0.1 only.
set -u

DEPS="gcc make libfuse3-dev fuse3 libssl-dev libcmocka-dev pkg-config python3-aiosmtpd"

demo_deps()
{
	local p missing=()
	for p in $DEPS; do
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" = 0 ]; then
		echo "outboxfs demo: installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" ||
			{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"; } ||
			{ echo "outboxfs demo: apt-get install failed" >&2; exit 1; }
		return 0
	fi
	echo "outboxfs demo: these packages are needed to build and run outboxfs:" >&2
	echo "    sudo apt-get install ${missing[*]}" >&2
	echo "then run make demo again." >&2
	exit 1
}

if [ "${1:-}" = --deps ]; then
	demo_deps
	exit 0
fi

TOP=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$TOP/$B;; esac
if [ "$B" = "$TOP/build" ]; then OUTBOXFS=$TOP/outboxfs; else OUTBOXFS=$B/outboxfs; fi
TOOLS=$B/tools
export TOP OUTBOXFS TOOLS
. "$TOP/tests/lib.sh"
. "$TOP/tests/lib-servers.sh"

if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
	echo "outboxfs demo: FUSE is not available here (/dev/fuse or fusermount3 missing)." >&2
	echo "Install fuse3, and in a container run with --device /dev/fuse --cap-add SYS_ADMIN." >&2
	exit 1
fi
[ -x "$OUTBOXFS" ] || { echo "outboxfs demo: $OUTBOXFS is not built; run make first" >&2; exit 1; }

# show CMD...: print a command the way a user would type it.
show()
{
	printf '\n$ %s\n' "$*"
}

indent()
{
	sed 's/^/    /'
}

mk_tmp D
mkdir -p "$D/received" "$D/outbox"

cat <<EOF
outboxfs demo
=============

outboxfs turns a directory into a mail outbox: write a file that starts
with mail headers, and it is sent over SMTP. This demo runs everything in
$D and talks only to 127.0.0.1.

EOF

start_testsmtpd "$D/server" -d "$D/received" ||
	{ echo "outboxfs demo: the capture server did not start" >&2; exit 1; }
register_pid "$SMTPD_PID"
port=$SMTP_PORT
echo "1. A capture SMTP server listens on 127.0.0.1:$port; it saves each"
echo "   message it receives in $D/received."

cat >"$D/config" <<EOF
# msmtp syntax: an existing ~/.msmtprc works unchanged.
account default
host 127.0.0.1
port $port
tls off
from alice@example.com
spool $D/spool
EOF
chmod 600 "$D/config"
echo
echo "2. The configuration, $D/config (mode 600):"
echo
indent <"$D/config"

echo
echo "3. Mount the outbox, write a message with printf, read its status."
show outboxfs -o "config=$D/config" "$D/outbox"
mount_outbox "$D/outbox" "$D/config"

msg='To: bob@example.com\nSubject: Hello from outboxfs\n\nHello Bob,\n\nthis message was written with printf into a directory.\n'
show "printf '$msg' > $D/outbox/hello"
printf "$msg" >"$D/outbox/hello"

if ! wait_until 20 sh -c 'grep -qE "^state: (sent|partial|failed)" "$1"' sh "$D/outbox/hello.status"; then
	echo "outboxfs demo: the message was not sent within 20 s. Its status:" >&2
	cat "$D/outbox/hello.status" >&2
	exit 1
fi
# the connection stays open a moment (connection_cache) for a next
# message; its QUIT then ends the transcript
wait_until 10 sh -c 'tail -n 1 "$1" | grep -q "^S: 221"' sh "$D/outbox/hello.status"

show ls "$D/outbox"
ls "$D/outbox" | indent
echo "(default/ is the account of that name: mail written there uses it.)"
show cat "$D/outbox/hello.status"
cat "$D/outbox/hello.status"
state=$(status_state "$D/outbox/hello.status")

eml=$(find "$D/received" -maxdepth 1 -name '*.eml' | sort | head -n1)
if [ -n "$eml" ]; then
	echo
	echo "4. What the server received ($(basename "$eml"), line ends shown as \\r):"
	echo
	sed 's/\r$/\\r/' "$eml" | indent
fi

show fusermount3 -u "$D/outbox"
umount_outbox "$D/outbox"
echo
if [ "$state" = sent ]; then
	echo "Done: the message was sent, the outbox unmounted; the server is"
	echo "stopped and $D removed on exit."
	echo "Read more: man -l man/outboxfs.1"
	exit 0
fi
echo "outboxfs demo: the message ended in state [$state], not sent." >&2
exit 1
