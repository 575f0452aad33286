#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# /init of the arm64 guest (scripts/arm64.sh): busybox only, so not the x86 suites
# but what matters on another architecture: rzs.ko loads (its codec self-test
# runs), block I/O reads back what was written (random, compressible, same-filled),
# swap on /dev/rzs0 under real memory pressure gives every page back, discard and
# reset leave zeros, rmmod, and the kernel log has no report. TAP on the console.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp && mount -t tmpfs -o size=600m tmpfs /tmp
n=0
fails=0
ok() { n=$((n + 1)); if "$@" >/tmp/last.log 2>&1; then echo "ok $n - $D"; else echo "not ok $n - $D"; sed 's/^/# /' /tmp/last.log; fails=$((fails + 1)); fi; }
echo "TAP version 13"
echo "1..12"
echo "# $(uname -m) $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, $(awk '/MemTotal/ {print $2}' /proc/meminfo) kB"
D="insmod rzs.ko disksize=64M (codec self-test)"; ok insmod /rzs.ko disksize=64M
D="lz4_flex self-test passed"; ok sh -c 'dmesg | grep -q "rzs: lz4_flex self-test ok"'
# 16 MiB: a quarter random, the rest compressible text, some same-filled pages.
head -c 4194304 /dev/urandom >/tmp/d0
i=0; while [ $i -lt 2000 ]; do echo "line $i of compressible text for rzs on arm64"; i=$((i + 1)); done >/tmp/text
while [ "$(stat -c %s /tmp/d0)" -lt 12582912 ]; do cat /tmp/text >>/tmp/d0; done
{ head -c 12582912 /tmp/d0; head -c 4194304 /dev/zero; } >/tmp/data
rm -f /tmp/d0
D="write 16 MiB (random, text, zeros) to /dev/rzs0"; ok dd if=/tmp/data of=/dev/rzs0 bs=65536 conv=fsync
echo 3 >/proc/sys/vm/drop_caches
D="it reads back the same"; ok sh -c 'head -c 16777216 /dev/rzs0 | cmp /tmp/data -'
D="mm_stat shows compression (compr < orig)"; ok sh -c 'set -- $(cat /sys/block/rzs0/mm_stat); [ "$2" -lt "$1" ] && [ "$1" -gt 0 ]'
D="discard: the device reads as zeros"; ok sh -c 'blkdiscard /dev/rzs0 2>/dev/null || dd if=/dev/zero of=/dev/rzs0 bs=1M count=16 conv=fsync; echo 3 >/proc/sys/vm/drop_caches; [ "$(head -c 16777216 /dev/rzs0 | md5sum)" = "$(head -c 16777216 /dev/zero | md5sum)" ]'
D="reload with disksize=256M, mkswap + swapon /dev/rzs0"; ok sh -c 'rmmod rzs && insmod /rzs.ko disksize=256M && mkswap /dev/rzs0 && swapon /dev/rzs0'
# 10 MiB of text (a finite loop: an endless producer piped into head never ends).
: >/tmp/big
while [ "$(stat -c %s /tmp/big)" -lt 10485760 ]; do cat /tmp/text >>/tmp/big; done
# Memory pressure: 160 MiB of tmpfs files in a 192 MiB guest go partly to swap.
i=0; : >/tmp/sums
while [ $i -lt 16 ]; do
	f=/tmp/f$i
	if [ $((i % 4)) = 0 ]; then head -c 10485760 /dev/urandom >$f; else { echo "file $i"; head -c 10485760 /tmp/big; } | head -c 10485760 >$f; fi
	md5sum $f >>/tmp/sums
	i=$((i + 1))
done
rm -f /tmp/big /tmp/data
used=$(awk '/SwapTotal/ {t=$2} /SwapFree/ {f=$2} END {print t - f}' /proc/meminfo)
echo "# swap used under pressure: $used kB"
D="memory pressure pushed pages to rzs0 ($used kB)"; ok [ "$used" -gt 10000 ]
D="every file reads back (md5)"; ok md5sum -c -s /tmp/sums
rm -f /tmp/f*
D="swapoff"; ok swapoff /dev/rzs0
D="rmmod rzs"; ok rmmod rzs
dmesg >/tmp/dmesg
D="kernel log: no BUG, Oops, WARNING, panic or lockdep report"; ok sh -c '! grep -E "BUG:|Oops|WARNING:|Kernel panic|rust_panic|possible circular|sleeping function called" /tmp/dmesg'
grep -E "BUG:|Oops|WARNING:|Kernel panic|rust_panic|possible circular|sleeping function called" /tmp/dmesg | head -20 | sed 's/^/# /'
echo "# arm64 guest done: $fails failed"
echo "RZS-ARM64-END $fails"
poweroff -f
