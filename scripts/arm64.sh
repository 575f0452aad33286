#!/usr/bin/env bash
# `make stress`, arm64 part: rzs on another architecture, every guest suite.
#   1. the arm64 test kernel (scripts/kernel.sh arm64: cross-built with the same
#      LLVM toolchain, ARCH=arm64) and rzs.ko built against it, without warnings;
#   2. rzs.ko's stack frames (scripts/stack-check.py, arm64 instructions), and its
#      codec's word-sized unaligned accesses (scripts/codec-align-check.py);
#   3. the arm64 userspace: a Debian 12 arm64 root (scripts/arm64-root.sh, cached)
#      and rzsctl and rzs-memtest cross-built for aarch64 against it;
#   4. every guest suite of tests/suites/ (the same files as on x86) in a guest of
#      qemu-system-aarch64 (machine virt, TCG) booted on that root, run by
#      scripts/test.sh with tests/arm64/vm.sh as its runner: the same TAP
#      accounting and kernel-log scan (BUG, Oops, WARNING, KASAN, lockdep, ...) as
#      the x86 runs, one "N passed, N failed, N skipped" line.
#   scripts/arm64.sh [SUITE...]     (default: every suite; RZS_OUT: where logs go,
#                                    default tests/out/arm64; RZS_ARM64_BUILD_ONLY=1:
#                                    steps 1-3 only, for make bench-tcg-count)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
# shellcheck source=scripts/versions.env
. "$root/scripts/versions.env"
out=$(realpath -m "${RZS_OUT:-$root/tests/out/arm64}")
# The arm64 guest sees the repository and the suites' output directory only: rzs.ko
# (built in $out/build) must be inside the repository.
case $out/ in "$root"/*) ;; *) die "RZS_OUT must be inside $root: the arm64 guest loads rzs.ko from $out/build" ;; esac
rm -rf "$out" && mkdir -p "$out"

# qemu-system-aarch64 (pinned, like deps.sh's packages).
if ! command -v qemu-system-aarch64 >/dev/null; then
	[ "$(id -u)" = 0 ] && SUDO="" || SUDO=sudo
	log "installing $APT_ARM64"
	$SUDO apt-get install -y -qq --no-install-recommends $APT_ARM64 >"$RZS_CACHE/apt-arm64.log" 2>&1 ||
		$SUDO apt-get install -y -qq --no-install-recommends "${APT_ARM64%%=*}" >>"$RZS_CACHE/apt-arm64.log" 2>&1 ||
		die "apt-get install qemu-system-arm failed (log: $RZS_CACHE/apt-arm64.log)"
fi
k=$("$root/scripts/kernel.sh" arm64) || die "the arm64 kernel did not build"
b=$out/build
mkdir -p "$b"
copy_module_tree "$b"
# shellcheck disable=SC2086
make -s -C "$k" M="$b" ARCH=arm64 $KMAKE_VARS modules >"$out/build.log" 2>&1 ||
	{ tail -n 30 "$out/build.log"; echo "not ok - rzs.ko builds for arm64"; exit 1; }
grep -q 'warning:' "$out/build.log" && { grep -A5 'warning:' "$out/build.log" | head -30; echo "not ok - rzs.ko builds for arm64 without warnings"; exit 1; }
echo "ok - rzs.ko builds for arm64 without warnings"
python3 "$root/scripts/stack-check.py" "$b/rzs.ko" 2048 llvm-objdump-19 || exit 1
# The codec crates are built for unaligned word accesses (Kbuild: -strict-align on
# arm64): its hot functions are not byte loads and stores.
python3 "$root/scripts/codec-align-check.py" "$b/rzs.ko" llvm-objdump-19 || exit 1

# The arm64 userspace: the Debian root, and the project's tools built for it.
ar=$("$root/scripts/arm64-root.sh") || { echo "not ok - the arm64 Debian root (scripts/arm64-root.sh)"; exit 1; }
log "cross-building rzsctl and rzs-memtest for aarch64"
# Debian's rustc (the one rzs.ko is built with; a rustup toolchain on PATH has no
# arm64 std here), with the arm64 std arm64-root.sh unpacked for its exact version;
# clang links against the root's glibc and libgcc.
if ! RUSTC=/usr/bin/rustc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=clang-19 \
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="--sysroot=$ar.rust/usr -C link-arg=--target=aarch64-linux-gnu -C link-arg=--sysroot=$ar -C link-arg=-fuse-ld=lld" \
	timeout -k 10 1800 cargo build --release --locked -q --target aarch64-unknown-linux-gnu \
	--manifest-path "$root/Cargo.toml" -p rzsctl -p rzs-memtest >"$out/cargo.log" 2>&1; then
	tail -n 30 "$out/cargo.log"
	echo "not ok - rzsctl and rzs-memtest build for aarch64"
	exit 1
fi
bin=$root/target/aarch64-unknown-linux-gnu/release
echo "ok - rzsctl and rzs-memtest build for aarch64"
[ -z "${RZS_ARM64_BUILD_ONLY:-}" ] || exit 0

# Every suite (or the ones given) in the arm64 guest, counted as scripts/test.sh
# counts them on x86. TCG emulating another architecture is slower than the x86
# guests: longer per-suite and whole-run timeouts.
[ $# -gt 0 ] || set -- "$root"/tests/suites/*.sh
log "booting the arm64 kernel under qemu-system-aarch64 (TCG) for $# suites"
start=$(date +%s)
RZS_GUEST_ONLY=1 RZS_OUT="$out/suites" RZS_KO="$b/rzs.ko" RZS_VM="$root/tests/arm64/vm.sh" \
	RZS_ARM64_ROOT_DIR="$ar" RZS_ARM64_BIN="$bin" \
	RZS_SUITE_TIMEOUT=${RZS_SUITE_TIMEOUT:-2400} RZS_VM_TIMEOUT=${RZS_ARM64_TIMEOUT:-7200} \
	"$root/scripts/test.sh" "$k" "$@"
rc=$?
echo "# arm64 suites took $(($(date +%s) - start)) s; console: $out/suites/console.log"
exit $rc
