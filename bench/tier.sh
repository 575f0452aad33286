#!/usr/bin/env bash
# `make bench-tier`, inside the guest: tiering under a swap workload larger than the
# memory it may use plus the compressed pool. Three set-ups on the same virtio disk
# (/dev/vda, a file on the host), BENCH_TIER_REPS times, the order rotating:
#
#   rzs-auto     rzs with the disk as backing device, mem_limit = the pool budget,
#                automatic writeback (watermarks 90/75 %, coldest first, packed);
#   zram-script  zram with the disk as backing device and writeback driven as its
#                documentation tells a user to: a script that, whenever the pool is
#                past 90 % of the same budget, writes back the pages idle since its
#                last mark (`echo idle >writeback`) and marks again (`echo all
#                >idle`), every second;
#   zram-plain   zram without a backing device (and without a limit: with one, zram
#                fails the writes past it): the pool takes what it needs.
#
# Each runs rzs-memtest (corpus pages, every page verified, two passes) in a memory
# cgroup of BENCH_TIER_CG_MB; the working set is BENCH_TIER_MB. Raw results go to
# $OUT/tier/SETUP.REP: "rc seconds pswpout sectors_written pool_peak_bytes
# wb_pages failed_writes mismatches bd_reads"; bench/tier-report.py summarises them.
# BENCH_TIER_SETUPS (comma-separated) picks and orders the set-ups, all three by default.
#
#   bench/tier.sh OUT
set -euo pipefail
OUT=$1
. "$RZS_ROOT/tests/lib/rzs.sh"
rzsctl=$RZS_ROOT/target/release/rzsctl
memtest=$RZS_ROOT/target/release/rzs-memtest
corpus=$OUT/swap-corpus.bin
raw=$OUT/tier
reps=${BENCH_TIER_REPS:-3}
cg_mb=${BENCH_TIER_CG_MB:-128}
ws_mb=${BENCH_TIER_MB:-384}
pool_mb=${BENCH_TIER_POOL_MB:-48}
disk=/dev/vda
rm -rf "$raw" && mkdir -p "$raw"
say() { printf '# %s %s\n' "$(date +%T)" "$*"; }
[ -b $disk ] || { echo "no $disk: the guest has no virtio disk (RZS_VM_DISK)" >&2; exit 1; }
[ -e /sys/block/zram0/backing_dev ] || { echo "zram has no writeback (CONFIG_ZRAM_WRITEBACK)" >&2; exit 1; }
# Sectors written to the disk so far (/sys/block/vda/stat, field 7).
written() { awk '{print $7}' /sys/block/vda/stat; }
vm() { awk -v k="$1" '$1 == k {print $2}' /proc/vmstat; }

# The user's writeback script for zram (see above). Runs until killed.
zram_writeback_script() {
	local high=$((pool_mb * 1024 * 1024 * 9 / 10)) used
	while sleep 1; do
		used=$(awk '{print $3}' /sys/block/zram0/mm_stat)
		if [ "$used" -gt "$high" ]; then
			echo idle >/sys/block/zram0/writeback 2>/dev/null || true
			echo all >/sys/block/zram0/idle
		fi
	done
}

run() { # SETUP REP
	local setup=$1 rep=$2 dev sys o0 w0 t0 t1 rc=0 script= peak wb rd failed mism
	case $setup in
	rzs-auto)
		dev=/dev/rzs0 sys=/sys/block/rzs0
		"$rzsctl" /dev/rzs0 --backing-dev $disk --size 2G --mem-limit ${pool_mb}M
		# Short epochs: the run lasts minutes, not hours (the default is 60 s).
		echo 2 >$sys/idle_epoch_secs
		;;
	zram-*)
		dev=/dev/zram0 sys=/sys/block/zram0
		echo lz4 >$sys/comp_algorithm
		[ "$setup" = zram-script ] && echo $disk >$sys/backing_dev
		echo 2G >$sys/disksize
		;;
	esac
	mkswap $dev >/dev/null && swapon -p 100 $dev
	[ "$setup" = zram-script ] && { zram_writeback_script & script=$!; }
	say "$setup rep $rep: ${ws_mb} MiB working set in a ${cg_mb} MiB memory cgroup, pool budget ${pool_mb} MiB"
	memcg_limit "$cg_mb"
	sync
	o0=$(vm pswpout) w0=$(written) t0=$(date +%s.%N)
	in_memcg "$memtest" --size "$ws_mb" --corpus "$corpus" --seed $((rep + 1)) --order both --passes 2 \
		>"$raw/$setup.$rep.log" 2>&1 || rc=$?
	t1=$(date +%s.%N)
	[ -n "$script" ] && { kill $script; wait $script 2>/dev/null || true; }
	memcg_cleanup
	peak=$(awk '{print $5}' $sys/mm_stat)
	case $setup in
	rzs-auto)
		wb=$(python3 "$RZS_ROOT/tests/lib/rzsstat.py" /dev/rzs0 bd_writes)
		rd=$(python3 "$RZS_ROOT/tests/lib/rzsstat.py" /dev/rzs0 bd_reads)
		;;
	zram-script) read -r _ rd wb <$sys/bd_stat ;;
	*) wb=0 rd=0 ;;
	esac
	failed=$(awk '{print $2}' $sys/io_stat)
	mism=$(sed -nE 's/.*mismatches=([0-9]+).*/\1/p' "$raw/$setup.$rep.log" | tail -n1)
	echo "$rc $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') $(($(vm pswpout) - o0)) $(($(written) - w0)) $peak $wb $failed ${mism:-none} $rd" \
		>"$raw/$setup.$rep"
	say "$setup rep $rep: $(cat "$raw/$setup.$rep")"
	swapoff $dev
	case $setup in
	rzs-auto) "$rzsctl" /dev/rzs0 --reset ;;
	zram-*) echo 1 >$sys/reset ;;
	esac
	[ "$rc" = 0 ] || { echo "rzs-memtest failed in $setup rep $rep (exit $rc)" >&2; return 1; }
}

say "guest: $(nproc) CPUs, $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) MiB RAM, $(uname -r); reps $reps"
load_rzs
[ -e /sys/block/zram0 ] || modprobe zram num_devices=1
printf '{"reps": %d, "cg_mb": %d, "ws_mb": %d, "pool_mb": %d, "kernel": "%s"}\n' \
	"$reps" "$cg_mb" "$ws_mb" "$pool_mb" "$(uname -r)" >"$raw/meta.json"
IFS=, read -ra setups <<<"${BENCH_TIER_SETUPS:-rzs-auto,zram-script,zram-plain}"
n=${#setups[@]}
for rep in $(seq 0 $((reps - 1))); do
	for k in $(seq 0 $((n - 1))); do
		run "${setups[$(((rep + k) % n))]}" "$rep"
	done
done
unload_rzs
say "bench-tier done"
