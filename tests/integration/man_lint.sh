#!/usr/bin/env bash
# The man pages are clean for mandoc's linter (warnings included): what a
# user reads with man(1) renders as written.
set -u
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
if ! command -v mandoc >/dev/null 2>&1; then
	echo "SKIP: mandoc is not installed (Debian package mandoc)"
	exit 77
fi
rc=0
for f in "$TOP"/man/*.[1-8]; do
	out=$(mandoc -Tlint -Wwarning "$f" 2>&1)
	if [ -n "$out" ]; then
		printf 'FAIL: %s:\n%s\n' "$f" "$out"
		rc=1
	else
		echo "# $(basename "$f"): clean"
	fi
done
exit $rc
