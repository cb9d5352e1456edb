#!/usr/bin/env bash
# Daemon recovery: kill -9 with a deferred message, a draft and a
# corrupt record planted in the spool; the remount resumes delivery,
# keeps the draft, sets the corrupt record aside (never deletes it) and
# shows it in .queue as "corrupt".
. "$TOP/tests/lib.sh"
. "$TOP/tests/lib-servers.sh"
skip_without_fuse

mk_tmp T
port=$(free_port)
write_config "$T/config" "$port"
mount_outbox "$T/mnt" "$T/config"
M=$T/mnt

printf 'To: bob@example.com\nSubject: recover one\n\none\n' >"$M/one"
wait_state "$M/one.status" deferred 20
printf 'To: bob@example.com\nSubject: recover draft\n\nhalf' >"$M/.draft"
kill_outbox "$M"

# A record cut short (no end line) and one with a bad number.
printf 'outboxfs-record 1\nid 900\nname cut\nstate queued\n' >"$T/spool/meta/900"
printf 'x' >"$T/spool/msg/900"
printf 'outboxfs-record 1\nid 901\nname bad\nstate queued\nattempts -3\nend\n' >"$T/spool/meta/901"
printf 'x' >"$T/spool/msg/901"

smtpd_start "$T/rx" -p "$port"
mount_outbox "$M" "$T/config"
touch "$M/one"
wait_state "$M/one.status" sent 20
one_eml_with "$T/rx" "Subject: recover one" >/dev/null || exit 1
assert_eq draft "$(status_state "$M/.draft.status")" "the scratch draft after restart"
Q=$(cat "$M/.queue")
assert_contains "$Q" "corrupt/900 corrupt" ".queue"
assert_contains "$Q" "corrupt/901 corrupt" ".queue"
[ -f "$T/spool/corrupt/900.meta" ] || fail "corrupt record 900 not set aside: $(ls "$T/spool/corrupt")"
[ -f "$T/spool/corrupt/901.msg" ] || fail "message 901 not set aside"
[ -e "$M/cut" ] && fail "a corrupt record became a message"

# A new message gets an id above the set-aside ones.
printf 'To: bob@example.com\nSubject: recover two\n\ntwo\n' >"$M/two"
wait_state "$M/two.status" sent 20
[ -f "$T/spool/corrupt/900.meta" ] || fail "corrupt record overwritten"
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
