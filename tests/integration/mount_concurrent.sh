#!/usr/bin/env bash
# 50 messages written by 5 processes at the same time are all delivered,
# each exactly once, each with its own body.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start

writer()
{
	local p=$1 j
	for j in 0 1 2 3 4 5 6 7 8 9; do
		printf 'To: bob@example.com\nSubject: conc p%s m%s\n\nprocess %s message %s\n' \
			"$p" "$j" "$p" "$j" >"$M/p$p-m$j" || exit 1
	done
}

pids=()
for p in 1 2 3 4 5; do
	writer "$p" &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a writer process failed"
done

wait_count "$T/rx" 50 20
for p in 1 2 3 4 5; do
	for j in 0 1 2 3 4 5 6 7 8 9; do
		wait_state "$M/p$p-m$j.status" sent 20
		eml=$(one_eml_with "$T/rx" "Subject: conc p$p m$j") || exit 1
		assert_body "$eml" "process $p message $j"
	done
done
sleep 1
assert_eq 50 "$(count_eml "$T/rx")" "messages received"
exit 0
