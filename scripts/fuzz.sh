#!/usr/bin/env bash
# Coverage-guided fuzzing of rzs-core: every cargo-fuzz target in fuzz/ (libFuzzer),
# built against lz4_flex exactly as the kernel module links it (scripts/patches/crates/
# applied, as scripts/patched-ws.sh does for the tests), each run for SECONDS.
# Prints one TAP line per target and exits non-zero if one crashed or did not build.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# SECONDS defaults to $RZS_FUZZ_SECONDS, else 20 (make test: 20; make stress: 300).
# cargo-fuzz (pinned in versions.env) is installed into $RZS_TOOLS when missing. Each
# target's corpus lives in $RZS_CACHE/fuzz/corpus/<target>, so a run starts from what
# earlier runs found; logs and crashing inputs go to ${RZS_OUT:-tests/out}/fuzz/.
# The build is a generated copy, $RZS_CACHE/fuzz-ws/ (fuzz/ is never modified): its
# fuzz/Cargo.toml gets [patch.crates-io] lz4_flex = the patched source. It lives in
# the cache, not in target/, so a fresh clone does not rebuild libFuzzer and the
# dependencies (30 s here); runs from several clones take turns on it (flock).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/versions.env
. "$root/scripts/versions.env"
. "$root/scripts/lib.sh"
secs=${1:-${RZS_FUZZ_SECONDS:-20}}
[ $# -gt 0 ] && shift
case $secs in
'' | *[!0-9]* | 0) die "usage: scripts/fuzz.sh [SECONDS_PER_TARGET >= 1] [TARGET...] (got '$secs')" ;;
esac
out=${RZS_OUT:-$root/tests/out}/fuzz
ws=$RZS_CACHE/fuzz-ws
mkdir -p "$ws"
exec 9>"$ws.lock"
flock 9
export PATH=$RZS_TOOLS/bin:$PATH

all=$(sed -n '/^\[\[bin\]\]/,/^$/s/^name = "\(.*\)"$/\1/p' "$root/fuzz/Cargo.toml")
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -d '' -a targets <<<"$all" || true
for t in "${targets[@]}"; do
	grep -qx "$t" <<<"$all" || die "no fuzz target '$t' in fuzz/Cargo.toml (have: ${all//$'\n'/ })"
done
mkdir -p "$out"

# not_ok_all WHY LOG: a `not ok` line for every target, then the log's tail; exit 1.
not_ok_all() {
	for t in "${targets[@]}"; do echo "not ok - cargo fuzz $t: $1 (log: $2)"; done
	tail -n 30 "$2" | sed 's/^/# /'
	exit 1
}

# cargo-fuzz itself, pinned; a second run finds it and builds nothing.
if ! cargo-fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
	command -v cargo >/dev/null || die "cargo not found: needed to install cargo-fuzz $CARGO_FUZZ_VERSION"
	log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $RZS_TOOLS (about 2 minutes)"
	cargo install -q --locked --force --root "$RZS_TOOLS" cargo-fuzz --version "$CARGO_FUZZ_VERSION" \
		>"$RZS_CACHE/cargo-fuzz.log" 2>&1 ||
		not_ok_all "cargo install cargo-fuzz $CARGO_FUZZ_VERSION failed" "$RZS_CACHE/cargo-fuzz.log"
fi

# AddressSanitizer needs the toolchain's ASan runtime (rustup's toolchains ship it;
# Debian's rustc-web does not): without it, fuzz with no sanitizer. The code under
# test is safe Rust but for a few audited blocks, so panics still catch most bugs.
rustc=${RUSTC:-rustc}
host=$("$rustc" -vV | sed -n 's/^host: //p')
sanitizer=${RZS_FUZZ_SANITIZER:-}
if [ -z "$sanitizer" ]; then
	if compgen -G "$("$rustc" --print sysroot)/lib/rustlib/$host/lib/librustc-*_rt.asan.a" >/dev/null; then
		sanitizer=address
	else
		sanitizer=none
		warn "$("$rustc" --version) has no AddressSanitizer runtime: fuzzing without a sanitizer"
	fi
fi

# The workspace copy: core/ beside fuzz/ so fuzz's `../core` resolves, under a root
# manifest that gives core its [workspace.package] fields. Copies, not symlinks (cargo
# resolves a package's workspace from its real path); cp -a keeps timestamps, so
# unchanged files do not rebuild.
lz4=$("$root/scripts/crate-src.sh" lz4_flex)
mkdir -p "$ws/fuzz"
for d in core fuzz/fuzz_targets; do
	rm -rf "$ws/$d.new" && cp -a "$root/$d" "$ws/$d.new" && rm -rf "$ws/$d" && mv "$ws/$d.new" "$ws/$d"
