#!/usr/bin/env bash
# The crash matrix (issue 7): nothing is lost, and every duplicate is
# warned about, when the daemon is killed with kill -9 at random moments
# while a server drops connections and defers at random.
#
# CRASH_MSGS messages (default 200) are written over CRASH_CYCLES cycles
# (default 20), half with `>`, half as a scratch name then `mv` (odd ids
# `>`, even ids `mv`). In each cycle the outbox is mounted on one spool, a
# writer writes its share, and at a random moment the daemon is killed
# with kill -9, the mount lazily unmounted, and the next cycle remounts on
# the same spool. The server (testsmtpd --chaos) gives 30% of the
# transactions a fault: 421 at MAIL, 451 to RCPT or after the dot, a close
# instead of 354, a cut inside the body, or a message saved and the
# connection closed without a reply. Then the chaos server is replaced by
# a plain one on the same port, the outbox mounted once more, and the
# test waits (at most 120 s) for every message to be sent.
#
# What counts: each file written is one (id, try) and carries X-Crash-Id
# and X-Crash-Try headers and a last body line "end ID TRY". A try is
# SUBMITTED when the writer's command (the `>`, or the `mv`) returned 0
# and the kill had not started yet (a marker file is made before the
# kill and checked after the command). A try whose command failed, or
# returned after the kill began, is not counted: its id is written again
# in the next cycle as a new try under a new name (crash-ID-TRY), so a
# late delivery of the old try is never mistaken for a duplicate. Then:
#   lost       a submitted try received 0 times (must be 0)
#   duplicate  a try (submitted or not) received more than once; its
#              status file must have a warning: line
#   truncated  a received copy without its end line (must be 0)
#   not sent   a submitted try whose status is not "state: sent" at the
#              end (must be 0)
# Extra deliveries of tries that were not submitted are shown, not
# failed: the writer cannot know whether a cut `mv` took effect.
#
# Environment: CRASH_SEED (default: random; printed, with the command that
# replays it), CRASH_MSGS, CRASH_CYCLES. `make torture` runs 2,000
# messages and 100 cycles. The seed fixes the writer's order and pauses,
# the kill times and the server's fault sequence; the daemon's own timing
# still varies, so a replay repeats the plan, not every interleaving.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
[ -x "$TOOLS/testsmtpd" ] || fail "$TOOLS/testsmtpd is not built"

if [ -z "${CRASH_SEED:-}" ]; then
	CRASH_SEED=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
fi
case $CRASH_SEED in
'' | *[!0-9]*) fail "CRASH_SEED must be a number: [$CRASH_SEED]";;
esac
MSGS=${CRASH_MSGS:-200}
CYCLES=${CRASH_CYCLES:-20}
CHAOS_PCT=30
FINAL_WAIT=120
replay="CRASH_SEED=$CRASH_SEED"
[ "$MSGS" = 200 ] || replay+=" CRASH_MSGS=$MSGS"
[ "$CYCLES" = 20 ] || replay+=" CRASH_CYCLES=$CYCLES"
[ "$OUTBOXFS_SAN" = 1 ] &&
	replay+=" OUTBOXFS_SAN=1 ASAN_OPTIONS=detect_leaks=1 OUTBOXFS=$OUTBOXFS TOOLS=$TOOLS"
echo "# seed: $CRASH_SEED"
echo "# replay: $replay bash tests/integration/crash_matrix.sh"
RANDOM=$((CRASH_SEED % 1000000007))

mk_tmp T
M=$T/mnt
OPTS="settle=200,retry_min=1s,retry_max=2s"
port=$(free_port)
write_config "$T/config" "$port"
smtpd_start "$T/rx1" -p "$port" --chaos "$CRASH_SEED:$CHAOS_PCT" \
	--log "$T/rx1/log" --idle-timeout 900
chaos_pid=$SMTPD_PID

wpid=
crash_cleanup()
{
	local rc=$?
	if [ -n "$wpid" ]; then
		kill "$wpid" 2>/dev/null
		wait "$wpid" 2>/dev/null
	fi
	(exit "$rc")
	cleanup
}
trap crash_cleanup EXIT

msg()
{
	printf 'To: bob@example.com\nSubject: crash %s try %s\nX-Crash-Id: %s\nX-Crash-Try: %s\n\ncrash message %s, try %s\nend %s %s\n' \
		"$1" "$2" "$1" "$2" "$1" "$2" "$1" "$2"
}

