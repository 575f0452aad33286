#!/usr/bin/env bash
# `make bench-tier`: tiering under swap, rzs with automatic writeback against zram
# with writeback driven by a script and zram without a backing device
# (bench/tier.sh, in one guest with a virtio disk that is a sparse file here), then
# bench/tier-report.py writes bench/results/tier.{json,md}.
#   scripts/bench-tier.sh KDIR
# Environment: BENCH_TIER_REPS (3), BENCH_TIER_MB (working set, 384),
# BENCH_TIER_CG_MB (its memory cgroup, 128), BENCH_TIER_POOL_MB (the pool's
# budget, 48), BENCH_VM_MEM (guest RAM, 1G), RZS_OUT.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
kdir=$1
out=${RZS_OUT:-$root/tests/out}/bench-tier
results=$root/bench/results
mkdir -p "$out" "$results"
(cd "$root" && cargo build --release --locked -q --workspace --bins) || die "cargo build of the benchmark tools failed"
log "page corpus from this machine's files: 16 MiB for swap"
"$root/target/release/rzs-corpus" --out "$out/swap-corpus.bin" --mib 16 --seed 2 >/dev/null
# The guest's disk: a sparse file, new for every run.
rm -f "$out/disk.img" && truncate -s 4G "$out/disk.img"
export RZS_VM_MEM=${BENCH_VM_MEM:-1G} RZS_VM_DISK=$out/disk.img
log "booting $(basename "$kdir") in QEMU (TCG, $RZS_VM_MEM, a 4 GiB virtio disk) for the tiering bench"
start=$(date +%s)
RZS_VM_TIMEOUT=${RZS_VM_TIMEOUT:-5400} RZS_SUITE_TIMEOUT=${RZS_SUITE_TIMEOUT:-5000} \
	"$root/tests/vm.sh" "$kdir" "$out" bench-tier
log "guest run took $(($(date +%s) - start)) s"
rm -f "$out/disk.img"
guest_ok "$out" bench-tier "the tiering benchmark"
python3 "$root/bench/tier-report.py" "$out/tier" "$results"
cat "$results/tier.md"
