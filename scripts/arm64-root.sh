#!/usr/bin/env bash
# The arm64 guest's userspace for `make stress` part 5 (scripts/arm64.sh): a Debian 12
# arm64 root filesystem with what the guest suites of tests/suites/ run (bash,
# python3, fio, util-linux, e2fsprogs, kmod, procps, systemd-analyze, ...), and the
# arm64 Rust standard library of the host's rustc-web, so rzsctl and rzs-memtest can
# be cross-built against the root's own glibc.
#
#   scripts/arm64-root.sh            build if needed; print the root's directory
#
# The root is made by debootstrap --arch=arm64 on this x86 host: its maintainer
# scripts run under qemu-user-static through binfmt_misc (registered here if it is
# not). It is cached in $RZS_CACHE/arm64/root-<key>, the key hashing the package list
# (ARM64_ROOT_PKGS in scripts/versions.env), the suite and the script's format
# number; a change to one of them builds a new root. Never in the repository. Its dpkg manifest is in
# <root>.manifest. The std library, exactly the host rustc-web's version (the .deb of
# libstd-rust-web-dev for arm64, fetched by the root's own apt, checksums checked by
# apt), is unpacked to <root>.rust/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib: a
# sysroot for `rustc --sysroot <root>.rust/usr`.
# Takes about 4 min the first time here (debootstrap under emulation), nothing after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
# shellcheck source=scripts/versions.env
. "$here/versions.env"
[ "$(id -u)" = 0 ] || die "building the arm64 root needs root (debootstrap, chroot)"

# Bump when what this script puts into the root changes (then the root is rebuilt).
format=1
key=$({
	echo "$format $ARM64_ROOT_SUITE $ARM64_ROOT_MIRROR"
	echo "$ARM64_ROOT_PKGS"
} | sha256sum | cut -c1-16)
root=$RZS_CACHE/arm64/root-$key
rustver=$(dpkg-query -W -f='${Version}' rustc-web 2>/dev/null) || die "rustc-web is not installed (run scripts/deps.sh)"
std=$root.rust
stdlib=$std/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib

if [ -f "$root/.rzs-built" ] && [ "$(cat "$std/.rzs-version" 2>/dev/null)" = "$rustver" ]; then
	echo "$root"
	exit 0
fi
mkdir -p "$RZS_CACHE/arm64"
exec 9>"$RZS_CACHE/arm64/root.lock"
flock -w 3600 9 || die "another arm64 root build holds $RZS_CACHE/arm64/root.lock"

# The host tools: debootstrap, and qemu-user-static to run arm64 binaries.
missing=()
for p in $APT_ARM64_ROOT; do
	dpkg-query -W -f='${Status}' "${p%%=*}" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >"$RZS_CACHE/apt-arm64-root.log" 2>&1 ||
		apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]%%=*}" >>"$RZS_CACHE/apt-arm64-root.log" 2>&1 ||
		die "apt-get install failed for ${missing[*]} (log: $RZS_CACHE/apt-arm64-root.log)"
fi
# binfmt_misc: the kernel hands arm64 ELF files to qemu-aarch64-static. The F flag
# (Debian's registration has it) opens the interpreter now, so it works in a chroot.
bf=/proc/sys/fs/binfmt_misc
if [ ! -e $bf/register ]; then
	mount -t binfmt_misc binfmt_misc $bf || die "cannot mount binfmt_misc: an arm64 root cannot be built on this host"
fi
if [ ! -e $bf/qemu-aarch64 ]; then
	log "registering qemu-aarch64-static with binfmt_misc"
	cat /usr/lib/binfmt.d/qemu-aarch64.conf >$bf/register || die "binfmt_misc registration of qemu-aarch64 failed"
fi
[ "$(cat $bf/qemu-aarch64 | head -n1)" = enabled ] || die "binfmt_misc: qemu-aarch64 is registered but disabled"

if [ ! -f "$root/.rzs-built" ]; then
	for old in "$RZS_CACHE"/arm64/root-*; do
		[ -e "$old" ] && [ "${old%.*}" != "$root" ] && rm -rf "$old"
	done
	tmp=$root.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	log "debootstrap --arch=arm64 $ARM64_ROOT_SUITE into $root (under qemu-user: about 4 min)"
	# shellcheck disable=SC2086
	if ! timeout -k 10 3600 debootstrap --arch=arm64 --variant=minbase \
		--include="$(echo $ARM64_ROOT_PKGS | tr ' ' ,)" \
		"$ARM64_ROOT_SUITE" "$tmp" "$ARM64_ROOT_MIRROR" >"$root.log" 2>&1; then
		tail -n 20 "$root.log" >&2
		umount "$tmp/proc" "$tmp/sys" 2>/dev/null || true
		die "debootstrap failed (log: $root.log)"
	fi
	# The security and updates suites too: apt finds the std library there.
	cat >"$tmp/etc/apt/sources.list" <<EOF
deb $ARM64_ROOT_MIRROR $ARM64_ROOT_SUITE main
deb $ARM64_ROOT_MIRROR $ARM64_ROOT_SUITE-updates main
deb $ARM64_ROOT_MIRROR-security $ARM64_ROOT_SUITE-security main
EOF
	echo rzs-arm64 >"$tmp/etc/hostname"
	chroot "$tmp" dpkg-query -W >"$root.manifest"
	chroot "$tmp" apt-get clean
	touch "$tmp/.rzs-built"
	mv "$tmp" "$root"
fi

if [ "$(cat "$std/.rzs-version" 2>/dev/null)" != "$rustver" ]; then
	log "fetching libstd-rust-web-dev:arm64 $rustver (the host rustc's std, for cross-building)"
	rm -rf "$std" "$root/tmp/debs"
	mkdir -p "$root/tmp/debs/lists/partial"
	# The root's apt, its lists kept out of the cached root.
	if ! { timeout -k 10 900 chroot "$root" apt-get -qq -o Dir::State::Lists=/tmp/debs/lists update &&
		(cd "$root/tmp/debs" && timeout -k 10 900 chroot "$root" sh -c \
			"cd /tmp/debs && apt-get -qq -o Dir::State::Lists=/tmp/debs/lists download libstd-rust-web-dev=$rustver"); } >"$std.log" 2>&1; then
		tail -n 20 "$std.log" >&2
		rm -rf "$root/tmp/debs"
		die "could not fetch libstd-rust-web-dev:arm64 $rustver (log: $std.log)"
	fi
	mkdir -p "$std"
	dpkg-deb -x "$root"/tmp/debs/libstd-rust-web-dev_*_arm64.deb "$std"
	rm -rf "$root/tmp/debs"
	ls "$stdlib"/libstd-*.rlib >/dev/null 2>&1 || die "no libstd rlib in the arm64 std package ($stdlib)"
	echo "$rustver" >"$std/.rzs-version"
fi
echo "$root"
