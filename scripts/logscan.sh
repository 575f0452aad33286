#!/usr/bin/env bash
# Prints every kernel report (BUG, Oops, WARNING, KASAN, lockdep, kmemleak, panic) in
# a guest run's logs: its dmesg, the kernel lines of its console, its kmemleak dump.
#   scripts/logscan.sh OUTDIR
out=$1
pattern='BUG:|Oops|WARNING:|KASAN|UBSAN|kernel BUG|general protection|Kernel panic|possible (recursive|circular) locking|inconsistent lock state|unreferenced object|sleeping function called|panicked at|rust_panic|blocked for more than|soft lockup|hard LOCKUP|rcu.*self-detected stall'
{
	cat "$out/dmesg.txt" 2>/dev/null
	grep -E '^\[ *[0-9]+\.[0-9]+\]' "$out/console.log" 2>/dev/null
	cat "$out/kmemleak.txt" 2>/dev/null
} | grep -E "$pattern" | sort -u
