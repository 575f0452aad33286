#!/usr/bin/env bash
# Record where the crates rzs.ko links come from, for Kbuild, before a kernel build:
# writes DIR/rzs-crates.mk (default: the repository) with LZ4_FLEX_SRC := <source dir>
# (scripts/crate-src.sh: pinned by Cargo.lock, fetched by cargo if needed, with
# scripts/patches/crates/ applied). Kbuild only reads that file, so parsing it runs
# neither cargo nor python: `make clean`, offline builds and `sudo make` with another
# PATH or cache work once the record exists. `make module` runs this first.
#   scripts/crates.sh [DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root}
src=$("$root/scripts/crate-src.sh" lz4_flex)
[ -f "$src/src/lib.rs" ] || { echo "rzs: error: lz4_flex source not found at $src" >&2; exit 1; }
rec="# Written by scripts/crates.sh; read by Kbuild.
LZ4_FLEX_SRC := $src"
# Rewritten only when it changes, so an unchanged record keeps its mtime.
[ "$(cat "$dir/rzs-crates.mk" 2>/dev/null)" = "$rec" ] || printf '%s\n' "$rec" >"$dir/rzs-crates.mk"
