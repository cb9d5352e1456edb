#!/usr/bin/env bash
# A stop of the system (power loss) after records were written into the
# journal's zeros and before their commit: the disk may keep any of those
# pages. Here a newer record of m1 crosses a page boundary; its first page
# reached the disk, the next did not (zeros), and the page after it did.
# That record was never reported durable: m1 keeps its durable state
# (deferred), with the warning that it may arrive twice, and is not set
# aside in corrupt/; the records after the hole are read; the log says
# what was skipped.
. "$(dirname "$0")/../lib.sh" || exit 1
skip_without_fuse
mk_tmp T
port=$(free_port)          # nobody listens: the messages are deferred
write_config "$T/config" "$port" "settle 100"
mount_outbox "$T/mnt" "$T/config"
M=$T/mnt
for n in m1 m2; do
	printf 'To: bob@example.com\nSubject: %s\n\nbody\n' "$n" >"$M/$n"
done
wait_state "$M/m1.status" deferred 30
wait_state "$M/m2.status" deferred 30
umount_outbox "$M"
J=$T/spool/journal

# After the journal's last record: records of m2, one of m1 that crosses a
# page boundary (its "attempts" changed, so it is newer), records of m2 up
# to a page past it; then the page after the boundary zeroed.
"$PY" - "$J" <<'PY' || fail "writing the torn journal"
import re, sys
path = sys.argv[1]
tab = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    tab.append(c)
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = tab[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
def frame(body, fid):
    return b'%%obx %d %08x %d\n' % (len(body), crc32c(body), fid) + body
data = bytearray(open(path, 'rb').read())
end = len(data.rstrip(b'\0'))
last = {}
for m in re.finditer(rb'%obx (\d+) ([0-9a-f]{8}) (\d+)\n', bytes(data[:end])):
    last[int(m.group(3))] = bytes(data[m.end():m.end() + int(m.group(1))])
x, y = sorted(last)[:2]
fx = frame(last[x].replace(b'\nattempts ', b'\nattempts 1'), x)
fy = frame(last[y], y)
out = bytearray()
while True:
    room = 4096 - (end + len(out)) % 4096
    if 120 <= room < len(fx) - 50:
        break
    out += fy
edge = end + len(out) + room
out += fx
while end + len(out) < edge + 4096 + 1024:
    out += fy
data[end:end + len(out)] = out
data[edge:edge + 4096] = bytes(4096)
open(path, 'wb').write(data)
print("# m1 (id %d): its record crosses byte %d, the page after it zeroed" % (x, edge))
PY

mount_outbox "$M" "$T/config"
assert_eq deferred "$(status_state "$M/m1.status")" "m1 after the stop"
assert_eq deferred "$(status_state "$M/m2.status")" "m2 after the stop"
assert_file_contains "$M/m1.status" "warning: outboxfs stopped during an attempt"
grep -q corrupt "$M/.queue" && fail "set aside after the stop: $(cat "$M/.queue")"
[ -z "$(ls -A "$T/spool/corrupt")" ] ||
	fail "corrupt/ holds $(ls "$T/spool/corrupt")"
log=$(outbox_log "$M")
assert_contains "$log" "records not written whole before a stop of the system skipped" "the log"
assert_not_contains "$log" "damaged journal records" "the log"
note "m1 kept deferred, warned; $(grep -o '[0-9]* journal records not written whole' <<<"$log")"
umount_outbox "$M"
exit 0
