#!/usr/bin/env bash
# Bad input and security:
#  - an ioctl fuzzer (random numbers, sizes and pointers) as root and as an
#    unprivileged user; sysfs writes of junk; the device works after;
#  - ioctl arguments at the edge of a mapping: the ABI touches exactly its bytes;
#  - reset, disksize change, rmmod, double swapon and mkfs while in use: refused;
#  - a corrupt stored object (debug_corrupt=Y, test only) reads as -EIO and is
#    counted in failed_reads; rewriting the page recovers it; off by default;
#  - unprivileged users can neither configure nor reset, nor write sysfs;
#  - no stale data: after a reset, a discard or a swap slot free, pages read as zeros.
# rzs has no control node: configuration is the device's ioctls (and its sysfs).
# cost: 31 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
rzsctl=$RZS_ROOT/target/release/rzsctl
memtest=$RZS_ROOT/target/release/rzs-memtest
badio=$RZS_ROOT/tests/lib/badio.py
stat() { python3 "$RZS_ROOT/tests/lib/rzsstat.py" "$@"; }
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
FUZZ_N=${RZS_IOCTL_FUZZ_N:-20000}
T=$(mktemp -d)
chmod 755 "$T"
# What the unprivileged user runs comes from here: the repository may sit where
# nobody cannot read it (a clone in /root).
cp "$badio" "$rzsctl" "$T/" && chmod 644 "$T/badio.py" && chmod 755 "$T/rzsctl"
mnt=$T/mnt
holder=
end() {
	[ -n "$holder" ] && kill $holder 2>/dev/null
	memcg_cleanup
	umount "$mnt" 2>/dev/null
	swapoff /dev/rzs0 2>/dev/null
	swapoff /dev/rzs1 2>/dev/null
	cleanup_rzs
	rm -rf "$T"
}
trap end EXIT
# page DEV INDEX: the 4 KiB page INDEX of DEV (O_DIRECT), on stdout.
page() { dd if="$1" bs=4096 skip="$2" count=1 iflag=direct status=none; }
# zeros DEV: whether every byte of DEV reads as zero.
zeros() { cmp -s -n "$(blockdev --getsize64 "$1")" "$1" /dev/zero; }
seed_pages() { # DEV COUNT: COUNT pages of compressible text and random data
	python3 -c "
import os, random, sys
r = random.Random(3)
for i in range(int(sys.argv[1])):
    l = f'page {i} of stale data that must not come back. '.encode()
    sys.stdout.buffer.write(r.randbytes(4096) if i % 4 == 0 else (l * 100)[:4096])
" "$2" | if [ -b "$1" ]; then dd of="$1" bs=4096 oflag=direct status=none; else cat >"$1"; fi
}

plan 46
ok "insmod num_devices=2 disksize=64M" load_rzs num_devices=2 disksize=64M
check "[ \"\$(cat /sys/module/rzs/parameters/debug_corrupt)\" = N ]" "debug_corrupt is off by default"
ok "write 4096 pages to rzs0" seed_pages /dev/rzs0 4096
sha0=$(head -c $((4096 * 4096)) /dev/rzs0 | sha256sum)

# --- ioctl fuzzer
r=$(timeout 600 python3 "$badio" ioctl-fuzz /dev/rzs1 "$FUZZ_N" 1)
rc=$?
diag "root: $r"
check "[ $rc = 0 ] && grep -q calls= <<<'$r'" "ioctl fuzzer as root: $FUZZ_N random ioctls on rzs1, the kernel survives"
fuzz_calls=$(sed -nE 's/^calls=([0-9]+).*/\1/p' <<<"$r")
chmod o+rw /dev/rzs1
r=$(nobody timeout 600 python3 "$T/badio.py" ioctl-fuzz /dev/rzs1 "$FUZZ_N" 2)
rc=$?
chmod o-rw /dev/rzs1
diag "unprivileged: $r"
check "[ $rc = 0 ] && grep -q ' admin_ok=0 ' <<<'$r'" "ioctl fuzzer as an unprivileged user: no configuration ioctl succeeds"
fuzz_calls=$((fuzz_calls + $(sed -nE 's/^calls=([0-9]+).*/\1/p' <<<"$r")))
ok "rzs1 works after the fuzzing: reset, size, write and read back" bash -c "
	'$rzsctl' /dev/rzs1 --reset && '$rzsctl' /dev/rzs1 --size 64M --mem-limit 0 &&
	head -c 1048576 /dev/urandom >$T/r && dd if=$T/r of=/dev/rzs1 bs=4096 oflag=direct status=none &&
	cmp -n 1048576 $T/r /dev/rzs1"