# now_ms: milliseconds since the start of this cycle.
now_ms()
{
	local us=${EPOCHREALTIME/./}
	echo $(((us - cycle_us) / 1000))
}

# writer ITEM...: each ITEM is ID:TRY:MODE:GAP_MS. Appends to $T/ledger
# one line per attempt: "ok|late|err ID TRY NAME MODE CYCLE MS" (MS: when
# the command returned, in ms since the cycle began). Stops before the
# next item once $T/stop exists.
writer()
{
	local item id try mode gap name rc r
	for item in "$@"; do
		[ -e "$T/stop" ] && break
		IFS=: read -r id try mode gap <<<"$item"
		name=crash-$id-$try
		[ "$gap" -gt 0 ] && sleep "$(printf '0.%03d' "$gap")"
		if [ "$mode" = mv ]; then
			msg "$id" "$try" 2>/dev/null >"$M/.$name.tmp" &&
				mv "$M/.$name.tmp" "$M/$name" 2>/dev/null
		else
			msg "$id" "$try" 2>/dev/null >"$M/$name"
		fi
		rc=$?
		if [ "$rc" != 0 ]; then
			r=err
		elif [ -e "$T/killing" ]; then
			r=late
		else
			r=ok
		fi
		echo "$r $id $try $name $mode $c $(now_ms)" >>"$T/ledger"
	done
}

# crash: kill -9 the daemon now, let the writer stop (its commands fail
# on the dead mount), then unmount lazily. Not kill_outbox: the writer
# must be gone before the lazy unmount, or it would write into the bare
# mountpoint directory.
crash()
{
	local mnt i
	mnt=$(realpath -m "$M")
	: >"$T/killing"
	kill_ms[$c]=$(now_ms)
	# reaped at once, in a block whose stderr drops bash's "Killed" line
	{
		kill -9 "$OUTBOX_PID"
		wait "$OUTBOX_PID"
	} 2>/dev/null
	: >"$T/stop"
	for ((i = 0; i < 400; i++)); do
		kill -0 "$wpid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$wpid" 2>/dev/null; then
		note "writer still busy 20 s after the kill: stopping it"
		kill "$wpid" 2>/dev/null
	fi
	wait "$wpid" 2>/dev/null
	wpid=
	unset "lib_mount_pid[$mnt]"
	fusermount3 -u -z "$mnt" 2>/dev/null
	wait_until 5 eval '! is_mounted "$mnt"' ||
		fail "$mnt still mounted after kill -9 and fusermount3 -u -z"
	rm -f "$T/killing" "$T/stop"
}

sleep_ms()
{
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

declare -A sub_name     # id -> name of its submitted try
declare -A tries        # id -> tries so far
declare -A mode_of      # id -> ">" or mv
declare -A kill_ms      # cycle -> when the kill came (ms into the cycle)
pending=()              # ids written but not submitted, to write again
next_new=1
nok=0 nlate=0 nerr=0 kills=0
: >"$T/ledger"
ledger_seen=0

# schedule N: the items of the next writer: the pending ids first, then
# N new ones.
schedule()
{
	local n=$1 id k
	items=()
	for id in "${pending[@]}"; do
		tries[$id]=$((tries[$id] + 1))
		items+=("$id:${tries[$id]}:${mode_of[$id]}:$((RANDOM % 25))")
	done
	pending=()
	for ((k = 0; k < n && next_new <= MSGS; k++, next_new++)); do
		id=$next_new
		tries[$id]=1
		if ((id % 2)); then mode_of[$id]=">"; else mode_of[$id]=mv; fi
		items+=("$id:1:${mode_of[$id]}:$((RANDOM % 25))")
	done
}

# account: read the ledger lines of the last writer; every scheduled id
# not submitted goes back to pending.
account()
{
	local r id try name mode item cy ms
	declare -A got=()
	while read -r r id try name mode cy ms; do
		case $r in
		ok) sub_name[$id]=$name; got[$id]=1; nok=$((nok + 1));;
		late) nlate=$((nlate + 1));;
		err) nerr=$((nerr + 1));;
		esac
	done < <(tail -n +$((ledger_seen + 1)) "$T/ledger")
	ledger_seen=$(wc -l <"$T/ledger")
	for item in "${items[@]}"; do
		id=${item%%:*}
		[ -n "${got[$id]:-}" ] || pending+=("$id")
	done
}

