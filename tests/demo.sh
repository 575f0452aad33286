#!/usr/bin/env bash
# `make run`, inside the guest: load rzs, size /dev/rzs0 with rzsctl, swap on it under
# real memory pressure (a workload larger than the guest's RAM, every page verified),
# show what the device holds, swap off, reset, unload. Exits non-zero if any step
# fails or a page comes back wrong.
set -euo pipefail
. "$RZS_ROOT/tests/lib/rzs.sh"
memtest=$RZS_ROOT/target/release/rzs-memtest
rzsctl=$RZS_ROOT/target/release/rzsctl
size_mb=${RZS_DEMO_MB:-512}
step() { printf '\n== %s\n' "$*"; }
vm() { awk -v k="$1" '$1 == k {print $2}' /proc/vmstat; }

mem_mb=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
step "guest: $(nproc) CPUs, ${mem_mb} MiB RAM; workload: ${size_mb} MiB"
step "insmod rzs.ko"
load_rzs
dmesg | grep 'rzs:' | tail -n 2
step "rzsctl (before)"
"$rzsctl"
step "rzsctl /dev/rzs0 --size 1G; mkswap; swapon"
"$rzsctl" /dev/rzs0 --size 1G
mkswap /dev/rzs0 >/dev/null
swapon -p 100 /dev/rzs0
cat /proc/swaps
out0=$(vm pswpout) in0=$(vm pswpin)
step "workload: rzs-memtest --size $size_mb (realistic page mix, 2 verified passes)"
"$memtest" --size "$size_mb" --passes 2 --order random --hold 4 &
pid=$!
# Sample the device while the workload holds its memory (after its passes).
for _ in $(seq 600); do
	sleep 1
	kill -0 $pid 2>/dev/null || break
	grep -q 'State:.*S (sleeping)' /proc/$pid/status 2>/dev/null && break
done
step "rzsctl, while the workload holds ${size_mb} MiB in ${mem_mb} MiB of RAM"
"$rzsctl" --output NAME,DISKSIZE,DATA,COMPR,RATIO,TOTAL,META,ZERO,HUGE,NOTIFY-FREE,SWAP
"$rzsctl" stats /dev/rzs0 | grep -E 'pages_stored|same_pages|huge_pages|orig_data|compr_data|mem_used_total|table_bytes|ratio'
wait $pid
step "swap traffic: $(($(vm pswpout) - out0)) pages out, $(($(vm pswpin) - in0)) pages in"
[ $(($(vm pswpout) - out0)) -gt 0 ] || { echo "the workload did not swap" >&2; exit 1; }
step "rzsctl, after the workload exited (its freed slots were released at once)"
"$rzsctl"
step "swapoff; rzsctl --reset; rmmod"
swapoff /dev/rzs0
"$rzsctl" /dev/rzs0 --reset
"$rzsctl"
unload_rzs
echo "demo ok"
