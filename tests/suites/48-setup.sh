#!/usr/bin/env bash
# Boot-time set-up as rzs-setup.service runs it: rzsctl setup reads a config (size
# expressions in MiB with ram, min, max; mem-limit; swap-priority), loads the module
# with modprobe, adds, sizes, limits, mkswaps and swaps on each device; running it
# twice is harmless; a wrong config changes nothing; swap on the devices takes a
# real workload; rzsctl teardown swaps off, resets and removes them. The unit file
# passes systemd-analyze verify.
# cost: 30 s (under TCG, std kernel: how make test deals suites out to its guests)
. "$RZS_ROOT/tests/lib/tap.sh"
. "$RZS_ROOT/tests/lib/rzs.sh"
T=$(mktemp -d)
chmod 755 "$T"
KMOD=/lib/modules/$(uname -r)
cleanup() {
	memcg_cleanup
	cleanup_rzs
	umount "$KMOD" /usr/local/sbin 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
cp "$RZS_ROOT/target/release/rzsctl" "$T/rzsctl"
rzsctl=$T/rzsctl
memtest=$RZS_ROOT/target/release/rzs-memtest
is() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (got '$2', want '$3')"; fi; }
devs() { ls /sys/block | grep -E '^rzs[0-9]+$' | sort -V | tr '\n' ' ' | sed 's/ $//'; }
swaps() { awk 'NR > 1 && $1 ~ /rzs/ { print $1 "@" $5 }' /proc/swaps | sort | tr '\n' ' ' | sed 's/ $//'; }
ram_mib=$(awk '/^MemTotal:/ { print $2 / 1024 }' /proc/meminfo)

plan 17
# modprobe finds rzs.ko where an installed module would be: an overlay over this
# kernel's module directory, with rzs.ko in updates/ and depmod run.
mkdir -p $T/upper $T/work
if mount -t overlay overlay -o lowerdir=$KMOD,upperdir=$T/upper,workdir=$T/work $KMOD 2>/dev/null ||
	{ mkdir -p $T/kmod && mount -t tmpfs tmpfs $KMOD; }; then
	mkdir -p $KMOD/updates && cp "$RZS_KO" $KMOD/updates/ && depmod -a
fi
ok "modprobe finds rzs (installed in a scratch $KMOD/updates)" modinfo -n rzs

cat >$T/rzs.conf <<'CONF'
# as /etc/rzs.conf
[rzs0]
size = min(ram / 4, 64)      ; 64 MiB with this guest's RAM
mem-limit = 32
swap-priority = 7

[rzs2]
size = 16M

[rzs3]
size = max(0, ram - 100T)    # 0: left out
CONF
want0=$(awk -v r="$ram_mib" 'BEGIN { s = r / 4; if (s > 64) s = 64; printf "%d", int(s * 1048576 / 4096) * 4096 }')
ok "rzsctl setup (module not loaded)" "$rzsctl" setup --config $T/rzs.conf
check "is_loaded" "setup loaded the module"
is "rzs0 and rzs2 are swap, priorities 7 and 100" "$(swaps)" "/dev/rzs0@7 /dev/rzs2@100"
is "sizes: min(ram / 4, 64) MiB and 16 MiB; mem-limit 32 MiB" \
	"$(cat /sys/block/rzs0/disksize) $(cat /sys/block/rzs2/disksize) $(cat /sys/block/rzs0/mem_limit)" "$want0 16777216 33554432"
is "rzs1 (added on the way to rzs2) is removed again; rzs3 (size 0) never made" "$(devs)" "rzs0 rzs2"
out=$("$rzsctl" setup --config $T/rzs.conf 2>&1)
rc=$?
printf '%s\n' "$out" | while IFS= read -r l; do diag "$l"; done
check "[ $rc = 0 ] && [ \"\$(swaps)\" = '/dev/rzs0@7 /dev/rzs2@100' ] && grep -q 'already swap' <<<'$out'" "setup again: nothing changes, exit 0"
ok "a 96 MiB workload in a 48 MiB cgroup swaps to them, every page verified" run_limited 48 "$memtest" --size 96 --passes 1 --order random
memcg_cleanup
writes=$(awk '$1 == "num_writes" { print $2 }' /sys/block/rzs0/rzs_stat)
check "[ ${writes:-0} -gt 1000 ]" "the workload's pages went to rzs0 ($writes page writes)"

# A wrong config changes nothing.
printf '[rzs5]\nsize = 64\n[rzs6]\nsize = ram +\n' >$T/bad.conf
err=$("$rzsctl" setup --config $T/bad.conf 2>&1)
rc=$?
diag "$err"
check "[ $rc = 7 ] && grep -q 'bad.conf: line 4: size: ' <<<'$err'" "a config error: exit 7, the file and line named"
is "and nothing was set up" "$(devs) | $(swaps)" "rzs0 rzs2 | /dev/rzs0@7 /dev/rzs2@100"

ok "rzsctl teardown" "$rzsctl" teardown --config $T/rzs.conf
is "no rzs swap, no rzs device left" "$(swaps)|$(devs)" "|"
ok "rzsctl teardown again: nothing to do" "$rzsctl" teardown --config $T/rzs.conf
ok "rmmod" rmmod rzs
ok "setup with the module loaded already (rzs0 from num_devices=1)" bash -c "insmod '$RZS_KO' && '$rzsctl' setup -c $T/rzs.conf && '$rzsctl' teardown -c $T/rzs.conf"
rmmod rzs

# The unit file, as systemd reads it: rzsctl where ExecStart's bare name finds it.
if command -v systemd-analyze >/dev/null; then
	mount -t tmpfs tmpfs /usr/local/sbin && cp "$rzsctl" /usr/local/sbin/rzsctl
	out=$(systemd-analyze verify --man=no "$RZS_ROOT/systemd/rzs-setup.service" 2>&1)
	rc=$?
	[ -n "$out" ] && diag "$out"
	check "[ $rc = 0 ]" "systemd-analyze verify rzs-setup.service"
else
	skip "systemd-analyze verify rzs-setup.service" "no systemd-analyze"
fi
tap_exit
