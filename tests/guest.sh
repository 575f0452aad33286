#!/usr/bin/env bash
# Runs inside the test VM (started by tests/vm.sh): each suite with a timeout, its
# TAP saved to $OUT/<suite>.tap, the kernel log to $OUT/dmesg.txt, and a marker file
# that tells the host the guest got to the end.
#   guest.sh OUT MODE [SUITE...]      MODE: suites | demo | bench | bench-tier | bench-tcg-count
set -u
OUT=$1 MODE=$2
shift 2
RZS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
export RZS_ROOT OUT
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
: "${RZS_SUITE_TIMEOUT:=1200}"
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null
dmesg -n 4 2>/dev/null # keep the console for warnings; full log is saved below

case $MODE in
demo)
	timeout "$RZS_SUITE_TIMEOUT" bash "$RZS_ROOT/tests/demo.sh" 2>&1 | tee "$OUT/demo.log"
	echo "${PIPESTATUS[0]}" >"$OUT/demo.rc"
	;;
bench)
	timeout "$RZS_SUITE_TIMEOUT" bash "$RZS_ROOT/bench/guest.sh" "$OUT" 2>&1 | tee "$OUT/bench.log"
	echo "${PIPESTATUS[0]}" >"$OUT/bench.rc"
	;;
bench-tier)
	timeout "$RZS_SUITE_TIMEOUT" bash "$RZS_ROOT/bench/tier.sh" "$OUT" 2>&1 | tee "$OUT/bench-tier.log"
	echo "${PIPESTATUS[0]}" >"$OUT/bench-tier.rc"
	;;
bench-tcg-count)
	timeout "$RZS_SUITE_TIMEOUT" bash "$RZS_ROOT/bench/tcgcount/guest.sh" "$OUT" 2>&1 | tee "$OUT/bench-tcg-count.log"
	echo "${PIPESTATUS[0]}" >"$OUT/bench-tcg-count.rc"
	;;
suites)
	for s in "$@"; do
		name=$(basename "$s" .sh)
		echo "# suite $name"
		t=$(date +%s)
		timeout -k 10 "$RZS_SUITE_TIMEOUT" bash "$s" >"$OUT/$name.tap" 2>"$OUT/$name.err"
		rc=$?
		echo $rc >"$OUT/$name.rc"
		# Only a summary on the console: the host scans it for kernel reports, and
		# test names must not be mistaken for them.
		echo "# suite $name: exit $rc, $(($(date +%s) - t)) s"
	done
	if [ "${RZS_INJECT:-}" = fail ]; then
		# Harness self-check: a failing test must fail the run.
		printf 'TAP version 13\n1..1\nnot ok 1 - injected failure (RZS_INJECT=fail)\n' >"$OUT/zz-inject.tap"
		echo 1 >"$OUT/zz-inject.rc"
	fi
	;;
esac
if [ "${RZS_INJECT:-}" = oops ]; then
	# Harness self-check: a guest oops must fail the run even though every suite passed.
	echo 1 >/proc/sys/kernel/sysrq
	echo c >/proc/sysrq-trigger
fi
dmesg >"$OUT/dmesg.txt"
[ -e /sys/kernel/debug/kmemleak ] && {
	echo scan >/sys/kernel/debug/kmemleak
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >"$OUT/kmemleak.txt"
}
touch "$OUT/guest-done"
sync
# Leave now: QEMU runs with -no-reboot, so a reboot ends it at once. (Without ACPI
# the kernel cannot power off, and virtme's poweroff would only halt.)
echo 1 >/proc/sys/kernel/sysrq
echo b >/proc/sysrq-trigger
