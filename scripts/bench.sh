#!/usr/bin/env bash
# `make bench`: rzs against zram (lz4) in one guest, plus the native codec benchmark.
#   scripts/bench.sh KDIR
# Builds the page corpus from this machine's files, runs rzs-codec-bench natively,
# boots the test kernel once for bench/guest.sh, then bench/report.py writes
# bench/results/{latest.json,summary.md,chart.png}.
# Environment: BENCH_REPS, BENCH_FIO_MB, BENCH_FIO_SECS, BENCH_SWAP_MB,
# BENCH_SWAP_LIMIT_MB (bench/guest.sh),
# BENCH_VM_MEM (guest RAM, default 512M), BENCH_CPU (QEMU CPU model, default
# max,-erms,-fsrm; see below), RZS_OUT.
#
# BENCH_ICOUNT=1 (`make bench-icount`): the same guest run with QEMU's -icount shift=0,
# where the guest's clock advances 1 ns per guest instruction executed: every "time"
# and "throughput" becomes a count of instructions, the same from run to run and
# independent of where code lands in memory. Wall-clock TCG speed is not (the module's
# code layout alone moved write throughput by about 30%: README, benchmarks), so this
# is the instrument that can size a change to the per-page path. It does not see what
# an instruction costs (cache misses, the length of a `rep` string operation), so it
# complements make bench rather than replacing it. Results go to bench/results/icount/;
# no codec benchmark; defaults BENCH_REPS=2 (the counts repeat), BENCH_FIO_SECS=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
. "$root/scripts/versions.env"
kdir=$1
out=${RZS_OUT:-$root/tests/out}/bench
results=$root/bench/results
icount=${BENCH_ICOUNT:-0}
if [ "$icount" = 1 ]; then
	out=$out-icount results=$results/icount
	export BENCH_REPS=${BENCH_REPS:-2} BENCH_FIO_SECS=${BENCH_FIO_SECS:-1}
fi
export BENCH_FIO_MB=${BENCH_FIO_MB:-64}
mkdir -p "$out" "$results"
(cd "$root" && cargo build --release --locked -q --workspace --bins) || die "cargo build of the benchmark tools failed"
py=$RZS_VENV/bin/python3
if ! "$py" -c 'import matplotlib' 2>/dev/null; then
	log "installing matplotlib $MATPLOTLIB_VERSION into $RZS_VENV (for the chart)"
	"$RZS_VENV/bin/pip" install -q "matplotlib==$MATPLOTLIB_VERSION" >"$RZS_CACHE/pip-bench.log" 2>&1 ||
		die "pip install matplotlib==$MATPLOTLIB_VERSION failed (log: $RZS_CACHE/pip-bench.log)"
fi

log "page corpus from this machine's files: $BENCH_FIO_MB MiB for block I/O, 16 MiB for swap"
"$root/target/release/rzs-corpus" --out "$out/corpus.bin" --mib "$BENCH_FIO_MB" --seed 1
"$root/target/release/rzs-corpus" --out "$out/swap-corpus.bin" --mib 16 --seed 2 >/dev/null
# Heap-like anonymous memory for the heap swap case (rzs_bench::heap_page, what swap
# carries most): the heap class of rzs-codec-pages, 16 MiB.
rm -rf "$out/heap" && mkdir -p "$out/heap"
"$root/target/release/rzs-codec-pages" --dir "$out/heap" --pages 4096 --seed 3 >/dev/null
mv "$out/heap/heap.pages" "$out/swap-heap.bin" && rm -rf "$out/heap"
rm -f "$out/codec.json" "$out/codec-stock.json"
if [ "$icount" != 1 ]; then
	log "codec in userspace (not as the kernel runs it): lz4_flex vs liblz4 on the corpus"
	ws=$("$root/scripts/patched-ws.sh")
	(cd "$ws" && cargo build --release -q -p rzs-bench) || die "cargo build of the codec benchmark (patched lz4_flex) failed"
	"$root/target/release/rzs-codec-bench" --corpus "$out/corpus.bin" >"$out/codec-stock.json"
	"$ws/target/release/rzs-codec-bench" --corpus "$out/corpus.bin" >"$out/codec.json"

	log "codec: lz4_flex as rzs.ko builds it vs the kernel's C lz4, natively with the kernel's objects (make bench-codec)"
	"$root/scripts/bench-codec.sh" "$kdir"
fi

export RZS_VM_MEM=${BENCH_VM_MEM:-512M}
# The guest CPU model. TCG emulates `rep movsb` a byte at a time, which real CPUs with
# ERMS/FSRM do not; with it the kernel's memcpy costs several times what it does on
# hardware, relative to inlined word copies. That skews the comparison: rzs's codec
# hands literals to memcpy where the kernel's C LZ4 copies them 8 bytes at a time
# inline (a zero-page read, which copies nothing, costs the same on both devices).
# Without ERMS/FSRM the kernel's memcpy moves 8-byte words, as cheap under TCG as on
# hardware. BENCH_CPU=max measures with them.
export RZS_VM_QEMU_OPTS="-cpu ${BENCH_CPU:-max,-erms,-fsrm}"
# sleep=on: while the guest idles (it waits for the host's 9p file server), its clock
# follows real time; with sleep=off it would jump to the next timer at once, and the
# guest's own timeouts would expire during a slow host read. fio and the one-process
# swap workloads keep a vCPU busy and count instructions; the corpus fill (dd reads
# its input from the host) and the two-process swap case also contain idle time.
[ "$icount" = 1 ] && RZS_VM_QEMU_OPTS+=" -icount shift=0,sleep=on"
log "booting $(basename "$kdir") in QEMU (TCG, $RZS_VM_MEM) for rzs vs zram; this takes a while"
start=$(date +%s)
RZS_VM_TIMEOUT=${RZS_VM_TIMEOUT:-5400} RZS_SUITE_TIMEOUT=${RZS_SUITE_TIMEOUT:-5000} \
	"$root/tests/vm.sh" "$kdir" "$out" bench
log "guest run took $(($(date +%s) - start)) s"
guest_ok "$out" bench "the guest benchmark"
BENCH_ICOUNT=$icount "$py" "$root/bench/report.py" "$out" "$results"
cat "$results/summary.md"
