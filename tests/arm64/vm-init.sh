#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PID 1 of the arm64 suite guest (scripts/arm64.sh): the Debian arm64 root of
# scripts/arm64-root.sh is the kernel's root, read-only over 9p. This makes what
# tests/vm.sh's virtme-ng makes on x86 and then runs tests/guest.sh:
#  - a writable root: an overlay with the 9p root as its lower layer, chrooted into;
#  - the repository (9p tag rzs.repo, read-only) at the same path as on the host,
#    the output directory (rzs.out, writable) at its host path inside it, and the
#    arm64 builds of rzsctl and rzs-memtest over $RZS_ROOT/target/release, where the
#    suites run them from;
#  - /lib/modules/$(uname -r) with the kernel's module lists (48-setup's modprobe).
# The kernel runs it as init=/bin/sh -- -c "mount the repository at /mnt; exec this".
# What to run comes from guest.env in the output directory (written by arm64.sh):
# RZS_HOST_ROOT, RZS_HOST_OUT, RZS_MODE (tests/guest.sh's MODE), RZS_SUITES, RZS_GUEST_ENV.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
fatal() {
	echo "rzs-arm64-init: $*"
	echo 1 >/proc/sys/kernel/sysrq
	echo b >/proc/sysrq-trigger
	sleep 10
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev # (CONFIG_DEVTMPFS_MOUNT mounts it)
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 rzs.out /run/out || fatal "cannot mount the output directory"
. /run/out/guest.env || fatal "no guest.env"

n=/run/newroot
mkdir -p /run/ovl/upper /run/ovl/work $n
mount -t overlay overlay -o lowerdir=/,upperdir=/run/ovl/upper,workdir=/run/ovl/work $n || fatal "overlay root failed"
mount -t proc proc $n/proc
mount -t sysfs sysfs $n/sys
mount -t devtmpfs devtmpfs $n/dev
mkdir -p $n/dev/pts $n/dev/shm
# What udev (or virtme's init) makes on x86: bash's <(...) needs /dev/fd.
ln -s /proc/self/fd $n/dev/fd
ln -s /proc/self/fd/0 $n/dev/stdin
ln -s /proc/self/fd/1 $n/dev/stdout
ln -s /proc/self/fd/2 $n/dev/stderr
mount -t devpts devpts $n/dev/pts
mount -t tmpfs tmpfs $n/dev/shm
mount -t tmpfs -o mode=755 tmpfs $n/run
mount -t tmpfs -o mode=1777 tmpfs $n/tmp
mkdir -p "$n$RZS_HOST_ROOT"
mount --move /mnt "$n$RZS_HOST_ROOT" || fatal "cannot move the repository to $RZS_HOST_ROOT"
mkdir -p "$n$RZS_HOST_OUT" 2>/dev/null # (exists when it is inside the repository)
mount --move /run/out "$n$RZS_HOST_OUT" || fatal "cannot move the output directory to $RZS_HOST_OUT"
mount --bind "$n$RZS_HOST_OUT/bin" "$n$RZS_HOST_ROOT/target/release" || fatal "cannot bind the arm64 tools over target/release"
km=$n/lib/modules/$(uname -r)
mkdir -p "$km"
cp "$n$RZS_HOST_OUT"/modules/modules.* "$km/" 2>/dev/null
depmod -b $n -a "$(uname -r)" 2>/dev/null
echo "rzs-arm64-init: $(uname -m) $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print $2}' /proc/meminfo) kB; running tests/guest.sh"
# shellcheck disable=SC2086
exec chroot $n /usr/bin/env -i $RZS_GUEST_ENV HOME=/root TERM=dumb \
	/bin/bash -c "cd '$RZS_HOST_ROOT' && exec bash tests/guest.sh '$RZS_HOST_OUT' '${RZS_MODE:-suites}' $RZS_SUITES"
