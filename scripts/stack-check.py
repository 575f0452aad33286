#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Stack frames of a kernel module: the largest `sub $N,%rsp` (x86-64) or
`sub sp, sp, #N` (arm64) of each function, from `objdump -d`. Fails (exit 1) if a
function's frame exceeds LIMIT bytes (default 2048, CONFIG_FRAME_WARN's value): the
kernel stack is 16 KiB for everything on it, and the I/O path nests deep.

    scripts/stack-check.py rzs.ko [LIMIT] [OBJDUMP]
"""
import re
import subprocess
import sys

ko = sys.argv[1]
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
objdump = sys.argv[3] if len(sys.argv) > 3 else "objdump"
out = subprocess.run([objdump, "-d", "--no-show-raw-insn", ko], capture_output=True, text=True, check=True).stdout
fn, frames = None, {}
x86 = re.compile(r"\bsub\s+\$0x([0-9a-f]+),%rsp")
arm = re.compile(r"\bsub\s+sp,\s*sp,\s*#0x([0-9a-f]+)(?:,\s*lsl\s*#(\d+))?")
for line in out.splitlines():
    m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
    if m:
        fn = m.group(1)
        continue
    m = x86.search(line)
    n = int(m.group(1), 16) if m else None
    if n is None:
        m = arm.search(line)
        if m:
            n = int(m.group(1), 16) << int(m.group(2) or 0)
    if n is not None and fn:
        frames[fn] = max(frames.get(fn, 0), n)
top = sorted(frames.items(), key=lambda kv: -kv[1])
for f, n in top[:5]:
    print(f"# {n:6} B  {f[:110]}")
big = [(f, n) for f, n in top if n > limit]
if not frames:
    print(f"not ok - no stack frame found in {ko} (objdump output changed?)")
    sys.exit(1)
if big:
    print(f"not ok - {len(big)} function(s) of {ko} have a stack frame over {limit} B")
    sys.exit(1)
print(f"ok - every stack frame of {ko.rsplit('/', 1)[-1]} is at most {limit} B (largest {top[0][1]} B)")
