#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The arm64 codec's loads and stores: word-sized, not byte by byte. Counts, in
`objdump -d` of an arm64 rzs.ko, the instructions of the codec's hot functions
(lz4_flex's compress_small_block, rzs_core's decompress and decompress_racy) and
how many of them are byte loads and stores (ldrb, strb, ldurb, sturb). Built for
the kernel's Rust target as is (+strict-align), every unaligned access of these
functions is byte accesses, about a third of their instructions; Kbuild builds the
two codec crates with -Ctarget-feature=-strict-align on arm64, as the kernel's C is
built. Fails (exit 1) if a function is missing or more than MAX_SHARE (default 0.05)
of its instructions are byte accesses.

    scripts/codec-align-check.py rzs.ko [OBJDUMP] [MAX_SHARE]
"""
import re
import subprocess
import sys

ko = sys.argv[1]
objdump = sys.argv[2] if len(sys.argv) > 2 else "objdump"
max_share = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05
hot = {
    "compress_small_block": re.compile(r"lz4_flex5block8compress20compress_small_block"),
    "decompress": re.compile(r"rzs_core5codec10decompress$"),
    "decompress_racy": re.compile(r"rzs_core5codec15decompress_racy$"),
}
byte_ops = {"ldrb", "strb", "ldurb", "sturb"}
out = subprocess.run([objdump, "-d", "--no-show-raw-insn", ko], capture_output=True, text=True, check=True).stdout
counts = {name: [0, 0] for name in hot}
cur = None
for line in out.splitlines():
    m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
    if m:
        cur = next((name for name, rx in hot.items() if rx.search(m.group(1))), None)
        continue
    m = re.match(r"^\s+[0-9a-f]+:\s+(\S+)", line)
    if m and cur:
        counts[cur][0] += 1
        counts[cur][1] += m.group(1) in byte_ops
failed = False
for name, (n, b) in counts.items():
    if n == 0:
        print(f"not ok - {name} is in {ko}")
        failed = True
    elif b > max_share * n:
        print(f"not ok - {name}: {b} of its {n} instructions are byte loads or stores (more than {max_share:.0%})")
        failed = True
    else:
        print(f"ok - {name}: {b} of its {n} instructions are byte loads or stores")
sys.exit(1 if failed else 0)
