#!/usr/bin/env bash
# Prepare, and print the path of, a cargo workspace that builds rzs-core and the
# benchmarks against the crates exactly as the kernel module gets them, that is with
# scripts/patches/crates/ applied (scripts/crate-src.sh). The repository's own
# workspace uses the crates as published, so a plain `cargo test` needs nothing but
# cargo; `make test` runs the core tests a second time here, on the patched codec.
#   scripts/patched-ws.sh       -> target/patched-ws
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ws=$root/target/patched-ws
lz4=$("$root/scripts/crate-src.sh" lz4_flex)
mkdir -p "$ws"
# Copies, not symlinks: cargo resolves a member's workspace from its real path.
# cp -a keeps timestamps, so unchanged files do not rebuild.
for d in core bench include; do
	rm -rf "$ws/$d.new" && cp -a "$root/$d" "$ws/$d.new" && rm -rf "$ws/$d" && mv "$ws/$d.new" "$ws/$d"
done
rm -rf "$ws/bench/results"
{
	sed -n '/^\[workspace\.package\]/,/^$/p' "$root/Cargo.toml"
	cat <<EOT
[workspace]
resolver = "2"
members = ["core", "bench"]

[profile.release]
debug = 1

[patch.crates-io]
lz4_flex = { path = "$lz4" }
EOT
} >"$ws/Cargo.toml.new"
cmp -s "$ws/Cargo.toml.new" "$ws/Cargo.toml" 2>/dev/null && rm "$ws/Cargo.toml.new" || mv "$ws/Cargo.toml.new" "$ws/Cargo.toml"
[ -f "$ws/Cargo.lock" ] || cp "$root/Cargo.lock" "$ws/Cargo.lock"
echo "$ws"
