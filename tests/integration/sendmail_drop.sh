#!/usr/bin/env bash
# outboxfs-sendmail without and with a daemon: a message queued while
# nothing is mounted is sent at the next mount; one dropped while mounted
# is picked up at once; -bp lists both ways; -q retries deferred mail;
# bad input (empty, no recipient, unreadable config, unwritable spool,
# unknown flag, a reader that goes away) gets one clear line, a sysexits
# code, and nothing is left in the spool.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
: "${SENDMAIL:=$(dirname "$OUTBOXFS")/outboxfs-sendmail}"
[ -x "$SENDMAIL" ] || fail "$SENDMAIL is not built"

mk_tmp T
smtpd_start "$T/rx"
write_config "$T/config" "$SMTP_PORT"
SP=$T/spool
sm() { "$SENDMAIL" -C "$T/config" "$@"; }
drops() { find "$SP/maildrop" -mindepth 1 2>/dev/null | wc -l; }

# ---- no daemon --------------------------------------------------------
printf 'To: bob@example.com\nSubject: offline one\n\nwritten while unmounted\n' |
	sm -t; rc=$?
assert_eq 0 "$rc" "exit status of a drop with no daemon"
assert_eq 1 "$(drops)" "files in maildrop/ (no temp file left)"
ls "$SP/maildrop" | grep -qE '^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$' ||
	fail "drop name: $(ls -a "$SP/maildrop")"
out=$(sm -bp); rc=$?
assert_eq 0 "$rc" "-bp without a daemon"
assert_contains "$out" "maildrop" "-bp lists the drop"

# bad input: nothing queued, one line, a sysexits code
bad()
{
	local want=$1 what=$2 err
	shift 2
	err=$("$@" 2>&1 >/dev/null); rc=$?
	assert_eq "$want" "$rc" "exit status for $what"
	assert_eq 1 "$(printf '%s\n' "$err" | grep -c .)" "lines of error for $what"
	assert_contains "$err" "outboxfs-sendmail:" "$what message"
	assert_eq 1 "$(drops)" "maildrop after $what"
}
bad 66 "empty input" sm -t </dev/null
bad 64 "no recipient" sh -c "printf 'Subject: x\n\nno rcpt\n' | '$SENDMAIL' -C '$T/config'"
bad 64 "-t and no recipient header" sh -c "printf 'Subject: x\n\nno rcpt\n' | '$SENDMAIL' -C '$T/config' -t"
bad 78 "unreadable config" sh -c "printf 'To: a@b.c\n\nx\n' | '$SENDMAIL' -C '$T/nonexistent' -t"
bad 64 "unknown flag" sh -c "printf 'To: a@b.c\n\nx\n' | '$SENDMAIL' -C '$T/config' -X /tmp/log -t"
bad 64 "-bs" sh -c "'$SENDMAIL' -C '$T/config' -bs </dev/null"
bad 64 "-q1h" sh -c "'$SENDMAIL' -C '$T/config' -q1h </dev/null"
bad 64 "empty sender" sh -c "printf 'To: a@b.c\n\nx\n' | '$SENDMAIL' -C '$T/config' -f '<>' a@b.c"
bad 64 "-N bogus" sh -c "printf 'To: a@b.c\n\nx\n' | '$SENDMAIL' -C '$T/config' -N sometimes a@b.c"
# recipients that would not fit the drop's 512 KiB envelope block (600
# of 900 bytes, kept as written): refused as data, not a passing error
long=()
for ((i = 0; i < 600; i++)); do long+=("r$i$(printf 'x%.0s' {1..900})"); done
bad 65 "600 recipients of 900 bytes" sh -c "printf 'To: a@b.c\n\nx\n' | \"\$0\" -C '$T/config' \"\$@\"" "$SENDMAIL" "${long[@]}"
# a spool that cannot be written: a file where its directory should be
: >"$T/notadir"
mkdir -p "$T/badspool"
write_config "$T/badspool/config" "$SMTP_PORT" "spool $T/notadir/spool"
err=$(printf 'To: a@b.c\n\nx\n' | "$SENDMAIL" -C "$T/badspool/config" -t 2>&1); rc=$?
assert_eq 75 "$rc" "exit status with an unwritable spool"
assert_contains "$err" "nothing was queued"
assert_eq 1 "$(drops)" "maildrop after an unwritable spool"
# -bp into a pipe that is closed at once: an error, never a signal death
sm -bp | true; rc=${PIPESTATUS[0]}
[ "$rc" -lt 128 ] || fail "-bp killed by a signal ($rc) writing to a closed pipe"

# ---- the mount picks the drop up before it appears ---------------------
mount_outbox "$T/mnt" "$T/config"
M=$T/mnt
n=$(ls "$M" | grep -c '^sendmail-.*[0-9a-f]$')
assert_eq 1 "$n" "sendmail messages in the outbox after the mount"
name=$(ls "$M" | grep '^sendmail-.*[0-9a-f]$')
wait_state "$M/$name.status" sent 20
eml=$(one_eml_with "$T/rx" "Subject: offline one") || exit 1
assert_body "$eml" "written while unmounted"
assert_eq 0 "$(drops)" "maildrop after the pickup"

# ---- dropped while mounted: picked up at once ----------------------------
t0=$(date +%s%N)
printf 'To: carol@example.com\nSubject: online one\n\nwhile mounted\n' | sm -t ||
	fail "drop while mounted"
wait_until 5 sh -c "ls '$M' | grep -c '^sendmail-.*[0-9a-f]$' | grep -qx 2" ||
	fail "the second drop did not appear: $(ls "$M")"
t1=$(date +%s%N)
note "picked up in $(( (t1 - t0) / 1000000 )) ms"
[ $(( (t1 - t0) / 1000000 )) -lt 2000 ] || fail "pickup took more than 2 s"
wait_count "$T/rx" 2 10
one_eml_with "$T/rx" "Subject: online one" >/dev/null || exit 1
out=$(sm -bp)
assert_contains "$out" " sent " "-bp through the mount"

# ---- -q: deferred mail retried now ---------------------------------------
stop_by_pid "$SMTPD_PID"
printf 'To: dave@example.com\nSubject: deferred one\n\nlater\n' | sm -t
wait_until 10 sh -c "grep -l '^state: deferred' '$M'/sendmail-*.status >/dev/null 2>&1" ||
	fail "no deferred message: $(cat "$M/.queue")"
smtpd_start "$T/rx2" -p "$SMTP_PORT"
sm -q || fail "-q failed"
wait_count "$T/rx2" 1 10
one_eml_with "$T/rx2" "Subject: deferred one" >/dev/null || exit 1
assert_eq 0 "$(drops)" "maildrop after -q (the trigger is consumed)"

# a drop the daemon cannot read is set aside, never deleted
printf 'garbage\n' >"$SP/maildrop/.tmp-x" && mv "$SP/maildrop/.tmp-x" "$SP/maildrop/20200101T000000-deadbeef"
wait_until 5 test -e "$SP/corrupt/drop-20200101T000000-deadbeef" ||
	fail "a bad drop was not set aside: $(ls -a "$SP/maildrop" "$SP/corrupt")"
umount_outbox "$M"
assert_missing "$SP/mountpoint"
echo "sendmail_drop: ok"
