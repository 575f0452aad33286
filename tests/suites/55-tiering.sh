#!/usr/bin/env bash
# Tiering: a backing device (a file on the guest's tmpfs through a loop device) set
# by rzsctl --backing-dev before --size, refused after and for what is not a block
# device; writeback packs objects several to a block and frees their memory; reads
# of written-back pages return the right data; idle marking (only pages not touched
# since the mark go), --huge; overwrite, discard and reset free backing blocks; a
# backing device failing I/O (dm-error under a dm-linear) gives an error, counted,
# and loses nothing held in RAM. Automatic tiering under swap: the pool stays under
# mem_limit, every page verifies, no write fails; coldest first; writeback_limit;
# compaction of the backing device; the backing_dev module parameter.
# cost: 70 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
T=$(mktemp -d)
LOOP=
cleanup() {
	dmsetup remove rzs-back 2>/dev/null
	cleanup_rzs
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
rzsctl=$RZS_ROOT/target/release/rzsctl
S=/sys/block/rzs0
stat() { python3 "$RZS_ROOT/tests/lib/rzsstat.py" /dev/rzs0 "$@"; }
is() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got '$2', want '$3')"; fi; }
# wb ARGS...: rzsctl writeback, printing "PAGES BLOCKS" (or the error).
wb() {
	local out
	out=$("$rzsctl" writeback /dev/rzs0 "$@" 2>&1) || { echo "error: $out"; return; }
	set -- $out
	echo "$4 $7"
}

# Pages the tests write: each unique (its index in the first bytes) and compressing
# to about 1 KiB, so several fit in a 4 KiB backing block.
cat >$T/gen.py <<'EOF'
import os, random, sys
out, first, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
with open(out, "wb") as f:
    for i in range(first, first + n):
        head = i.to_bytes(8, "little") + rnd.randbytes(760)
        f.write((head + bytes(range(256)) * 16)[:4096])
EOF
gen() { python3 $T/gen.py "$@"; }

plan 83
ok "insmod (one device, unsized)" load_rzs
truncate -s 128M $T/back.img
LOOP=$(losetup -f --show $T/back.img)
check "[ -b \"$LOOP\" ]" "a loop device over a 128 MiB file on tmpfs ($LOOP)"

fails "a regular file is refused as backing device (not a block device)" "$rzsctl" /dev/rzs0 --backing-dev $T/back.img
fails "a missing path is refused" "$rzsctl" /dev/rzs0 --backing-dev /dev/nonexistent
ok "--backing-dev $LOOP" "$rzsctl" /dev/rzs0 --backing-dev "$LOOP"
is "flags show a backing device (RZS_FLAG_BACKING)" "$(($(stat flags) & 16))" 16
is "sysfs backing_dev shows it" "$(cat $S/backing_dev)" "$LOOP"
fails "held exclusively: an O_EXCL open of it (mount, mkfs, another device) is refused" \
	python3 -c "import os, sys; os.open(sys.argv[1], os.O_RDWR | os.O_EXCL)" "$LOOP"
ok "--backing-dev none unsets it" "$rzsctl" /dev/rzs0 --backing-dev none
is "no backing flag after none; backing_dev: none" "$(($(stat flags) & 16)) $(cat $S/backing_dev)" "0 none"
fails "writeback without a size" "$rzsctl" writeback /dev/rzs0
ok "backing_dev through sysfs, as zram's" bash -c "echo $LOOP >$S/backing_dev"
ok "--size 32M" "$rzsctl" /dev/rzs0 --size 32M
fails "backing_dev through sysfs after the size: busy" bash -c "echo none >$S/backing_dev"
fails "--backing-dev after --size: busy" "$rzsctl" /dev/rzs0 --backing-dev none
is "backing blocks usable: capped at the device's pages" "$(stat bd_blocks)" 8192

