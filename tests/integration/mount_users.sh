#!/usr/bin/env bash
# Several users, one outbox (issue 11), as root with a second user:
#   without allow_other the second user cannot enter the mount at all;
#   with allow_other the directories are 1777 (sticky), yet the second
#   user cannot read, remove, rename, touch or overwrite root's message
#   or its status file (EACCES/EPERM), does not see it in .queue, and
#   cannot send (EACCES at create, a log line) until `users` names them;
#   then their message belongs to them (stat), is sent with the
#   account's envelope sender, its status and the log name them, .queue
#   shows them their own, and a remount keeps the owner. Through an
#   account without from, their message goes with their login at the
#   account's maildomain as its envelope sender, never their From: line.
#   Taken off `users`, a draft of theirs is not sent when they submit it
#   (renamed from a scratch name): it fails, saying why.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
add_test_user

mk_tmp T
chmod 755 "$T"                     # the second user must reach the mount
U=$TU_NAME

# ---- without allow_other: nobody else gets in --------------------------
outbox_start -t "$T"
printf 'To: bob@example.com\nSubject: root one\n\nroot body\n' >"$M/rootmsg"
wait_state "$M/rootmsg.status" sent 20
assert_eq "700 0 0" "$(stat -c '%a %u %g' "$M")" "mode of the top directory"
as_test_user ls "$M" >/dev/null 2>&1 && fail "$U listed a mount without allow_other"
as_test_user cat "$M/rootmsg" >/dev/null 2>&1 && fail "$U read a message without allow_other"
as_test_user sh -c "echo x >'$M/theirs'" 2>/dev/null && fail "$U wrote into a mount without allow_other"
umount_outbox "$M"

# ---- allow_other, no `users`: enter, but neither send nor touch -----------
mount_outbox "$M" "$T/config" allow_other
printf 'To: bob@example.com\nSubject: root draft\n\ndraft\n' >"$M/.rootdraft"
assert_eq "1777 0 0" "$(stat -c '%a %u %g' "$M")" "mode of the shared top directory"
assert_eq "400 0 0" "$(stat -c '%a %u %g' "$M/rootmsg")" "root's message"
assert_eq "400 0 0" "$(stat -c '%a %u %g' "$M/rootmsg.status")" "root's status file"
assert_eq "600 0 0" "$(stat -c '%a %u %g' "$M/.rootdraft")" "root's draft"

cat >"$T/attack.py" <<'PYEOF'
import errno, os, sys
m, can_send = sys.argv[1], sys.argv[2] == "1"
bad = []
p = os.path.join