check "[ \"\$(head -c $((4096 * 4096)) /dev/rzs0 | sha256sum)\" = \"$sha0\" ]" "rzs0's data is untouched by the fuzzing of rzs1"
junk=0
for v in "-1" "x" "99999999999999999999" "$(head -c 300 /dev/urandom | tr -d '\0')" "0 1"; do
	printf '%s' "$v" >/sys/block/rzs1/debug_corrupt 2>/dev/null && junk=$((junk + 1))
done
check "[ $junk = 0 ]" "junk written to sysfs debug_corrupt is refused"

# --- ABI: exactly the bytes it names
r=$(python3 "$badio" ptr-edges /dev/rzs1 2>&1)
diag "$r"
check "grep -q ' failed=0' <<<'$r'" "ioctl arguments at the edge of a mapping: the ABI reads and writes only its bytes"

# --- I/O past the end and misaligned O_DIRECT I/O never reach rzs: the block layer
# refuses them (bio_check_eod, the 4 KiB logical block), so they are not tested here.
# rzs refuses such bios itself too (invalid_io), for stacked drivers.
ok "buffered 100-byte write at offset 4000 (read-modify-write across a page boundary)" bash -c \
	"head -c 100 /dev/urandom >$T/s && dd if=$T/s of=/dev/rzs1 bs=1 seek=4000 conv=notrunc,fsync status=none && echo 3 >/proc/sys/vm/drop_caches && cmp -i 0:4000 -n 100 $T/s /dev/rzs1"

# --- while in use
sleep 600 </dev/rzs1 &
holder=$!
sleep 0.5
fails "reset while another process has the device open" "$rzsctl" /dev/rzs1 --reset
fails "disksize change while sized" "$rzsctl" /dev/rzs1 --size 16M
fails "rmmod while a process has a device open" rmmod rzs
kill $holder
wait $holder 2>/dev/null
holder=
ok "mkfs + mount rzs1" bash -c "mkfs.ext4 -q -F /dev/rzs1 && mkdir -p $mnt && mount /dev/rzs1 $mnt"
fails "reset while mounted" "$rzsctl" /dev/rzs1 --reset
fails "swapon while mounted" bash -c "mkswap /dev/rzs1 && swapon /dev/rzs1"
fails "rmmod while mounted" rmmod rzs
ok "umount" umount "$mnt"
ok "mkswap + swapon rzs1" bash -c "mkswap /dev/rzs1 >/dev/null && swapon /dev/rzs1"
fails "swapon twice" swapon /dev/rzs1
fails "mkfs while swapped on" mkfs.ext4 -q -F /dev/rzs1
fails "reset while swapped on" "$rzsctl" /dev/rzs1 --reset

# --- no stale data across a swap slot free: a workload swaps out and exits; what
# rzs1 still holds is what the table says it holds, the rest reads as zeros.
run_limited 32 "$memtest" --size 48 --passes 1 >/dev/null 2>&1
memcg_cleanup
sleep 1
stored=$(stat /dev/rzs1 pages_stored)
nz=$(python3 - <<'EOF'
import os
fd = os.open("/dev/rzs1", os.O_RDONLY)
n = 0
while True:
    b = os.read(fd, 1 << 20)
    if not b:
        break
    n += sum(1 for i in range(0, len(b), 4096) if b[i:i + 4096].count(0) != 4096)
print(n)
EOF
)
# Swap's own count of slots in use (KiB in /proc/swaps): with slot frees working,
# rzs holds those pages and the header, nothing more. (With frees broken, stored
# and non-zero pages are both large: comparing them alone proves nothing.)
used=$(awk '$1 == "/dev/rzs1" {print int($4 / 4)}' /proc/swaps)
diag "after the workload exited: swap slots in use $used, pages_stored $stored, pages that read non-zero $nz"
check "[ -n \"$used\" ] && [ $stored -le $((used + 1 + 16)) ] && [ $nz -le $stored ]" "freed swap slots are freed in rzs and read as zeros (stored $stored <= slots in use $used + header; non-zero $nz <= stored)"
ok "swapoff rzs1" swapoff /dev/rzs1

