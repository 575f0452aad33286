#!/usr/bin/env bash
# Install, pinned and idempotently, everything rzs needs to build and test.
# Apt packages go to the system; bindgen and virtme-ng go to $RZS_CACHE (outside
# the repo), so a second run is a no-op. One clear line per failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/versions.env
. "$here/versions.env"
. "$here/lib.sh"

need_root() {
	[ "$(id -u)" = 0 ] && return 0
	command -v sudo >/dev/null && { SUDO=sudo; return 0; }
	die "installing Debian packages needs root (or sudo); run as root or install: $*"
}
SUDO=""

missing=()
for p in $APT_PINS; do
	name=${p%%=*} ver=${p#*=}
	have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
	[ "$have" = "install ok installed $ver" ] || missing+=("$p")
done
command -v cargo >/dev/null || missing+=("$CARGO_PIN")
# g++ is in APT_PLAIN: libfuzzer-sys (scripts/fuzz.sh) compiles libFuzzer's C++.
cargo fmt --version >/dev/null 2>&1 || missing+=("$RUSTFMT_PIN")
cargo clippy --version >/dev/null 2>&1 || missing+=("$CLIPPY_PIN")
for name in $APT_PLAIN; do
	dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed' || missing+=("$name")
done

if [ ${#missing[@]} -gt 0 ]; then
	need_root "${missing[*]}"
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >/dev/null 2>&1 || warn "apt-get update failed; trying the cached lists"
	if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$RZS_CACHE/apt.log" 2>&1; then
		# A pinned version can vanish when Debian publishes a security update. Then take
		# the current one: the kernel cache key records what is really installed.
		warn "pinned versions not all available (see $RZS_CACHE/apt.log); installing current ones"
		$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]%%=*}" >>"$RZS_CACHE/apt.log" 2>&1 ||
			die "apt-get install failed for: ${missing[*]%%=*} (log: $RZS_CACHE/apt.log)"
	fi
fi

# bindgen >= 0.65 for the kernel's Rust bindings; Debian's is too old.
if ! "$RZS_TOOLS/bin/bindgen" --version 2>/dev/null | grep -qx "bindgen $BINDGEN_VERSION"; then
	command -v cargo >/dev/null || die "cargo not found: needed to install bindgen-cli $BINDGEN_VERSION from crates.io"
	log "installing bindgen-cli $BINDGEN_VERSION into $RZS_TOOLS (about 2 minutes)"
	LIBCLANG_PATH=/usr/lib/llvm-19/lib cargo install -q --locked --root "$RZS_TOOLS" \
		bindgen-cli --version "$BINDGEN_VERSION" >"$RZS_CACHE/bindgen.log" 2>&1 ||
		die "cargo install bindgen-cli $BINDGEN_VERSION failed (log: $RZS_CACHE/bindgen.log)"
fi

# virtme-ng boots the test kernel with the host's root filesystem shared read-only.
if ! "$RZS_VENV/bin/vng" --version 2>/dev/null | grep -q "$VIRTME_NG_VERSION"; then
	log "installing virtme-ng $VIRTME_NG_VERSION into $RZS_VENV"
	python3 -m venv "$RZS_VENV" >"$RZS_CACHE/pip.log" 2>&1 || die "python3 -m venv failed (log: $RZS_CACHE/pip.log)"
	"$RZS_VENV/bin/pip" install -q "virtme-ng==$VIRTME_NG_VERSION" >>"$RZS_CACHE/pip.log" 2>&1 ||
		die "pip install virtme-ng==$VIRTME_NG_VERSION failed (log: $RZS_CACHE/pip.log)"
fi

# Final check: every tool the build and the harness call.
cargo fmt --version >/dev/null 2>&1 || die "required tool missing after install: cargo fmt (package ${RUSTFMT_PIN%%=*})"
cargo clippy --version >/dev/null 2>&1 || die "required tool missing after install: cargo clippy (package ${CLIPPY_PIN%%=*})"
for t in /usr/bin/rustc c++ clang-19 ld.lld-19 llvm-ar-19 qemu-system-x86_64 busybox fio stress-ng \
	"$RZS_TOOLS/bin/bindgen" "$RZS_VENV/bin/vng"; do
	command -v "$t" >/dev/null || die "required tool missing after install: $t"
done
[ -d /usr/lib/rustlib/src/rust/library ] || die "rust-src missing: /usr/lib/rustlib/src/rust/library (package rust-web-src)"
[ -f /usr/src/linux-source-6.12.tar.xz ] || die "kernel source missing: /usr/src/linux-source-6.12.tar.xz (package linux-source-6.12)"
log "dependencies ok"
