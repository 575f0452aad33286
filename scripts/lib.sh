# Shared shell helpers for rzs scripts. Sourced, not run.
# Everything cached lives outside the repo, under $RZS_CACHE.
: "${RZS_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/rzs}"
RZS_TOOLS=$RZS_CACHE/tools
RZS_VENV=$RZS_CACHE/venv
export RZS_CACHE RZS_TOOLS RZS_VENV
mkdir -p "$RZS_CACHE"
log() { printf 'rzs: %s\n' "$*" >&2; }
warn() { printf 'rzs: warning: %s\n' "$*" >&2; }
die() { printf 'rzs: error: %s\n' "$*" >&2; exit 1; }

# The toolchain the test kernel and rzs.ko are built with (REFERENCE.md §1).
# HOSTRUSTC must match RUSTC: the kernel's `macros` proc-macro is a host crate.
KMAKE_VARS="LLVM=-19 RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc BINDGEN=$RZS_TOOLS/bin/bindgen"
export LIBCLANG_PATH=/usr/lib/llvm-19/lib

# guest_ok OUT MODE WHAT: after a `tests/vm.sh ... MODE` run (demo, bench), die if the
# guest's kernel log has reports or MODE's script did not exit 0.
guest_ok() {
	local out=$1 mode=$2 what=$3 rc reports
	rc=$(cat "$out/$mode.rc" 2>/dev/null || echo missing)
	reports=$("$(dirname "${BASH_SOURCE[0]}")/logscan.sh" "$out" || true)
	if [ -n "$reports" ]; then
		printf '%s\n' "$reports"
		die "the guest kernel log has reports (console: $out/console.log)"
	fi
	[ "$rc" = 0 ] || die "$what failed (exit $rc; log: $out/$mode.log, console: $out/console.log)"
}

# copy_module_tree DEST: what an out-of-place `make -C KDIR M=DEST` of rzs.ko needs
# (the module's sources, the cargo workspace, and the record of where the crates are
# that Kbuild reads: scripts/crates.sh).
copy_module_tree() {
	local r
	r=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	cp -r "$r/Kbuild" "$r/src" "$r/core" "$r/scripts" "$r/Cargo.toml" "$r/Cargo.lock" "$r/tools" "$r/bench" "$1/"
	"$r/scripts/crates.sh" "$1"
}
