#!/usr/bin/env bash
# msmtp's keys on the wire, through a mount, against testsmtpd: dsn_notify
# and dsn_return become NOTIFY= on RCPT and RET=/ENVID= on MAIL when the
# server offers DSN, and the status says they were not used when it does
# not; aliases turn `root` into a real address in the envelope and cron's
# `From: root (Cron Daemon)` is completed, not refused; `from cron@%H`
# expands; set_from_header off leaves the message's From; an account on
# [::1] is written [::1]:PORT; an account with proxy_host fails its
# messages with the reason while the mount works; keywords still ignored
# are named at mount; more scratch names are never sent; a second write to
# a submitted message says why; outboxfs --check and -o's "did you mean".
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse

mk_tmp T
smtpd_start "$T/rx-dsn"
P_DSN=$SMTP_PORT
smtpd_start "$T/rx-nodsn" --no-dsn
P_NODSN=$SMTP_PORT
P_V6=
if have_ipv6_loopback; then
	smtpd_start "$T/rx-v6" -l ::1
	P_V6=$SMTP_PORT
else
	skip_part "no IPv6 loopback (::1): the account on [::1]"
fi

printf 'root: admin@example.org, ops\n# comment\npostmaster: pm@example.org\n' \
	>"$T/aliases"
H=$(hostname)
write_config "$T/config" "$P_DSN" \
	"ntlmdomain EXAMPLE" \
	"account dsn" "port $P_DSN" "from alice@example.com" \
	"dsn_notify failure,delay" \
	"dsn_return headers" \
	"account nodsn" "port $P_NODSN" "from alice@example.com" \
	"dsn_notify success" \
	"account cron" "port $P_DSN" "from cron@%H" "aliases $T/aliases" \
	"maildomain example.net" \
	"account keep" "port $P_DSN" "from alice@example.com" \
	"set_from_header off" \
	"account proxied" "from alice@example.com" "proxy_host 127.0.0.1" \
	${P_V6:+"account v6"} ${P_V6:+"from alice@example.com"} \
	${P_V6:+"host [::1]"} ${P_V6:+"port $P_V6"}

# --check: each account as resolved, no password, exit 0
out=$("$OUTBOXFS" --check -o "config=$T/config") || fail "--check failed: $out"
assert_contains "$out" "account dsn"
assert_contains "$out" "server      127.0.0.1:$P_DSN"
assert_contains "$out" "from        cron@$H"
assert_contains "$out" "aliases     $T/aliases (2 entries)"
assert_contains "$out" "unusable    proxy_host is set"
assert_contains "$out" "ntlmdomain: this msmtp keyword is read but has no effect"
[ -z "$P_V6" ] || assert_contains "$out" "server      [::1]:$P_V6"
# a wrong line: file, line and the fix; nothing mounted
printf 'account a\nhost h\ndsn_return maybe\n' >"$T/bad"
chmod 600 "$T/bad"
if out=$("$OUTBOXFS" --check -o "config=$T/bad" 2>&1); then
	fail "--check accepted a bad file: $out"
fi
assert_contains "$out" "$T/bad:3: dsn_return \`maybe\` is not off, headers or full"
# -o misspelt
mkdir -p "$T/never"
if out=$("$OUTBOXFS" -f -o "config=$T/config,setle=100" "$T/never" 2>&1); then
	fail "-o setle=100 was accepted: $out"
fi
assert_contains "$out" "did you mean \`settle\`?"
note "--check and -o did you mean"

M=$T/mnt
mount_outbox "$M" "$T/config"
log=$(outbox_log "$M")
assert_contains "$log" "ntlmdomain: this msmtp keyword is read but has no effect"
assert_contains "$log" "account proxied cannot send: proxy_host is set"

printf 'To: bob@example.com\nSubject: dsn on\n\nx\n' >"$M/dsn/d1"
printf 'To: bob@example.com\nSubject: dsn off\n\nx\n' >"$M/nodsn/d2"
printf 'From: root (Cron Daemon)\nTo: root\nSubject: cron job\n\nout\n' >"$M/cron/c1"
printf 'From: Me <me@mine.org>\nTo: bob@example.com\nSubject: keep from\n\nx\n' >"$M/keep/k1"
printf 'To: bob@example.com\nSubject: proxied\n\nx\n' >"$M/proxied/p1"
[ -z "$P_V6" ] || printf 'To: bob@example.com\nSubject: six\n\nx\n' >"$M/v6/v1"

