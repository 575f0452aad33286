#!/usr/bin/env bash
# make bench-tcg-count, inside the guest (tests/guest.sh MODE bench-tcg-count), booted
# with QEMU's -plugin tbcount.so: each case runs on rzs and then on zram, between
# markers ($OUT/mark), so that each run's counts land in a file of their own. The
# phases, and what to divide each run's counts by, go to $OUT/phases:
#   <dump number> <case> <device> <units>
# (dumps that are not listed there hold what ran between the measured runs).
#   guest.sh OUT
# Environment: BENCH_TCG_CASES (default: every case below), BENCH_SWAP_MB (400),
# BENCH_SWAP_LIMIT_MB (160).
set -euo pipefail
OUT=$1
. "$RZS_ROOT/tests/lib/rzs.sh"
rzsctl=$RZS_ROOT/target/release/rzsctl
. "$RZS_ROOT/bench/devices.sh"
memtest=$RZS_ROOT/target/release/rzs-memtest
cases=${BENCH_TCG_CASES:-zero-randread comp-randread corpus-randread comp-randwrite swap-heap swap-corpus}
swap_limit_mb=${BENCH_SWAP_LIMIT_MB:-160}
swap_mb=${BENCH_SWAP_MB:-$((swap_limit_mb * 5 / 2))}
# 8192 I/Os of 4 KiB per fio run.
ios=8192
dumps=0
say() { printf '# %s %s\n' "$(date +%T)" "$*"; }

# mark CASE DEV UNITS: ends a measured run.
mark() {
	"$OUT/mark"
	echo "$dumps $1 $2 $3" >>"$OUT/phases"
	dumps=$((dumps + 1))
}
# skip: ends what ran between measured runs.
skip() {
	"$OUT/mark"
	dumps=$((dumps + 1))
}

echo 0 >/proc/sys/kernel/kptr_restrict
load_rzs
[ -e /sys/block/zram0 ] || modprobe zram num_devices=1
# The guest's symbols, rzs.ko's and zram.ko's included, for report.py.
cat /proc/kallsyms >"$OUT/kallsyms"
rm -f "$OUT/phases"
ram=$(mktemp -d)
mount -t ramfs -o mode=0755 ramfs "$ram"
trap 'umount "$ram" 2>/dev/null; rmdir "$ram" 2>/dev/null' EXIT
cp "$OUT/corpus.bin" "$OUT/swap-corpus.bin" "$OUT/swap-heap.bin" "$ram/"

fio_run() { # DEV RW [fio options...]
	local dev=$1 rw=$2
	shift 2
	fio --name=tcg --filename="$(path_of "$dev")" --direct=1 --ioengine=psync --bs=4k \
		--rw="$rw" --size=64M --io_size=$((ios * 4))k --randrepeat=1 --norandommap \
		--output-format=terse "$@" >/dev/null
}
fill() { # DEV KIND
	case $2 in
	zero) fio --name=fill --filename="$(path_of "$1")" --direct=1 --bs=4k --rw=write --size=64M --zero_buffers >/dev/null ;;
	comp) fio --name=fill --filename="$(path_of "$1")" --direct=1 --bs=4k --rw=write --size=64M "${comp_opts[@]}" >/dev/null ;;
	corpus) dd if="$ram/corpus.bin" of="$(path_of "$1")" bs=1M count=64 oflag=direct status=none ;;
	esac
}

for c in $cases; do
	for dev in rzs zram; do
		say "$c on $dev"
		case $c in
		*-randread | *-randwrite)
			kind=${c%-*} rw=${c##*-}
			setup "$dev" 128M
			fill "$dev" "$kind"
			opts=()
			[ "$kind" = comp ] && opts=("${comp_opts[@]}")
			# Once unmeasured, so that fio's code and the device's first touches are out
			# of the measured run.
			fio_run "$dev" "$rw" "${opts[@]}"
			# Let what the fill and the warm-up left behind (writeback, freeing) finish on
			# the other vCPU, whose lock spinning would otherwise land in the count.
			sync
			sleep 2
			skip
			fio_run "$dev" "$rw" "${opts[@]}"
			mark "$c" "$dev" "$ios"
			reset "$dev"
			;;
		swap-*)
			corpus=$ram/swap-heap.bin
			[ "$c" = swap-corpus ] && corpus=$ram/swap-corpus.bin
			setup "$dev" 2G
			mkswap "$(path_of "$dev")" >/dev/null
			swapon -p 100 "$(path_of "$dev")"
			"$memtest" --size 4 --passes 1 --corpus "$corpus" >/dev/null
			memcg_limit "$swap_limit_mb"
			o0=$(vm pswpout) i0=$(vm pswpin)
			skip
			in_memcg "$memtest" --size "$swap_mb" --corpus "$corpus" --seed 1 --order both --passes 2 >/dev/null
			mark "$c" "$dev" $(($(vm pswpout) - o0 + $(vm pswpin) - i0))
			memcg_cleanup
			swapoff "$(path_of "$dev")"
			reset "$dev"
			;;
		*) echo "unknown case $c" >&2 && exit 2 ;;
		esac
	done
done
skip
say "done"
