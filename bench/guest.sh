#!/usr/bin/env bash
# `make bench`, inside the guest: the same measurements on /dev/rzs0 and /dev/zram0
# (lz4), in one boot, alternating which device goes first, BENCH_REPS times. Raw
# results (fio JSON, mm_stat snapshots, memtest logs) go to $OUT/raw/, named
# DEV.REP.CASE; bench/report.py turns them into the summary on the host.
#
#   bench/guest.sh OUT
# Environment: BENCH_REPS (6: even, so that each device goes first as often),
# BENCH_FIO_MB (64: data per fio case, the corpus size), BENCH_FIO_SECS (4: time-based
# fio runs), BENCH_SWAP_LIMIT_MB (memory the swap workload may use, a memory cgroup
# limit: 160), BENCH_SWAP_MB (its working set: 2.5x that), RZS_KO, RZS_ROOT.
#
# Why a memory cgroup rather than guest RAM alone: a compressed-RAM device keeps what it
# stores in RAM, so a working set 2.5x the guest's RAM cannot fit at lz4's ratio on
# realistic pages (about 2) and the guest goes out of memory, with either device.
# The cgroup limits what the workload keeps uncompressed; the device's memory is the
# guest's.
set -euo pipefail
OUT=$1
. "$RZS_ROOT/tests/lib/rzs.sh"
rzsctl=$RZS_ROOT/target/release/rzsctl
. "$RZS_ROOT/bench/devices.sh"
memtest=$RZS_ROOT/target/release/rzs-memtest
# The corpora are read from a ramfs, not from $OUT, the host's directory over 9p (no
# guest page cache): the corpus fill's dd reads as it writes, inside its timed window,
# and rzs-memtest reads its corpus at startup. ramfs pages are never reclaimed or
# swapped, so they cost the same, outside the measurement, for both devices. The swap
# corpora (32 MiB) stay there for the whole run; the 64 MiB block I/O corpus only for
# its case.
ram=$(mktemp -d)
mount -t ramfs -o mode=0755 ramfs "$ram"
trap 'umount "$ram" 2>/dev/null; rmdir "$ram" 2>/dev/null' EXIT
corpus=$ram/corpus.bin
swap_corpus=$ram/swap-corpus.bin
heap_corpus=$ram/swap-heap.bin
cp "$OUT/swap-corpus.bin" "$swap_corpus"
cp "$OUT/swap-heap.bin" "$heap_corpus"
raw=$OUT/raw
reps=${BENCH_REPS:-6}
fio_mb=${BENCH_FIO_MB:-64}
secs=${BENCH_FIO_SECS:-4}
ncpu=$(nproc)
mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
swap_limit_mb=${BENCH_SWAP_LIMIT_MB:-160}
swap_mb=${BENCH_SWAP_MB:-$((swap_limit_mb * 5 / 2))}
rm -rf "$raw" && mkdir -p "$raw"
say() { printf '# %s %s\n' "$(date +%T)" "$*"; }

mm_stat() { cat "$(sys_of "$1")/mm_stat"; }
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }

# fio_case DEV REP NAME RW JOBS [fio options...]: one fio run, its JSON saved.
fio_case() {
	local dev=$1 rep=$2 name=$3 rw=$4 jobs=$5
	shift 5
	local per=$((fio_mb / jobs))
	fio --name="$name" --filename="$(path_of "$dev")" --direct=1 --ioengine=psync \
		--bs=4k --rw="$rw" --numjobs="$jobs" --size="${per}M" --offset_increment="${per}M" \
		--group_reporting --output-format=json --output="$raw/$dev.$rep.$name-j$jobs.json" "$@" \
		>/dev/null
}
timed=(--time_based --runtime="$secs")