start_s=$SECONDS
for ((c = 1; c <= CYCLES; c++)); do
	mount_outbox "$M" "$T/config" "$OPTS"
	left=$((MSGS - next_new + 1))
	schedule $(((left + CYCLES - c) / (CYCLES - c + 1)))
	delay=$((RANDOM % 1200))
	cycle_us=${EPOCHREALTIME/./}
	writer "${items[@]}" &
	wpid=$!
	sleep_ms "$delay"
	crash
	kills=$((kills + 1))
	account
	# A killed daemon writes nothing more: check its output now and
	# leave it out of the dump at exit, which would bury the report.
	san_check
	lib_logs=()
done
note "$kills kills in $((SECONDS - start_s)) s; $nok writes submitted," \
	"$((nerr + nlate)) cut by a kill ($nerr failed, $nlate returned after it)"

# The end: a server without faults on the same port, one more mount, the
# rest written, and no kill.
stop_by_pid "$chaos_pid"
keep=()
for p in "${lib_pids[@]}"; do
	[ "$p" = "$chaos_pid" ] || keep+=("$p")
done
lib_pids=("${keep[@]}")
smtpd_start "$T/rx2" -p "$port" --log "$T/rx2/log" --idle-timeout 900
mount_outbox "$M" "$T/config" "$OPTS"
final_mount_s=$SECONDS
schedule $((MSGS - next_new + 1))
c=final
cycle_us=${EPOCHREALTIME/./}
writer "${items[@]}"
account
[ ${#pending[@]} -eq 0 ] ||
	fail "writes failed without a crash: ids ${pending[*]}; ledger tail:
$(tail -n 20 "$T/ledger")"

# states NAME...: "NAME STATE" for each (STATE "-" when there is no
# status file or no state: line).
states()
{
	printf '%s\n' "$@" | awk -v d="$M" '{
		f = d "/" $0 ".status"; s = "-"
		while ((getline l < f) > 0)
			if (l ~ /^state: /) { s = substr(l, 8); break }
		close(f)
		print $0, s
	}'
}

names=()
for id in "${!sub_name[@]}"; do
	names+=("${sub_name[$id]}")
done
# Wait until every submitted try is final. A try still a draft (or with
# no status) 10 s after the mount is not going anywhere: stop waiting for
# it, it will be reported.
deadline=$((SECONDS + FINAL_WAIT))
while :; do
	waiting=$(states "${names[@]}" | awk '$2 != "sent" && $2 != "partial" && $2 != "failed"')
	[ -z "$waiting" ] && break
	if [ $((SECONDS - final_mount_s)) -ge 10 ] &&
		! printf '%s\n' "$waiting" | awk '$2 != "draft" && $2 != "-" { f = 1 } END { exit !f }'; then
		break
	fi
	[ "$SECONDS" -ge "$deadline" ] && break
	sleep 0.5
done
note "final states after $((SECONDS - final_mount_s)) s: $(states "${names[@]}" |
	awk '{ n[$2]++ } END { for (s in n) printf "%s %d  ", s, n[s] }')"