done
# put FILE: replace FILE with stdin only if it differs (keeps its timestamp otherwise).
put() { cat >"$1.new"; if cmp -s "$1.new" "$1"; then rm "$1.new"; else mv "$1.new" "$1"; fi; }
{
	sed -n '/^\[workspace\.package\]/,/^$/p' "$root/Cargo.toml"
	printf '[workspace]\nresolver = "2"\nmembers = ["core"]\nexclude = ["fuzz"]\n'
} | put "$ws/Cargo.toml"
{
	cat "$root/fuzz/Cargo.toml"
	printf '\n# Added by scripts/fuzz.sh: lz4_flex as the kernel module links it.\n'
	printf '[patch.crates-io]\nlz4_flex = { path = "%s" }\n' "$lz4"
} | put "$ws/fuzz/Cargo.toml"
# fuzz/Cargo.lock's pins; cargo then turns only the lz4_flex entry into the path one.
if ! cmp -s "$root/fuzz/Cargo.lock" "$ws/fuzz/Cargo.lock.orig"; then
	cp "$root/fuzz/Cargo.lock" "$ws/fuzz/Cargo.lock" && cp "$root/fuzz/Cargo.lock" "$ws/fuzz/Cargo.lock.orig"
fi

# One build of every target: release, with debug assertions and overflow checks on
# (as the debug test kernel builds Rust: CONFIG_RUST_OVERFLOW_CHECKS); RUSTC_BOOTSTRAP
# unlocks the -Z flags cargo-fuzz passes to the stable compiler.
log "building the fuzz targets (cargo-fuzz $CARGO_FUZZ_VERSION, sanitizer: $sanitizer, $("$rustc" --version))"
blog=$out/build.log
# --cfg rzs_volatile_intrinsics: rzs-core's volatile accesses as Kbuild builds them
# (core/src/racy.rs); cargo-fuzz appends RUSTFLAGS to its own flags.
if ! (cd "$ws/fuzz" && RUSTC_BOOTSTRAP=1 RUSTFLAGS="${RUSTFLAGS:-} --cfg rzs_volatile_intrinsics" cargo fuzz build --fuzz-dir "$ws/fuzz" -O -a \
	--sanitizer "$sanitizer" --target "$host" --target-dir "$ws/fuzz/target" >"$blog" 2>&1); then
	not_ok_all "cargo fuzz build failed" "$blog"
fi

# fuzz_one TARGET: fuzz one target; its TAP line (and diagnostics) on stdout.
fuzz_one() {
	local t=$1 bin corpus art flog max_len before rc done_line crash runs took
	bin=$ws/fuzz/target/$host/release/$t
	corpus=$RZS_CACHE/fuzz/corpus/$t
	art=$out/$t
	flog=$out/$t.log
	case $t in
	decode) max_len=8192 ;;     # lz4 data: a page's worst case is 4525 bytes
	roundtrip) max_len=4099 ;;  # 3 header bytes + a page
	*) max_len=4096 ;;
	esac
	rm -rf "$art" && mkdir -p "$art" "$corpus"
	before=$(find "$corpus" -type f | wc -l)
	log "fuzzing $t for $secs s (corpus: $before inputs in $corpus)"
	rc=0
	timeout -k 10 $((secs * 2 + 120)) "$bin" -max_total_time="$secs" -max_len="$max_len" \
		-rss_limit_mb=1024 -timeout=10 -artifact_prefix="$art/" "$corpus" >"$flog" 2>&1 || rc=$?
	done_line=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1 \2/p' "$flog" | tail -n1)
	crash=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$flog" | tail -n1)
	[ -n "$crash" ] || crash=$(find "$art" -type f | head -n1)
	if [ "$rc" = 0 ] && [ -n "$done_line" ] && [ -z "$crash" ]; then
		read -r runs took <<<"$done_line"
		echo "ok - cargo fuzz $t: $runs runs in $took s, 0 crashes"
		log "$t: corpus now $(find "$corpus" -type f | wc -l) inputs"
	else
		if [ -n "$crash" ]; then
			echo "not ok - cargo fuzz $t: failed (exit $rc), input: $crash"
			echo "# reproduce: $bin $crash"
		else
			echo "not ok - cargo fuzz $t: failed (exit $rc), no crash input written"
		fi
		# The log's end, less libFuzzer's progress lines and stack frames (sanitizer's
		# and Rust's), so the panic message or sanitizer report shows.
		echo "# log: $flog"
		grep -vE '^#[0-9]|^ +#[0-9]+ 0x|^ +[0-9]+: |^ +at ' "$flog" | tail -n 20 | sed 's/^/# /'
	fi
	[ "$rc" = 0 ] && [ -n "$done_line" ] && [ -z "$crash" ]
}

# The targets run side by side, as many at once as there are cores, each for $secs
# s of its own: make test's fuzzing takes 40 s here instead of 60, with as many runs.
jobs=$(nproc 2>/dev/null || echo 1)
for t in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
	rm -f "$out/$t.rc"
	{ fuzz_one "$t" >"$out/$t.tap"; echo $? >"$out/$t.rc"; } &
done
wait
failed=0
for t in "${targets[@]}"; do
	cat "$out/$t.tap"
	[ "$(cat "$out/$t.rc" 2>/dev/null)" = 0 ] || failed=$((failed + 1))
done
[ $failed = 0 ]
