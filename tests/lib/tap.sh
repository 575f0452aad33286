# Minimal TAP 13 helpers for rzs suites (kselftest style). Sourced by suites.
#   plan N; ok "desc" cmd...; check COND "desc"; skip "desc" "reason"; diag "text"
# Each suite prints "TAP version 13", a plan and one line per test; exit status is
# non-zero when any test failed.
_tap_n=0
_tap_fail=0
plan() { echo "TAP version 13"; echo "1..$1"; }
diag() { printf '# %s\n' "$*"; }
pass() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
fail() { _tap_n=$((_tap_n + 1)); _tap_fail=$((_tap_fail + 1)); echo "not ok $_tap_n - $*"; }
skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1 # SKIP $2"; }
# ok DESC CMD...: runs CMD (output shown as diagnostics), passes if it exits 0.
ok() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1) && rc=0 || rc=$?
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /' | head -n 40
	if [ $rc = 0 ]; then pass "$desc"; else fail "$desc (exit $rc)"; fi
}
# fails DESC CMD...: passes if CMD exits non-zero.
fails() {
	local desc=$1 rc
	shift
	"$@" >/dev/null 2>&1 && rc=0 || rc=$?
	if [ $rc != 0 ]; then pass "$desc"; else fail "$desc (unexpectedly succeeded)"; fi
}
check() { if eval "$1"; then pass "$2"; else fail "$2 [$1]"; fi; }
tap_exit() { exit $((_tap_fail > 0)); }
