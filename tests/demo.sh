#!/usr/bin/env bash
# `make run`, inside the guest: load rzs, swap on /dev/rzs0 under real memory pressure
# (a workload larger than the guest's RAM), show what the device holds, swap off,
# unload. Exits non-zero if any step fails or a page comes back wrong.
set -euo pipefail
. "$RZS_ROOT/tests/lib/rzs.sh"
memtest=$RZS_ROOT/target/release/rzs-memtest
size_mb=${RZS_DEMO_MB:-512}
step() { printf '\n== %s\n' "$*"; }

mem_mb=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
step "guest: $(nproc) CPUs, ${mem_mb} MiB RAM; workload: ${size_mb} MiB"
step "insmod rzs.ko disksize=1G"
load_rzs disksize=1G
dmesg | grep 'rzs:' | tail -n 3
step "mkswap + swapon /dev/rzs0"
mkswap /dev/rzs0 >/dev/null
swapon -p 100 /dev/rzs0
cat /proc/swaps
pswpout0=$(awk '/^pswpout/ {print $2}' /proc/vmstat)
pswpin0=$(awk '/^pswpin/ {print $2}' /proc/vmstat)
step "workload: rzs-memtest --size $size_mb (mixed pages, 2 verified passes)"
"$memtest" --size "$size_mb" --passes 2 --order random --hold 1 &
pid=$!
sleep 3
step "while it runs"
cat /proc/swaps
[ -x "$RZS_ROOT/target/release/rzsctl" ] && "$RZS_ROOT/target/release/rzsctl" || true
wait $pid
out=$(($(awk '/^pswpout/ {print $2}' /proc/vmstat) - pswpout0))
in=$(($(awk '/^pswpin/ {print $2}' /proc/vmstat) - pswpin0))
step "swap traffic: $out pages out, $in pages in"
[ "$out" -gt 0 ] || { echo "the workload did not swap" >&2; exit 1; }
step "swapoff + rmmod"
swapoff /dev/rzs0
unload_rzs
echo "demo ok"
