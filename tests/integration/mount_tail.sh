#!/usr/bin/env bash
# tail -f NAME.status follows the conversation as it happens: every line
# once, in order, nothing garbled, through to the final 221, without
# "file truncated" (a slow server makes the lines arrive over seconds).
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -c "connection_cache 0" -- \
	--reply 'RCPT=delay:1200:250 2.1.5 Ok' \
	--reply 'DOT=delay:1200:250 2.0.0 Ok: queued'

# settle 100 ms: tail opens the status while the message is settling
printf 'To: bob@example.com\nSubject: tail\n\nbody\n' >"$M/t"
tail -n +1 -f "$M/t.status" >"$T/tail.out" 2>"$T/tail.err" &
TPID=$!
register_pid "$TPID"
wait_state "$M/t.status" sent 30
_quit() { grep -q '^S: 221' "$T/tail.out"; }
wait_until 10 _quit ||
	fail "tail -f never showed the final 221: $(cat "$T/tail.out")"
kill "$TPID" 2>/dev/null
wait "$TPID" 2>/dev/null

[ -s "$T/tail.err" ] && fail "tail complained: $(cat "$T/tail.err")"
# what tail printed after its header block is the final transcript,
# byte for byte: each line once, in order
sed '1,/^$/d' "$T/tail.out" >"$T/tail.tr"
sed '1,/^$/d' "$M/t.status" >"$T/final.tr"
cmp -s "$T/tail.tr" "$T/final.tr" ||
	fail "tail -f printed another transcript than the file holds:
$(diff "$T/final.tr" "$T/tail.tr")"
n=$(grep -c '^S: 221' "$T/tail.out")
[ "$n" = 1 ] || fail "221 printed $n times"
for l in 'S: 220' 'C: EHLO' 'C: MAIL FROM:' 'S: 354' 'C: QUIT'; do
	assert_file_contains "$T/tail.out" "$l"
done
# the status file's mtime is its last change, not the message's
mm=$(stat -c %Y "$M/t")
sm=$(stat -c %Y "$M/t.status")
[ "$sm" -ge "$mm" ] || fail "status mtime $sm before the message's $mm"
note "tail -f followed $(wc -l <"$T/tail.tr") transcript lines to the 221"
san_check
exit 0
