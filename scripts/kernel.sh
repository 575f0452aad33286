#!/usr/bin/env bash
# Build (once) and print the path of the rzs test kernel tree.
#
#   scripts/kernel.sh [std|debug|rt|arm64]        build if needed; print the tree's path
#   scripts/kernel.sh --path [std|debug|rt|arm64] print the path it would use; build nothing
#
# Source: Debian's linux-source-6.12 tarball, every scripts/patches/*.patch applied
# in order, configured from `allnoconfig` + scripts/config/rzs.config (+ rzs-x86.config
# for the three x86_64 variants, + rzs-debug.config
# for the debug variant, + rzs-rt.config for the PREEMPT_RT one, + rzs-arm64.config
# for the arm64 one, cross-built with ARCH=arm64; a later fragment's line overrides
# an earlier one's for the same symbol). The tree is cached in $RZS_CACHE/kernel/<variant>-<key>, where
# the key hashes the source version, toolchain, config fragments, patches and this
# script, so any change to one of them builds a new tree and an unchanged one is reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

only_path=0
[ "${1:-}" = --path ] && { only_path=1; shift; }
variant=${1:-std}
case $variant in
std) frags=("$here/config/rzs.config" "$here/config/rzs-x86.config") ;;
debug) frags=("$here/config/rzs.config" "$here/config/rzs-x86.config" "$here/config/rzs-debug.config") ;;
rt) frags=("$here/config/rzs.config" "$here/config/rzs-x86.config" "$here/config/rzs-rt.config") ;;
arm64) frags=("$here/config/rzs.config" "$here/config/rzs-arm64.config") ;;
*) die "unknown kernel variant '$variant' (expected std, debug, rt or arm64)" ;;
esac
# The arm64 variant is cross-built: the same LLVM toolchain, ARCH=arm64.
[ "$variant" = arm64 ] && KMAKE_VARS="ARCH=arm64 $KMAKE_VARS"
tarball=/usr/src/linux-source-6.12.tar.xz
patches=()
for p in "$here"/patches/*.patch; do [ -e "$p" ] && patches+=("$p"); done

key=$({
	dpkg-query -W -f='${Version}\n' linux-source-6.12 2>/dev/null || echo none
	/usr/bin/rustc --version 2>/dev/null || true
	clang-19 --version 2>/dev/null | head -n1 || true
	"$RZS_TOOLS/bin/bindgen" --version 2>/dev/null || true
	echo "$KMAKE_VARS"
	cat "${frags[@]}" "$0"
	[ ${#patches[@]} -eq 0 ] || cat "${patches[@]}"
} | sha256sum | cut -c1-16)
tree=$RZS_CACHE/kernel/$variant-$key

if [ $only_path = 1 ] || [ -f "$tree/.rzs-built" ]; then
	echo "$tree"
	exit 0
fi

[ -f "$tarball" ] || die "kernel source missing: $tarball (run scripts/deps.sh)"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo none)
# One tree per variant. A tree of the same variant and source version built under
# another key (a changed patch or config) is reused: its patches are reverted and
# the new ones applied, so kbuild rebuilds only what changed. Anything else is
# started afresh from the tarball.
old=""
for t in "$RZS_CACHE/kernel/$variant-"*; do
	[ -d "$t" ] && [ "$t" != "$tree" ] || continue
	if [ -z "$old" ] && [ "$(cat "$t/.rzs-srcver" 2>/dev/null)" = "$srcver" ] && [ -d "$t/.rzs-patches" ]; then
		old=$t
	else
		rm -rf "$t"
	fi
done
# Files the old patches touched, with their checksum and mtime: after the new
# patches are applied, a file whose content came out the same gets its old mtime
# back, so kbuild rebuilds only what a changed patch really changed (reverting
# and reapplying include/linux/swap.h would otherwise rebuild half the kernel).
stamps=()
if [ -n "$old" ]; then
	log "updating the $variant test kernel from $(basename "$old") (incremental)"
	rm -f "$old/.rzs-built"
	while IFS= read -r f; do
		[ -f "$old/$f" ] && stamps+=("$f $(sha256sum <"$old/$f" | cut -c1-64) $(stat -c %Y "$old/$f")")
	done < <(cat "$old/.rzs-patches/"* 2>/dev/null | sed -nE 's@^\+\+\+ b/([^[:space:]]+).*@\1@p' | sort -u)
	for p in $(ls -r "$old/.rzs-patches/" 2>/dev/null); do
		patch -d "$old" -p1 -R --batch --quiet <"$old/.rzs-patches/$p" || { rm -rf "$old"; old=""; break; }
	done
fi
if [ -n "$old" ]; then
	mv "$old" "$tree"
else
	rm -rf "$tree"
	mkdir -p "$tree"
	log "building the $variant test kernel in $tree (cold: about 15 minutes on 2 cores)"
	tar -xf "$tarball" -C "$tree" --strip-components=1
	echo "$srcver" >"$tree/.rzs-srcver"
fi
rm -rf "$tree/.rzs-patches"
mkdir -p "$tree/.rzs-patches"
for p in "${patches[@]}"; do
	log "applying $(basename "$p")"
	patch -d "$tree" -p1 --batch --forward --quiet <"$p" || die "patch $(basename "$p") does not apply to $(basename "$tarball")"
	cp "$p" "$tree/.rzs-patches/"
done
for st in "${stamps[@]}"; do
	read -r f sum mtime <<<"$st"
	[ -f "$tree/$f" ] && [ "$(sha256sum <"$tree/$f" | cut -c1-64)" = "$sum" ] && touch -d "@$mtime" "$tree/$f"
done

jobs=$(($(nproc) + 1))
# shellcheck disable=SC2086
kmake() { make -C "$tree" -s $KMAKE_VARS "$@"; }
rm -f "$tree/.config"
kmake allnoconfig >/dev/null
kmake rustavailable >/dev/null || die "the Rust toolchain is not usable for the kernel ('make rustavailable' failed)"
"$tree/scripts/kconfig/merge_config.sh" -m -O "$tree" "$tree/.config" "${frags[@]}" >/dev/null
kmake olddefconfig >/dev/null
# merge_config only warns when Kconfig drops a line; a test kernel without, say,
# CONFIG_RUST is useless, so insist that every symbol's last line in the fragments
# (a later fragment overrides an earlier one) stuck.
bad=()
declare -A want=()
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) want[${line%%=*}]=$line ;;
	"# CONFIG_"*" is not set") sym=${line#\# }; want[${sym%% *}]=$line ;;
	esac
done < <(cat "${frags[@]}")
for sym in "${!want[@]}"; do
	line=${want[$sym]}
	case $line in
	CONFIG_*=*) grep -qxF "$line" "$tree/.config" || bad+=("$line") ;;
	*) ! grep -q "^$sym=" "$tree/.config" || bad+=("$line") ;;
	esac
done
[ ${#bad[@]} -eq 0 ] || die "kernel config lost: ${bad[*]} (dependencies unmet; see $tree/.config)"

start=$(date +%s)
kmake -j"$jobs" >"$tree/build.log" 2>&1 || { tail -n 30 "$tree/build.log" >&2; die "kernel build failed (log: $tree/build.log)"; }
touch "$tree/.rzs-built"
log "test kernel ($variant) built in $(($(date +%s) - start)) s"
echo "$tree"
