#!/usr/bin/env bash
# `make test`: every test rzs has, one summary line at the end.
#   1. userspace: cargo test on the workspace (and rzs-core once more on the patched
#      lz4_flex the module links, and lz4_flex's own unit tests with its patches':
#      scripts/crate-tests.sh), cargo fmt --check, cargo clippy -D warnings,
#      cargo fuzz (scripts/fuzz.sh: $RZS_FUZZ_SECONDS s per target, default 20), and
#      the codec check: rzs.ko's lz4_flex objects and the kernel's lib/lz4 must decode
#      each other's streams (scripts/bench-codec.sh, BENCH_CODEC_CHECK=1); no stack
#      frame of rzs.ko over 2 KiB (scripts/stack-check.py)
#   2. guest: the QEMU-booted suites under tests/suites/ (TAP), plus a scan of the guest's
#      kernel log for BUG / Oops / WARNING / KASAN / lockdep / kmemleak reports
# Prints "N passed, N failed, N skipped" and exits non-zero on any failure.
#   scripts/test.sh KDIR [SUITE...]     (RZS_GUEST_ONLY=1: step 2 only; RZS_QUICK=1:
#                                        make check's subset of step 1; RZS_VM: the
#                                        guest runner, default tests/vm.sh)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
kdir=$1
shift
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=("$root"/tests/suites/*.sh)
out=${RZS_OUT:-$root/tests/out}
passed=0 failed=0 skipped=0
t0=$(date +%s)
# section TITLE: a "== TITLE" header with the seconds since the start (where time goes).
section() { echo "== $* [+$(($(date +%s) - t0)) s]"; }
failures=()
count() { # result desc
	case $1 in
	pass) passed=$((passed + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$2") ;;
	esac
}

# RZS_GUEST_ONLY=1 (make stress): only the guest suites, not the userspace and build checks.
# RZS_QUICK=1 (make check): skip the slow checks (patched-crate tests, fuzzing, the
# codec cross-check, checkpatch, the bdev-only build).
slow() { [ -z "${RZS_QUICK:-}" ]; }
if [ -z "${RZS_GUEST_ONLY:-}" ]; then
	# cargo_tally WHAT OUTPUT: prints cargo test's failures and summaries from OUTPUT
	# and adds its counts to the totals; a failure if it did not run or did not build.
	cargo_tally() {
		local what=$1 o=$2 p f i
		printf '%s\n' "$o" | grep -E '^test |^test result|panicked|^error' | grep -v ' \.\.\. ok$' || true
		while read -r p f i; do
			passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + i))
			[ "$f" -gt 0 ] && failures+=("$what: $f failed")
		done < <(printf '%s\n' "$o" | sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/p')
		printf '%s\n' "$o" | grep -q '^test result' || count fail "$what did not run (build error?)"
		if printf '%s\n' "$o" | grep -q '^error'; then count fail "$what: build error"; fi
	}
	section "userspace: cargo test"
	if cargo_out=$(cd "$root" && cargo test --workspace --locked 2>&1); then :; fi
	cargo_tally "cargo test" "$cargo_out"

	if slow; then
		section "userspace: rzs-core again, on lz4_flex as the module builds it (scripts/patches/crates/)"
		if ws=$("$root/scripts/patched-ws.sh") && pout=$(cd "$ws" && cargo test -p rzs-core --features patched-codec 2>&1); then :; fi
		cargo_tally "cargo test (patched lz4_flex)" "${pout:-}"

		section "userspace: lz4_flex's own tests, with the patches' (scripts/crate-tests.sh)"
		if cout=$("$root/scripts/crate-tests.sh" lz4_flex); then :; fi
		cargo_tally "lz4_flex's tests" "${cout:-}"
	fi
	section "userspace: style and lints"
	if (cd "$root" && cargo fmt --all --check >/dev/null 2>&1); then count pass; echo "ok - cargo fmt --check"; else
		count fail "cargo fmt --check"; echo "not ok - cargo fmt --check"; fi
	if (cd "$root" && cargo clippy --workspace --all-targets --locked -q -- -D warnings >"$out.clippy.log" 2>&1); then
		count pass; echo "ok - cargo clippy -D warnings"
	else count fail "cargo clippy -D warnings"; echo "not ok - cargo clippy -D warnings"; sed 's/^/# /' "$out.clippy.log" | head -n 30; fi
	# rzs-core's code for the patched codec (feature patched-codec: what the module
	# ships, such as codec::decompress_racy) is compiled only against the patched crate.
	if slow; then
		if ws=$("$root/scripts/patched-ws.sh") && (cd "$ws" && cargo clippy -p rzs-core --all-targets --features patched-codec -q -- -D warnings >"$out.clippy-patched.log" 2>&1); then
			count pass; echo "ok - cargo clippy -D warnings (rzs-core, patched lz4_flex)"
		else count fail "cargo clippy (patched)"; echo "not ok - cargo clippy -D warnings (rzs-core, patched lz4_flex)"; sed 's/^/# /' "$out.clippy-patched.log" | head -n 30; fi
	fi

	if slow; then
		fuzz_secs=${RZS_FUZZ_SECONDS:-20}
		section "userspace: cargo fuzz ($fuzz_secs s per target)"
		fz=$("$root/scripts/fuzz.sh" "$fuzz_secs")
		fz_rc=$?
		printf '%s\n' "$fz"
		fz_nf=0
		while IFS= read -r line; do
			case $line in
			"not ok - "*) count fail "${line#not ok - }"; fz_nf=$((fz_nf + 1)) ;;
			"ok - "*) count pass ;;
			esac
		done <<<"$fz"
		[ $fz_rc != 0 ] && [ $fz_nf = 0 ] && count fail "cargo fuzz: scripts/fuzz.sh exited $fz_rc"

		section "codec: rzs.ko's lz4_flex objects against the kernel's own lib/lz4 (scripts/bench-codec.sh)"
		if [ "$(uname -m)" = x86_64 ]; then
			cc_out=$(BENCH_CODEC_CHECK=1 "$root/scripts/bench-codec.sh" "$kdir" 2>"$out.codec-check.log")
			cc_rc=$?
			printf '%s\n' "$cc_out"
			case $cc_out in
			"ok - "*) [ $cc_rc = 0 ] && count pass || count fail "codec check exited $cc_rc" ;;
			*) count fail "codec: lz4_flex and the kernel's lib/lz4 on each other's streams"
				[ -n "$cc_out" ] || tail -n 20 "$out.codec-check.log" | sed 's/^/# /' ;;
			esac
		else
			count skip; echo "ok - codec check # SKIP the harness applies x86-64 alternatives"
		fi

		section "kernel patches: apply to the test kernel's source, checkpatch --strict clean"
		for p in "$root"/scripts/patches/*.patch; do
			[ -e "$p" ] || continue
			if [ -x "$kdir/scripts/checkpatch.pl" ] && perl "$kdir/scripts/checkpatch.pl" --strict --no-tree -q "$p" >"$out.checkpatch.log" 2>&1; then
				count pass; echo "ok - checkpatch --strict $(basename "$p")"
			else
				count fail "checkpatch --strict $(basename "$p")"; echo "not ok - checkpatch --strict $(basename "$p")"
				sed 's/^/# /' "$out.checkpatch.log" | head -n 20
			fi
		done
	fi
	section "module: stack frames (16 KiB kernel stack)"
	sc_out=$(python3 "$root/scripts/stack-check.py" "${RZS_KO:-$root/rzs.ko}" 2048 2>&1)
	sc_rc=$?
	printf '%s\n' "$sc_out"
	if [ $sc_rc = 0 ]; then count pass; else count fail "stack frames of rzs.ko"; fi

	if slow; then
		section "module: also builds for a kernel without the swap event API (swap_notify=bdev only)"
		# ... and with neither cargo nor python on PATH: Kbuild only reads the crate record.
		nb=$out.nopatch-build
		rm -rf "$nb" "$nb.bin" && mkdir -p "$nb" "$nb.bin"
		copy_module_tree "$nb"
		for f in /usr/local/bin/* /usr/bin/* /bin/*; do
			case ${f##*/} in cargo* | rustup | python*) continue ;; esac
			[ -e "$nb.bin/${f##*/}" ] || ln -s "$f" "$nb.bin/${f##*/}"
		done
		# shellcheck disable=SC2086
		if env PATH="$nb.bin" make -s -C "$kdir" M="$nb" $KMAKE_VARS RZS_SWAP_EVENTS=n modules >"$nb.log" 2>&1 && [ -f "$nb/rzs.ko" ] &&
			! nm -u "$nb/rzs.ko" | grep -q register_swap_event_notifier &&
			! grep -q 'warning:' "$nb.log"; then
			count pass; echo "ok - rzs.ko builds warning-free without the swap event API, nor cargo or python on PATH"
		else
			count fail "rzs.ko without the swap event API"; echo "not ok - rzs.ko without the swap event API"
			sed 's/^/# /' "$nb.log" | head -n 30
		fi
		if env PATH="$nb.bin" make -s -C "$kdir" M="$nb" $KMAKE_VARS clean >"$nb.log" 2>&1 && [ ! -e "$nb/rzs.ko" ]; then
			count pass; echo "ok - make clean of the module needs neither cargo nor python"
		else
			count fail "module make clean without cargo"; echo "not ok - module make clean without cargo"
			sed 's/^/# /' "$nb.log" | head -n 10
		fi
		# A KDIR= build picks the toolchain from the tree's auto.conf: on the test kernel,
		# exactly the one scripts/lib.sh built it with.
		tc=$("$root/scripts/kdir-toolchain.sh" "$kdir" 2>&1)
		want=$(printf '%s\n' $KMAKE_VARS | grep -v '^BINDGEN=' | sort | tr '\n' ' ')
		got=$(printf '%s\n' $tc | sort | tr '\n' ' ')
		if [ "$got" = "$want" ]; then
			count pass; echo "ok - scripts/kdir-toolchain.sh finds the test kernel's toolchain ($tc)"
		else
			count fail "kdir-toolchain.sh"; echo "not ok - scripts/kdir-toolchain.sh: got '$got', want '$want'"
		fi
		rm -rf "$nb.bin"
		rm -rf "$nb"
	fi
