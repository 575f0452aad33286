#!/usr/bin/env bash
# The module chain: insmod, the codec self-test, /dev/rzs0, rmmod refused while
# open, clean rmmod.
# cost: 2 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
trap cleanup_rzs EXIT

plan 9
ok "insmod rzs.ko" load_rzs
check "dmesg | grep -q 'rzs: lz4_flex self-test ok'" "codec self-test ran at init"
check "[ -b /dev/rzs0 ]" "/dev/rzs0 is a block device"
check "[ \"\$(cat /sys/block/rzs0/queue/logical_block_size)\" = 4096 ]" "logical block size 4096"
check "[ \"\$(cat /sys/block/rzs0/queue/rotational)\" = 0 ]" "non-rotational"
exec 3</dev/rzs0
fails "rmmod refused while /dev/rzs0 is open" rmmod rzs
exec 3<&-
ok "rmmod rzs" unload_rzs
check "[ ! -e /dev/rzs0 ]" "/dev/rzs0 gone after rmmod"
check "dmesg | grep -q 'rzs: unloading'" "unload logged"
tap_exit
