#!/usr/bin/env bash
# `make bench-codec` (also part of `make bench`): lz4_flex as rzs.ko builds it against
# the test kernel's own C lz4, natively on this CPU, in a few minutes.
#   scripts/bench-codec.sh KDIR
#
# Faithful to the kernel, not to userspace:
#   - lz4_flex and rzs_core are the very objects of the rzs.ko build (lz4_flex.o,
#     rzs_core.o), called through bench/kcodec/shim.rs, which is compiled with the
#     rustc command kbuild used for rzs_core.o (read from .rzs_core.o.cmd by
#     bench/kcodec/kcmd.py), and linked to the kernel's rust/core.o;
#   - the C side is KDIR's lib/lz4/lz4_{de,}compress.o, as kbuild compiled them, called
#     as zram's lz4 backend calls them (LZ4_compress_fast, acceleration 1;
#     LZ4_decompress_safe);
#   - both call KDIR's arch/x86/lib/mem{cpy,move,set}_64.o, with their alternatives
#     applied for this CPU as the kernel does at boot (bench/kcodec/harness.c);
#   - every group of kernel objects gets a symbol prefix of its own (objcopy), so
#     nothing resolves to this program's C library.
# Page classes (bench/src/bin/codec_pages.rs): binary, text, heap (synthetic
# anonymous memory), proc (real anonymous memory of the processes running now), fio
# (the compressible buffers make bench's fio cases write), and all of them together.
# Every page is round-tripped through every decoder, on every codec's stream; a
# failure fails the run.
#
# Variants: "rzs" (the objects rzs.ko links) and, when scripts/patches/crates/ patches
# lz4_flex, "stock" (the crate as published, built with the same commands).
# BENCH_CODEC_VARIANTS="name=SRCDIR ..." adds lz4_flex source trees to compare (e.g. a
# patch under development), BENCH_CODEC_FEATURES_<name>="a,b" sets a variant's cargo
# features and BENCH_CODEC_FLAGS_<name>="-C..." adds rustc flags to its lz4_flex.o
# (code that rzs_core instantiates from lz4_flex's generics is compiled with
# rzs_core's flags, not these).
# Environment: BENCH_CODEC_REPS (7), BENCH_CODEC_MIN_TIME (0.2 s per measurement),
# BENCH_CODEC_PAGES (8192 per class), RZS_OUT.
# BENCH_CODEC_CHECK=1 (make test): round trips only, on 1024 pages a class, no timing
# and no results; prints one TAP line and exits non-zero if any page fails.
# BENCH_CODEC_COUNT=1 (make bench-codec-count): no timing; instructions and data
# accesses per page of every operation, counted by callgrind (valgrind, installed
# if missing: the pinned version, or Debian's current one if the pin is gone), on
# 1024 pages a class; results in bench/results/codec-count.* (bench/kcodec/count.py).
# Counts do not depend on the machine's load; the page classes are drawn from the
# machine each run, so compare lz4_flex with C within a run, not runs.
# Output: $RZS_OUT/bench-codec/codec-kernel.json, and bench/results/codec-kernel.{json,md}.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
kdir=${1:?usage: bench-codec.sh KDIR}
out=${RZS_OUT:-$root/tests/out}/bench-codec
results=$root/bench/results
reps=${BENCH_CODEC_REPS:-7}
min_time=${BENCH_CODEC_MIN_TIME:-0.2}
pages=${BENCH_CODEC_PAGES:-8192}
check=${BENCH_CODEC_CHECK:-}
count=${BENCH_CODEC_COUNT:-}
if [ -n "$check" ]; then
	reps=0 min_time=0 pages=${BENCH_CODEC_PAGES:-1024}
	out=${RZS_OUT:-$root/tests/out}/codec-check
