#!/usr/bin/env bash
# zram-compatible sysfs in /sys/block/rzs0: disksize (rw), initstate, reset (EBUSY
# while open), mem_limit (rw, validated), mem_used_max (write 0 to restart the peak),
# comp_algorithm, debug_stat, rzs_stat (world-readable), compact with pages_compacted (fragmentation after frees, memory
# given back, data intact); every write needs CAP_SYS_ADMIN; reset clears what zram's
# does (mem_limit included).
# cost: 25 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
trap cleanup_rzs EXIT
stat() { python3 "$RZS_ROOT/tests/lib/rzsstat.py" "$1" "${@:2}"; }
T=$(mktemp -d)
S=/sys/block/rzs0
# is DESC GOT WANT: passes if GOT is WANT.
is() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got '$2', want '$3')"; fi; }
# wr FILE VALUE [CMD-PREFIX...]: writes VALUE to $S/FILE; prints "ok" or the error text.
wr() {
	local f=$1 v=$2 e
	shift 2
	if e=$("$@" bash -c "echo '$v' >$S/$f" 2>&1); then echo ok; else echo "${e##*: }"; fi
}
# Root without CAP_SYS_ADMIN (the files are root's, so the write reaches rzs).
noadmin() { setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin "$@"; }
mm() { read -r -a m <$S/mm_stat; echo "${m[$1]}"; }

plan 39
ok "insmod (one device, unsized)" load_rzs
is "initstate 0 before sizing" "$(cat $S/initstate)" 0
is "comp_algorithm: [lz4]" "$(cat $S/comp_algorithm)" "[lz4]"
is "disksize without CAP_SYS_ADMIN: EPERM" "$(wr disksize 64M noadmin)" "Operation not permitted"
is "disksize 12Q: EINVAL" "$(wr disksize 12Q)" "Invalid argument"
is "still unsized after the refused writes" "$(cat $S/initstate) $(cat $S/disksize)" "0 0"
is "disksize 64M" "$(wr disksize 64M)" ok
is "disksize reads back in bytes, capacity in sectors" "$(cat $S/disksize) $(cat $S/size)" "67108864 131072"
is "initstate 1" "$(cat $S/initstate)" 1
is "disksize again: EBUSY" "$(wr disksize 32M)" "Device or resource busy"

is "mem_limit 100 (less than a page): EINVAL" "$(wr mem_limit 100)" "Invalid argument"
is "mem_limit 1P (more than RAM): EINVAL" "$(wr mem_limit 1P)" "Invalid argument"
is "mem_limit without CAP_SYS_ADMIN: EPERM" "$(wr mem_limit 16M noadmin)" "Operation not permitted"
is "mem_limit 16M" "$(wr mem_limit 16M)" ok
is "mem_limit reads back, and in mm_stat" "$(cat $S/mem_limit) $(mm 3)" "16777216 16777216"
is "mem_limit 0 (none)" "$(wr mem_limit 0)" ok

# mem_used_max: a peak survives frees; 0 restarts it from the current use.
head -c $((8 << 20)) /dev/urandom | dd of=/dev/rzs0 bs=1M oflag=direct status=none
ok "discard it all" blkdiscard /dev/rzs0
check "[ \$(cat $S/mem_used_max) -ge $((8 << 20)) ] && [ \$(mm 2) -lt $((1 << 20)) ]" \
	"mem_used_max keeps the peak (8 MiB of random data) after the discard"
is "mem_used_max 5: EINVAL" "$(wr mem_used_max 5)" "Invalid argument"
is "mem_used_max without CAP_SYS_ADMIN: EPERM" "$(wr mem_used_max 0 noadmin)" "Operation not permitted"
is "mem_used_max 0" "$(wr mem_used_max 0)" ok
check "[ \$(cat $S/mem_used_max) = \$(mm 2) ]" "mem_used_max restarts from the current use ($(cat $S/mem_used_max) bytes)"

# Compaction: 8192 pages whose objects are ~1 KiB, every other one freed: the pool's
# zspages are left half full until compaction moves the survivors together.
cat >$T/frag.py <<'EOF'
import fcntl, hashlib, os, random, struct, sys
dev, step = sys.argv[1], sys.argv[2]
N, PG = 8192, 4096
def page(i):
    r = random.Random(i)
    return r.randbytes(1024) + bytes(PG - 1024)
