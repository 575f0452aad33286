#!/usr/bin/env bash
# Fault injection aimed at rzs.ko: failslab and fail_page_alloc with the stack-trace
# filter set to the module's memory, so only allocations made on behalf of rzs fail
# (zsmalloc objects, scratch pages, the table and pool at disksize time).
#  - writes under injection fail cleanly (-ENOMEM), each one counted in failed_writes;
#    pages stored before stay correct, pages whose write failed read as zeros;
#  - full-page reads allocate nothing, so they never fail;
#  - a disksize whose allocation fails leaves the device unsized, and a reset after it
#    works (zram's known bug), then a size can be set;
#  - swap under injection: swap writes fail, the kernel keeps those pages, and a
#    verifying workload finds every page intact;
#  - after the faults stop, the device works normally and nothing leaked (every
#    object freed by a discard; kmemleak on the debug kernel).
# Prints a "# figure:" line with the number of faults injected.
# cost: 19 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
rzsctl=$RZS_ROOT/target/release/rzsctl
memtest=$RZS_ROOT/target/release/rzs-memtest
stat() { python3 "$RZS_ROOT/tests/lib/rzsstat.py" "$@"; }
F=/sys/kernel/debug
T=$(mktemp -d)
TIMES=1000000
injected=0 armed=0
# disarm: stop injecting; add what was injected (times armed - times left) to $injected.
disarm() {
	local f left
	[ $armed = 1 ] || return 0
	armed=0
	for f in failslab fail_page_alloc; do
		[ -e $F/$f/probability ] || continue
		echo 0 >$F/$f/probability
		left=$(cat $F/$f/times)
		[ "$left" -ge 0 ] 2>/dev/null && injected=$((injected + TIMES - left))
		echo 0 >$F/$f/times
	done
}
end() {
	disarm
	memcg_cleanup
	swapoff /dev/rzs1 2>/dev/null
	cleanup_rzs
	rm -rf "$T"
}
trap end EXIT

# arm PERCENT: fail that share of the allocations made with rzs.ko's code on the stack.
arm() {
	local f start size
	read -r size start < <(awk '$1 == "rzs" {print $2, $6}' /proc/modules)
	for f in failslab fail_page_alloc; do
		echo "$start" >$F/$f/require-start
		printf '0x%x\n' $((start + size)) >$F/$f/require-end
		echo 32 >$F/$f/stacktrace-depth
		echo N >$F/$f/task-filter
		echo 0 >$F/$f/space
		echo 0 >$F/$f/verbose
		echo 1 >$F/$f/interval
		echo N >$F/$f/ignore-gfp-wait
		echo $TIMES >$F/$f/times
		echo "$1" >$F/$f/probability
	done
	echo N >$F/fail_page_alloc/ignore-gfp-highmem
	echo 0 >$F/fail_page_alloc/min-order
	armed=1
}

