#!/usr/bin/env bash
# `make mutate` (part of `make stress`): proof that the guest suites catch real faults.
# For each deliberate fault in tests/mutations/*.patch: build rzs.ko with it, boot the
# test kernel, run the guest suites on that module, and name the suites that failed.
# A fault that no suite catches is a missing test, and fails this run.
#   scripts/mutate.sh KDIR [MUTATION.patch...]
# Environment: RZS_MUTATE_SUITES (default: every suite but those with a '# mutate: skip'
# line, which never see the mutant), RZS_OUT (default tests/out).
# Prints TAP, and writes the fault -> suites table to $RZS_OUT/mutate/table.md.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
kdir=${1:?usage: mutate.sh KDIR [MUTATION.patch...]}
shift
muts=("$@")
[ ${#muts[@]} -gt 0 ] || muts=("$root"/tests/mutations/*.patch)
read -r -a suites <<<"${RZS_MUTATE_SUITES:-$(grep -L '^# mutate: skip' "$root"/tests/suites/*.sh | tr '\n' ' ')}"
out=${RZS_OUT:-$root/tests/out}/mutate
rm -rf "$out" && mkdir -p "$out"
table=$out/table.md
{
	echo "| Fault (tests/mutations/) | Suites that failed |"
	echo "|---|---|"
} >"$table"

echo "TAP version 13"
echo "1..${#muts[@]}"
n=0 missed=0
for m in "${muts[@]}"; do
	n=$((n + 1))
	name=$(basename "$m" .patch)
	d=$out/$name
	mkdir -p "$d/src"
	copy_module_tree "$d/src"
	if ! patch -s -p1 -d "$d/src" <"$m" >"$d/patch.log" 2>&1; then
		echo "not ok $n - $name: the mutation does not apply to the sources (update it)"
		missed=$((missed + 1)); continue
	fi
	# shellcheck disable=SC2086
	if ! make -s -C "$kdir" M="$d/src" $KMAKE_VARS modules >"$d/build.log" 2>&1; then
		echo "not ok $n - $name: the mutant does not build (log: $d/build.log)"
		missed=$((missed + 1)); continue
	fi
	start=$(date +%s)
	# The guest suites as make test runs them (in lanes), on the mutant.
	RZS_GUEST_ONLY=1 RZS_OUT=$d/out RZS_KO=$d/src/rzs.ko RZS_SUITE_TIMEOUT=${RZS_SUITE_TIMEOUT:-300} \
		RZS_VM_TIMEOUT=${RZS_VM_TIMEOUT:-2400} "$root/scripts/test.sh" "$kdir" "${suites[@]}" >"$d/test.log" 2>&1
	caught=()
	for s in "${suites[@]}"; do
		sn=$(basename "$s" .sh)
		tap=$d/out/$sn.tap rc=$(cat "$d/out/$sn.rc" 2>/dev/null || echo none)
		if [ "$rc" = none ]; then
			caught+=("$sn (did not finish)")
			continue
		fi
		nf=$(grep -c '^not ok ' "$tap")
		planned=$(sed -nE 's/^1\.\.([0-9]+).*/\1/p' "$tap" | head -n1)
		ran=$(grep -cE '^(not )?ok ' "$tap")
		if [ "$nf" -gt 0 ]; then
			first=$(grep '^not ok ' "$tap" | head -n1 | sed -E 's/^not ok [0-9]+ - //; s/ *#.*//; s/ \[.*\]$//; s/\|/\//g' | cut -c1-70)
			caught+=("$sn: $first$([ "$nf" -gt 1 ] && echo " (+$((nf - 1)) more)")")
		elif [ "$rc" != 0 ] || { [ -n "$planned" ] && [ "$planned" != "$ran" ]; }; then
			caught+=("$sn: exit $rc, ran $ran of ${planned:-?}")
		fi
	done
	grep -q '^not ok - guest kernel log has reports' "$d/test.log" &&
		caught+=("kernel log: $(grep -A1 '^not ok - guest kernel log has reports' "$d/test.log" | tail -n1 | sed 's/^#  *//; s/|/\//g' | cut -c1-60)")
	secs=$(($(date +%s) - start))
	if [ ${#caught[@]} -gt 0 ]; then
		list=$(printf '%s; ' "${caught[@]}")
		list=${list%; }
		echo "ok $n - $name: caught by $list (${secs} s)"
		echo "| $name | ${list//; /<br>} |" >>"$table"
	else
		echo "not ok $n - $name: no suite failed: a missing test (${secs} s; logs: $d/out)"
		echo "| $name | **none** |" >>"$table"
		missed=$((missed + 1))
	fi
done
echo "# table: $table"
[ $missed = 0 ]
