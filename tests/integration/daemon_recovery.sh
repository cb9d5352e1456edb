#!/usr/bin/env bash
# Daemon recovery: kill -9 with a deferred message, a draft and bad
# records planted in the spool's journal; the remount resumes delivery,
# keeps the draft, sets the corrupt record aside (never deletes it) and
# shows it in .queue as "corrupt". The Message-ID given at submission is
# the one sent after the restart.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start -n

printf 'To: bob@example.com\nSubject: recover one\n\none\n' >"$M/one"
wait_state "$M/one.status" deferred 20
mid=$(sed -n 's/^message-id: //p' "$M/one.status")
[ -n "$mid" ] || fail "no message-id in one.status: $(cat "$M/one.status")"
printf 'To: bob@example.com\nSubject: recover draft\n\nhalf' >"$M/.draft"
kill_outbox "$M"

# Message bytes whose record never made it (cut short at the journal's
# tail), and a record with a bad number; both framed as the daemon frames
# them (outboxfs(1), THE SPOOL: "%obx LEN CRC32C ID" and the record).
frame()
{
	"$PY" -c '
import sys
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF
rec = sys.argv[1].encode()
cut = int(sys.argv[3])
out = b"%%obx %d %08x %s\n" % (len(rec), crc32c(rec), sys.argv[2].encode()) + rec
sys.stdout.buffer.write(out[:len(out) - cut])
' "$@"
}
frame $'outboxfs-record 1\nid 901\nname bad\nstate queued\nattempts -3\nend\n' 901 0 >>"$T/spool/journal"
printf 'x' >"$T/spool/msg/901"
frame $'outboxfs-record 1\nid 900\nname cut\nstate queued\nend\n' 900 5 >>"$T/spool/journal"
printf 'x' >"$T/spool/msg/900"

smtpd_start "$T/rx" -p "$OUTBOX_PORT"
mount_outbox "$M" "$T/config"
touch "$M/one"
wait_state "$M/one.status" sent 20
eml=$(one_eml_with "$T/rx" "Subject: recover one") || exit 1
# the Message-ID made at submission survives the restart
assert_contains "$(eml_headers "$eml")" "Message-ID: $mid" "headers received"
assert_line "$M/one.status" "^message-id: $mid\$"
[ -f "$M/.draft" ] || fail "the scratch draft is gone after the restart"
assert_eq "To: bob@example.com
Subject: recover draft

half" "$(cat "$M/.draft")" "the scratch draft after the restart"
assert_missing "$M/.draft.status"      # a scratch file has no status
Q=$(cat "$M/.queue")
assert_contains "$Q" "corrupt/900 corrupt" ".queue"
assert_contains "$Q" "corrupt/901 corrupt" ".queue"
[ -f "$T/spool/corrupt/900.msg" ] || fail "message 900 not set aside: $(ls "$T/spool/corrupt")"
[ -f "$T/spool/corrupt/901.msg" ] || fail "message 901 not set aside"
assert_file_contains "$T/spool/corrupt/901.meta" "attempts -3"
[ -e "$M/cut" ] && fail "a corrupt record became a message"

# A new message gets an id above the set-aside ones.
printf 'To: bob@example.com\nSubject: recover two\n\ntwo\n' >"$M/two"
wait_state "$M/two.status" sent 20
[ -f "$T/spool/corrupt/900.msg" ] || fail "set-aside message overwritten"
umount_outbox "$M"
assert_eq 0 "$OUTBOX_RC" "exit status at unmount"

# After a clean unmount and remount, the final states are kept.
mount_outbox "$M" "$T/config"
assert_eq sent "$(status_state "$M/one.status")" "one after remount"
assert_eq sent "$(status_state "$M/two.status")" "two after remount"
assert_line "$M/one.status" '^--- attempt 2 '
sleep 0.5
assert_eq 2 "$(count_eml "$T/rx")" "messages received"
exit 0
