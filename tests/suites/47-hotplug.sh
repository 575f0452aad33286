#!/usr/bin/env bash
# Devices added and removed at run time, as zram's: /sys/class/rzs-control/hot_add
# (read: a new device's index, the lowest free) and hot_remove (write an index);
# EBUSY while open or swapped on, ENODEV/EINVAL/EPERM/ENOSPC; removal racing opens
# and I/O; rzsctl --find (a free device, locked, or a new one) and rzsctl remove;
# num_devices=0; statistics for a user who cannot open the node (sysfs rzs_stat).
# cost: 40 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
trap 'kill $(jobs -p) 2>/dev/null; cleanup_rzs' EXIT
C=/sys/class/rzs-control
T=$(mktemp -d)
chmod 755 "$T"
cp "$RZS_ROOT/target/release/rzsctl" "$T/rzsctl"
rzsctl=$T/rzsctl
# is DESC GOT WANT: passes if GOT is WANT.
is() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got '$2', want '$3')"; fi; }
# add: reads hot_add; prints the index or the error text.
add() { local e; if e=$("$@" cat $C/hot_add 2>&1); then echo "$e"; else echo "${e##*: }"; fi; }
# rm_dev N [PREFIX...]: writes N to hot_remove; prints "ok" or the error text.
rm_dev() {
	local n=$1 e
	shift
	if e=$("$@" bash -c "echo '$n' >$C/hot_remove" 2>&1); then echo ok; else echo "${e##*: }"; fi
}
noadmin() { setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin "$@"; }
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
devs() { ls /sys/block | grep -E '^rzs[0-9]+$' | sort -V | tr '\n' ' ' | sed 's/ $//'; }
# exits DESC CODE CMD...: CMD exits with CODE.
exits() {
	local desc=$1 want=$2 err rc
	shift 2
	err=$("$@" 2>&1 >/dev/null) && rc=0 || rc=$?
	[ -n "$err" ] && diag "$err"
	if [ "$rc" = "$want" ]; then pass "$desc"; else fail "$desc (exit $rc, want $want)"; fi
}

plan 39
# --- 1. The control files -----------------------------------------------------------
dmesg -C
ok "insmod num_devices=0" insmod "$RZS_KO" num_devices=0
is "no device at load" "$(devs)" ""
is "hot_add is 0400, hot_remove 0200 (root's, as zram's)" "$(stat -c %a $C/hot_add) $(stat -c %a $C/hot_remove)" "400 200"
is "hot_add without CAP_SYS_ADMIN: EPERM" "$(add noadmin)" "Operation not permitted"
is "hot_add: 0" "$(add)" 0
is "hot_add: 1" "$(add)" 1
check "[ -b /dev/rzs0 ] && [ -b /dev/rzs1 ] && [ \"\$(cat /sys/block/rzs1/initstate)\" = 0 ]" "/dev/rzs0 and /dev/rzs1 exist, unsized"
is "hot_remove 9 (none): ENODEV" "$(rm_dev 9)" "No such device"
is "hot_remove x: EINVAL" "$(rm_dev x)" "Invalid argument"
is "hot_remove -1: EINVAL" "$(rm_dev -1)" "Invalid argument"
is "hot_remove without CAP_SYS_ADMIN: EPERM" "$(rm_dev 0 noadmin)" "Operation not permitted"
is "hot_remove 0" "$(rm_dev 0)" ok
check "[ ! -e /sys/block/rzs0 ] && [ ! -e /dev/rzs0 ]" "rzs0 is gone (sysfs and node)"
is "hot_add reuses the lowest free index: 0" "$(add)" 0

# --- 2. Busy: open, swapped on --------------------------------------------------------
echo 64M >/sys/block/rzs1/disksize
head -c $((4 << 20)) /dev/urandom >$T/data
dd if=$T/data of=/dev/rzs1 bs=1M oflag=direct status=none
exec 3</dev/rzs1
is "hot_remove while open: EBUSY" "$(rm_dev 1)" "Device or resource busy"
exec 3<&-
check "cmp -s $T/data <(head -c $((4 << 20)) /dev/rzs1)" "the data is intact after the refused remove"
ok "mkswap + swapon rzs1" bash -c "mkswap /dev/rzs1 >/dev/null && swapon /dev/rzs1"
is "hot_remove while swapped on: EBUSY" "$(rm_dev 1)" "Device or resource busy"
exits "rzsctl remove while swapped on: exit 6 (busy)" 6 "$rzsctl" remove rzs1
ok "swapoff" swapoff /dev/rzs1
is "hot_remove after swapoff" "$(rm_dev 1)" ok