# --- no stale data across a reset or a discard
ok "reset rzs0 (holding 4096 written pages), size it again" bash -c "'$rzsctl' /dev/rzs0 --reset && '$rzsctl' /dev/rzs0 --size 64M"
check "zeros /dev/rzs0" "after a reset every byte reads as zero"
ok "write 4096 pages, discard them all" bash -c "$(declare -f seed_pages); seed_pages /dev/rzs0 4096 && blkdiscard /dev/rzs0"
check "zeros /dev/rzs0" "after a discard every byte reads as zero"

# --- unprivileged: no configuration, no sysfs writes
chmod o+rw /dev/rzs0
fails "unprivileged: rzsctl --mem-limit refused" nobody "$T/rzsctl" /dev/rzs0 --mem-limit 1M
fails "unprivileged: rzsctl --reset refused" nobody "$T/rzsctl" /dev/rzs0 --reset
chmod o-rw /dev/rzs0
ww=$(find /sys/block/rzs0/ /sys/module/rzs/parameters/ -maxdepth 1 -type f -perm /o+w | wc -l)
check "[ $ww = 0 ]" "no world-writable rzs file in sysfs"
fails "unprivileged: debug_corrupt not writable" nobody sh -c 'echo 1 >/sys/block/rzs0/debug_corrupt'
fails "debug_corrupt=N: root's write is refused too" sh -c 'echo 1 >/sys/block/rzs0/debug_corrupt'
ok "rmmod" unload_rzs

# --- corrupt object: -EIO and a counter, not a BUG
ok "insmod disksize=16M debug_corrupt=Y" load_rzs disksize=16M debug_corrupt=Y
seed_pages $T/seed16 16
ok "write 16 pages (page 0 random, the rest compressible)" dd if=$T/seed16 of=/dev/rzs0 bs=4096 oflag=direct status=none
fr0=$(stat /dev/rzs0 failed_reads)
ok "corrupt page 5's object through sysfs" sh -c 'echo 5 >/sys/block/rzs0/debug_corrupt'
err=$(dd if=/dev/rzs0 of=/dev/null bs=4096 skip=5 count=1 iflag=direct status=none 2>&1)
rc=$?
diag "read of page 5: $err"
check "[ $rc != 0 ] && grep -q 'Input/output error' <<<'$err'" "reading the corrupt page fails with EIO"
fr=$(($(stat /dev/rzs0 failed_reads) - fr0))
check "[ $fr = 1 ]" "and failed_reads counts it ($fr)"
# The O_DIRECT read above decodes into the user's page (BioData::with_racy_page); a
# buffered read decodes into the page-cache folio (with_filled_page, Store::load).
fr0=$(stat /dev/rzs0 failed_reads)
err=$(echo 3 >/proc/sys/vm/drop_caches && dd if=/dev/rzs0 of=/dev/null bs=4096 skip=5 count=1 status=none 2>&1)
rc=$?
diag "buffered read of page 5: $err"
check "[ $rc != 0 ] && grep -q 'Input/output error' <<<'$err'" "a buffered read of the corrupt page fails with EIO too"
fr=$(($(stat /dev/rzs0 failed_reads) - fr0))
check "[ $fr -ge 1 ]" "and failed_reads counts it ($fr)"
check "cmp -s <(page /dev/rzs0 6) <(dd if=$T/seed16 bs=4096 skip=6 count=1 status=none)" "the neighbouring page is intact"
fails "a random (raw) page cannot be corrupted: EINVAL" sh -c 'echo 0 >/sys/block/rzs0/debug_corrupt'
ok "rewrite the corrupt page" dd if=$T/seed16 of=/dev/rzs0 bs=4096 skip=5 seek=5 count=1 oflag=direct status=none
check "cmp -s <(page /dev/rzs0 5) <(dd if=$T/seed16 bs=4096 skip=5 count=1 status=none)" "the rewritten page reads back"
diag "figure: ioctl_fuzz_calls=$fuzz_calls"
ok "rmmod" unload_rzs
tap_exit
