#!/usr/bin/env bash
# Swap on rzs: a workload larger than the memory it may use (a memory cgroup limit),
# every page verified after swap-in; rmmod refused while swapped on; swapoff brings
# everything back.
# cost: 25 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
trap 'swapoff /dev/rzs0 2>/dev/null; memcg_cleanup; cleanup_rzs' EXIT
memtest=$RZS_ROOT/target/release/rzs-memtest

plan 9
ok "insmod rzs.ko disksize=512M" load_rzs disksize=512M
ok "mkswap /dev/rzs0" mkswap /dev/rzs0
ok "swapon /dev/rzs0" swapon /dev/rzs0
out0=$(awk '/^pswpout/ {print $2}' /proc/vmstat)
ok "192 MiB workload in a 64 MiB cgroup: every page verified" run_limited 64 "$memtest" --size 192 --passes 2 --order random
out=$(($(awk '/^pswpout/ {print $2}' /proc/vmstat) - out0))
diag "pages swapped out: $out"
check "[ $out -gt 20000 ]" "the workload swapped (>20000 pages out)"
fails "rmmod refused while swapped on" rmmod rzs
# While a verifying workload holds swapped-out pages, swapoff must bring every one
# of them back intact (the workload verifies them after swapoff).
swapoff_under_load() {
	run_limited 48 "$memtest" --size 96 --passes 1 --hold 6 --seed 7 &
	local p=$!
	sleep 4
	memcg_limit max # let swapoff bring the pages home
	swapoff /dev/rzs0 || return 1
	wait $p
}
ok "swapoff while a workload's pages are out; all verified after" swapoff_under_load
check "! grep -q rzs0 /proc/swaps" "swapoff completed"
ok "rmmod after swapoff" unload_rzs
memcg_cleanup
tap_exit
