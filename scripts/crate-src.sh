#!/usr/bin/env bash
# Print the source directory of a crate from the workspace's Cargo.lock, fetching it
# from crates.io into cargo's registry cache first if needed (pinned by version and
# checksum in Cargo.lock; its source never enters this repository).
#   scripts/crate-src.sh lz4_flex
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
crate=${1:?usage: crate-src.sh CRATE}
command -v cargo >/dev/null || { echo "rzs: error: cargo not found: needed to fetch crate $crate" >&2; exit 1; }
cargo metadata --locked --format-version 1 --manifest-path "$root/Cargo.toml" 2>/dev/null |
	python3 -c '
import json, os, sys
crate = sys.argv[1]
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == crate and p["source"]:
        print(os.path.dirname(p["manifest_path"])); break
else:
    sys.exit("rzs: error: crate %s not found in Cargo.lock (cargo metadata failed?)" % crate)
' "$crate"
