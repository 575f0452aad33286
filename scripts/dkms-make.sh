#!/usr/bin/env bash
# What DKMS runs (dkms.conf's MAKE and CLEAN) in its copy of /usr/src/rzs-VERSION:
# `make -C KDIR M=<that copy> TARGET` with the compilers KDIR was built with
# (kdir-toolchain.sh, beside this script). The copy holds lz4_flex's patched source
# (vendor/, recorded in rzs-crates.mk), so the build needs neither cargo nor network.
# DKMS 3.0 appends CC=clang LD=ld.lld to the command when the kernel was built with
# clang; those name unversioned compilers a system may not have (Debian's clang-19
# installs clang-19 only), so arguments after TARGET are ignored.
#   scripts/dkms-make.sh KDIR [modules|clean]
set -euo pipefail
kdir=${1:?usage: dkms-make.sh KDIR [modules|clean]}
target=${2:-modules}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
die() { printf 'rzs: error: %s\n' "$*" >&2; exit 1; }
if [ "$target" = modules ]; then
	grep -qx 'CONFIG_RUST=y' "$kdir/include/config/auto.conf" 2>/dev/null ||
		die "the kernel in $kdir has no Rust support (CONFIG_RUST is not set): rzs.ko cannot be built for it"
	[ -f "$kdir/rust/libkernel.rmeta" ] ||
		die "$kdir has no rust/libkernel.rmeta: its headers lack the Rust metadata an out-of-tree Rust module needs (on Ubuntu: linux-lib-rust-<release>)"
	lz4=$(sed -n 's/^LZ4_FLEX_SRC := //p' "$top/rzs-crates.mk" 2>/dev/null)
	[ -f "${lz4//\$(src)/$top}/src/lib.rs" ] ||
		die "lz4_flex's source is missing from $top (vendor/lz4_flex): this tree was not written by 'make dkms-install'"
fi
read -r -a toolchain <<<"$(bash "$here/kdir-toolchain.sh" "$kdir")"
# Run from `make dkms-install`, the environment holds that make's flags (-s, its
# jobserver, its command-line variables): none of them are for this build.
unset MAKEFLAGS MFLAGS MAKELEVEL
exec make -C "$kdir" M="$top" -j"$(nproc)" "${toolchain[@]}" "$target"
