#!/usr/bin/env bash
# outboxfs-sendmail on a system-wide outbox (issue 11), as root with two
# other users and a maildrop group: the daemon makes maildrop/ 1730
# root:GROUP and the spool 0711; a user allowed to send runs the command
# installed setgid GROUP and their message is sent, owned by them (stat,
# user: line, log uid=), their -f ignored, invisible to the other user in
# .queue, and -bp shows them their own only. With the daemon stopped,
# the drops stay in maildrop/: the other user cannot read, remove or
# replace the first one's drop, with or without the group (EACCES/EPERM).
# At the next mount a drop from a user not in `users` is set aside with
# a log line naming them, and so are a drop with two links, one of mode
# 0666 and one whose uid line names someone else.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
: "${SENDMAIL:=$(dirname "$OUTBOXFS")/outboxfs-sendmail}"
[ -x "$SENDMAIL" ] || fail "$SENDMAIL is not built"
add_test_user
A=$TU_NAME A_UID=$TU_UID A_GID=$TU_GID
add_test_user
B=$TU_NAME B_UID=$TU_UID B_GID=$TU_GID
add_test_group
G=$TG_NAME G_GID=$TG_GID

mk_tmp T
chmod 755 "$T"                     # the users must reach the mount
smtpd_start "$T/rx"
write_config "$T/config" "$SMTP_PORT" "users $A" "maildrop_group $G"
SP=$T/spool
M=$T/mnt
# The users' own configuration names the spool only: root's holds the
# password and stays 0600.
printf 'defaults\nspool %s\naccount default\n' "$SP" >"$T/user.conf"
chmod 644 "$T/user.conf"
# The command as `make install MAILDROP_GROUP=$G` installs it: a setgid
# copy. A setgid process cannot be traced and cannot read its own
# /proc/self/environ, so LeakSanitizer cannot run in it and the
# sanitizers ignore their options: the build with them is run with the
# group given by setpriv instead (real and effective group G).
mkdir "$T/bin"
cp "$SENDMAIL" "$T/bin/sendmail"
chgrp "$G" "$T/bin/sendmail" && chmod 2755 "$T/bin/sendmail" ||
	fail "cannot make the setgid copy"
findmnt -n -o OPTIONS -T "$T" | grep -qw nosuid &&
	fail "$T is on a nosuid file system: the setgid copy cannot work"
# sm_as UID GID ARGS...: the command as that user, with the group
if [ "$OUTBOXFS_SAN" = 1 ]; then
	sm_as() { local u=$1 g=$2; shift 2; setpriv --reuid="$u" --regid="$G_GID" --groups="$g" -- "$SENDMAIL" -C "$T/user.conf" "$@"; }
else
	sm_as() { local u=$1 g=$2; shift 2; setpriv --reuid="$u" --regid="$g" --clear-groups -- "$T/bin/sendmail" -C "$T/user.conf" "$@"; }
fi
as_a() { setpriv --reuid="$A_UID" --regid="$A_GID" --clear-groups -- "$@"; }
as_b() { setpriv --reuid="$B_UID" --regid="$B_GID" --clear-groups -- "$@"; }
# B holding the maildrop group, as the setgid command does
as_b_group() { setpriv --reuid="$B_UID" --regid="$B_GID" --groups="$G_GID" -- "$@"; }

# ---- mounted: the folder's modes, a user's drop is theirs ---------------
mount_outbox "$M" "$T/config" allow_other
assert_eq "711 0 0" "$(stat -c '%a %u %g' "$SP")" "mode of the spool"
assert_eq "1730 0 $G_GID" "$(stat -c '%a %u %g' "$SP/maildrop")" "mode of maildrop/"
# written by the daemon just after the mount shows (later on a slow
# machine, or under valgrind)
wait_until 10 test -e "$SP/mountpoint" || fail "no SPOOL/mountpoint 10 s after the mount"
assert_eq "644" "$(stat -c '%a' "$SP/mountpoint")" "mode of SPOOL/mountpoint"
for f in "$SP"/journal* "$SP"/lock; do
	[ -e "$f" ] || continue
	assert_eq "600" "$(stat -c '%a' "$f")" "mode of $f"
done
printf 'To: bob@example.com\nSubject: root one\n\nroot body\n' >"$M/rootmsg"
wait_state "$M/rootmsg.status" sent 20

printf 'To: carol@example.com\nSubject: from the cron of A\n\nhello from A\n' |
	sm_as "$A_UID" "$A_GID" -t -f evil@example.net ||
	fail "$A could not queue with the setgid command"