# both CMD ARGS...: CMD DEV ARGS... on the two devices back to back, in this
# repetition's order (rzs first in even repetitions, zram first in odd ones).
#
# The wall clock under TCG drifts: in the 5-rep run at 135713c, every fio case of a
# device's block moved together (rzs rep 0 1.06-1.51 times its median, rep 2
# 0.77-1.00), and the same code moved by a median of 17% between repetitions. Run
# a device's whole block and then the other's, minutes apart, and that drift lands
# in the ratio; case by case, seconds apart, it mostly cancels.
both() {
	local cmd=$1 dev
	shift
	for dev in "${order[@]}"; do "$cmd" "$dev" "$@"; done
}

fill_comp() { # DEV REP
	fio_case "$1" "$2" comp-fill write 1 "${comp_opts[@]}"
	mm_stat "$1" >"$raw/$1.$2.comp.mm_stat"
}
fill_zero() { # DEV REP
	fio_case "$1" "$2" zero-fill write 1 --zero_buffers
}
fill_corpus() { # DEV REP
	local t0 t1
	t0=$(date +%s.%N)
	dd if="$corpus" of="$(path_of "$1")" bs=1M oflag=direct status=none
	t1=$(date +%s.%N)
	echo "$(stat -c %s "$corpus") $t0 $t1" >"$raw/$1.$2.corpus-fill.dd"
	mm_stat "$1" >"$raw/$1.$2.corpus.mm_stat"
}

# bench_fio REP: the fio cases, both devices holding the same data, each case run on
# one and then the other.
bench_fio() {
	local rep=$1 jobs rw
	say "rep $rep: fio, compressible buffers (${order[*]}, case by case)"
	both setup $((2 * fio_mb))M
	both fill_comp "$rep"
	for jobs in 1 "$ncpu"; do
		for rw in randwrite write randread read; do
			both fio_case "$rep" "comp-$rw" "$rw" "$jobs" "${comp_opts[@]}" "${timed[@]}"
		done
	done
	both reset

	# Zero pages: no codec, no allocator. What is left is the block path and the slot
	# table, so this case tells those apart from the codec.
	say "rep $rep: zero pages"
	both setup $((2 * fio_mb))M
	both fill_zero "$rep"
	for jobs in 1 "$ncpu"; do
		both fio_case "$rep" zero-randread randread "$jobs" "${timed[@]}"
	done
	both reset

	say "rep $rep: corpus pages"
	cp "$OUT/corpus.bin" "$corpus"
	both setup $((2 * fio_mb))M
	both fill_corpus "$rep"
	for jobs in 1 "$ncpu"; do
		for rw in randread read; do
			both fio_case "$rep" "corpus-$rw" "$rw" "$jobs" "${timed[@]}"
		done
	done
	both reset
	rm -f "$corpus"
}

# The slot table: memory taken by sizing a device (before any data), MemFree and
# VmallocUsed before and after, caches dropped.
bench_meta() { # DEV REP
	local dev=$1 rep=$2 size=$((4 << 30)) f0 v0 f1 v1
	sync
	echo 3 >/proc/sys/vm/drop_caches
	f0=$(meminfo MemFree) v0=$(meminfo VmallocUsed)
	setup "$dev" $size
	f1=$(meminfo MemFree) v1=$(meminfo VmallocUsed)
	local table=0
	[ "$dev" = rzs ] && table=$("$rzsctl" stats /dev/rzs0 --json | sed -nE 's/.*"table_bytes": *([0-9]+).*/\1/p')
	echo "$size $((f0 - f1)) $((v1 - v0)) $table" >"$raw/$dev.$rep.meta"
	reset "$dev"
}

# stamp: each line of stdin with the time it was read (the guest's clock, as t0/t1),
# so a swap case's raw log shows where its wall time went: startup, fill, passes, and
# after the last line the process's exit (freeing what it had swapped out).
stamp() { while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }

