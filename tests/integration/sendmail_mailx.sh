#!/usr/bin/env bash
# mail(1) from bsd-mailx with outboxfs-sendmail as its sendmail: `mail -s
# SUBJECT rcpt` with the body on stdin, the way cron jobs and logwatch
# scripts send. Skipped where bsd-mailx is not installed.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
command -v bsd-mailx >/dev/null 2>&1 ||
	{ echo "SKIP: bsd-mailx is not installed"; exit 77; }
: "${SENDMAIL:=$(dirname "$OUTBOXFS")/outboxfs-sendmail}"

mk_tmp T
smtpd_start "$T/rx"
mkdir -p "$T/xdg/outboxfs"
write_config "$T/xdg/outboxfs/config" "$SMTP_PORT"
mount_outbox "$T/mnt" "$T/xdg/outboxfs/config"
# mail(1) runs the program the sendmail variable names, with -i and the
# recipients; outboxfs-sendmail finds the configuration by XDG_CONFIG_HOME
printf 'set sendmail=%s\n' "$SENDMAIL" >"$T/mailrc"
printf 'disk usage: 93%%\n.\nend of report\n' |
	MAILRC=$T/mailrc XDG_CONFIG_HOME=$T/xdg bsd-mailx -s 'backup report' \
	    bob@example.com carol@example.com
assert_eq 0 "$?" "mail -s"
wait_until 20 sh -c "grep -l 'backup report' '$T/rx'/*.eml >/dev/null 2>&1" ||
	fail "mail -s: nothing received; outbox: $(ls "$T/mnt")"
eml=$(one_eml_with "$T/rx" "Subject: backup report") || exit 1
e=$(cat "${eml%.eml}.env")
assert_contains "$e" "rcpt: <bob@example.com>"
assert_contains "$e" "rcpt: <carol@example.com>"
assert_contains "$e" "from: <alice@example.com>"
h=$(eml_headers "$eml")
assert_contains "$h" "To: bob@example.com, carol@example.com"
assert_contains "$h" "From: alice@example.com"
assert_body "$eml" "disk usage: 93%
.
end of report"
s=$(ls "$T/mnt" | grep '^sendmail-.*\.status$' | head -1)
[ -n "$s" ] || fail "no sendmail-* message in the outbox: $(ls "$T/mnt")"
assert_file_contains "$T/mnt/$s" "state: sent"
note "mail -s reached the server through outboxfs-sendmail ($s)"
san_check
exit 0