# 4096 pages of 1 KiB objects, read back after writeback.
gen $T/data 0 4096 1
dd if=$T/data of=/dev/rzs0 bs=1M oflag=direct status=none
before=$(stat mem_used_total)
r=$(wb)
set -- $r
check "[ \"$1\" = 4096 ]" "writeback of every page: 4096 pages written back ($r)"
check "[ \"$2\" -gt 0 ] && [ \$((\"$2\" * 3)) -le 4096 ]" "packed: at most a third as many blocks as pages ($2 blocks for 4096 pages; zram writes one per page)"
is "bd_count, bd_writes, bd_blocks_used" "$(stat bd_count bd_writes bd_blocks_used | xargs)" "4096 4096 $2"
check "[ \$(stat mem_used_total) -lt \$(($before / 4)) ]" "the pool gave back the memory ($before -> $(stat mem_used_total) bytes)"
is "pages_stored still counts them (as zram's)" "$(stat pages_stored)" 4096
is "bd_stat: bd_count bd_reads bd_writes, as zram's" "$(xargs <$S/bd_stat)" "4096 0 4096"
dd if=/dev/rzs0 of=$T/back bs=1M count=16 iflag=direct status=none
is "every written-back page reads back right" "$(cmp $T/data $T/back && echo same)" same
is "bd_reads: one per page read" "$(stat bd_reads)" 4096
is "a second writeback finds nothing to do" "$(wb)" "0 0"

# Overwrite half of them: their backing copies are freed; blocks follow.
gen $T/new 0 2048 2
dd if=$T/new of=/dev/rzs0 bs=1M oflag=direct status=none
is "overwriting 2048 written-back pages: bd_count 2048" "$(stat bd_count)" 2048
check "[ \$(stat bd_blocks_used) -lt $2 ]" "blocks freed as their objects go ($2 -> $(stat bd_blocks_used))"
# Idle: mark, read the first 1024 (now in RAM), writeback --idle takes the other 1024
# in RAM only.
ok "idle marks every page" "$rzsctl" idle /dev/rzs0
dd if=/dev/rzs0 of=/dev/null bs=1M count=4 iflag=direct status=none
is "writeback --idle: only the 1024 RAM pages not read since" "$(wb --idle | cut -d' ' -f1)" 1024
dd if=/dev/rzs0 of=$T/back bs=1M count=8 iflag=direct status=none
is "both halves read back right" "$(cmp $T/new $T/back && echo same)" same

# --huge: random pages (stored raw) go, compressible ones stay.
head -c $((256 * 4096)) /dev/urandom >$T/rand
dd if=$T/rand of=/dev/rzs0 bs=1M seek=8 oflag=direct status=none
huge=$(stat huge_pages)
w0=$(stat bd_writes)
ok "echo huge >writeback (zram's sysfs)" bash -c "echo huge >$S/writeback"
is "writeback huge: the 256 raw pages" "$(($(stat bd_writes) - w0))" 256
fails "writeback with an unknown mode: EINVAL" bash -c "echo sideways >$S/writeback"
is "huge_pages 0 after" "$(stat huge_pages)" 0
dd if=/dev/rzs0 of=$T/back bs=1M skip=8 count=1 iflag=direct status=none
is "raw pages read back right" "$(cmp $T/rand $T/back && echo same)" same

# Discard frees every backing block.
ok "blkdiscard" blkdiscard /dev/rzs0
is "after discard: bd_count 0, bd_blocks_used 0" "$(stat bd_count bd_blocks_used | xargs)" "0 0"

# Writeback racing writes: a page rewritten between writeback's copy and its install
# keeps the new data (the slot's writeback mark), never the stale copy. The module's
# test-only debug_wb_delay_ms holds each batch 1 s between its write and its install,
# and the pages are rewritten inside that window.
"$rzsctl" /dev/rzs0 --reset && unload_rzs
ok "insmod debug_wb_delay_ms=1000, backing device, size 16M" \
	bash -c ". $RZS_ROOT/tests/lib/rzs.sh && load_rzs debug_wb_delay_ms=1000 && $rzsctl /dev/rzs0 --backing-dev $LOOP --size 16M"
gen $T/g 0 64 10
dd if=$T/g of=/dev/rzs0 bs=256K oflag=direct status=none
bad=0
for r in 1 2 3 4; do
	"$rzsctl" writeback /dev/rzs0 >$T/wb.out 2>&1 &
	w=$!
	sleep 0.4
	gen $T/g 0 64 $((10 + r))
	dd if=$T/g of=/dev/rzs0 bs=256K oflag=direct status=none
	wait $w
	dd if=/dev/rzs0 of=$T/back bs=256K count=1 iflag=direct status=none
	cmp -s $T/g $T/back || bad=$((bad + 1))
