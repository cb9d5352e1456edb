#!/usr/bin/env bash
# Runs every tests/integration/*.sh with the paths of what `make` built.
# A test exits 0 (pass), 77 (skip: what it needs is truly absent, its
# last line says what) or anything else (fail). A test that exits 0 with
# "command not found" in its output called a check that does not exist
# (a library not sourced, a misspelt helper): that is a failure too.
# Prints one "N passed, N failed, N skipped" line.
set -u
b=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
export TOP=$top
export BUILD=$top/$b
if [ "$b" = build ]; then export OUTBOXFS=$top/outboxfs; else export OUTBOXFS=$top/$b/outboxfs; fi
export TOOLS=$top/$b/tools
export PY=/usr/bin/python3
pass=0 fail=0 skip=0 bad=()
for t in "$top"/tests/integration/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	start=$(date +%s)
	timeout -k 10 300 bash "$t" >"$top/$b/$n.log" 2>&1; rc=$?
	if { [ $rc = 0 ] || [ $rc = 77 ]; } && grep -q ': command not found$' "$top/$b/$n.log"; then
		echo "FAIL: a command the test ran does not exist" >>"$top/$b/$n.log"
		rc=127
	fi
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $n ($(( $(date +%s) - start ))s)";;
	77) skip=$((skip + 1)); echo "SKIP $n: $(tail -n1 "$top/$b/$n.log")";;
	*) fail=$((fail + 1)); bad+=("$n"); echo "FAIL $n (exit $rc), log:"; sed 's/^/    /' "$top/$b/$n.log" | tail -n 60;;
	esac
done
echo
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
