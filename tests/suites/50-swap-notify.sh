#!/usr/bin/env bash
# Swap slot-free notification: compressed copies of freed swap slots are dropped at
# once (swap_notify=events and bdev), and stay without it (off); SWAPON/SWAPOFF
# attach and detach the table; slot frees race reads and writes of other slots
# without corruption or leak; loading after another swap device is on.
# cost: 49 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
trap 'swapoff -a 2>/dev/null; memcg_cleanup; cleanup_rzs' EXIT
memtest=$RZS_ROOT/target/release/rzs-memtest
stat() { python3 "$RZS_ROOT/tests/lib/rzsstat.py" /dev/rzs0 "$@"; }

plan 23
memcg_limit 64

# --- stale memory, per mode: a process swaps out, exits; what does rzs still hold?
for mode in events bdev off; do
	load_rzs disksize=512M swap_notify=$mode || { fail "insmod swap_notify=$mode"; continue; }
	mkswap /dev/rzs0 >/dev/null && swapon /dev/rzs0
	in_memcg "$memtest" --size 160 --passes 1 --seed 3 >/dev/null
	rc=$?
	read -r pages mem nf flags peak <<<"$(stat pages_stored mem_used_total notify_free flags mem_used_max | tr '\n' ' ')"
	diag "swap_notify=$mode: workload rc=$rc; after exit: pages_stored=$pages mem_used=$((mem / 1024)) KiB notify_free=$nf (peak mem_used $((peak / 1024)) KiB)"
	echo "$mode $pages $mem $nf" >>/tmp/rzs-stale.txt
	case $mode in
	off) check "[ $rc = 0 ] && [ $pages -gt 10000 ]" "off: freed slots stay stored after exit ($pages pages, $((mem / 1048576)) MiB)" ;;
	# Near zero: the swap header page, plus what the per-CPU swap slot caches still
	# hold back (up to 64 freed entries per CPU, released in batches).
	*) check "[ $rc = 0 ] && [ $pages -le 200 ] && [ $nf -gt 10000 ]" "$mode: memory falls to near zero after exit ($pages pages, $((mem / 1024)) KiB left)" ;;
	esac
	check "[ $(((flags >> 1) & 1)) = 1 ]" "$mode: stats flag the device as swap"
	swapoff /dev/rzs0 && unload_rzs || fail "$mode: swapoff + rmmod"
done

# --- attach / detach across repeated swapon/swapoff (events)
ok "insmod swap_notify=events" load_rzs disksize=256M swap_notify=events
mkswap /dev/rzs0 >/dev/null
for i in 1 2 3; do swapon /dev/rzs0 && swapoff /dev/rzs0; done
check "[ \"\$(stat swap_attach swap_detach | tr '\n' ' ')\" = '3 3 ' ]" "3 swapon/swapoff cycles: 3 attaches, 3 detaches"
check "dmesg | grep -q 'rzs0: swap on' && dmesg | grep -q 'rzs0: swap off: detached'" "attach and detach are logged"
ok "swapon again" swapon /dev/rzs0
fails "rmmod refused while attached" rmmod rzs

# --- slot frees racing reads and writes of other slots
storm() {
	local pids=() bad=0 i
	for i in 1 2 3 4; do
		in_memcg "$memtest" --size $((24 + i * 8)) --passes $((i % 2 + 1)) --order random --seed $i >/dev/null &
		pids+=($!)
	done
	# Short-lived processes exiting while the others swap in and out.
	for i in 5 6 7 8 9 10; do
		in_memcg "$memtest" --size 16 --passes 1 --seed $i >/dev/null || bad=1
	done
	for p in "${pids[@]}"; do wait "$p" || bad=1; done
	return $bad
}
ok "4 long and 6 short-lived processes swapping at once: every page verified" storm
read -r pages nf fw fr <<<"$(stat pages_stored notify_free failed_writes failed_reads | tr '\n' ' ')"
diag "after the storm: pages_stored=$pages notify_free=$nf failed_writes=$fw failed_reads=$fr"
check "[ $pages -le 200 ]" "after all exited, nothing stale is left ($pages pages; header page included)"
check "[ $fw = 0 ] && [ $fr = 0 ]" "no failed reads or writes"

# --- swapoff with pages in use brings every one of them back
held() {
	in_memcg "$memtest" --size 96 --passes 1 --hold 8 --seed 11 &
	local p=$!
	sleep 5
	memcg_limit max
	swapoff /dev/rzs0 || return 1
	wait $p || return 1
	memcg_limit 64
}
ok "swapoff while a process has pages out: all verified after" held
check "[ \"\$(stat swap_detach)\" = 4 ]" "that swapoff detached too"
ok "rmmod after swapoff" unload_rzs

# --- loaded after another swap device is already on
zram_on() {
	[ -e /sys/block/zram0 ] || return 1
	echo lz4 >/sys/block/zram0/comp_algorithm 2>/dev/null
	echo 64M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon -p 10 /dev/zram0
}
ok "zram0 swapped on first" zram_on
ok "insmod rzs after that" load_rzs disksize=128M swap_notify=events
check "[ \"\$(stat swap_attach)\" = 0 ]" "zram's existing swap area did not attach rzs"
mkswap /dev/rzs0 >/dev/null
ok "swapon rzs0 next to zram0" swapon -p 20 /dev/rzs0
check "[ \"\$(stat swap_attach)\" = 1 ]" "rzs0 attached"
swapoff /dev/rzs0
ok "rmmod with zram still swapped on" unload_rzs
swapoff /dev/zram0
echo 1 >/sys/block/zram0/reset
memcg_cleanup
tap_exit