elif [ -n "$count" ]; then
	pages=${BENCH_CODEC_PAGES:-1024}
	out=${RZS_OUT:-$root/tests/out}/codec-count
	if ! command -v valgrind >/dev/null; then
		# shellcheck source=scripts/versions.env
		. "$root/scripts/versions.env"
		[ "$(id -u)" = 0 ] && SUDO="" || SUDO=sudo
		log "installing $APT_COUNT"
		$SUDO apt-get install -y -qq --no-install-recommends $APT_COUNT >"$RZS_CACHE/apt-count.log" 2>&1 ||
			$SUDO apt-get install -y -qq --no-install-recommends "${APT_COUNT%%=*}" >>"$RZS_CACHE/apt-count.log" 2>&1 ||
			die "apt-get install valgrind failed (log: $RZS_CACHE/apt-count.log)"
	fi
fi
kc=$root/bench/kcodec
[ "$(uname -m)" = x86_64 ] || die "bench-codec: the harness applies x86-64 alternatives; this is $(uname -m)"
for f in "$root/.rzs_core.o.cmd" "$root/.lz4_flex.o.cmd" "$root/rzs_core.o" "$root/lz4_flex.o"; do
	[ -f "$f" ] || die "bench-codec: $f missing: build rzs.ko first (make module)"
done
for f in rust/core.o rust/compiler_builtins.o lib/string.o lib/ctype.o lib/lz4/lz4_compress.o lib/lz4/lz4_decompress.o \
	arch/x86/lib/memcpy_64.o arch/x86/lib/memmove_64.o arch/x86/lib/memset_64.o; do
	[ -f "$kdir/$f" ] || die "bench-codec: $kdir/$f missing (CONFIG_LZ4_COMPRESS/DECOMPRESS=y and a built tree needed)"
done
rm -rf "$out" && mkdir -p "$out/obj" "$results"
# The rustc the kernel was built with, and its environment (RUST_MODFILE etc. are
# only read by the kernel crate's macros, which these crates do not use).
export RUSTC_BOOTSTRAP=1
# The kernel's mem* and string routines (memcmp, bcmp: lib/string.o) every group links.
mem_objs=("$kdir"/arch/x86/lib/{memcpy,memmove,memset}_64.o "$kdir/lib/string.o" "$kdir/lib/ctype.o")
# The kernel crate's panic handler, as core.o names it (v0 mangling).
unwind=$(nm -u "$kdir/rust/core.o" | awk '/rust_begin_unwind/ {print $2; exit}')
[ -n "$unwind" ] || die "bench-codec: no rust_begin_unwind reference in $kdir/rust/core.o"

# prefix P OBJ...: copy OBJs into $out/obj with every symbol prefixed by P and
# .altinstructions renamed so the harness finds it (__start_/__stop_kb_altinstr).
prefixed=()
prefix() {
	local p=$1 o dst
	shift
	for o in "$@"; do
		dst=$out/obj/$p$(basename "$o")
		objcopy --prefix-symbols="$p" --rename-section .altinstructions=kb_altinstr "$o" "$dst"
		prefixed+=("$dst")
	done
}

# kbuild_rustc CMDFILE ARGS...: run kbuild's command from CMDFILE, changed by kcmd.py
# ARGS, where kbuild runs it (its paths are relative to the kernel tree).
kbuild_rustc() {
	local c
	c=$(python3 "$kc/kcmd.py" "$@") || return 1
	(cd "$kdir" && eval "$c")
}

