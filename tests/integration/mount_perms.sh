#!/usr/bin/env bash
# What the mount refuses, with the exact errno:
#   a submitted message is mode 0400 and opening it for writing fails with
#   EACCES (also for root, who bypasses mode bits elsewhere);
#   NAME.status cannot be removed alone (EPERM), nor written;
#   a file whose name ends in .status cannot be created (EPERM), nor can a
#   message be renamed to such a name;
#   .queue cannot be written or removed.
. "$(dirname "$0")/../lib.sh" || exit 1

outbox_start

printf 'To: bob@example.com\nSubject: perms\n\nfixed\n' >"$M/done"
wait_state "$M/done.status" sent 20
printf 'To: bob@example.com\nSubject: perms 2\n\ndraft\n' >"$M/.draft"

assert_eq 400 "$(stat -c %a "$M/done")" "mode of a submitted message"

"$PY" - "$M" <<'PYEOF' || fail "the mount did not refuse as it should (see above)"
import errno, os, sys
m = sys.argv[1]
bad = []

def expect(what, want, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno != want:
            bad.append("%s: %s, want %s" % (what, e, errno.errorcode[want]))
        return
    bad.append("%s: succeeded, want %s" % (what, errno.errorcode[want]))

def openw(path, flags):
    os.close(os.open(path, flags, 0o644))

def refused(what, fn, *args):
    try:
        fn(*args)
    except OSError:
        return
    bad.append("%s: succeeded, should fail" % what)

p = os.path.join
expect("open(done, O_WRONLY)", errno.EACCES, openw, p(m, "done"), os.O_WRONLY)
expect("open(done, O_WRONLY|O_APPEND)", errno.EACCES, openw, p(m, "done"), os.O_WRONLY | os.O_APPEND)
expect("open(done, O_RDWR)", errno.EACCES, openw, p(m, "done"), os.O_RDWR)
expect("open(done, O_WRONLY|O_TRUNC)", errno.EACCES, openw, p(m, "done"), os.O_WRONLY | os.O_TRUNC)
refused("truncate(done)", os.truncate, p(m, "done"), 0)
expect("unlink(done.status)", errno.EPERM, os.unlink, p(m, "done.status"))
refused("open(done.status, O_WRONLY)", openw, p(m, "done.status"), os.O_WRONLY)
expect("create(new.status)", errno.EPERM, openw, p(m, "new.status"), os.O_WRONLY | os.O_CREAT)
expect("mknod-like create(x.status, O_EXCL)", errno.EPERM, openw, p(m, "x.status"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
expect("rename(.draft, y.status)", errno.EPERM, os.rename, p(m, ".draft"), p(m, "y.status"))
refused("open(.queue, O_WRONLY)", openw, p(m, ".queue"), os.O_WRONLY)
refused("unlink(.queue)", os.unlink, p(m, ".queue"))
refused("rename(done.status, z)", os.rename, p(m, "done.status"), p(m, "z"))
if bad:
    print("\n".join(bad))
    sys.exit(1)
PYEOF

# The refused operations left everything as it was.
[ -f "$M/done.status" ] || fail "done.status is gone"
[ -f "$M/.draft" ] || fail ".draft is gone"
assert_missing "$M/new.status"
assert_missing "$M/x.status"
assert_missing "$M/y.status"
assert_eq "sent" "$(status_state "$M/done.status")" "state of done"
assert_eq 1 "$(count_eml "$T/rx")" "messages received"
exit 0
