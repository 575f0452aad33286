#!/usr/bin/env bash
# Block I/O correctness: write/read-back at every size and offset class, zeros for
# unwritten and discarded space, out-of-range I/O refused, fio verify with mixed data.
# cost: 14 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
trap cleanup_rzs EXIT
T=$(mktemp -d)
SIZE_MB=64
dev=/dev/rzs0

# get OFFSET LEN: LEN bytes at byte OFFSET, read with O_DIRECT (bypassing the page
# cache, so what the device holds) in whole 4 KiB blocks, then cut to the window.
get() {
	local first=$(($1 / 4096)) last=$((($1 + $2 + 4095) / 4096))
	dd if=$dev iflag=direct bs=4096 skip=$first count=$((last - first)) status=none |
		tail -c +$(($1 - first * 4096 + 1)) | head -c "$2"
}
drop_cache() { blockdev --flushbufs $dev; echo 3 >/proc/sys/vm/drop_caches; }

plan 25
ok "insmod rzs.ko disksize=${SIZE_MB}M" load_rzs disksize=${SIZE_MB}M
check "[ \"\$(cat /sys/block/rzs0/size)\" = $((SIZE_MB * 2048)) ]" "capacity is ${SIZE_MB} MiB"

head -c $((4096 * 64)) /dev/urandom >$T/rand
dd if=$T/rand of=$dev bs=4096 oflag=direct status=none
check "cmp -s $T/rand <(get 0 $((4096 * 64)))" "full pages: 64 random pages read back (O_DIRECT)"

# Text-like (compressible) and same-filled pages.
yes "rzs compresses this line of text" | head -c $((4096 * 32)) >$T/text
dd if=$T/text of=$dev bs=4096 seek=100 oflag=direct status=none
check "cmp -s $T/text <(get $((4096 * 100)) $((4096 * 32)))" "compressible pages read back"
head -c $((4096 * 8)) /dev/zero | tr '\0' '\377' >$T/ff
dd if=$T/ff of=$dev bs=4096 seek=200 oflag=direct status=none
check "cmp -s $T/ff <(get $((4096 * 200)) $((4096 * 8)))" "same-filled (0xff) pages read back"

# Sub-page pieces: 512-byte pieces written through the page cache at scattered
# offsets, then read back directly from the device.
for i in 0 1 3 7; do head -c 512 /dev/urandom >$T/p$i; dd if=$T/p$i of=$dev bs=512 seek=$((300 * 8 + i)) conv=notrunc status=none; done
drop_cache
okp=1
for i in 0 1 3 7; do cmp -s $T/p$i <(get $(((300 * 8 + i) * 512)) 512) || okp=0; done
check "[ $okp = 1 ]" "sub-page 512 B pieces read back"
check "cmp -s <(head -c 512 /dev/zero) <(get $(((300 * 8 + 2) * 512)) 512)" "sub-page: untouched piece of a written page is zero"

# Unaligned within a page: 100 bytes at byte 1000 of page 400.
head -c 100 /dev/urandom >$T/u
dd if=$T/u of=$dev bs=1 seek=$((400 * 4096 + 1000)) conv=notrunc status=none
drop_cache
check "cmp -s $T/u <(get $((400 * 4096 + 1000)) 100)" "unaligned 100 bytes inside a page read back"

# O_DIRECT from and into buffers at every 512-byte offset in a page: each 4 KiB
# block is gathered from (scattered to) two memory pages.
r=$(python3 "$RZS_ROOT/tests/lib/dio.py" $dev 64 7 2>&1)
diag "misaligned buffers: $r"
check "grep -q ' 0 mismatches' <<<'$r'" "O_DIRECT from and into buffers at 512-byte offsets: gathered and scattered right"

# Last page of the device.
last=$((SIZE_MB * 256 - 1))
head -c 4096 /dev/urandom >$T/last
dd if=$T/last of=$dev bs=4096 seek=$last oflag=direct status=none
check "cmp -s $T/last <(get $((last * 4096)) 4096)" "last page read back"
fails "write beyond capacity fails" dd if=$T/last of=$dev bs=4096 seek=$((last + 1)) oflag=direct status=none
check "[ -z \"\$(get $((SIZE_MB * 1048576)) 4096)\" ]" "read at capacity returns nothing"

