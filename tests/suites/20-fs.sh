#!/usr/bin/env bash
# A filesystem on rzs: mkfs.ext4, mount, write and checksum files, unmount, fsck -f
# clean, remount, verify.
# cost: 6 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
mnt=$(mktemp -d)
trap 'umount $mnt 2>/dev/null; cleanup_rzs' EXIT

plan 9
ok "insmod rzs.ko disksize=128M" load_rzs disksize=128M
ok "mkfs.ext4" mkfs.ext4 -q -F /dev/rzs0
ok "mount" mount /dev/rzs0 "$mnt"
mkdir -p "$mnt/d"
for i in $(seq 1 20); do head -c $((i * 37 * 1024)) /dev/urandom >"$mnt/d/r$i"; done
for i in $(seq 1 20); do yes "line $i of a compressible file" | head -c $((i * 53 * 1024)) >"$mnt/d/t$i"; done
dd if=/dev/zero of="$mnt/zero" bs=1M count=8 status=none
(cd "$mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >/tmp/rzs-fs.sum
ok "umount" umount "$mnt"
ok "fsck -f is clean" fsck.ext4 -f -n /dev/rzs0
ok "remount" mount /dev/rzs0 "$mnt"
ok "every file's checksum matches after remount" bash -c "cd $mnt && sha256sum --quiet -c /tmp/rzs-fs.sum"
ok "umount" umount "$mnt"
ok "rmmod rzs" unload_rzs
tap_exit
