#!/usr/bin/env bash
# Print the source directory of a crate from the workspace's Cargo.lock, fetching it
# from crates.io into cargo's registry cache first if needed (pinned by version and
# checksum in Cargo.lock; its source never enters this repository).
#
# If scripts/patches/crates/<crate>-<version>/ holds patches, the printed directory is
# a copy of the source with them applied, cached under $RZS_CACHE/crates/ and keyed by
# the patches' content; the registry copy itself is never modified.
# RZS_CRATE_PATCHES=none prints the crate as published (make bench-codec's "stock").
#   scripts/crate-src.sh lz4_flex
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
crate=${1:?usage: crate-src.sh CRATE}
: "${RZS_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/rzs}"
command -v cargo >/dev/null || { echo "rzs: error: cargo not found: needed to fetch crate $crate" >&2; exit 1; }
src=$(cargo metadata --locked --format-version 1 --manifest-path "$root/Cargo.toml" 2>/dev/null |
	python3 -c '
import json, os, sys
crate = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == crate and p["source"]:
        print(os.path.dirname(p["manifest_path"])); break
else:
    sys.exit("rzs: error: crate %s not found in Cargo.lock (cargo metadata failed?)" % crate)
' "$crate")
pdir=$root/scripts/patches/crates/$(basename "$src")
patches=()
[ "${RZS_CRATE_PATCHES:-}" = none ] ||
	for p in "$pdir"/*.patch; do [ -e "$p" ] && patches+=("$p"); done
if [ ${#patches[@]} -eq 0 ]; then
	echo "$src"
	exit 0
fi
key=$(cat "${patches[@]}" | sha256sum | cut -c1-12)
dst=$RZS_CACHE/crates/$(basename "$src")-$key
if [ ! -f "$dst/.rzs-patched" ]; then
	rm -rf "$dst" && mkdir -p "$(dirname "$dst")"
	cp -r "$src" "$dst.tmp"
	for p in "${patches[@]}"; do
		patch -s -p1 -d "$dst.tmp" <"$p" >&2 ||
			{ echo "rzs: error: $(basename "$p") does not apply to $(basename "$src")" >&2; rm -rf "$dst.tmp"; exit 1; }
	done
	touch "$dst.tmp/.rzs-patched"
	mv "$dst.tmp" "$dst"
fi
echo "$dst"
