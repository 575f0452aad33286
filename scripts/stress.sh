#!/usr/bin/env bash
# `make stress`: the long reliability runs, too long for `make test`'s CI budget.
#   1. cargo fuzz on rzs-core, RZS_STRESS_FUZZ_SECS (180) per target;
#   2. the stress, bad-input and zram-regression suites on the std test kernel, for
#      minutes instead of seconds (RZS_STRESS_SECS, RZS_STRESS_STORM_SECS, ...);
#   3. every guest suite on the debug kernel (KASAN, lockdep, DEBUG_ATOMIC_SLEEP,
#      kmemleak with a scan at the end, failslab, Rust debug assertions and overflow
#      checks), with its kernel log scanned for any report. This is here rather than
#      in `make test` because it does not fit CI's 90 minutes after a cold `make test`:
#      the debug kernel builds in ~12-20 min and its suites take ~50 min under TCG;
#   4. every guest suite on the PREEMPT_RT kernel (KERNEL=rt: spinlock_t and
#      local_lock sleep, lockdep with the RT wait-context checks, DEBUG_ATOMIC_SLEEP),
#      log scanned likewise;
#   5. arm64 (scripts/arm64.sh): the arm64 kernel cross-built, rzs.ko for it, and
#      every guest suite under qemu-system-aarch64 in a Debian arm64 root, rzsctl
#      and rzs-memtest cross-built for it, log scanned likewise;
#   6. the mutation run (scripts/mutate.sh): rzs.ko built with each deliberate fault
#      of tests/mutations/, every guest suite on it; each fault must fail a suite.
# Each part prints its own summary; the last line totals them. Exits non-zero if any
# part failed.
#   scripts/stress.sh KDIR          (KDIR: the std test kernel, as `make test` uses)
# STRESS_PARTS="fuzz std debug rt arm64 mutate" picks parts (default: all six).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
kdir=$1
parts=${STRESS_PARTS:-fuzz std debug rt arm64 mutate}
out=${RZS_OUT:-$root/tests/out}
failed=()
t0=$(date +%s)

if [[ " $parts " == *" fuzz "* ]]; then
	echo "== stress 1/6: cargo fuzz, ${RZS_STRESS_FUZZ_SECS:-180} s per target"
	"$root/scripts/fuzz.sh" "${RZS_STRESS_FUZZ_SECS:-180}" || failed+=("cargo fuzz")
fi

if [[ " $parts " == *" std "* ]]; then
	echo "== stress 2/6: long stress, bad input and regression suites ($(basename "$kdir"))"
	# shellcheck disable=SC2031
	RZS_GUEST_ONLY=1 RZS_OUT="$out/stress" \
		RZS_STRESS_SECS=${RZS_STRESS_SECS:-300} \
		RZS_STRESS_STORM_SECS=${RZS_STRESS_STORM_SECS:-600} \
		RZS_REGRESS_SECS=${RZS_REGRESS_SECS:-60} \
		RZS_IOCTL_FUZZ_N=${RZS_IOCTL_FUZZ_N:-100000} \
		RZS_SUITE_TIMEOUT=3600 RZS_VM_TIMEOUT=7200 \
		"$root/scripts/test.sh" "$kdir" "$root"/tests/suites/{60-stress,70-faults,80-bad-input,90-zram-regress}.sh ||
		failed+=("long suites on the std kernel")
fi

# every_suite VARIANT WHAT: rzs.ko built for the VARIANT test kernel (out of the
# way of the std one), then every guest suite on it.
every_suite() {
	local variant=$1 what=$2 k b
	k=$("$root/scripts/kernel.sh" "$variant") || { failed+=("the $variant kernel did not build"); return; }
	b=$out/$variant-build
	rm -rf "$b" && mkdir -p "$b"
	copy_module_tree "$b"
	# shellcheck disable=SC2086
	if make -s -C "$k" M="$b" $KMAKE_VARS modules >"$b.log" 2>&1; then
		# The races of 90-zram-regress run for RZS_REGRESS_SECS: 12 s (make test's)
		# gave a reset racer no winning round on the debug kernel, whose every
		# rzsctl call takes seconds under TCG.
		RZS_GUEST_ONLY=1 RZS_OUT="$out/$variant" RZS_KO="$b/rzs.ko" \
			RZS_SUITE_TIMEOUT=2400 RZS_VM_TIMEOUT=7200 RZS_REGRESS_SECS=${RZS_REGRESS_SECS:-60} \
			"$root/scripts/test.sh" "$k" || failed+=("suites on the $what kernel")
	else
		sed 's/^/# /' "$b.log" | tail -n 30
		failed+=("rzs.ko for the $what kernel did not build")
	fi
}

if [[ " $parts " == *" debug "* ]]; then
	echo "== stress 3/6: every suite on the debug kernel"
	every_suite debug debug
fi

if [[ " $parts " == *" rt "* ]]; then
	echo "== stress 4/6: every suite on the PREEMPT_RT kernel"
	every_suite rt PREEMPT_RT
fi

if [[ " $parts " == *" arm64 "* ]]; then
	echo "== stress 5/6: arm64 (cross-built kernel, qemu-system-aarch64)"
	RZS_OUT="$out/arm64" "$root/scripts/arm64.sh" || failed+=("arm64")
fi

if [[ " $parts " == *" mutate "* ]]; then
	echo "== stress 6/6: mutation run, every suite on rzs.ko with each deliberate fault"
	RZS_OUT="$out" "$root/scripts/mutate.sh" "$kdir" || failed+=("mutation run: a fault no suite caught")
fi

echo
# The figures the suites reported (GiB verified, pages swapped, faults injected, ...).
for d in stress debug rt arm64/suites; do
	grep -h '^# figure:' "$out/$d"/*.tap 2>/dev/null | sed "s/^# figure:/${d%/*}:/"
done
echo "make stress: $(( ($(date +%s) - t0) / 60 )) min"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "make stress: every part passed"