# --- 3. Races -----------------------------------------------------------------------
is "hot_add: 1" "$(add)" 1
(rm_dev 1 >$T/r1) & (rm_dev 1 >$T/r2) &
wait
is "two hot_remove of one device: one ok, one ENODEV" "$(sort $T/r1 $T/r2 | tr '\n' ,)" "No such device,ok,"
# Add and remove in a loop while another process opens every rzs node, reads its
# statistics and writes to it: a remove either wins (the open fails) or gets EBUSY.
cat >$T/opener.py <<'PY'
import fcntl, glob, os, struct, sys, time
end = time.time() + float(sys.argv[1])
n = 0
while time.time() < end:
    for d in glob.glob("/dev/rzs*"):
        try:
            fd = os.open(d, os.O_RDWR)
        except OSError:
            continue
        try:
            buf = bytearray(struct.pack("I", 160) + bytes(156))
            fcntl.ioctl(fd, 0xC0A0B900, buf)
            os.pwrite(fd, b"x" * 4096, 0)
        except OSError:
            pass
        os.close(fd)
        n += 1
print(n)
PY
python3 $T/opener.py 8 >$T/opens &
bad=0 removed=0
for i in $(seq 40); do
	n=$(add)
	case $n in [0-9]*) ;; *) bad=$((bad + 1)); continue ;; esac
	echo 1M >/sys/block/rzs$n/disksize 2>/dev/null
	for try in $(seq 100); do
		r=$(rm_dev $n)
		[ "$r" = ok ] && { removed=$((removed + 1)); break; }
		[ "$r" = "Device or resource busy" ] || { bad=$((bad + 1)); diag "hot_remove $n: $r"; break; }
	done
done
wait
diag "40 add/remove rounds against $(cat $T/opens) opens: $removed removed, $bad unexpected results"
is "add/remove racing opens and I/O: every device removed, no other error" "$removed $bad" "40 0"
is "only rzs0 is left" "$(devs)" rzs0

# --- 4. Every index ---------------------------------------------------------------------
last=0
while n=$(add) && [[ $n =~ ^[0-9]+$ ]]; do last=$n; done
is "hot_add past index 255: ENOSPC" "$n" "No space left on device"
is "256 devices, the last rzs255" "$(devs | wc -w) $last" "256 255"
for i in $(seq 1 255); do echo $i >$C/hot_remove; done
is "all but rzs0 removed" "$(devs)" rzs0

# --- 5. rzsctl --find and remove ------------------------------------------------------
is "rzsctl --find: the free rzs0" "$("$rzsctl" --find)" /dev/rzs0
is "rzsctl --find --size 32M: rzs0, sized" "$("$rzsctl" --find --size 32M) $(cat /sys/block/rzs0/disksize)" "/dev/rzs0 33554432"
is "rzsctl --find --size 16M --mem-limit 8M: a new rzs1" \
	"$("$rzsctl" --find --size 16M --mem-limit 8M) $(cat /sys/block/rzs1/disksize) $(cat /sys/block/rzs1/mem_limit)" \
	"/dev/rzs1 16777216 8388608"
# Two at once: flock keeps them from picking the same device.
cat $C/hot_add >/dev/null # rzs2, free
("$rzsctl" --find --size 16M >$T/f1 2>&1) & ("$rzsctl" --find --size 16M >$T/f2 2>&1) &
wait
is "two rzsctl --find at once: two devices, both sized" \
	"$(sort $T/f1 $T/f2 | tr '\n' ' ')$(cat /sys/block/rzs2/initstate)$(cat /sys/block/rzs3/initstate)" "/dev/rzs2 /dev/rzs3 11"
ok "rzsctl remove /dev/rzs3" "$rzsctl" remove /dev/rzs3
exits "rzsctl remove rzs7 (none): exit 3" 3 "$rzsctl" remove rzs7
exits "rzsctl remove as nobody: exit 5" 5 nobody "$rzsctl" remove rzs2

# --- 6. Statistics for a user who may not open the node ---------------------------------
dd if=$T/data of=/dev/rzs0 bs=1M count=2 oflag=direct status=none
chmod 600 /dev/rzs0
want=$("$rzsctl" stats rzs0 --json | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["disksize"], o["num_writes"], o["compr_data_size"])')
got=$(nobody "$rzsctl" stats rzs0 --json | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["disksize"], o["num_writes"], o["compr_data_size"])')
is "nobody's rzsctl stats (from sysfs) matches root's" "$got" "$want"
exits "nobody's rzsctl --size: exit 5 (permission denied)" 5 nobody "$rzsctl" rzs1 --mem-limit 4M
is "rmmod with hot-added devices" "$(rmmod rzs 2>&1 && echo ok)" ok
check "[ ! -e $C ]" "/sys/class/rzs-control is gone"
rm -rf "$T"
tap_exit
