#!/usr/bin/env bash
# `make bench-tcg-count`: what the guest executes for rzs and for zram under QEMU's TCG,
# where make bench runs: guest instructions, memory accesses and translated blocks
# (TBs: under TCG one ends at every branch, call and return) per 4 KiB I/O and per page
# swapped, in total and by function, counted by a TCG plugin (bench/tcgcount/tbcount.c)
# in one guest run. make bench's wall clock under TCG pays for more than instructions
# (make bench-icount's measure); this shows what, and where.
#   scripts/bench-tcg-count.sh KDIR
# Environment: BENCH_TCG_CASES (bench/tcgcount/guest.sh), BENCH_VM_MEM (512M, as make
# bench), RZS_OUT. Results: bench/results/tcg-count.{json,md}.
# BENCH_ARCH=arm64: the same cases on arm64, in the guest of make stress's arm64 part
# (scripts/arm64.sh builds its kernel, rzs.ko, root and tools; KDIR is not used), under
# qemu-system-aarch64. Results: bench/results/tcg-count-arm64.{json,md}.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
kdir=$1
out=${RZS_OUT:-$root/tests/out}/bench-tcg-count
results=$root/bench/results
tc=$root/bench/tcgcount
mkdir -p "$out" "$results"
rm -f "$out"/tb.* "$out/phases" "$out/kallsyms"
(cd "$root" && cargo build --release --locked -q --workspace --bins) || die "cargo build of the benchmark tools failed"
cc -O2 -Wall -shared -fPIC -o "$out/tbcount.so" "$tc/tbcount.c" -lpthread || die "building the TCG plugin failed"
arch=${BENCH_ARCH:-x86}
case $arch in
x86) cc -O2 -Wall -o "$out/mark" "$tc/mark.c" || die "building the marker failed" ;;
arm64)
	RZS_OUT=$out/arm64 RZS_ARM64_BUILD_ONLY=1 "$root/scripts/arm64.sh" || die "the arm64 build (scripts/arm64.sh) failed"
	kdir=$("$root/scripts/kernel.sh" arm64)
	export RZS_KO=$out/arm64/build/rzs.ko RZS_VM=$root/tests/arm64/vm.sh
	RZS_ARM64_ROOT_DIR=$("$root/scripts/arm64-root.sh")
	export RZS_ARM64_ROOT_DIR RZS_ARM64_BIN=$root/target/aarch64-unknown-linux-gnu/release
	clang-19 --target=aarch64-linux-gnu -O2 -Wall -nostdlib -static -fuse-ld=lld -o "$out/mark" "$tc/mark.c" ||
		die "building the arm64 marker failed"
	;;
*) die "BENCH_ARCH: x86 or arm64, not $arch" ;;
esac
log "page corpora from this machine's files (make bench's: 64 MiB for block I/O, 16 MiB for swap, 16 MiB heap-like)"
"$root/target/release/rzs-corpus" --out "$out/corpus.bin" --mib 64 --seed 1 >/dev/null
"$root/target/release/rzs-corpus" --out "$out/swap-corpus.bin" --mib 16 --seed 2 >/dev/null
rm -rf "$out/heap" && mkdir -p "$out/heap"
"$root/target/release/rzs-codec-pages" --dir "$out/heap" --pages 4096 --seed 3 >/dev/null
mv "$out/heap/heap.pages" "$out/swap-heap.bin" && rm -rf "$out/heap"
export RZS_VM_MEM=${BENCH_VM_MEM:-512M}
# make bench's guest CPU (scripts/bench.sh; the arm64 guest's is tests/arm64/vm.sh's),
# and the plugin, which writes its counts to $out/tb.N (the guest shares $out).
export RZS_VM_QEMU_OPTS="-plugin $out/tbcount.so,arg=out=$out/tb"
[ "$arch" = x86 ] && RZS_VM_QEMU_OPTS="-cpu ${BENCH_CPU:-max,-erms,-fsrm} $RZS_VM_QEMU_OPTS"
log "booting $(basename "$kdir") in QEMU (TCG, $RZS_VM_MEM) with the counting plugin; a few minutes"
start=$(date +%s)
RZS_VM_TIMEOUT=${RZS_VM_TIMEOUT:-3600} RZS_SUITE_TIMEOUT=${RZS_SUITE_TIMEOUT:-3000} \
	"${RZS_VM:-$root/tests/vm.sh}" "$kdir" "$out" bench-tcg-count
log "guest run took $(($(date +%s) - start)) s"
guest_ok "$out" bench-tcg-count "the TCG count"
python3 "$tc/report.py" "$out" "$results" "$(basename "$kdir")" "$arch"
if [ "$arch" = x86 ]; then cat "$results/tcg-count.md"; else cat "$results/tcg-count-$arch.md"; fi
