#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns `make bench-codec-count`'s callgrind runs into bench/results/codec-count.{json,md}.

  count.py COUNT_DIR RESULTS_DIR KERNEL_NAME VARIANT...

COUNT_DIR holds, per class and operation, CLASS.OP.cg (callgrind's output, events
collected inside the harness's `pass` only: one operation over every page of the
class) and CLASS.OP.json (the harness's own output, for the page counts). OP is the
harness's operation number: 0 C compress, 1 C decompress, then per variant v (in
VARIANT order) 2 + 4v compress, +1 decompress its own stream, +2 decompress C's
stream, +3 decompress its own stream into the O_DIRECT (volatile) page.

Per page: instructions (Ir), data accesses (Dr + Dw, callgrind --cache-sim=yes) and
conditional plus indirect branches (Bc + Bi, --branch-sim=yes), a compression over
every page, a decompression over the pages every codec compressed. What these count
does not depend on the machine's load, unlike the timed `make bench-codec`. Under
QEMU's emulation (TCG), where `make bench` runs, an instruction that computes costs
next to nothing, a data access a software TLB lookup, and a branch ends a translated
block; so accesses and branches explain its times where instructions do not.
"""
import json
import os
import sys

count_dir, results, kname = sys.argv[1:4]
variants = sys.argv[4:]
CLASSES = ["binary", "text", "heap", "proc", "fio"]
KINDS = ["compress", "decompress", "decompress C's stream", "decompress, O_DIRECT read"]


def events(path):
    """Ir, Dr + Dw collected in one callgrind output file."""
    names, totals = None, None
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith("totals:") or (line.startswith("summary:") and totals is None):
                totals = [int(x) for x in line.split()[1:]]
    if not names or not totals:
        sys.exit(f"count.py: no events in {path}")
    # callgrind writes only the leading events that are not zero.
    e = dict(zip(names, totals + [0] * (len(names) - len(totals))))
    return e["Ir"], e["Dr"] + e["Dw"], e["Bc"] + e["Bi"]


def per_page(cls, op, decode):
    cg = os.path.join(count_dir, f"{cls}.{op}.cg")
    js = os.path.join(count_dir, f"{cls}.{op}.json")
    if not os.path.exists(cg):
        return None
    run = json.load(open(js))["classes"][cls]
    n = run["decoded_pages"] if decode else run["pages"]
    if n == 0:
        return None
    ir, d, b = events(cg)
    if ir == 0:
        return None  # an operation this build does not have (stock: no O_DIRECT decoder)
    return {"instructions": ir / n, "accesses": d / n, "branches": b / n, "pages": n}


out = {"kernel": kname, "variants": variants, "classes": {}}
for cls in CLASSES:
    if not os.path.exists(os.path.join(count_dir, f"{cls}.0.cg")):
        continue
    c = {"C": {"compress": per_page(cls, 0, False), "decompress": per_page(cls, 1, True)}}
    if not c["C"]["compress"]:
        # C's compressor runs on every page: nothing collected means callgrind's
        # --toggle-collect=pass matched no function, and every count would be empty.
        sys.exit(f"count.py: no events collected for {cls} (is the harness's `pass` still called pass?)")
    if "features" not in out:
        # The CPU features the harness saw under valgrind (which virtualises CPUID):
        # they pick the kernel's mem* variants, as at boot.
        run = json.load(open(os.path.join(count_dir, f"{cls}.0.json")))
        out["features"] = run["features"]
        out["alternatives_applied"] = run["alternatives_applied"]
    for v, name in enumerate(variants):
        c[name] = {k: per_page(cls, 2 + 4 * v + i, i > 0) for i, k in enumerate(KINDS)}
    out["classes"][cls] = c

lines = [
    "# Codec: instructions, data accesses and branches per page, lz4_flex as rzs.ko builds it vs the kernel's C lz4",
    "",
    f"`make bench-codec-count` against {kname}: the objects `make bench-codec` times "
    "(rzs.ko's lz4_flex and rzs_core, the kernel's lib/lz4, both on the kernel's mem* "
    "routines), counted by callgrind (`--cache-sim=yes --branch-sim=yes`, events collected in the "
    "harness's `pass` only: one operation over every page of a class). Per page; a "
    "decompression counts the pages every codec compressed. Data accesses are loads "
    "plus stores (Dr + Dw); branches are conditional and indirect ones (Bc + Bi). "
    "lz4_flex / C in brackets: < 1 is fewer than C. "
    "These counts do not depend on the machine's load. Under QEMU's emulation (TCG), "
    "where `make bench` runs, data accesses (a software TLB lookup each) and branches "
    "(each ends a translated block) are what costs, not instructions. "
    f"CPU features as valgrind presents them, which pick the kernel's mem* variants: "
    f"erms {out['features']['erms']}, fsrm {out['features']['fsrm']}, "
    f"fsrs {out['features']['fsrs']} ({out['alternatives_applied']} alternatives applied).",
    "",
]
for name in variants:
    lines += [f"**{name}**", "",
              "| | " + " | ".join(out["classes"].keys()) + " |",
              "|---|" + "---|" * len(out["classes"])]
    for kind in KINDS:
        for what, label in (("instructions", "instructions"), ("accesses", "data accesses"), ("branches", "branches")):
            row = []
            for cls, c in out["classes"].items():
                r = c[name].get(kind)
                ref = c["C"]["compress" if kind == "compress" else "decompress"]
                if not r or not ref:
                    row.append("-")
                    continue
                row.append(f"{r[what]:,.0f} [{r[what] / ref[what]:.2f}]")
            if any(x != "-" for x in row):
                lines.append(f"| {kind}: {label} | " + " | ".join(row) + " |")
    lines.append("")
lines += ["**C** (the kernel's lib/lz4, as zram calls it)", "",
          "| | " + " | ".join(out["classes"].keys()) + " |",
          "|---|" + "---|" * len(out["classes"])]
for kind in ("compress", "decompress"):
    for what, label in (("instructions", "instructions"), ("accesses", "data accesses"), ("branches", "branches")):
        row = [f"{c['C'][kind][what]:,.0f}" if c["C"][kind] else "-" for c in out["classes"].values()]
        lines.append(f"| {kind}: {label} | " + " | ".join(row) + " |")
lines.append("")

os.makedirs(results, exist_ok=True)
with open(os.path.join(results, "codec-count.json"), "w") as f:
    json.dump(out, f, indent=1)
with open(os.path.join(results, "codec-count.md"), "w") as f:
    f.write("\n".join(lines))
print("\n".join(lines))