wait_state "$M/dsn/d1.status" sent 20
env=$(one_eml_with "$T/rx-dsn" "Subject: dsn on") || exit 1
env=${env%.eml}.env
assert_line "$env" '^rcpt-params: <bob@example\.com> NOTIFY=FAILURE,DELAY$'
assert_line "$env" '^params: .*RET=HDRS ENVID=<'
assert_contains "$(cat "$M/dsn/d1.status")" "NOTIFY=FAILURE,DELAY"

wait_state "$M/nodsn/d2.status" sent 20
env=$(one_eml_with "$T/rx-nodsn" "Subject: dsn off") || exit 1
env=${env%.eml}.env
if grep -q '^rcpt-params:' "$env" || grep -q 'RET=\|NOTIFY=' "$env"; then
	fail "DSN parameters sent to a server without DSN: $(cat "$env")"
fi
assert_contains "$(cat "$M/nodsn/d2.status")" \
	"# the server does not offer DSN: dsn_notify and dsn_return were not used"
note "dsn_notify, dsn_return"

wait_state "$M/cron/c1.status" sent 20
eml=$(one_eml_with "$T/rx-dsn" "Subject: cron job") || exit 1
env=${eml%.eml}.env
assert_line "$env" "^from: <cron@$H>\$"
assert_line "$env" '^rcpt: <admin@example\.org>$'
assert_line "$env" '^rcpt: <ops@example\.net>$'
hdr=$(eml_headers "$eml")
assert_contains "$hdr" "From: root@example.net (Cron Daemon)"
assert_contains "$hdr" "To: root@example.net"
note "aliases, from %H, unqualified addresses"

wait_state "$M/keep/k1.status" sent 20
eml=$(one_eml_with "$T/rx-dsn" "Subject: keep from") || exit 1
assert_contains "$(eml_headers "$eml")" "From: Me <me@mine.org>"
assert_line "${eml%.eml}.env" '^from: <alice@example\.com>$'
note "set_from_header off"

wait_state "$M/proxied/p1.status" failed 20
assert_contains "$(cat "$M/proxied/p1.status")" "proxy_host is set"
note "proxy_host: that account only"

if [ -n "$P_V6" ]; then
	wait_state "$M/v6/v1.status" sent 20
	st=$(cat "$M/v6/v1.status")
	assert_contains "$st" "server: [::1]:$P_V6 plain"
	assert_contains "$st" "--- attempt 1 "
	assert_contains "$(grep -- '--- attempt' <<<"$st")" "[::1]:$P_V6"
	note "IPv6 host:port"
fi

# scratch names: never sent
for f in a.bak b.orig c.rej 4913 d.swx .#e sedAb12Cd f.part g.dpkg-new; do
	printf 'To: bob@example.com\nSubject: scratch %s\n\nnever send\n' "$f" >"$M/$f" ||
		fail "cannot write $f"
done
printf 'To: bob@example.com\nSubject: after scratch\n\nx\n' >"$M/real"
wait_state "$M/real.status" sent 20
sleep 0.5
assert_eq "" "$(eml_with "$T/rx-dsn" "never send")" "scratch files sent"
note "scratch names"

# a second write to a submitted message: EACCES, and the status and the
# log say why; a touch (which opens for writing too) is no such mistake
touch "$M/real" || fail "touch of a sent message failed"
assert_not_contains "$(cat "$M/real.status")" "already submitted" "after touch"
if (echo more >>"$M/real") 2>/dev/null; then
	fail "a sent message could be written again"
fi
(echo again >>"$M/real") 2>/dev/null
st=$(cat "$M/real.status")
assert_contains "$st" "error: already submitted at "
assert_contains "$st" "; write a new file"
assert_eq 1 "$(outbox_log "$M" | grep -c 'real: already submitted at')" \
	"log lines for the refused writes"
note "second :w"
