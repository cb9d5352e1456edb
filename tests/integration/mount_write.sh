#!/usr/bin/env bash
# Every usual way of writing a file into the outbox sends exactly one
# message with exactly the content written: echo, printf, heredoc, cat,
# cp, mv from a scratch name, >> appends, a redirected group with a child
# process, tee, dd, rsync's temp+rename, and vim's write sequence.
. "$(dirname "$0")/../lib.sh" || exit 1

# settle 400 ms: the >> and group cases reopen the file several times;
# the gap between two opens of a script must stay well inside it.
outbox_start -o settle=400
mkdir -p "$T/src"

# msg NAME: the text of the test message for case NAME.
msg()
{
	printf 'To: bob@example.com\nSubject: case %s\n\nbody of %s\nsecond line\n' "$1" "$1"
}

body_of()
{
	printf 'body of %s\nsecond line' "$1"
}

case_echo()
{
	echo "To: bob@example.com
Subject: case echo

body of echo
second line" >"$M/echo"
}

case_printf()
{
	printf 'To: bob@example.com\nSubject: case printf\n\nbody of printf\nsecond line\n' >"$M/printf"
}

case_heredoc()
{
	cat >"$M/heredoc" <<-EOF
	To: bob@example.com
	Subject: case heredoc

	body of heredoc
	second line
	EOF
}

case_cat()
{
	msg cat >"$T/src/cat"
	cat "$T/src/cat" >"$M/cat"
}

case_cp()
{
	msg cp >"$T/src/cp"
	cp "$T/src/cp" "$M/cp"
}

case_mv()
{
	msg mv >"$M/.mv"
	sleep 0.6   # past settle: a scratch name must still not be sent
	mv "$M/.mv" "$M/mv"
}

case_append()
{
	echo "To: bob@example.com" >"$M/append"
	echo "Subject: case append" >>"$M/append"
	echo >>"$M/append"
	echo "body of append" >>"$M/append"
	echo "second line" >>"$M/append"
}

case_group()
{
	{
		echo "To: bob@example.com"
		(echo "Subject: case group")
		echo
		echo "body of group"
		sh -c 'echo second line'
	} >"$M/group"
}

case_tee()
{
	msg tee | tee "$M/tee" >/dev/null
}

case_dd()
{
	# 7-byte blocks: many small writes through one handle.
	msg dd | dd of="$M/dd" bs=7 status=none
}

case_rsync_emul()
{
	# rsync writes .NAME.XXXXXX, then renames it over NAME.
	msg rsync_emul >"$M/.rsync_emul.Xa81Qz"
	mv "$M/.rsync_emul.Xa81Qz" "$M/rsync_emul"
}

case_rsync()
{
	msg rsync >"$T/src/rsync"
	rsync "$T/src/rsync" "$M/rsync"
}

case_vim_emul()
{
	# vim's write of a new file: swap file .NAME.swp while editing, a
	# probe file "4913" created and removed to test the directory, a
	# backup NAME~ during the write, then NAME, fsync, and the backup and
	# swap file removed.
	"$PY" - "$M" <<'PYEOF'
import os, sys
d = sys.argv[1]
def write(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
swp = os.path.join(d, ".vim_emul.swp")
write(swp, b"b0VIM 9.0" + b"\0" * 4087)
fd = os.open(os.path.join(d, "4913"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
os.close(fd)
os.unlink(os.path.join(d, "4913"))
write(os.path.join(d, "vim_emul~"), b"To: bob@example.com\nSubject: old backup\n\nold\n")
write(os.path.join(d, "vim_emul"),
      b"To: bob@example.com\nSubject: case vim_emul\n\nbody of vim_emul\nsecond line\n")
os.unlink(os.path.join(d, "vim_emul~"))
os.unlink(swp)
PYEOF
}

case_vim()
{
	# The real editor, in Ex mode, with its swap file in the outbox.
	printf '%s\n' 'a' 'To: bob@example.com' 'Subject: case vim' '' \
		'body of vim' 'second line' '.' 'wq' |
		vim -u NONE -i NONE -N -Es "$M/vim" >/dev/null 2>&1
}

cases="echo printf heredoc cat cp mv append group tee dd rsync_emul vim_emul"
if command -v rsync >/dev/null 2>&1; then
	cases="$cases rsync"
else
	skip_part "rsync is not installed: the real rsync case (its sequence is still emulated)"
fi
if command -v vim >/dev/null 2>&1; then
	cases="$cases vim"
else
	skip_part "vim is not installed: the real vim case (its sequence is still emulated)"
fi

for c in $cases; do
	"case_$c" || fail "case $c: writing the message failed"
done

for c in $cases; do
	wait_state "$M/$c.status" sent 20
	# The CR ends the match: "case rsync" is not "case rsync_emul".
	eml=$(one_eml_with "$T/rx" "Subject: case $c"$'\r') || exit 1
	assert_body "$eml" "$(body_of "$c")"
	env=${eml%.eml}.env
	assert_file_contains "$env" "bob@example.com"
	assert_file_contains "$env" "alice@example.com"
	note "case $c: sent once, body intact"
done

# Scratch names used on the way never reach the server, and are gone.
assert_eq "" "$(eml_with "$T/rx" "old backup")" "the vim backup file NAME~ sent"
for f in .mv .rsync_emul.Xa81Qz 4913 vim_emul~ .vim_emul.swp .vim.swp vim~; do
	assert_missing "$M/$f"
	assert_missing "$M/$f.status"
done
# Nothing else was sent: one message per case.
n=0
for c in $cases; do n=$((n + 1)); done
sleep 0.5
assert_eq "$n" "$(count_eml "$T/rx")" "messages received"

# The daemon's threads carry the names outboxfs(1) lists (top -H, ps -L).
names=$(cat /proc/"$OUTBOX_PID"/task/*/comm | sort -u | tr '\n' ' ')
for t in outboxfs-commit outboxfs-smtp outboxfs-spare; do
	case " $names" in
	*" $t "*) ;;
	*) fail "no thread named $t among: $names" ;;
	esac
done
exit 0
