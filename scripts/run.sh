#!/usr/bin/env bash
# `make run`: boot the test kernel and run the demo (tests/demo.sh) in it.
#   scripts/run.sh KDIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
kdir=$1
out=${RZS_OUT:-$root/tests/out}/run
(cd "$root" && cargo build --release --locked -q --workspace --bins) || die "cargo build of the userspace tools failed"
log "booting $(basename "$kdir") in QEMU (TCG) for the demo; guest RAM ${RZS_VM_MEM:=384M}"
export RZS_VM_MEM
"$root/tests/vm.sh" "$kdir" "$out" demo
cat "$out/demo.log" 2>/dev/null || true
guest_ok "$out" demo "the demo"
log "demo passed"