def expect(what, want, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno not in want:
            bad.append("%s: %s, want %s" % (what, e,
                "/".join(errno.errorcode[w] for w in want)))
        return
    bad.append("%s: succeeded, want %s" % (what,
        "/".join(errno.errorcode[w] for w in want)))

def openf(path, flags):
    os.close(os.open(path, flags, 0o644))

def readf(path):
    with open(path, "rb") as f:
        f.read()

A, P = (errno.EACCES,), (errno.EPERM,)
for f in ("rootmsg", "rootmsg.status", ".rootdraft"):
    expect("read " + f, A, readf, p(m, f))
    expect("open(%s, O_WRONLY|O_TRUNC)" % f, A, openf, p(m, f), os.O_WRONLY | os.O_TRUNC)
    expect("open(%s, O_WRONLY|O_APPEND)" % f, A, openf, p(m, f), os.O_WRONLY | os.O_APPEND)
    expect("truncate " + f, A + P, os.truncate, p(m, f), 0)
    expect("touch " + f, A + P, os.utime, p(m, f))
    expect("utime(%s, 1 1)" % f, P, os.utime, p(m, f), (1, 1))
    expect("chmod " + f, P, os.chmod, p(m, f), 0o644)
for f in ("rootmsg", ".rootdraft"):
    expect("unlink " + f, P + A, os.unlink, p(m, f))
    expect("rename %s away" % f, P + A, os.rename, p(m, f), p(m, "stolen"))
expect("unlink rootmsg.status", P + A, os.unlink, p(m, "rootmsg.status"))
if not can_send:
    expect("create theirs", A, openf, p(m, "theirs"), os.O_WRONLY | os.O_CREAT)
    expect("create .scratch", A, openf, p(m, ".scratch"), os.O_WRONLY | os.O_CREAT)
else:
    # their own draft may not replace root's message by a rename
    with open(p(m, ".mine"), "w") as f:
        f.write("To: bob@example.com\nSubject: replace\n\nx\n")
    expect("rename .mine over rootmsg", P + A, os.rename, p(m, ".mine"), p(m, "rootmsg"))
    os.unlink(p(m, ".mine"))
with open(p(m, ".queue")) as f:
    q = f.read()
if "rootmsg" in q or "rootdraft" in q:
    bad.append(".queue shows root's messages to another user:\n" + q)
if bad:
    print("\n".join(bad))
    sys.exit(1)
PYEOF
as_test_user "$PY" "$T/attack.py" "$M" 0 ||
	fail "$U could do what only root may (see above)"
[ -f "$M/rootmsg" ] && [ -f "$M/.rootdraft" ] || fail "root's files are gone"
assert_missing "$M/stolen"
assert_missing "$M/theirs"
assert_eq "root draft" "$(sed -n 's/^Subject: //p' "$M/.rootdraft")" "root's draft untouched"
assert_contains "$(outbox_log "$M")" "refused a new message from uid=$TU_UID user=$U" "the daemon's log"
umount_outbox "$M"

# ---- users names them: they send, as themselves ------------------------
write_config "$T/config" "$SMTP_PORT" "users $U"
mount_outbox "$M" "$T/config" allow_other
as_test_user sh -c "printf 'To: carol@example.com\nSubject: from the user\n\nhello\n' >'$M/theirs'" ||
	fail "$U could not write a message though users names them"
wait_state "$M/theirs.status" sent 20
assert_eq "400 $TU_UID $TU_GID" "$(stat -c '%a %u %g' "$M/theirs")" "their message"
assert_eq "400 $TU_UID $TU_GID" "$(stat -c '%a %u %g' "$M/theirs.status")" "their status file"
assert_line "$M/theirs.status" "^user: $U uid=$TU_UID\$"
assert_line "$M/rootmsg.status" '^user: root uid=0$'
as_test_user cat "$M/theirs.status" | grep -q '^state: sent$' ||
	fail "$U cannot read their own status file"
assert_contains "$(outbox_log "$M")" "theirs: id=" "the daemon's log"
assert_contains "$(outbox_log "$M")" "created by uid=$TU_UID user=$U" "the daemon's log"
eml=$(one_eml_with "$T/rx" "Subject: from the user") || exit 1
assert_line "${eml%.eml}.env" '^from: <alice@example\.com>$'

q=$(as_test_user cat "$M/.queue") || fail "$U cannot read .queue"
assert_contains "$q" "theirs sent" ".queue as $U"
assert_not_contains "$q" "rootmsg" ".queue as $U"
q=$(cat "$M/.queue")
assert_contains "$q" "theirs sent" ".queue as root"
assert_contains "$q" "rootmsg sent" ".queue as root"

as_test_user "$PY" "$T/attack.py" "$M" 1 ||
	fail "$U could do what only root may (see above)"
# their own: renamed and removed by them; root reads it
as_test_user mv "$M/theirs" "$M/theirs2" || fail "$U cannot rename their message"
grep -q '^Subject: from the user' "$M/theirs2" || fail "root cannot read $U's message"

# ---- a remount keeps who owns what --------------------------------------
umount_outbox "$M"
mount_outbox "$M" "$T/config" allow_other
assert_eq "400 $TU_UID $TU_GID" "$(stat -c '%a %u %g' "$M/theirs2")" "their message after a remount"
assert_line "$M/theirs2.status" "^user: $U uid=$TU_UID\$"
assert_eq "400 0 0" "$(stat -c '%a %u %g' "$M/rootmsg")" "root's message after a remount"
as_test_user cat "$M/rootmsg" >/dev/null 2>&1 && fail "$U read root's message after a remount"
as_test_user rm "$M/theirs2" || fail "$U cannot remove their message"
assert_missing "$M/theirs2"
assert_eq 2 "$(count_eml "$T/rx")" "messages received"

# ---- an account without from: their own login, never their From: -------
umount_outbox "$M"
write_config "$T/config" "$SMTP_PORT" "users $U" "" "account bare" \
	"maildomain example.net"
mount_outbox "$M" "$T/config" allow_other
[ -d "$M/bare" ] || fail "no directory for the account bare"
as_test_user sh -c "printf 'From: ceo@example.com\nTo: carol@example.com\nSubject: bare from the user\n\nhello\n' >'$M/bare/spoof'" ||
	fail "$U could not write into bare/"
wait_state "$M/bare/spoof.status" sent 20
eml=$(one_eml_with "$T/rx" "Subject: bare from the user") || exit 1
assert_line "${eml%.eml}.env" "^from: <$U@example\.net>\$"
# root's own message there: its From: line, as before
printf 'From: boss@example.com\nTo: carol@example.com\nSubject: bare from root\n\nhello\n' >"$M/bare/mine"
wait_state "$M/bare/mine.status" sent 20
eml=$(one_eml_with "$T/rx" "Subject: bare from root") || exit 1
assert_line "${eml%.eml}.env" '^from: <boss@example\.com>$'
# a draft of theirs under a scratch name, kept for later
as_test_user sh -c "printf 'To: carol@example.com\nSubject: later\n\nhello\n' >'$M/.later'" ||
	fail "$U could not write .later"
umount_outbox "$M"

# ---- taken off users: nothing of theirs is sent any more ----------------
write_config "$T/config" "$SMTP_PORT"
mount_outbox "$M" "$T/config" allow_other
n=$(count_eml "$T/rx")
as_test_user mv "$M/.later" "$M/later" || fail "$U cannot rename their own draft"
wait_state "$M/later.status" failed 20
assert_line "$M/later.status" "^error: not sent: uid=$TU_UID user=$U is not in the users or groups allowed to send\$"
assert_eq "$n" "$(count_eml "$T/rx")" "messages received after $U was taken off users"
umount_outbox "$M"
exit 0
