#!/usr/bin/env bash
# The settle time fits shell habits, and a message that arrives whole does
# not wait for it: with the default settle (2 s) a script with a slow step
# between appends sends one complete message; a file renamed from a
# scratch name is submitted at once even with a settle of 10 s.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse

mk_tmp T
smtpd_start "$T/rx"
write_config "$T/config" "$SMTP_PORT"
sed -i '/^settle /d' "$T/config"          # the default
mount_outbox "$T/mnt" "$T/config"
M=$T/mnt

f=$M/slow
echo 'To: bob@example.com' >"$f"
echo 'Subject: slow appends' >>"$f"
sleep 0.5
echo >>"$f"
echo 'the body, after a slow step' >>"$f" || fail "an append was refused"
wait_state "$f.status" sent 20
eml=$(one_eml_with "$T/rx" "Subject: slow appends") || exit 1
assert_body "$eml" "the body, after a slow step"
note "default settle: a script with a 0.5 s step sent one complete message"
umount_outbox "$M"

write_config "$T/config" "$SMTP_PORT" "settle 10s"
mount_outbox "$M" "$T/config"
printf 'To: bob@example.com\nSubject: whole\n\nrenamed\n' >"$M/.whole"
mv "$M/.whole" "$M/whole" || fail "mv"
# sent well within the settle time it would otherwise wait
wait_state "$M/whole.status" sent 8
note "renamed from a scratch name: sent at once with settle 10 s"
san_check
exit 0
