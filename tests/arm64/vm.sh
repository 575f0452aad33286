#!/usr/bin/env bash
# tests/vm.sh for the arm64 kernel: boots it under qemu-system-aarch64 (machine virt,
# TCG) with the Debian arm64 root of scripts/arm64-root.sh as its root (read-only
# over 9p; tests/arm64/vm-init.sh makes it writable with an overlay), and runs
# tests/guest.sh in it on the same repository path, with the same output files.
# Same interface as tests/vm.sh, so scripts/test.sh runs it (RZS_VM=...) with the
# same TAP accounting and kernel-log scan as on x86. Every step is bounded by a
# timeout: a hung guest is killed.
#
#   tests/arm64/vm.sh KDIR OUT suites [SUITE...]
#   tests/arm64/vm.sh KDIR OUT bench-tcg-count   (make bench-tcg-count, BENCH_ARCH=arm64)
#
# Environment: RZS_ARM64_ROOT_DIR (the root; required), RZS_ARM64_BIN (a directory
# with the arm64 rzsctl and rzs-memtest; required), RZS_VM_MEM (default 1G),
# RZS_VM_CPUS (2), RZS_VM_TIMEOUT (seconds, default 3600), RZS_VM_QEMU_OPTS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/scripts/lib.sh"
kdir=$1 out=$2 mode=$3
shift 3
case $mode in suites | bench-tcg-count) ;; *) die "tests/arm64/vm.sh runs suites or bench-tcg-count (not $mode)" ;; esac
img=$kdir/arch/arm64/boot/Image
[ -f "$img" ] || die "no arm64 kernel image in $kdir"
r=${RZS_ARM64_ROOT_DIR:?the arm64 root (scripts/arm64-root.sh)}
bin=${RZS_ARM64_BIN:?a directory with the arm64 rzsctl and rzs-memtest}
[ -x "$r/bin/bash" ] || die "no arm64 root in $r"
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/*.tap "$out"/*.rc "$out"/*.err "$out/guest-done" "$out/dmesg.txt" "$out/kmemleak.txt"
# The guest sees the repository read-only: what it needs from the host goes into
# OUT (writable): the tools, the kernel's module lists, what to run.
rm -rf "$out/bin" "$out/modules"
mkdir -p "$out/bin" "$out/modules" "$root/target/release"
cp "$bin/rzsctl" "$bin/rzs-memtest" "$out/bin/"
cp "$kdir"/modules.builtin "$kdir"/modules.builtin.modinfo "$kdir"/modules.order "$out/modules/" 2>/dev/null || true

env_vars="RZS_INJECT=${RZS_INJECT:-} RZS_SUITE_TIMEOUT=${RZS_SUITE_TIMEOUT:-900} RZS_KO=${RZS_KO:-$root/rzs.ko}"
env_vars+=$(env | grep -E '^(BENCH_[A-Z_]+|RZS_STRESS_[A-Z_]+|RZS_REGRESS_SECS|RZS_IOCTL_FUZZ_N)=[A-Za-z0-9.]+$' | sed 's/^/ /' | tr -d '\n' || true)
cat >"$out/guest.env" <<EOF
RZS_HOST_ROOT='$root'
RZS_HOST_OUT='$out'
RZS_MODE='$mode'
RZS_SUITES='$*'
RZS_GUEST_ENV='$env_vars'
EOF

fs() { # fs TAG PATH ro|rw: a virtio-9p share
	local ro=
	[ "$3" = ro ] && ro=,readonly=on
	echo "-fsdev local,id=$1,path=$2,security_model=none,multidevs=remap$ro -device virtio-9p-pci,fsdev=$1,mount_tag=$1"
}
# -cpu max with the cheap (implementation-defined) pointer-authentication algorithm:
# QEMU's architected one makes TCG several times slower.
# shellcheck disable=SC2046,SC2086
set +e
timeout -k 15 "${RZS_VM_TIMEOUT:-3600}" qemu-system-aarch64 -M virt -cpu max,pauth-impdef=on \
	-smp "${RZS_VM_CPUS:-2}" -m "${RZS_VM_MEM:-1G}" -nographic -no-reboot -net none \
	$(fs rzs.root "$r" ro) $(fs rzs.repo "$root" ro) $(fs rzs.out "$out" rw) \
	-device virtio-rng-pci ${RZS_VM_QEMU_OPTS:-} \
	-kernel "$img" \
	-append "console=ttyAMA0 root=rzs.root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=512000 ro panic=-1 oops=panic init=/bin/sh -- -c \"mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro rzs.repo /mnt && exec /bin/bash /mnt/tests/arm64/vm-init.sh\"" \
	</dev/null >"$out/console.log" 2>&1
rc=$?
set -e
[ $rc = 124 ] && log "the arm64 guest timed out after ${RZS_VM_TIMEOUT:-3600} s and was killed"
exit 0
