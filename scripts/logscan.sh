#!/usr/bin/env bash
# Prints every kernel report (BUG, Oops, WARNING, KASAN, lockdep, kmemleak, panic) in
# a guest run's logs: its dmesg, its console (which also holds what a crash printed
# after the last dmesg snapshot; test output is not echoed there) and its kmemleak
# dump.
# virtme-ng-init's own warnings (it logs to the kernel log too) are not kernel
# reports: on a bare Debian it warns that ip and systemd-tmpfiles are missing.
#   scripts/logscan.sh OUTDIR
out=$1
pattern='BUG:|Oops|WARNING:|KASAN|UBSAN|kernel BUG|general protection|Kernel panic|possible (recursive|circular) locking|inconsistent lock state|unreferenced object|sleeping function called|panicked at|rust_panic|blocked for more than|soft lockup|hard LOCKUP|rcu.*self-detected stall'
{
	cat "$out/dmesg.txt" 2>/dev/null
	grep -v -e '^Command line:' -e '^Kernel command line:' "$out/console.log" 2>/dev/null
	cat "$out/kmemleak.txt" 2>/dev/null
} | grep -v 'virtme-ng-init: ' | grep -E "$pattern" | sort -u
