#!/usr/bin/env bash
# The final states other than sent:
#   partial  one recipient refused with 550, the other accepted;
#   failed   the server answers 554 after the data;
#   failed   every recipient refused (no data sent), or MAIL FROM refused;
#   failed   before any connection: no recipient, a bad address, a header
#            with a NUL inside (error: says what to fix).
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse

mk_tmp T

# --- partial ---------------------------------------------------------------
smtpd_start "$T/rx-p" --reply 'RCPT/carol@=550 5.1.1 No such user'
mkdir -p "$T/p"
write_config "$T/p/config" "$SMTP_PORT"
mount_outbox "$T/p/mnt" "$T/p/config"
P=$T/p/mnt
printf 'To: bob@example.com, carol@example.com\nSubject: partial\n\nto two\n' >"$P/two"
wait_state "$P/two.status" partial 20
assert_line "$P/two.status" '^rcpt: bob@example\.com 250( |$)'
assert_line "$P/two.status" '^rcpt: carol@example\.com 550 5\.1\.1 No such user$'
assert_line "$P/two.status" '^recipients: 2$'
assert_line "$P/two.status" '^S: 550 5\.1\.1 No such user$'
eml=$(one_eml_with "$T/rx-p" "Subject: partial") || exit 1
assert_line "${eml%.eml}.env" '^rcpt: <bob@example\.com>$'
grep -q 'carol' "${eml%.eml}.env" && fail "carol was refused but is in the envelope: $(cat "${eml%.eml}.env")"
note "partial: bob 250, carol 550"

# --- failed after the data ---------------------------------------------------
smtpd_start "$T/srv-f" --reply 'DOT=554 5.6.0 Content refused'
mkdir -p "$T/f"
write_config "$T/f/config" "$SMTP_PORT"
mount_outbox "$T/f/mnt" "$T/f/config"
F=$T/f/mnt
printf 'To: bob@example.com\nSubject: refused\n\nno\n' >"$F/refused"
wait_state "$F/refused.status" failed 20
assert_line "$F/refused.status" '^reply: 554 5\.6\.0 Content refused$'
assert_line "$F/refused.status" '^S: 554 5\.6\.0 Content refused$'
assert_line "$F/refused.status" '^attempts: 1$'
grep -q '^next-attempt:' "$F/refused.status" && fail "a failed message has a next-attempt: line"
assert_eq 0 "$(count_eml "$T/srv-f")" "messages the server kept"
note "failed: 554 after the data"

# --- every recipient refused, MAIL FROM refused --------------------------------------------
smtpd_start "$T/srv-r" --reply 'RCPT/nobody=550 5.1.1 No such user' \
	--reply 'MAIL/bad@=553 5.7.1 Sender refused'
mkdir -p "$T/r"
write_config "$T/r/config" "$SMTP_PORT" "" "account bad" "from bad@example.com"
mount_outbox "$T/r/mnt" "$T/r/config"
R=$T/r/mnt
printf 'To: nobody1@example.com, nobody2@example.com\nSubject: all refused\n\nno\n' >"$R/allrcpt"
printf 'To: bob@example.com\nSubject: sender refused\n\nno\n' >"$R/bad/sender"
wait_state "$R/allrcpt.status" failed 20
assert_line "$R/allrcpt.status" '^rcpt: nobody1@example\.com 550 '
assert_line "$R/allrcpt.status" '^rcpt: nobody2@example\.com 550 '
grep -q '^C: \[[0-9]* bytes of message data\]' "$R/allrcpt.status" &&
	fail "data was sent although every recipient was refused:
$(cat "$R/allrcpt.status")"
wait_state "$R/bad/sender.status" failed 20
assert_line "$R/bad/sender.status" '^reply: 553 5\.7\.1 Sender refused$'
assert_eq 0 "$(count_eml "$T/srv-r")" "messages the server kept"
note "failed: every recipient refused; MAIL FROM refused"

# --- failed before any connection ---------------------------------------------
# A fresh server with a log: it must see no connection at all.
smtpd_start "$T/srv-n" --log "$T/srv-n/log"
mkdir -p "$T/n"
write_config "$T/n/config" "$SMTP_PORT"
mount_outbox "$T/n/mnt" "$T/n/config"
N=$T/n/mnt
printf 'Subject: nobody\n\nno recipient at all\n' >"$N/norcpt"
printf 'To: not an address\nSubject: bad\n\nbad address\n' >"$N/badaddr"
printf 'To: bob@example.com\nSubject: nul\0inside\n\nheader with a NUL\n' >"$N/nul"
for m in norcpt badaddr nul; do
	wait_state "$N/$m.status" failed 20
	assert_line "$N/$m.status" '^error: .{10,}'
	grep -q '^--- attempt' "$N/$m.status" && fail "$m failed before sending, yet has an attempt:
$(cat "$N/$m.status")"
	note "$m: failed before any connection: $(sed -n 's/^error: //p' "$N/$m.status")"
done
sleep 0.5
[ -s "$T/srv-n/log" ] && fail "the server saw a connection for messages that cannot be sent:
$(cat "$T/srv-n/log")"
exit 0
