#!/usr/bin/env bash
# Boots the test kernel under QEMU (virtme-ng; host root shared read-only) and runs
# tests/guest.sh in it. Every step is bounded by a timeout: a hung guest is killed.
#
#   tests/vm.sh KDIR OUT MODE [SUITE...]
#
# Environment: RZS_VM_MEM (default 1G), RZS_VM_CPUS (2), RZS_VM_TIMEOUT (seconds,
# default 3000), RZS_VM_QEMU_OPTS (extra QEMU arguments), RZS_VM_DISK (a file
# attached as a virtio-blk disk), RZS_KVM=1 to use KVM where it works (it does not on this machine
# kind: guests hang at "Decompressing Linux"; TCG is the default).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
kdir=$1 out=$2 mode=$3
shift 3
[ -f "$kdir/arch/x86/boot/bzImage" ] || die "no kernel image in $kdir (run 'make kernel')"
vng=$RZS_VENV/bin/vng
export PATH="$RZS_VENV/bin:$PATH"
[ -x "$vng" ] || die "virtme-ng not installed (run scripts/deps.sh)"
mkdir -p "$out"
rm -f "$out"/*.tap "$out"/*.rc "$out"/*.err "$out/guest-done" "$out/dmesg.txt" "$out/kmemleak.txt"

kvm=(--disable-kvm)
[ "${RZS_KVM:-0}" = 1 ] && kvm=()
# RZS_VM_QEMU_OPTS: extra QEMU arguments (make bench uses it for the guest CPU model).
[ -n "${RZS_VM_QEMU_OPTS:-}" ] && kvm+=(--qemu-opts="$RZS_VM_QEMU_OPTS")
# RZS_VM_DISK: a file the guest gets as a virtio-blk disk, /dev/vda (make bench-tier).
[ -n "${RZS_VM_DISK:-}" ] && kvm+=(--disk "$RZS_VM_DISK")
# RZS_KDIR: the booted kernel's tree (95-install builds rzs.ko against it, with DKMS).
env_vars="RZS_INJECT=${RZS_INJECT:-} RZS_SUITE_TIMEOUT=${RZS_SUITE_TIMEOUT:-1200} RZS_KO=${RZS_KO:-$root/rzs.ko} RZS_KDIR=$kdir"
# make bench's settings (bench/guest.sh) and make stress's (RZS_STRESS_*, ...), if given.
env_vars+=$(env | grep -E '^(BENCH_[A-Z_]+|RZS_STRESS_[A-Z_]+|RZS_REGRESS_SECS|RZS_IOCTL_FUZZ_N)=[A-Za-z0-9.,-]+$' | sed 's/^/ /' | tr -d '\n' || true)
# The bounds (were 1800 s for the run, 900 s per suite): with 95-install, make test's
# guest run took 1705 s beside other guests, 735 s of it that suite's.
set +e
timeout -k 15 "${RZS_VM_TIMEOUT:-3000}" "$vng" --run "$kdir" "${kvm[@]}" \
	--cpus "${RZS_VM_CPUS:-2}" --memory "${RZS_VM_MEM:-1G}" \
	--rwdir "$out" --verbose \
	--append "panic=-1 oops=panic" \
	--exec "env $env_vars bash $root/tests/guest.sh $out $mode $*" \
	</dev/null >"$out/console.log" 2>&1
rc=$?
set -e
[ $rc = 124 ] && log "the guest timed out after ${RZS_VM_TIMEOUT:-3000} s and was killed"
exit 0
