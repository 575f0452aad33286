#!/usr/bin/env bash
# The bare-Debian proof: `make run` and `make test` from a clean clone in a fresh
# Debian 12 root that has nothing but what debootstrap's minbase gives, plus git and
# make (to get the repository and type the command): no rustup, no cargo, no cache.
#   scripts/bare-debian.sh DIR [COMMIT]     (as root, on a Debian or Ubuntu host)
# DIR is created with debootstrap if it does not hold a root yet (the host gets the
# debootstrap package if it lacks it). The chroot sees the host's kernel, /dev, /proc
# and /sys, and Debian's standard sources for bookworm (main, -updates, -security).
# The repository at COMMIT (default HEAD) is cloned to DIR/root/rzs; the two
# commands' output goes to DIR/root/{run,test}.log and their times to stdout.
# RZS_BARE_KEEP=1 keeps the root's ~/.cache/rzs (a rerun after a fix: packages and
# the kernel stay); RZS_BARE_CMDS="test" runs only some of the commands.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: bare-debian.sh DIR [COMMIT]}
commit=${2:-HEAD}
[ "$(id -u)" = 0 ] || { echo "rzs: error: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ ! -x "$dir/bin/bash" ]; then
	command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
	debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian
fi
cat >"$dir/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
rm -f "$dir/etc/apt/sources.list"
cp /etc/resolv.conf "$dir/etc/resolv.conf"

mounted=()
cleanup() { local m; for m in "${mounted[@]}"; do umount -R "$m" 2>/dev/null || umount -lR "$m" || true; done; }
trap cleanup EXIT
mountpoint -q "$dir/proc" || { mount -t proc proc "$dir/proc"; mounted+=("$dir/proc"); }
for m in sys dev; do
	mountpoint -q "$dir/$m" || { mount --rbind "/$m" "$dir/$m"; mount --make-rslave "$dir/$m"; mounted+=("$dir/$m"); }
done

in_root() { chroot "$dir" env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin bash -c "$1"; }
in_root 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git make ca-certificates >/dev/null'
# The host's own CA certificates (a network that inspects TLS, as this machine
# kind's does), so the chroot reaches crates.io and PyPI as the host does.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
	mkdir -p "$dir/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
	in_root 'update-ca-certificates >/dev/null 2>&1'
fi
echo "# in the root before: $(in_root 'for c in cargo rustc rustup clang-19 qemu-system-x86_64; do command -v $c >/dev/null && echo -n "$c "; done; ls -d /root/.cache/rzs 2>/dev/null') (none expected)"

rm -rf "$dir/root/rzs"
[ "${RZS_BARE_KEEP:-0}" = 1 ] || rm -rf "$dir/root/.cache/rzs" "$dir/root/.cargo"
git clone -q "$root" "$dir/root/rzs"
git -C "$dir/root/rzs" checkout -q "$(git -C "$root" rev-parse "$commit")"
echo "# cloned $(git -C "$dir/root/rzs" log --oneline -1)"

rc=0
for cmd in ${RZS_BARE_CMDS:-run test}; do
	t=$(date +%s)
	if in_root "cd /root/rzs && make $cmd" >"$dir/root/$cmd.log" 2>&1; then r=ok; else r="FAILED"; rc=1; fi
	echo "make $cmd: $r in $(( ($(date +%s) - t) / 60 )) min $(( ($(date +%s) - t) % 60 )) s (log: $dir/root/$cmd.log)"
	tail -n 3 "$dir/root/$cmd.log" | sed 's/^/#   /'
	[ $r = ok ] || break
done
exit $rc