if step == "write":
    with open(dev, "wb") as f:
        for i in range(N):
            f.write(page(i))
        f.flush()
        os.fsync(f.fileno())
elif step == "free-odd":
    fd = os.open(dev, os.O_WRONLY)
    for i in range(1, N, 2):
        fcntl.ioctl(fd, 0x1277, struct.pack("QQ", i * PG, PG))  # BLKDISCARD
    os.close(fd)
elif step == "verify":
    bad = 0
    with open(dev, "rb") as f:
        for i in range(N):
            got = f.read(PG)
            want = page(i) if i % 2 == 0 else bytes(PG)
            bad += got != want
    print("mismatches=%d" % bad)
EOF
ok "write 8192 pages of ~1 KiB objects" python3 $T/frag.py /dev/rzs0 write
used_full=$(mm 2)
ok "free every other page (discard)" python3 $T/frag.py /dev/rzs0 free-odd
used_frag=$(mm 2)
diag "pool: $used_full bytes full, $used_frag after freeing half the pages"
check "[ $used_frag -gt $((used_full * 3 / 4)) ]" "the frees leave the pool fragmented (it keeps over 3/4 of its pages)"
is "compact without CAP_SYS_ADMIN: EPERM" "$(wr compact 1 noadmin)" "Operation not permitted"
is "compact" "$(wr compact 1)" ok
used_comp=$(mm 2)
diag "after compact: $used_comp bytes, pages_compacted=$(mm 6)"
check "[ $used_comp -lt $((used_frag * 3 / 4)) ] && [ \$(mm 6) -gt 0 ] && [ \$(mm 6) -ge $(((used_frag - used_comp) / 4096)) ]" \
	"compaction gave memory back ($used_frag -> $used_comp bytes) and pages_compacted counts it"
echo 3 >/proc/sys/vm/drop_caches
is "every page reads back right after compaction" "$(python3 $T/frag.py /dev/rzs0 verify)" "mismatches=0"
# rzsctl --compact does the same through sysfs.
rzsctl=$RZS_ROOT/target/release/rzsctl
out=$(noadmin "$rzsctl" /dev/rzs0 --compact 2>&1)
rc=$?
check "[ $rc != 0 ] && grep -q 'permission denied: compacting needs CAP_SYS_ADMIN' <<<'$out'" \
	"rzsctl --compact without CAP_SYS_ADMIN: refused with a clear message"
ok "rzsctl /dev/rzs0 --compact" "$rzsctl" /dev/rzs0 --compact

# debug_stat in zram's layout; rzs_stat: every counter, readable by anyone.
is "debug_stat: zram's version 1 layout" "$(head -1 $S/debug_stat) $(sed -n 2p $S/debug_stat | wc -w)" "version: 1 2"
want=$("$rzsctl" stats /dev/rzs0 --json | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["disksize"], o["pages_stored"], o["num_writes"])')
got=$(setpriv --reuid=65534 --regid=65534 --clear-groups cat $S/rzs_stat | awk '$1=="disksize"||$1=="pages_stored"||$1=="num_writes"{v[$1]=$2} END{print v["disksize"], v["pages_stored"], v["num_writes"]}')
is "rzs_stat (read by nobody) has the counters the ioctl gives" "$got" "$want"

# Reset: refused while open, then clears what zram's does.
wr mem_limit 32M >/dev/null
sleep 30 </dev/rzs0 &
holder=$!
sleep 0.3
is "reset while open: EBUSY" "$(wr reset 1)" "Device or resource busy"
kill $holder
wait $holder 2>/dev/null
is "reset 0: EINVAL" "$(wr reset 0)" "Invalid argument"
is "reset without CAP_SYS_ADMIN: EPERM" "$(wr reset 1 noadmin)" "Operation not permitted"
is "reset" "$(wr reset 1)" ok
is "after reset: initstate, disksize, size, mem_limit, pages_compacted all 0" \
	"$(cat $S/initstate) $(cat $S/disksize) $(cat $S/size) $(cat $S/mem_limit) $(mm 6)" "0 0 0 0 0"
ok "rmmod" unload_rzs
tap_exit
