#!/usr/bin/env bash
# `make stress`, arm64 part: rzs on another architecture.
#   1. the arm64 test kernel (scripts/kernel.sh arm64: cross-built with the same
#      LLVM toolchain, ARCH=arm64) and rzs.ko built against it;
#   2. rzs.ko's stack frames (scripts/stack-check.py, arm64 instructions);
#   3. a boot under qemu-system-aarch64 (machine virt, TCG) with an initramfs of
#      Debian's arm64 busybox, rzs.ko and tests/arm64/init.sh: load, I/O read-back,
#      discard, swap under memory pressure, rmmod, kernel log scan. TAP.
# The x86 guest suites need the host's userspace (python3, fio, rzsctl), which an
# arm64 guest cannot run; this is what runs there instead.
#   scripts/arm64.sh            (RZS_OUT: where logs go, default tests/out/arm64)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
# shellcheck source=scripts/versions.env
. "$root/scripts/versions.env"
out=${RZS_OUT:-$root/tests/out/arm64}
rm -rf "$out" && mkdir -p "$out"

# qemu-system-aarch64 (pinned, like deps.sh's packages).
if ! command -v qemu-system-aarch64 >/dev/null; then
	[ "$(id -u)" = 0 ] && SUDO="" || SUDO=sudo
	log "installing $APT_ARM64"
	$SUDO apt-get install -y -qq --no-install-recommends $APT_ARM64 >"$RZS_CACHE/apt-arm64.log" 2>&1 ||
		$SUDO apt-get install -y -qq --no-install-recommends "${APT_ARM64%%=*}" >>"$RZS_CACHE/apt-arm64.log" 2>&1 ||
		die "apt-get install qemu-system-arm failed (log: $RZS_CACHE/apt-arm64.log)"
fi
# Debian's arm64 busybox-static, checksum pinned.
bb=$RZS_CACHE/arm64/busybox
if [ ! -x "$bb" ]; then
	mkdir -p "$RZS_CACHE/arm64"
	deb=$RZS_CACHE/arm64/busybox.deb
	curl -fsSL -o "$deb" "$BUSYBOX_ARM64_URL" || die "download failed: $BUSYBOX_ARM64_URL"
	echo "$BUSYBOX_ARM64_SHA256  $deb" | sha256sum -c --quiet || die "checksum mismatch: $deb"
	rm -rf "$RZS_CACHE/arm64/x" && dpkg-deb -x "$deb" "$RZS_CACHE/arm64/x"
	cp "$RZS_CACHE/arm64/x/bin/busybox" "$bb"
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

ir=$out/initramfs
mkdir -p "$ir/bin" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/tmp"
cp "$bb" "$ir/bin/busybox"
ln -sf busybox "$ir/bin/sh"
cp "$root/tests/arm64/init.sh" "$ir/init"
cp "$b/rzs.ko" "$ir/rzs.ko"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initramfs.cpio.gz"

log "booting the arm64 kernel under qemu-system-aarch64 (TCG)"
start=$(date +%s)
timeout -k 10 "${RZS_ARM64_TIMEOUT:-1500}" qemu-system-aarch64 -M virt -cpu max -smp 2 -m 192 \
	-nographic -no-reboot -kernel "$k/arch/arm64/boot/Image" -initrd "$out/initramfs.cpio.gz" \
	-append "console=ttyAMA0 rdinit=/init panic=-1 loglevel=4" >"$out/console.log" 2>&1
echo "# arm64 guest took $(($(date +%s) - start)) s; console: $out/console.log"
tr -d '\r' <"$out/console.log" | grep -E '^(ok|not ok|#|TAP|1\.\.)' | sed 's/^/  /'
end=$(tr -d '\r' <"$out/console.log" | sed -n 's/^RZS-ARM64-END \([0-9]*\).*/\1/p')
if [ "$end" = 0 ] && ! tr -d '\r' <"$out/console.log" | grep -q '^not ok'; then
	echo "ok - rzs on arm64 (qemu-system-aarch64): every guest check passed"
else
	echo "not ok - rzs on arm64: ${end:-the guest did not finish} failed"
	exit 1
fi