# bench_swap DEV REP CASE: a verified swap workload on DEV, timed. CASE:
#   swap       one process, corpus pages (binaries, text, .gz, zero, same-filled);
#   swap-heap  one process, heap-like anonymous memory (pointers, small integers,
#              short runs: rzs_bench::heap_page);
#   swap-2p    two processes at once in the same cgroup, half the working set each,
#              corpus pages with different seeds.
# Raw: DEV.REP.CASE ("rc t0 t1 pswpout pswpin") and DEV.REP.CASE[-a|-b].log.
bench_swap() {
	local dev=$1 rep=$2 case=$3 o0 i0 t0 t1 rc=0 pa pb rca=0 rcb=0
	local what=(--size "$swap_mb" --corpus "$swap_corpus")
	[ "$case" = swap-heap ] && what=(--size "$swap_mb" --corpus "$heap_corpus")
	say "$dev rep $rep: $case, ${swap_mb} MiB working set in a ${swap_limit_mb} MiB memory cgroup"
	setup "$dev" 2G
	mkswap "$(path_of "$dev")" >/dev/null
	swapon -p 100 "$(path_of "$dev")"
	# Fault rzs-memtest's code and libraries in from the root cgroup first, so that they
	# are neither charged to the workload's cgroup nor read over 9p in its timed window.
	# bench_meta drops the caches; without this, the first device after it spent 8-10 s
	# in rzs-memtest's startup alone (the next one 0.2 s), each repetition.
	"$memtest" --size 4 --passes 1 --corpus "$swap_corpus" >/dev/null
	memcg_limit "$swap_limit_mb"
	o0=$(vm pswpout) i0=$(vm pswpin) t0=$(date +%s.%N)
	if [ "$case" = swap-2p ]; then
		(in_memcg "$memtest" --size $((swap_mb / 2)) --corpus "$swap_corpus" --seed $((2 * rep + 1)) --order both --passes 2 \
			2>&1 | stamp >"$raw/$dev.$rep.$case-a.log") &
		pa=$!
		(in_memcg "$memtest" --size $((swap_mb / 2)) --corpus "$swap_corpus" --seed $((2 * rep + 2)) --order both --passes 2 \
			2>&1 | stamp >"$raw/$dev.$rep.$case-b.log") &
		pb=$!
		wait $pa || rca=$?
		wait $pb || rcb=$?
		rc=$((rca | rcb))
	else
		in_memcg "$memtest" "${what[@]}" --seed $((rep + 1)) --order both --passes 2 \
			2>&1 | stamp >"$raw/$dev.$rep.$case.log" || rc=$?
	fi
	t1=$(date +%s.%N)
	echo "$rc $t0 $t1 $(($(vm pswpout) - o0)) $(($(vm pswpin) - i0))" >"$raw/$dev.$rep.$case"
	memcg_cleanup
	sleep 2
	mm_stat "$dev" >"$raw/$dev.$rep.$case.stale.mm_stat"
	swapoff "$(path_of "$dev")"
	reset "$dev"
	[ $rc = 0 ] || { echo "rzs-memtest failed on $dev in $case (exit $rc)" >&2; return 1; }
}

say "guest: $ncpu CPUs, $((mem_kb / 1024)) MiB RAM, $(uname -r); reps $reps"
load_rzs
[ -e /sys/block/zram0 ] || modprobe zram num_devices=1
printf '{"cpu_flags_erms": %d, "ncpu": %d, "mem_kb": %d, "kernel": "%s", "reps": %d, "fio_mb": %d, "fio_secs": %d, "swap_mb": %d, "swap_limit_mb": %d}\n' \
	"$(grep -m1 -c -w erms /proc/cpuinfo)" "$ncpu" "$mem_kb" "$(uname -r)" "$reps" "$fio_mb" "$secs" "$swap_mb" "$swap_limit_mb" >"$raw/meta.json"
for rep in $(seq 0 $((reps - 1))); do
	order=(rzs zram)
	[ $((rep % 2)) = 1 ] && order=(zram rzs)
	bench_fio "$rep"
	both bench_meta "$rep"
	for case in swap swap-heap swap-2p; do
		both bench_swap "$rep" "$case"
	done
done
unload_rzs
say "bench done"