# What the servers received: "ID TRY COMPLETE" per saved message (one
# whose .env exists).
for f in "$T"/rx1/*.eml "$T"/rx2/*.eml; do
	[ -e "$f" ] && [ -e "${f%.eml}.env" ] && printf '%s\n' "$f"
done | xargs -r awk '
	FNR == 1 { if (fn != "") print id, tr, done; fn = FILENAME; id = "?"; tr = "?"; done = 0 }
	{ sub(/\r$/, "") }
	/^X-Crash-Id: / { id = $2 }
	/^X-Crash-Try: / { tr = $2 }
	/^end [0-9]+ [0-9]+$/ { if ($2 == id && $3 == tr) done = 1 }
	END { if (fn != "") print id, tr, done }' >"$T/received"

declare -A copies=()
truncated=()
while read -r id try done; do
	copies[$id:$try]=$((${copies[$id:$try]:-0} + 1))
	[ "$done" = 1 ] || truncated+=("$id:$try")
done <"$T/received"

# brief NAME: one line on a try: how and when it was written, the kill
# of that cycle, the copies received, its status.
brief()
{
	local n=$1 id try r mode cy ms st
	id=${n#crash-} id=${id%-*} try=${n##*-}
	read -r r _ _ _ mode cy ms < <(grep " $n " "$T/ledger" | tail -n1)
	if [ -e "$M/$n.status" ]; then
		st=$(grep -E '^(state|attempts|warning|error):' "$M/$n.status" |
			cut -c1-90 | paste -sd'|')
	else
		st="no status file"
	fi
	if [ "$cy" = final ]; then
		cy="final mount, no kill"
	else
		cy="cycle $cy, returned at +${ms} ms, kill at +${kill_ms[$cy]} ms"
	fi
	echo "#   $n: '$mode' $r ($cy), copies ${copies[$id:$try]:-0}; $st"
}

declare -A final_state=()
while read -r n s; do
	final_state[$n]=$s
done < <(states "${names[@]}")
lost=() notsent=() dups=() unwarned=() extra=()
received=0
for ((id = 1; id <= MSGS; id++)); do
	name=${sub_name[$id]:-}
	[ -n "$name" ] || fail "message $id was never submitted"
	try=${name##*-}
	n=${copies[$id:$try]:-0}
	if [ "$n" -eq 0 ]; then
		lost+=("$name")
	else
		received=$((received + 1))
	fi
	[ "$n" -eq 0 ] || [ "${final_state[$name]}" = sent ] || notsent+=("$name")
done
for key in "${!copies[@]}"; do
	id=${key%%:*} try=${key#*:}
	name=crash-$id-$try
	[ "${sub_name[$id]:-}" = "$name" ] || extra+=("$name")
	if [ "${copies[$key]}" -gt 1 ]; then
		dups+=("$name")
		grep -q '^warning:' "$M/$name.status" 2>/dev/null ||
			unwarned+=("$name")
	fi
done
warned=$((${#dups[@]} - ${#unwarned[@]}))

faults=$(sed -n 's/^# chaos [0-9]*: //p' "$T/rx1/log" | sort | uniq -c |
	awk '{ printf "%s%s %d", sep, $2, $1; sep = ", " }')
note "server faults drawn: $faults"
note "copies received: $(wc -l <"$T/received") ($(count_eml "$T/rx1") under chaos," \
	"$(count_eml "$T/rx2") after); deliveries of tries not counted as submitted: ${#extra[@]}"

# report WHAT NAME...: the first 10 in detail.
report()
{
	local what=$1 n
	shift
	[ $# -gt 0 ] || return 0
	echo "# $what ($#):"
	for n in "${@:1:10}"; do
		brief "$n"
	done
	[ $# -le 10 ] || echo "#   ... and $(($# - 10)) more: ${*:11:40}$([ $# -le 50 ] || echo ' ...')"
}

# lost_summary NAME...: the lost by way of writing, final state, and how
# long before the kill the command returned.
lost_summary()
{
	local n id
	for n in "$@"; do
		id=${n#crash-} id=${id%-*}
		grep " $n " "$T/ledger" | tail -n1 | {
			read -r _ _ _ _ mode cy ms
			echo "$mode ${final_state[$n]} $(( ${kill_ms[$cy]:-$ms} - ms ))"
		}
	done | awk '{ m[$1]++; st[$2]++
		if (min == "" || $3 < min) min = $3; if ($3 > max) max = $3 }
		END { printf "# lost by way:"; for (k in m) printf " \x27%s\x27 %d", k, m[k]
		printf "; by state:"; for (k in st) printf " %s %d", k, st[k]
		printf "; the command returned %d to %d ms before the kill\n", min, max }'
}
report "LOST" "${lost[@]}"
[ ${#lost[@]} -eq 0 ] || lost_summary "${lost[@]}"
report "RECEIVED BUT NOT SENT in the status" "${notsent[@]}"
report "DUPLICATE WITHOUT WARNING" "${unwarned[@]}"
report "TRUNCATED COPY" "${truncated[@]}"
report "duplicates" "${dups[@]}"
report "delivered although not counted as submitted" "${extra[@]}"

echo "crash: $MSGS messages, $kills kills, received $received, lost ${#lost[@]}," \
	"duplicates ${#dups[@]}, warned $warned, seed $CRASH_SEED"

umount_outbox "$M"
errs=()
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/rx*/stderr; then
	cat "$T"/rx*/stderr >&2
	errs+=("a sanitizer report from testsmtpd")
fi
[ ${#lost[@]} -eq 0 ] || errs+=("${#lost[@]} lost")
[ ${#unwarned[@]} -eq 0 ] || errs+=("${#unwarned[@]} duplicates without a warning")
[ ${#truncated[@]} -eq 0 ] || errs+=("${#truncated[@]} truncated copies")
[ ${#notsent[@]} -eq 0 ] || errs+=("${#notsent[@]} received but not in state sent")
[ ${#errs[@]} -eq 0 ] ||
	fail "$(IFS=,; echo "${errs[*]}") (seed $CRASH_SEED; replay: $replay bash tests/integration/crash_matrix.sh)"
exit 0