done
is "4 rounds of rewrites inside writeback's window: every page holds its last write ($(cat $T/wb.out))" "$bad" 0

# Automatic tiering under swap: 160 MiB swapped out of a 64 MiB cgroup into a pool
# limited to 12 MiB (memtest's pages compress to about 2.2 KiB: about 88 MiB to hold,
# so the 128 MiB backing device has room). The pool must stay under its limit, every page must verify, and
# the cold pages must have gone to the backing device without anyone asking.
memtest=$RZS_ROOT/target/release/rzs-memtest
"$rzsctl" /dev/rzs0 --reset && unload_rzs
ok "insmod; backing device; size 192M; mem_limit 12M" \
	bash -c ". $RZS_ROOT/tests/lib/rzs.sh && load_rzs && $rzsctl /dev/rzs0 --backing-dev $LOOP --size 192M --mem-limit 12M"
is "automatic writeback on by default, watermarks 90 75" "$(cat $S/writeback_auto) $(cat $S/writeback_watermarks)" "1 90 75"
fails "watermarks 50 60 (low above high): EINVAL" bash -c "echo 50 60 >$S/writeback_watermarks"
ok "idle_epoch_secs 2 (the unit of page age)" bash -c "echo 2 >$S/idle_epoch_secs"
mkswap /dev/rzs0 >/dev/null && swapon /dev/rzs0
ok "160 MiB verified in a 64 MiB cgroup, pool limited to 12 MiB" run_limited 64 "$memtest" --size 160 --passes 2 --order both --seed 5
memcg_cleanup
swapoff /dev/rzs0
# Every allocation that leaves the pool past its limit is given back before the peak
# is recorded, so the peak itself may not pass the limit.
check "[ \$(stat mem_used_max) -le \$((12 << 20)) ]" "the pool stayed under its limit (peak $(stat mem_used_max) bytes, limit $((12 << 20)))"
check "[ \$(stat bd_writes) -gt 0 ] && [ \$(stat bd_reads) -gt 0 ]" "written back and read back without being asked (bd_writes $(stat bd_writes), bd_reads $(stat bd_reads), blocks $(stat bd_blocks_written))"
is "no write failed" "$(stat failed_writes)" 0
check "[ \$(stat bd_count) -le 1 ] && [ \$(stat bd_blocks_used) -le 1 ]" "after swapoff at most the swap header is left on the backing device ($(stat bd_count bd_blocks_used | xargs))"

# Coldest first: pages written, aged two epochs, then half of them read again; a
# writeback that needs to free half of the pool takes the unread half.
"$rzsctl" /dev/rzs0 --reset
ok "backing device; size 32M; no automatic writeback" \
	bash -c "$rzsctl /dev/rzs0 --backing-dev $LOOP --size 32M && echo 0 >$S/writeback_auto"
gen $T/data 0 2048 4
dd if=$T/data of=/dev/rzs0 bs=1M oflag=direct status=none
"$rzsctl" idle /dev/rzs0 && "$rzsctl" idle /dev/rzs0
dd if=/dev/rzs0 of=/dev/null bs=1M skip=4 count=4 iflag=direct status=none
is "writeback --min-age 2 takes exactly the 1024 pages not read since" "$(wb --min-age 2 | cut -d' ' -f1)" 1024
dd if=/dev/rzs0 of=$T/back bs=1M count=8 iflag=direct status=none
is "the recently read half was still in RAM (no backing reads for it), all intact" \
	"$(cmp $T/data $T/back && echo same) $(($(stat bd_reads)))" "same 1024"

# writeback_limit (zram's budget for flash wear): spent by writeback, reported.
echo 1 >$S/writeback_limit_enable && echo 100 >$S/writeback_limit
is "writeback_limit 100: a writeback of everything writes 100 pages" "$(wb | cut -d' ' -f1)" 100
is "the budget is spent: writeback_limit reads 0" "$(cat $S/writeback_limit)" 0
is "with the budget spent, writeback fails with EIO (as zram)" "$(wb | grep -c 'input/output error')" 1
echo 0 >$S/writeback_limit_enable
is "writeback_limit_enable 0: no budget" "$(wb --max-pages 10 | cut -d' ' -f1)" 10