check "cmp -s <(head -c 65536 /dev/zero) <(get $((1000 * 4096)) 65536)" "unwritten space reads as zeros"
get $((4096 * 63)) 4096 >$T/p63
ok "blkdiscard pages 0-62" blkdiscard -o 0 -l $((4096 * 63)) $dev
check "cmp -s <(head -c $((4096 * 63)) /dev/zero) <(get 0 $((4096 * 63)))" "discarded space reads as zeros"
check "[ \$(tr -d '\\0' <$T/p63 | wc -c) -gt 0 ] && cmp -s $T/p63 <(get $((4096 * 63)) 4096)" "the page just past the discarded range is intact"
ok "write-zeroes (blkdiscard -z) over written pages 100-130" blkdiscard -z -o $((4096 * 100)) -l $((4096 * 31)) $dev
check "cmp -s <(head -c $((4096 * 31)) /dev/zero) <(get $((4096 * 100)) $((4096 * 31)))" "write-zeroed space reads as zeros"
check "cmp -s <(tail -c 4096 $T/text) <(get $((4096 * 131)) 4096)" "the page just past the write-zeroed range is intact"
ok "fio verify=crc32c, 2 jobs, compressible data, whole device" \
	fio --thread --verify_state_save=0 --name=v --filename=$dev --direct=1 --ioengine=psync --rw=randwrite --bs=4k \
	--numjobs=2 --offset_increment=$((SIZE_MB / 2))M --size=$((SIZE_MB / 2))M \
	--verify=crc32c --verify_fatal=1 --buffer_compress_percentage=50 \
	--refill_buffers --do_verify=1 --group_reporting --minimal
# Zero, same-filled and incompressible pages at once, three jobs on three regions.
# Pattern verification writes exactly the pattern (crc32c would add a header to
# every block, and then no page would be zero or same-filled).
ok "fio verify: zero + same-filled (pattern) and random (crc32c) jobs at once" \
	fio --thread --verify_state_save=0 --filename=$dev --direct=1 --ioengine=psync --rw=randwrite --bs=4k \
	--verify_fatal=1 --do_verify=1 --group_reporting --minimal --size=$((SIZE_MB / 4))M \
	--name=zero --offset=0 --verify=pattern --verify_pattern=0x00 \
	--name=same --offset=$((SIZE_MB / 4))M --verify=pattern --verify_pattern=0xdeadbeef \
	--name=rand --offset=$((SIZE_MB / 2))M --verify=crc32c --refill_buffers
diag "$(python3 "$RZS_ROOT/tests/lib/rzsstat.py" $dev pages_stored same_pages huge_pages | paste -sd' ' | awk '{print "pages_stored=" $1 " same_pages=" $2 " huge_pages=" $3}')"
check "[ \"\$(python3 $RZS_ROOT/tests/lib/rzsstat.py $dev same_pages)\" -gt 2000 ]" "zero and same-filled pages were stored as same-filled"
# The same figures, read-only in sysfs (zram's mm_stat / io_stat formats).
mm=($(cat /sys/block/rzs0/mm_stat)) io=($(cat /sys/block/rzs0/io_stat))
diag "mm_stat: ${mm[*]}; io_stat: ${io[*]}"
# fio's first run wrote every block of the device once (randwrite covers each block
# of its range), so every page is stored: orig_data_size is the whole device, a
# figure that does not come from rzs's own counters.
check "[ \${#mm[@]} = 8 ] && [ \${mm[5]} = \$(python3 $RZS_ROOT/tests/lib/rzsstat.py $dev same_pages) ] && [ \${mm[0]} = $((SIZE_MB * 1048576)) ]" "sysfs mm_stat: same_pages as the ioctl says, orig_data_size = the whole device (every page written)"
check "[ \${#io[@]} = 4 ] && [ \"\$(cat /sys/block/rzs0/disksize)\" = $((SIZE_MB * 1048576)) ]" "sysfs io_stat and disksize"
ok "rmmod rzs" unload_rzs
rm -rf "$T"
tap_exit