wait_until 5 sh -c "ls '$M' | grep -q '^sendmail-.*[0-9a-f]\$'" ||
	fail "$A's drop was not picked up: $(ls -a "$M"; outbox_log "$M")"
name=$(ls "$M" | grep '^sendmail-.*[0-9a-f]$')
wait_state "$M/$name.status" sent 20
assert_eq "400 $A_UID $A_GID" "$(stat -c '%a %u %g' "$M/$name")" "$A's message"
assert_eq "400 $A_UID $A_GID" "$(stat -c '%a %u %g' "$M/$name.status")" "$A's status file"
assert_line "$M/$name.status" "^user: $A uid=$A_UID\$"
log=$(outbox_log "$M")
assert_contains "$log" "picked up as $name uid=$A_UID user=$A" "the daemon's log"
assert_contains "$log" "$name: id=" "the daemon's log"
assert_contains "$log" "created by uid=$A_UID user=$A" "the daemon's log"
assert_contains "$log" "uid=$A_UID user=$A file=$name" "the delivery log line"
assert_contains "$log" "envelope sender (-f) of uid=$A_UID user=$A is ignored" "the daemon's log"
eml=$(one_eml_with "$T/rx" "Subject: from the cron of A") || exit 1
assert_body "$eml" "hello from A"
assert_line "${eml%.eml}.env" '^from: <alice@example\.com>$'
as_a cat "$M/$name.status" | grep -q '^state: sent$' ||
	fail "$A cannot read the status of their own drop"
as_b cat "$M/$name" >/dev/null 2>&1 && fail "$B read $A's message"
q=$(as_b cat "$M/.queue") || fail "$B cannot read .queue"
assert_not_contains "$q" "$name" ".queue as $B"
q=$(sm_as "$A_UID" "$A_GID" -bp) || fail "-bp as $A"
assert_contains "$q" "$name sent" "-bp as $A"
assert_not_contains "$q" "rootmsg" "-bp as $A"
q=$("$SENDMAIL" -C "$T/config" -bp) || fail "-bp as root"
assert_contains "$q" "$name sent" "-bp as root"
assert_contains "$q" "rootmsg sent" "-bp as root"
# without the setgid group the folder is closed to them
err=$(printf 'To: x@example.com\n\nx\n' | as_a "$SENDMAIL" -C "$T/user.conf" -t 2>&1); rc=$?
assert_eq 75 "$rc" "exit status of the command without the group"
assert_contains "$err" "maildrop_group" "the error without the group"
umount_outbox "$M"

# ---- stopped: drops wait in maildrop/, out of each other's reach --------
printf 'To: dave@example.com\nSubject: pending of A\n\nA waits\n' |
	sm_as "$A_UID" "$A_GID" -t || fail "$A could not queue with no daemon"
a_drop=$(find "$SP/maildrop" -maxdepth 1 -type f -user "$A_UID" -printf '%f\n')
[ -n "$a_drop" ] || fail "no drop of $A: $(ls -la "$SP/maildrop")"
assert_eq "404 $A_UID $G_GID 1" "$(stat -c '%a %u %g %h' "$SP/maildrop/$a_drop")" "$A's drop"
q=$(sm_as "$A_UID" "$A_GID" -bp 2>&1); rc=$?
assert_eq 75 "$rc" "-bp as $A with no daemon"
assert_contains "$q" "only its owner" "-bp as $A with no daemon"
printf 'To: erin@example.com\nSubject: from B\n\nB is not allowed\n' |
	sm_as "$B_UID" "$B_GID" -t || fail "$B could not drop (the command cannot know the policy)"
b_drop=$(find "$SP/maildrop" -maxdepth 1 -type f -user "$B_UID" -printf '%f\n')
[ -n "$b_drop" ] || fail "no drop of $B: $(ls -la "$SP/maildrop")"

cat >"$T/attack.py" <<'PYEOF'
import errno, os, sys
d, victim, mine, label = sys.argv[1:5]
bad = []
A, P = (errno.EACCES,), (errno.EPERM,)

