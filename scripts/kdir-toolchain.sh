#!/usr/bin/env bash
# Print the make variables that select the toolchain a kernel tree was built with, so
# `make module KDIR=...` builds rzs.ko with that tree's compilers and not with the ones
# the project's own test kernel uses. Read from the tree's include/config/auto.conf:
#   CONFIG_X86_64, CONFIG_ARM64 -> ARCH, when the tree is not for this machine
#   CONFIG_CC_VERSION_TEXT     -> LLVM=1 / LLVM=-N (clang kernels) or CC=gcc-N
#   CONFIG_RUSTC_VERSION_TEXT  -> RUSTC, HOSTRUSTC (the `macros` proc-macro is a host
#                                 crate and must come from the same rustc) and RUSTDOC
# Candidates are the plain names on PATH, their -N suffixed versions and /usr/bin.
# A compiler the tree names but that is not installed gets a warning on stderr and no
# variable, so the kernel's own Makefile reports the mismatch.
#   scripts/kdir-toolchain.sh KDIR
set -euo pipefail
kdir=${1:?usage: kdir-toolchain.sh KDIR}
conf=$kdir/include/config/auto.conf
[ -f "$conf" ] || { echo "rzs: warning: $conf missing (tree not configured?); using the default toolchain" >&2; exit 0; }
get() { sed -nE "s/^$1=\"?([^\"]*)\"?\$/\1/p" "$conf" | head -n1; }
warn() { echo "rzs: warning: $*" >&2; }

# first_match TEXT CANDIDATE...: the first candidate whose `--version` first line is TEXT.
first_match() {
	local text=$1 c
	shift
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || continue
		[ "$("$c" --version 2>/dev/null | head -n1)" = "$text" ] && { echo "$c"; return 0; }
	done
	return 1
}
versions() { # NAME: NAME, then NAME-N (or NAME-N.M, as Ubuntu's rustc-1.80) for every installed N, newest first
	echo "$1"
	compgen -c "$1-" | grep -E "^$1-[0-9]+(\.[0-9]+)*\$" | sort -rV | uniq
}

vars=()
# A tree for another architecture (e.g. the arm64 test kernel) needs ARCH.
case $(uname -m) in x86_64) host=X86_64 ;; aarch64) host=ARM64 ;; *) host=$(uname -m) ;; esac
for a in X86_64:x86 ARM64:arm64 RISCV:riscv LOONGARCH:loongarch; do
	[ "$(get "CONFIG_${a%%:*}")" = y ] && [ "${a%%:*}" != "$host" ] && vars+=("ARCH=${a#*:}")
done
cc_text=$(get CONFIG_CC_VERSION_TEXT)
if [ "$(get CONFIG_CC_IS_CLANG)" = y ]; then
	# shellcheck disable=SC2046
	if c=$(first_match "$cc_text" $(versions clang)); then
		case $c in clang) vars+=(LLVM=1) ;; *) vars+=("LLVM=-${c##*-}") ;; esac
	else
		warn "the tree was built with '$cc_text', which is not installed; trying LLVM=1"
		vars+=(LLVM=1)
	fi
elif [ "$(get CONFIG_CC_IS_GCC)" = y ]; then
	# shellcheck disable=SC2046
	if c=$(first_match "$cc_text" $(versions gcc)); then
		[ "$c" = gcc ] || vars+=("CC=$c")
	else
		warn "the tree was built with '$cc_text', which is not installed"
	fi
fi

if [ "$(get CONFIG_RUST)" = y ]; then
	rs_text=$(get CONFIG_RUSTC_VERSION_TEXT)
	# shellcheck disable=SC2046
	if r=$(first_match "$rs_text" rustc /usr/bin/rustc $(versions rustc | tail -n +2) "$HOME/.cargo/bin/rustc"); then
		r=$(command -v "$r")
		vars+=("RUSTC=$r" "HOSTRUSTC=$r")
		d=$(dirname "$r")/rustdoc
		[ -x "$d" ] && vars+=("RUSTDOC=$d")
	else
		warn "the tree was built with '$rs_text', which is not installed"
	fi
fi
echo "${vars[*]}"
