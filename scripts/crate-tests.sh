#!/usr/bin/env bash
# Run a patched crate's own unit tests, the ones scripts/patches/crates/ adds included,
# with the features rzs builds it with: `make test` runs lz4_flex's this way, so the
# tests that come with each patch (written for upstream) run in CI.
#
# The crate's published manifest lists dev-dependencies for its benchmarks and
# cross-checks against C lz4 (jemalloc, lzzzz, snap, ...), which its unit tests do
# not use and which take minutes to build. The tests run in a copy of the patched
# source whose manifest keeps only the two the unit tests need, pinned: proptest at the
# version the repository's Cargo.lock has, and more-asserts. The copy is cached under
# $RZS_CACHE/crate-tests/, keyed like the patched source.
#   scripts/crate-tests.sh lz4_flex    -> cargo test's output; exit status is cargo's
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
crate=${1:?usage: crate-tests.sh CRATE}
: "${RZS_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/rzs}"
case $crate in
lz4_flex) features=std,safe-decode ;; # core/Cargo.toml's features, plus std for the tests
*) echo "rzs: error: crate-tests.sh knows no test set-up for $crate" >&2; exit 2 ;;
esac
src=$("$root/scripts/crate-src.sh" "$crate")
ws=$RZS_CACHE/crate-tests/$(basename "$src")
proptest=$(sed -n '/^name = "proptest"$/{n;s/^version = "\(.*\)"$/\1/p}' "$root/Cargo.lock")
[ -n "$proptest" ] || { echo "rzs: error: proptest not found in Cargo.lock" >&2; exit 1; }
mkdir -p "$ws"
rm -rf "$ws/src" && cp -r "$src/src" "$ws/src"
# The manifest up to its first dev-dependency, then the two the unit tests use.
{
	sed '/^\[dev-dependencies/,$d' "$src/Cargo.toml"
	printf '\n[dev-dependencies]\nproptest = "=%s"\nmore-asserts = "=0.3.1"\n\n[workspace]\n' "$proptest"
} >"$ws/Cargo.toml.new"
cmp -s "$ws/Cargo.toml.new" "$ws/Cargo.toml" 2>/dev/null && rm "$ws/Cargo.toml.new" || mv "$ws/Cargo.toml.new" "$ws/Cargo.toml"
# proptest's own dependencies at the versions the repository pins.
[ -f "$ws/Cargo.lock" ] || cp "$root/Cargo.lock" "$ws/Cargo.lock"
cd "$ws"
cargo test --lib --no-default-features --features "$features" 2>&1
