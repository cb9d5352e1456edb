#!/usr/bin/env bash
# Runs every cmocka unit-test binary in BUILD/tests and prints one
# "N passed, N failed, N skipped" line. Exits non-zero if any test failed.
set -u
b=${1:-build}
pass=0 fail=0 skip=0 bad=()
for t in "$b"/tests/test_*; do
	[ -x "$t" ] || continue
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
	k=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -n1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0}))
	skip=$((skip + ${k:-0}))
	if [ "$rc" -ne 0 ]; then
		bad+=("$(basename "$t")")
		[ -n "$f" ] || fail=$((fail + 1))   # crashed before its summary
	fi
done
echo
echo "unit: $pass passed, $fail failed, $skip skipped"
if [ ${#bad[@]} -gt 0 ]; then
	echo "failing binaries: ${bad[*]}" >&2
	exit 1
fi
