#!/usr/bin/env bash
# Runs every tests/integration/*.sh with the paths of what `make` built.
# A test exits 0 (pass), 77 (skip: what it needs is truly absent, its
# last line says what) or anything else (fail). A test that exits 0 with
# "command not found" in its output called a check that does not exist
# (a library not sourced, a misspelt helper): that is a failure too.
# Prints one "N passed, N failed, N skipped" line.
#
# CHECK_JOBS (default 2) tests run at once: each has its own temporary
# directory, ports the kernel gives it and its own mounts, and most of
# their time is spent waiting, so two share a 2-core machine without
# slowing each other much. The heaviest start first (HEAVY), so that one
# of them does not start last and run alone. CHECK_JOBS=1 runs them one
# after the other. A result is printed when its test ends.
set -u
b=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
export TOP=$top
export BUILD=$top/$b
if [ "$b" = build ]; then export OUTBOXFS=$top/outboxfs; else export OUTBOXFS=$top/$b/outboxfs; fi
export TOOLS=$top/$b/tools
export PY=/usr/bin/python3
jobs=${CHECK_JOBS:-2}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "CHECK_JOBS must be a number from 1 up" >&2; exit 2; }

# the longest, by their times in a serial run (in this order)
HEAVY="fsreview_stress crash_matrix fault_commit_crash tls_auth mount_cli
sendmail_crash mount_journal_bound fault_sync_retry mount_concurrent"

tests=()
for n in $HEAVY; do
	[ -f "$top/tests/integration/$n.sh" ] && tests+=("$n")
done
for t in "$top"/tests/integration/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	case " $(echo $HEAVY) " in *" $n "*) continue;; esac
	tests+=("$n")
done

pass=0 fail=0 skip=0 running=0
declare -A name_of start_of

# report PID RC: the result of the test PID ran.
report()
{
	local n=${name_of[$1]} rc=$2 log
	log=$top/$b/$n.log
	if { [ "$rc" = 0 ] || [ "$rc" = 77 ]; } && grep -q ': command not found$' "$log"; then
		echo "FAIL: a command the test ran does not exist" >>"$log"
		rc=127
	fi
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $n ($(( $(date +%s) - ${start_of[$1]} ))s)";;
	77) skip=$((skip + 1)); echo "SKIP $n: $(tail -n1 "$log")";;
	*) fail=$((fail + 1)); echo "FAIL $n (exit $rc), log:"; sed 's/^/    /' "$log" | tail -n 60;;
	esac
	unset "name_of[$1]" "start_of[$1]"
	running=$((running - 1))
}

# reap: waits for one running test to end and reports it.
reap()
{
	local pid rc
	wait -n -p pid
	rc=$?
	report "$pid" "$rc"
}

for n in "${tests[@]}"; do
	while [ $running -ge "$jobs" ]; do
		reap
	done
	timeout -k 10 300 bash "$top/tests/integration/$n.sh" >"$top/$b/$n.log" 2>&1 </dev/null &
	name_of[$!]=$n
	start_of[$!]=$(date +%s)
	running=$((running + 1))
done
while [ $running -gt 0 ]; do
	reap
done
echo
echo "integration: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