# variant NAME LZ4_FLEX_SRC|-: builds (or, for "-", takes rzs.ko's) lz4_flex.o and
# rzs_core.o, then the shim against them; all under prefix v<N>_.
variants=()
variant() {
	local name=$1 src=$2 n=${#variants[@]} d=$out/v${#variants[@]} lib flags="" f core_flags
	# BENCH_CODEC_FLAGS_<name>="-Cflag ...": extra rustc flags for a variant's lz4_flex.
	f=BENCH_CODEC_FLAGS_$name
	for x in ${!f:-}; do flags+=" --extra=$x"; done
	# BENCH_CODEC_FEATURES_<name>="a,b": lz4_flex's cargo features for a variant.
	f=BENCH_CODEC_FEATURES_$name
	[ -z "${!f+x}" ] || flags+=" --features=${!f}"
	# rzs_core's feature patched-codec (Kbuild sets it) needs the patched crate's
	# API: not for the stock one (its shim then has no O_DIRECT decoder).
	core_flags=""
	[ "$name" != stock ] || core_flags="--features="
	mkdir -p "$d"
	if [ "$src" = - ]; then
		lib=$root
		cp "$root/lz4_flex.o" "$root/rzs_core.o" "$d/"
	else
		lib=$d
		kbuild_rustc "$root/.lz4_flex.o.cmd" --src "$src/src/lib.rs" \
			--crate-name lz4_flex --out-dir "$d" --lib-dir "$d" $flags ||
			die "bench-codec: building lz4_flex ($name) failed"
		kbuild_rustc "$root/.rzs_core.o.cmd" --src "$root/core/src/lib.rs" \
			--crate-name rzs_core --out-dir "$d" --lib-dir "$d" $core_flags ||
			die "bench-codec: building rzs_core ($name) failed"
	fi
	kbuild_rustc "$root/.rzs_core.o.cmd" --src "$kc/shim.rs" \
		--crate-name rzs_kbench --out-dir "$d" --lib-dir "$lib" --extern rzs_core $core_flags ||
		die "bench-codec: building the shim ($name) failed"
	prefix "v${n}_" "$d/rzs_kbench.o" "$d/rzs_core.o" "$d/lz4_flex.o" "$kdir/rust/core.o" \
		"$kdir/rust/compiler_builtins.o" "${mem_objs[@]}"
	variants+=("$name")
}

log "bench-codec: building the harness from $(basename "$kdir")'s objects and rzs.ko's"
variant rzs -
stock=$(RZS_CRATE_PATCHES=none "$root/scripts/crate-src.sh" lz4_flex)
# Only when rzs patches the crate: otherwise "stock" is the "rzs" build again.
[ "$stock" = "$("$root/scripts/crate-src.sh" lz4_flex)" ] || variant stock "$stock"
for v in ${BENCH_CODEC_VARIANTS:-}; do
	variant "${v%%=*}" "${v#*=}"
done
prefix kc_ "$kdir/lib/lz4/lz4_compress.o" "$kdir/lib/lz4/lz4_decompress.o" "${mem_objs[@]}"
{
	echo '/* Generated by scripts/bench-codec.sh. */'
	echo '#include <stddef.h>'
	echo '#include <stdint.h>'
	echo 'void kb_rust_panic(void *info);'
	echo 'struct flex { const char *name; size_t (*ws_size)(void); void (*ws_init)(void *);'
	echo '  long (*compress)(void *, const uint8_t *, const uint8_t **);'
	echo '  int (*decompress)(const uint8_t *, size_t, uint8_t *);'
	echo '  int (*decompress_racy)(const uint8_t *, size_t, uint8_t *); void *ws; };'
	for i in "${!variants[@]}"; do
		p=v${i}_
		echo "size_t ${p}kb_flex_ws_size(void); void ${p}kb_flex_ws_init(void *);"
		echo "long ${p}kb_flex_compress(void *, const uint8_t *, const uint8_t **);"
		echo "int ${p}kb_flex_decompress(const uint8_t *, size_t, uint8_t *);"
		echo "int ${p}kb_flex_decompress_racy(const uint8_t *, size_t, uint8_t *);"
		echo "void ${p}${unwind}(void *i) { kb_rust_panic(i); }"
	done
	echo 'struct flex flex[] = {'
	for i in "${!variants[@]}"; do
		p=v${i}_
		echo "  { \"${variants[$i]}\", ${p}kb_flex_ws_size, ${p}kb_flex_ws_init, ${p}kb_flex_compress, ${p}kb_flex_decompress, ${p}kb_flex_decompress_racy, 0 },"
	done
	echo '};'
	echo "const int nflex = ${#variants[@]};"
} >"$out/variants.c"
cc -O2 -Wall -no-pie -Wl,-z,noexecstack -o "$out/rzs-kcodec-bench" "$kc/harness.c" "$out/variants.c" "${prefixed[@]}" \
	2>"$out/link.log" || {
	cat "$out/link.log" >&2
	die "bench-codec: linking the harness failed (log: $out/link.log)"
}

log "bench-codec: page classes ($pages pages each) from this machine's files and processes"
(cd "$root" && cargo build --release --locked -q -p rzs-bench --bin rzs-codec-pages) ||
	die "bench-codec: cargo build of rzs-codec-pages failed"
# A process with a realistic heap to read, beside whatever else runs.
python3 -c '
import sys, time, random
random.seed(1)
d = {("key%d" % i): [i, str(i) * 3, {"x": i * 0.5, "y": None}] for i in range(150000)}
l = [random.random() for _ in range(200000)]
print("ready", flush=True)
time.sleep(600)
' >"$out/heap-proc.ready" &
hp=$!
trap 'kill $hp 2>/dev/null || true; rm -f "$out/proc.pages" "$out/all.pages"' EXIT
for _ in $(seq 100); do grep -q ready "$out/heap-proc.ready" 2>/dev/null && break; sleep 0.2; done
"$root/target/release/rzs-codec-pages" --dir "$out" --pages "$pages" >"$out/pages.txt" ||
	die "bench-codec: rzs-codec-pages failed"
kill $hp 2>/dev/null || true

if [ -n "$check" ]; then
	what="lz4_flex as rzs.ko builds it and the kernel's lib/lz4 decode each other's streams ($(awk '{n += $2} END {print n}' "$out/pages.txt") pages)"
	if "$out/rzs-kcodec-bench" 0 0 binary="$out/binary.pages" text="$out/text.pages" \
		heap="$out/heap.pages" proc="$out/proc.pages" fio="$out/fio.pages" >"$out/codec-kernel.json" 2>"$out/check.log"; then
		echo "ok - codec: $what"
	else
		echo "not ok - codec: $what"
		head -n 20 "$out/check.log" | sed 's/^/# /'
		exit 1
	fi
	exit 0
fi
if [ -n "$count" ]; then
	# One callgrind run per class and operation (0 C compress, 1 C decompress, then
	# four per variant: see bench/kcodec/count.py), two at a time.
	mkdir -p "$out/count"
	ops="0 1"
	for i in "${!variants[@]}"; do
		ops+=" $((2 + 4 * i)) $((3 + 4 * i)) $((4 + 4 * i))"
		# The stock crate has no O_DIRECT decoder (its shim skips that operation).
		[ "${variants[$i]}" = stock ] || ops+=" $((5 + 4 * i))"
	done
	log "bench-codec: counting instructions, data accesses and branches per page with callgrind (${variants[*]} and C; a few minutes)"
	for cls in binary text heap proc fio; do
		for o in $ops; do echo "$cls $o"; done
	done | xargs -P 2 -L 1 sh -c 'KB_OP=$2 valgrind --tool=callgrind --cache-sim=yes --branch-sim=yes --toggle-collect=pass \
		--callgrind-out-file="$0/count/$1.$2.cg" "$0/rzs-kcodec-bench" 1 0 "$1=$0/$1.pages" \
		>"$0/count/$1.$2.json" 2>"$0/count/$1.$2.log" || { echo "rzs: error: callgrind $1 op $2 failed (log: $0/count/$1.$2.log)" >&2; exit 255; }' "$out" ||
		die "bench-codec: counting failed"
	python3 "$kc/count.py" "$out/count" "$results" "$(basename "$kdir")" "${variants[@]}"
	exit 0
fi
cat "$out/binary.pages" "$out/text.pages" "$out/heap.pages" "$out/proc.pages" "$out/fio.pages" >"$out/all.pages"
log "bench-codec: ${#variants[@]} lz4_flex builds (${variants[*]}) against the kernel's C lz4, $reps interleaved reps"
"$out/rzs-kcodec-bench" "$reps" "$min_time" binary="$out/binary.pages" text="$out/text.pages" \
	heap="$out/heap.pages" proc="$out/proc.pages" fio="$out/fio.pages" all="$out/all.pages" >"$out/codec-kernel.json" ||
	die "bench-codec: the benchmark failed (a page did not round-trip?)"
rm -f "$out/proc.pages" "$out/all.pages"
python3 "$kc/report.py" "$out/codec-kernel.json" "$results" "$(basename "$kdir")"