def expect(what, want, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno not in want:
            bad.append("%s %s: %s, want %s" % (label, what, e,
                "/".join(errno.errorcode[w] for w in want)))
        return
    bad.append("%s %s: succeeded, want %s" % (label, what,
        "/".join(errno.errorcode[w] for w in want)))

def readf(path):
    with open(path, "rb") as f:
        f.read()

def openw(path, flags):
    os.close(os.open(path, flags, 0o644))

v = os.path.join(d, victim)
expect("list maildrop/", A, os.listdir, d)
expect("read the drop", A, readf, v)
expect("open the drop O_WRONLY", A, openw, v, os.O_WRONLY)
expect("open the drop O_TRUNC", A, openw, v, os.O_WRONLY | os.O_TRUNC)
expect("unlink the drop", A + P, os.unlink, v)
expect("rename the drop away", A + P, os.rename, v, os.path.join(d, "stolen"))
expect("chmod the drop", A + P, os.chmod, v, 0o666)
if mine != "-":
    m = os.path.join(d, mine)
    expect("rename a file of theirs over it", A + P, os.rename, m, v)
    os.unlink(m)
if bad:
    print("\n".join(bad))
    sys.exit(1)
PYEOF
as_b "$PY" "$T/attack.py" "$SP/maildrop" "$a_drop" - "$B:" ||
	fail "$B could reach $A's drop (see above)"
# with the group, as the command runs: it can create there, no more
as_b_group sh -c "echo x >'$SP/maildrop/.tmp-b-own'" ||
	fail "$B with the group cannot create in maildrop/"
as_b_group "$PY" "$T/attack.py" "$SP/maildrop" "$a_drop" .tmp-b-own "$B+$G:" ||
	fail "$B with the group could reach $A's drop (see above)"
assert_eq "404 $A_UID $G_GID 1" "$(stat -c '%a %u %g %h' "$SP/maildrop/$a_drop")" "$A's drop after the attempts"
grep -q '^A waits$' "$SP/maildrop/$a_drop" || fail "$A's drop was changed"

# unsafe drops, made as root (each a whole drop of the right form)
make_drop()
{
	local before after
	before=$(ls "$SP/maildrop")
	printf 'To: frank@example.com\nSubject: %s\n\nunsafe\n' "$1" |
		"$SENDMAIL" -C "$T/config" -t || fail "root's drop ($1)"
	after=$(ls "$SP/maildrop")
	comm -13 <(echo "$before") <(echo "$after")
}
two=$(make_drop "two links")
ln "$SP/maildrop/$two" "$T/second-link" || fail "ln"
wide=$(make_drop "mode 0666")
chmod 666 "$SP/maildrop/$wide"
claim=20200101T000000-0000c1a1
src=$(make_drop "a claim")
sed "s/^uid 0\$/uid $A_UID/" "$SP/maildrop/$src" >"$SP/maildrop/.tmp-claim"
rm -f "$SP/maildrop/$src"
chmod 404 "$SP/maildrop/.tmp-claim"
mv "$SP/maildrop/.tmp-claim" "$SP/maildrop/$claim"
grep -q "^uid $A_UID\$" "$SP/maildrop/$claim" || fail "the claim drop has no uid line of $A"

# ---- the next mount: A's is taken, the others are set aside -------------
mount_outbox "$M" "$T/config" allow_other
log=$(outbox_log "$M")
assert_contains "$log" "picked up as sendmail-$a_drop uid=$A_UID user=$A" "the daemon's log"
wait_state "$M/sendmail-$a_drop.status" sent 20
assert_eq "400 $A_UID $A_GID" "$(stat -c '%a %u %g' "$M/sendmail-$a_drop")" "$A's message"
assert_contains "$log" "$b_drop: refused a message from uid=$B_UID user=$B: not in the users or groups allowed to send; set aside as corrupt/drop-$b_drop" "the daemon's log"
assert_contains "$log" "$two: has 2 links, not 1; set aside" "the daemon's log"
assert_contains "$log" "$wide: mode 666: writable by others or set-id; set aside" "the daemon's log"
assert_contains "$log" "$claim: its uid line does not name its owner; set aside" "the daemon's log"
for d in "$b_drop" "$two" "$wide" "$claim"; do
	[ -f "$SP/corrupt/drop-$d" ] || fail "$d was not set aside: $(ls -a "$SP/corrupt")"
	assert_missing "$M/sendmail-$d"
done
assert_eq "" "$(find "$SP/maildrop" -mindepth 1 -not -name '.tmp-b-own')" "maildrop/ after the mount"
assert_eq 3 "$(count_eml "$T/rx")" "messages received"
umount_outbox "$M"

# ---- without maildrop_group: the folder is the mounting user's ----------
write_config "$T/config" "$SMTP_PORT" "users $A"
mount_outbox "$M" "$T/config" allow_other
assert_eq "700 0 0" "$(stat -c '%a %u %g' "$SP/maildrop")" "maildrop/ without maildrop_group"
err=$(printf 'To: x@example.com\n\nx\n' | sm_as "$A_UID" "$A_GID" -t 2>&1); rc=$?
assert_eq 75 "$rc" "the command of $A without maildrop_group"
assert_contains "$err" "nothing was queued" "the error without maildrop_group"
umount_outbox "$M"
echo "sendmail_users: ok"
exit 0