fi

section "userspace: release build of the tools the guest suites run"
if (cd "$root" && cargo build --release --locked -q --workspace --bins); then count pass; echo "ok - cargo build --release"; else
	count fail "cargo build --release"; echo "not ok - cargo build --release"; fi

section "guest: ${#suites[@]} suites in QEMU ($(basename "$kdir"))"
start=$(date +%s)
# The suites can run in several guests at once (RZS_LANES), each booted once with
# 2 vCPUs; suites are dealt out by the "# cost:" line in their header (seconds under
# TCG, measured), longest first, each to the least loaded guest. The default is one
# guest per 2 host cores: one TCG guest already keeps both cores of this machine kind
# busy (measured: two guests at once took 412 s against one guest's 431 s, each suite
# 2-3x slower), so a second only pays on a machine with more cores.
# RZS_VM: another runner with tests/vm.sh's interface (scripts/arm64.sh: tests/arm64/vm.sh).
vm=${RZS_VM:-$root/tests/vm.sh}
lanes=${RZS_LANES:-$(($(nproc 2>/dev/null || echo 2) / 2))}
[ "$lanes" -ge 1 ] 2>/dev/null || lanes=1
[ ${#suites[@]} -lt "$lanes" ] && lanes=${#suites[@]}
rm -rf "$out"/lane[0-9]*
if [ "$lanes" -le 1 ]; then
	lane_dirs=("$out")
	"$vm" "$kdir" "$out" suites "${suites[@]}"
else
	mkdir -p "$out"
	rm -f "$out"/*.tap "$out"/*.rc "$out"/*.err "$out/guest-done" "$out/console.log" "$out/dmesg.txt" "$out/kmemleak.txt"
	lane_dirs=()
	declare -A lane_of=()
	while read -r l s; do lane_of[$s]=$l; done < <(
		for s in "${suites[@]}"; do
			c=$(sed -nE 's/^# cost: ([0-9]+).*/\1/p' "$s" | head -n1)
			echo "${c:-60} $s"
		done | sort -rn | awk -v n="$lanes" '{
			best = 1; for (i = 2; i <= n; i++) if (load[i] < load[best]) best = i
			load[best] += $1; print best, $2 }')
	pids=()
	for l in $(seq 1 "$lanes"); do
		mine=()
		for s in "${suites[@]}"; do [ "${lane_of[$s]}" = "$l" ] && mine+=("$s"); done
		[ ${#mine[@]} -gt 0 ] || continue
		lane_dirs+=("$out/lane$l")
		echo "# lane $l: $(for s in "${mine[@]}"; do basename "$s" .sh; done | tr '\n' ' ')"
		"$vm" "$kdir" "$out/lane$l" suites "${mine[@]}" &
		pids+=($!)
	done
	wait "${pids[@]}"
	all_done=1
	for d in "${lane_dirs[@]}"; do
		cp "$d"/*.tap "$d"/*.rc "$d"/*.err "$out/" 2>/dev/null
		[ -e "$d/guest-done" ] || all_done=0
	done
	[ $all_done = 1 ] && touch "$out/guest-done"
fi
echo "# guest run took $(($(date +%s) - start)) s in $lanes guest(s); logs in ${lane_dirs[*]}"
for s in "${suites[@]}" "$out/zz-inject.sh"; do
	name=$(basename "$s" .sh)
	tap=$out/$name.tap
	[ "$name" = zz-inject ] && [ ! -e "$tap" ] && continue
	if [ ! -e "$out/$name.rc" ]; then
		echo "not ok - suite $name did not finish (guest crashed or timed out)"
		count fail "suite $name did not finish"
		continue
	fi
	echo "# suite $name ($(cat "${lane_dirs[@]/%//console.log}" 2>/dev/null | sed -nE "s/.*# suite $name: exit [0-9]+, ([0-9]+ s).*/\1/p" | tail -n1))"
	sed 's/^/  /' "$tap"
	nf=0
	while IFS= read -r line; do
		case $line in
		"not ok "*) count fail "$name: ${line#not ok }"; nf=$((nf + 1)) ;;
		"ok "*"# SKIP"*) count skip ;;
		"ok "*) count pass ;;
		esac
	done <"$tap"
	planned=$(sed -nE 's/^1\.\.([0-9]+).*/\1/p' "$tap" | head -n1)
	ran=$(grep -cE '^(not )?ok ' "$tap")
	[ -n "$planned" ] && [ "$planned" != "$ran" ] && count fail "$name: planned $planned tests, ran $ran"
	rc=$(cat "$out/$name.rc")
	[ "$rc" != 0 ] && [ $nf = 0 ] && count fail "$name: exited $rc"
done
[ -e "$out/guest-done" ] || count fail "a guest did not reach the end of its run"

# Kernel log scan: the guest's dmesg, and kernel lines of the console (which also
# holds what a crash printed after the last dmesg snapshot).
reports=$(for d in "${lane_dirs[@]}"; do "$root/scripts/logscan.sh" "$d"; done)
if [ -z "$reports" ]; then
	count pass; echo "ok - guest kernel log has no BUG/Oops/WARNING/KASAN/lockdep/kmemleak report"
else
	count fail "guest kernel log reports"
	echo "not ok - guest kernel log has reports:"; printf '%s\n' "$reports" | head -n 20 | sed 's/^/#   /'
fi

# What the stress, fault and fuzz suites measured (the README's reliability figures).
grep -h '^# figure:' "$out"/*.tap 2>/dev/null | sed 's/^# figure:/figure:/'

echo
if [ $failed -gt 0 ]; then
	echo "FAILED:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
