#!/usr/bin/env bash
# Module parameters (modinfo descriptions, several devices, bad values refused with a
# readable message) and mem_limit: writes beyond it fail cleanly and are counted,
# data already stored stays intact.
# cost: 25 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
trap cleanup_rzs EXIT
stat() { python3 "$RZS_ROOT/tests/lib/rzsstat.py" "$1" "${@:2}"; }
T=$(mktemp -d)

plan 16
for p in num_devices disksize mem_limit swap_notify backing_dev debug_corrupt debug_wb_delay_ms; do
	modinfo -F parm "$RZS_KO" | grep -q "^$p:" || { fail "modinfo describes $p"; continue; }
done
pass "modinfo describes num_devices, disksize, mem_limit, swap_notify, backing_dev and the test-only parameters"
ok "insmod num_devices=3 disksize=16M" load_rzs num_devices=3 disksize=16M
check "[ -b /dev/rzs1 ] && [ -b /dev/rzs2 ] && [ ! -e /dev/rzs3 ]" "/dev/rzs0..2 exist, no more"
check "[ \"\$(cat /sys/block/rzs2/size)\" = 32768 ]" "each has the size given"
ok "rmmod" unload_rzs
bad() { # bad PARAM MESSAGE-REGEX
	dmesg -C
	if insmod "$RZS_KO" "$1" 2>/dev/null; then rmmod rzs; return 1; fi
	dmesg | grep -Eq "rzs: .*$2"
}
ok "num_devices=257 refused with a message" bad num_devices=257 "num_devices=257 is out of range"
ok "disksize=12Q refused with a message" bad disksize=12Q "invalid disksize"
ok "disksize=2T refused with a message" bad disksize=2T "disksize=.* is out of range"
ok "swap_notify=bogus refused with a message" bad swap_notify=bogus "invalid swap_notify"
ok "mem_limit=1P (more than RAM) refused with a message" bad mem_limit=1P "mem_limit=.* is out of range"

# mem_limit: 1 MiB; write 512 random (incompressible) pages, 2 MiB, one by one.
ok "insmod disksize=16M mem_limit=1M" load_rzs disksize=16M mem_limit=1M
head -c $((4096 * 512)) /dev/urandom >$T/r
okw=0
for i in $(seq 0 511); do
	dd if=$T/r of=/dev/rzs0 bs=4096 skip=$i seek=$i count=1 oflag=direct status=none 2>/dev/null && okw=$((okw + 1))
done
read -r fw mem lim <<<"$(stat /dev/rzs0 failed_writes mem_used_total mem_limit | tr '\n' ' ')"
diag "mem_limit=1M: $okw of 512 page writes succeeded, failed_writes=$fw, mem_used=$mem, limit=$lim"
check "[ $okw -gt 0 ] && [ $okw -lt 512 ] && [ $fw = $((512 - okw)) ]" "writes past mem_limit fail and are counted"
check "[ $mem -le $((lim + 65536)) ]" "memory used stays at the limit"
check "cmp -s <(head -c $((okw * 4096)) $T/r) <(dd if=/dev/rzs0 bs=4096 count=$okw iflag=direct status=none)" "the pages stored before the limit read back intact"
check "cmp -s <(head -c 4096 /dev/zero) <(dd if=/dev/rzs0 bs=4096 skip=511 count=1 iflag=direct status=none)" "a page whose write failed reads as zeros, not garbage"
ok "rmmod" unload_rzs
rm -rf "$T"
tap_exit