# pio.py DEV OP FIRST COUNT SEED [BS]: page-by-page O_DIRECT writes (OP=write) or reads
# checked against the content the same seed writes (OP=verify; a page whose earlier
# write failed must read as zeros: pass the write's "failed" list file as $6).
cat >"$T/pio.py" <<'EOF'
import errno, mmap, os, random, sys
dev, op, first, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
failed_file = sys.argv[6] if len(sys.argv) > 6 else None
P = 4096
def page(i):
    r = random.Random(seed * 1000003 + i)
    if i % 3 == 0:
        return r.randbytes(P)
    line = f"fault test page {i} seed {seed} ".encode()
    return (line * (P // len(line) + 1))[:P]
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, P)
ok = bad = 0
errs = {}
failed = set()
if op == "verify" and failed_file:
    failed = {int(x) for x in open(failed_file).read().split()}
out = []
for i in range(first, first + count):
    if op == "write":
        buf[:] = page(i)
        try:
            os.pwritev(fd, [buf], i * P)
            ok += 1
        except OSError as e:
            errs[errno.errorcode[e.errno]] = errs.get(errno.errorcode[e.errno], 0) + 1
            out.append(str(i))
    else:
        try:
            os.preadv(fd, [buf], i * P)
        except OSError as e:
            errs[errno.errorcode[e.errno]] = errs.get(errno.errorcode[e.errno], 0) + 1
            continue
        want = bytes(P) if i in failed else page(i)
        if buf[:] == want:
            ok += 1
        else:
            bad += 1
print(f"ok={ok} bad={bad} errors={sum(errs.values())} " + " ".join(f"{k}={v}" for k, v in sorted(errs.items())))
if out:
    open(os.environ.get("FAILED_OUT", "/dev/null"), "w").write("\n".join(out) + "\n")
EOF
pio() { python3 "$T/pio.py" "$@"; }
field() { sed -nE "s/.*\\b$1=([0-9]+).*/\\1/p" <<<"$2"; }

plan 19
if [ ! -e $F/failslab/require-start ] || [ ! -e $F/fail_page_alloc/require-start ]; then
	diag "this kernel has no failslab/fail_page_alloc with the stack-trace filter"
	fail "fault injection available (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_STACKTRACE_FILTER)"
	tap_exit
fi
ok "insmod num_devices=2 disksize=64M" load_rzs num_devices=2 disksize=64M

# Reference data, written before any fault.
r=$(pio /dev/rzs0 write 0 1024 1)
diag "reference write: $r"
check "[ \"$(field ok "$r")\" = 1024 ]" "1024 reference pages written"

# Writes under injection.
fw0=$(stat /dev/rzs0 failed_writes)
arm 30
r=$(FAILED_OUT=$T/failed pio /dev/rzs0 write 1024 2048 2)
disarm
diag "writes with 30% of rzs's allocations failing: $r"
okw=$(field ok "$r") errw=$(field errors "$r") enomem=$(field ENOMEM "$r")
check "[ $okw -gt 0 ] && [ $errw -gt 0 ] && [ \"$enomem\" = $errw ]" "some writes failed, each with ENOMEM ($errw of 2048)"
fw=$(($(stat /dev/rzs0 failed_writes) - fw0))
check "[ $fw = $errw ]" "failed_writes counted every failed write ($fw)"
r=$(pio /dev/rzs0 verify 0 1024 1)
check "[ \"$(field ok "$r")\" = 1024 ]" "the reference pages are intact ($r)"
r=$(pio /dev/rzs0 verify 1024 2048 2 "$T/failed")
check "[ \"$(field ok "$r")\" = 2048 ]" "pages written under injection read back; those whose write failed read as zeros ($r)"

# Reads allocate nothing.
arm 100
r=$(pio /dev/rzs0 verify 0 1024 1)
disarm
check "[ \"$(field ok "$r")\" = 1024 ]" "full-page reads with every rzs allocation failing: all 1024 succeed ($r)"

# An overwrite whose object cannot be allocated fails and leaves the old page: the
# stored object is only replaced once the new one exists. (A random page needs a
# whole-page object; rzs allocates nothing else on the write path.)
dd if=/dev/rzs0 of="$T/p1.before" bs=4096 skip=1 count=1 iflag=direct status=none
head -c 4096 /dev/urandom >"$T/p1.new"
arm 100
dd if="$T/p1.new" of=/dev/rzs0 bs=4096 seek=1 count=1 conv=notrunc oflag=direct status=none 2>"$T/dd.err"
rc=$?
disarm
check "[ $rc != 0 ]" "overwriting a page fails when its new object cannot be allocated"
check "cmp -s \"$T/p1.before\" <(dd if=/dev/rzs0 bs=4096 skip=1 count=1 iflag=direct status=none)" "and the page keeps its old content"

# Disksize under injection, then reset (zram's failed-disksize-then-reset bug).
"$rzsctl" /dev/rzs1 --reset >/dev/null 2>&1
arm 100
"$rzsctl" /dev/rzs1 --size 512M >"$T/size.out" 2>&1
rc=$?
disarm
sed 's/^/# /' "$T/size.out"
check "[ $rc != 0 ] && [ \"\$(cat /sys/block/rzs1/size)\" = 0 ]" "disksize fails when its allocations fail; the device stays unsized"
ok "reset after the failed disksize" "$rzsctl" /dev/rzs1 --reset
ok "a size can be set once the faults stop" "$rzsctl" /dev/rzs1 --size 128M

# Swap under injection: failed swap writes leave the pages in memory.
ok "mkswap + swapon /dev/rzs1" bash -c "mkswap /dev/rzs1 >/dev/null && swapon /dev/rzs1"
fw0=$(stat /dev/rzs1 failed_writes)
arm 20
run_limited 48 "$memtest" --size 96 --passes 2 --order both --seed 5 >"$T/swap.out" 2>&1
rc=$?
disarm
sed 's/^/# /' "$T/swap.out" | tail -n 2
fw=$(($(stat /dev/rzs1 failed_writes) - fw0))
diag "swap writes that failed under injection: $fw"
check "[ $rc = 0 ] && grep -q ' mismatches=0 ' $T/swap.out" "96 MiB swap workload with 20% of rzs's allocations failing: every page verified"
check "[ $fw -gt 0 ]" "some swap writes did fail ($fw), and were counted"
memcg_cleanup
ok "swapoff /dev/rzs1" swapoff /dev/rzs1

# Normal again, and nothing leaked.
ok "after the faults: 2048 pages written and verified" bash -c \
	"python3 $T/pio.py /dev/rzs0 write 4096 2048 9 | grep -q '^ok=2048 ' && python3 $T/pio.py /dev/rzs0 verify 4096 2048 9 | grep -q '^ok=2048 '"
blkdiscard /dev/rzs0
check "[ \$(stat /dev/rzs0 pages_stored) = 0 ] && [ \$(stat /dev/rzs0 mem_used_total) = 0 ]" \
	"a full discard frees every object: pages_stored 0, mem_used_total 0"
ok "rmmod rzs" unload_rzs
diag "figure: faults_injected=$injected"
tap_exit
