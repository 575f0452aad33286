#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print kbuild's own rustc command line for one of rzs.ko's crate objects, taken from
the `.NAME.o.cmd` file kbuild wrote when it built rzs.ko, with only its input, crate
name and output paths changed, so the benchmark compiles code exactly as rzs.ko's
build does (flags are never copied by hand).

  kcmd.py CMDFILE --src FILE --crate-name NAME --out-dir DIR --lib-dir DIR [--extern C]...

Fails if the command does not have the shape Kbuild's `rzs_rlib` rule gives it.
"""
import argparse
import re
import shlex
import sys

ap = argparse.ArgumentParser()
ap.add_argument("cmdfile")
ap.add_argument("--src", required=True)
ap.add_argument("--crate-name", required=True)
ap.add_argument("--out-dir", required=True)
ap.add_argument("--lib-dir", required=True, help="replaces -L $(obj): where --extern crates are")
ap.add_argument("--extern", action="append", default=[])
ap.add_argument("--extra", action="append", default=[], help="a flag added before the source")
ap.add_argument("--features", help="replace the crate's --cfg feature=... with these (comma-separated)")
a = ap.parse_args()

cmd = None
with open(a.cmdfile) as f:
    for line in f:
        m = re.match(r"^savedcmd_\S+ := (.*)$", line.rstrip("\n"))
        if m:
            cmd = m.group(1)
if cmd is None:
    sys.exit(f"kcmd.py: no savedcmd line in {a.cmdfile}")
tok = shlex.split(cmd)
obj_dir = None
seen = {"name": 0, "obj": 0, "meta": 0, "dep": 0, "src": 0}
out = []
i = 0
while i < len(tok):
    t = tok[i]
    if t == "--crate-name":
        out += [t, a.crate_name]
        seen["name"] += 1
        i += 2
        continue
    if t.startswith("--emit=obj="):
        obj_dir = t[len("--emit=obj="):].rsplit("/", 1)[0]
        out.append(f"--emit=obj={a.out_dir}/{a.crate_name}.o")
        seen["obj"] += 1
    elif t.startswith("--emit=metadata="):
        out.append(f"--emit=metadata={a.out_dir}/lib{a.crate_name}.rmeta")
        seen["meta"] += 1
    elif t.startswith("--emit=dep-info="):
        out.append(f"--emit=dep-info={a.out_dir}/.{a.crate_name}.d")
        seen["dep"] += 1
    elif i == len(tok) - 1 and t.endswith(".rs"):
        out.append(a.src)
        seen["src"] += 1
    else:
        out.append(t)
    i += 1
if any(v != 1 for v in seen.values()) or obj_dir is None:
    sys.exit(f"kcmd.py: {a.cmdfile}: not the command shape expected ({seen})")
# -L $(obj) (the module's build directory) -> the variant's library directory.
res = []
i = 0
replaced = 0
while i < len(out):
    if out[i] == "-L" and i + 1 < len(out) and out[i + 1].rstrip("/") == obj_dir.rstrip("/"):
        res += ["-L", a.lib_dir]
        replaced += 1
        i += 2
        continue
    res.append(out[i])
    i += 1
if replaced != 1:
    sys.exit(f"kcmd.py: {a.cmdfile}: no single -L {obj_dir} to replace")
if a.features is not None:
    kept = []
    i = 0
    while i < len(res):
        if res[i] == "--cfg" and i + 1 < len(res) and res[i + 1].startswith("feature="):
            i += 2
            continue
        kept.append(res[i])
        i += 1
    res = kept
    for f in filter(None, a.features.split(",")):
        res[-1:-1] = ["--cfg", f'feature="{f}"']
for e in a.extern:
    res[-1:-1] = ["--extern", e]
for x in a.extra:
    res[-1:-1] = [x]
print(shlex.join(res))