# Compacting the backing device: free 3 of every 4 written-back pages, so each
# block keeps about a quarter of its bytes; --compact packs what is left into
# about a quarter of the blocks and frees the rest.
"$rzsctl" /dev/rzs0 --reset
ok "backing device; size 32M; no automatic writeback" \
	bash -c "$rzsctl /dev/rzs0 --backing-dev $LOOP --size 32M && echo 0 >$S/writeback_auto"
gen $T/data 0 4096 7
dd if=$T/data of=/dev/rzs0 bs=1M oflag=direct status=none
wb >/dev/null
used=$(stat bd_blocks_used)
cat >$T/quarter.py <<'EOF'
import fcntl, os, struct, sys
# Discards pages i % 4 != 0 of DEV and writes what it should then hold to OUT.
dev, src, out = sys.argv[1:4]
fd = os.open(dev, os.O_RDWR)
data = bytearray(open(src, "rb").read())
for i in range(len(data) // 4096):
    if i % 4:
        fcntl.ioctl(fd, 0x1277, struct.pack("QQ", i * 4096, 4096))  # BLKDISCARD
        data[i * 4096:(i + 1) * 4096] = bytes(4096)
open(out, "wb").write(data)
EOF
python3 $T/quarter.py /dev/rzs0 $T/data $T/want
is "3072 of 4096 written-back pages discarded: bd_count 1024" "$(stat bd_count)" 1024
left=$(stat bd_blocks_used)
check "[ $left -ge \$(($used * 3 / 4)) ]" "their blocks mostly stay in use, each part empty ($used -> $left)"
w0=$(stat bd_blocks_written)
ok "rzsctl --compact" "$rzsctl" /dev/rzs0 --compact
after=$(stat bd_blocks_used)
check "[ $after -le \$(($used / 3)) ] && [ $after -gt 0 ]" "the backing device compacted: $left -> $after blocks in use (written $(($(stat bd_blocks_written) - w0)))"
is "bd_count unchanged" "$(stat bd_count)" 1024
dd if=/dev/rzs0 of=$T/back bs=1M count=16 iflag=direct status=none
is "every page reads back right after compaction" "$(cmp $T/want $T/back && echo same)" same
w1=$(stat bd_blocks_written)
"$rzsctl" /dev/rzs0 --compact
is "a second --compact finds nothing worth moving" "$(($(stat bd_blocks_written) - w1))" 0

# A failing backing device: a dm-linear over the loop device, switched to dm-error.
ok "reset releases the backing device" "$rzsctl" /dev/rzs0 --reset
sz=$(blockdev --getsz "$LOOP")
# No udev in the guest: dmsetup makes the node itself.
dmsetup create rzs-back --table "0 $sz linear $LOOP 0" && dmsetup mknodes rzs-back
ok "backing device: dm-linear over the loop" "$rzsctl" /dev/rzs0 --backing-dev /dev/mapper/rzs-back --size 16M
gen $T/data 0 1024 3
dd if=$T/data of=/dev/rzs0 bs=1M oflag=direct status=none
"$rzsctl" writeback /dev/rzs0 --max-pages 512 >/dev/null
dmsetup suspend rzs-back && dmsetup load rzs-back --table "0 $sz error" && dmsetup resume rzs-back
r=$("$rzsctl" writeback /dev/rzs0 2>&1)
check "[ $? -ne 0 ] && echo \"$r\" | grep -q 'input/output error'" "writeback onto a failing device fails with EIO ($r)"
dd if=/dev/rzs0 of=$T/back bs=4096 skip=512 count=512 iflag=direct status=none
is "the pages it could not write are still in RAM, intact" "$(cmp <(tail -c $((512 * 4096)) $T/data) $T/back && echo same)" same
check "! dd if=/dev/rzs0 of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null" "reading a written-back page from the failing device: EIO"
check "[ \$(stat bd_failed) -ge 2 ] && [ \$(stat failed_reads) -ge 1 ]" "counted: bd_failed $(stat bd_failed), failed_reads $(stat failed_reads)"
dmsetup suspend rzs-back && dmsetup load rzs-back --table "0 $sz linear $LOOP 0" && dmsetup resume rzs-back
dd if=/dev/rzs0 of=$T/back bs=1M count=4 iflag=direct status=none
is "the device back: every page reads right" "$(cmp $T/data $T/back && echo same)" same
ok "reset with pages on the backing device" "$rzsctl" /dev/rzs0 --reset
ok "rmmod" unload_rzs
ok "the backing device is free again (dmsetup remove)" dmsetup remove rzs-back

# The module parameter: backing devices of the devices created at load.
ok "insmod backing_dev=$LOOP disksize=16M" load_rzs backing_dev=$LOOP disksize=16M
is "rzs0's backing device is the parameter's" "$(cat $S/backing_dev)" "$LOOP"
gen $T/data 0 256 6
dd if=$T/data of=/dev/rzs0 bs=1M oflag=direct status=none
is "writeback onto it" "$(wb | cut -d' ' -f1)" 256
dd if=/dev/rzs0 of=$T/back bs=1M count=1 iflag=direct status=none
is "read back from it, intact" "$(cmp $T/data $T/back && echo same)" same
# Metadata: at most 12 bytes per page of device with tiering (10 of slot table, 1
# access stamp, 1 count per backing block), as reported and as measured: the kernel
# memory taken by sizing a device over a backing file as large as itself (kvmalloc
# puts the arrays in vmalloc or, up to a few MiB, in large kmallocs, which count as
# unreclaimable slab: both are summed), at 4 GiB
# and at 2 GiB. Their difference is the cost of 2 GiB of pages, without what a
# device takes whatever its size (writeback's batch buffers and the like).
# MemFree moves with everything else the guest does: only printed.
kmem() { awk '$1 == "VmallocUsed:" {v = $2} $1 == "SUnreclaim:" {s = $2} END {print v + s, v}' /proc/meminfo; }
memfree() { awk '$1 == "MemFree:" {print $2}' /proc/meminfo; }
sized_kib() { # SIZE: sets kib to the KiB of kernel memory sizing rzs0 to SIZE over a SIZE file takes
	local k0 k1 v0 v1 f0 dev
	"$rzsctl" /dev/rzs0 --reset
	truncate -s "$1" $T/big.img
	dev=$(losetup -f --show $T/big.img)
	"$rzsctl" /dev/rzs0 --backing-dev "$dev"
	sync && echo 3 >/proc/sys/vm/drop_caches
	read -r k0 v0 < <(kmem)
	f0=$(memfree)
	"$rzsctl" /dev/rzs0 --size "$1"
	read -r k1 v1 < <(kmem)
	diag "sized $1: vmalloc + unreclaimable slab $k0 -> $k1 KiB (vmalloc $v0 -> $v1), MemFree fell by $((f0 - $(memfree))) KiB"
	[ "$1" = 4G ] && is "table_bytes: 12 bytes per page (10 + 1 + 1)" "$(($(stat table_bytes) / 1048576))" 12
	"$rzsctl" /dev/rzs0 --reset
	losetup -d "$dev"
	rm -f $T/big.img
	kib=$((k1 - k0))
}
sized_kib 4G
d4=$kib
sized_kib 2G
d2=$kib
# (d4 - d2) KiB over 512 Ki pages, in hundredths of a byte per page.
per=$(((d4 - d2) * 100 / 512))
check "[ $per -le 1225 ]" "measured: $per hundredths of a byte per page ($d4 KiB for 4 GiB, $d2 KiB for 2 GiB; $((d2 - (d4 - d2))) KiB whatever the size)"
ok "rmmod" unload_rzs
fails "insmod backing_dev=/dev/nonexistent fails" load_rzs backing_dev=/dev/nonexistent
check "dmesg | grep -q 'rzs0: backing_dev=/dev/nonexistent: cannot open it'" "and says why"
is "nothing left loaded" "$(grep -c '^rzs ' /proc/modules)" 0
tap_exit
