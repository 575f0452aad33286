#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns rzs-kcodec-bench's JSON into bench/results/codec-kernel.{json,md}.

  report.py RUN.json RESULTS_DIR KERNEL_NAME

Ratios are lz4_flex / kernel C: each rep's two throughputs (measured next to each
other) give one ratio; the table shows the median ratio and its min-max over reps.
Size is lz4_flex's stored bytes / C's (pages not compressing below 4 KiB count 4096).
"""
import json
import os
import statistics
import sys

run_path, results, kname = sys.argv[1:4]
run = json.load(open(run_path))


def ratios(a, b):
    return [x / y for x, y in zip(a, b) if y > 0]


def cell(r):
    return f"{statistics.median(r):.2f} ({min(r):.2f}-{max(r):.2f})"


summary = {"kernel": kname, "reps": run["reps"], "features": run["features"],
           "alternatives_applied": run["alternatives_applied"], "classes": {}}
lines = [
    "# Codec: lz4_flex as rzs.ko builds it vs the kernel's C lz4",
    "",
    f"`make bench-codec` against {kname}: lz4_flex/rzs_core objects of the rzs.ko build and "
    "the kernel's lib/lz4 objects, both on the kernel's mem* routines with this CPU's "
    f"alternatives (erms {run['features']['erms']}, fsrm {run['features']['fsrm']}, "
    f"fsrs {run['features']['fsrs']}; {run['alternatives_applied']} applied). "
    f"Ratios lz4_flex / C, median (min-max) of {run['reps']} interleaved reps; "
    "> 1: lz4_flex faster (size: < 1 smaller).",
    "",
]
variants = run["variants"]
classes = list(run["classes"])
for v in variants:
    lines += [f"**{v}**", "",
              "| | " + " | ".join(classes) + " |",
              "|---|" + "---|" * len(classes)]
    direct = all(run["classes"][c][v].get("decompress_direct") for c in classes)
    rows = {"compress": [], "decompress": [], "decompress C's stream": []}
    if direct:
        rows["decompress, O_DIRECT read (volatile, into the user's page)"] = []
    rows["size"] = []
    for c in classes:
        d = run["classes"][c]
        C, f = d["C"], d[v]
        comp = ratios(f["compress"], C["compress"])
        dec = ratios(f["decompress"], C["decompress"])
        decc = ratios(f["decompress_c_stream"], C["decompress"])
        size = f["bytes"] / C["bytes"]
        rows["compress"].append(cell(comp))
        rows["decompress"].append(cell(dec))
        rows["decompress C's stream"].append(cell(decc))
        if direct:
            decd = ratios(f["decompress_direct"], C["decompress"])
            rows["decompress, O_DIRECT read (volatile, into the user's page)"].append(cell(decd))
        rows["size"].append(f"{size:.4f}")
        summary["classes"].setdefault(c, {"pages": d["pages"], "C_MBps": {
            "compress": statistics.median(C["compress"]),
            "decompress": statistics.median(C["decompress"])}})[v] = {
            "compress": {"median": statistics.median(comp), "min": min(comp), "max": max(comp)},
            "decompress": {"median": statistics.median(dec), "min": min(dec), "max": max(dec)},
            "decompress_c_stream": {"median": statistics.median(decc), "min": min(decc),
                                    "max": max(decc)},
            **({"decompress_direct": {"median": statistics.median(decd), "min": min(decd),
                                      "max": max(decd)}} if direct else {}),
            "size": size,
            "MBps": {"compress": statistics.median(f["compress"]),
                     "decompress": statistics.median(f["decompress"])},
        }
    for k, r in rows.items():
        lines.append(f"| {k} | " + " | ".join(r) + " |")
    lines.append("")
lines.append("C throughput (MB/s of pages, median): " + "; ".join(
    f"{c} {summary['classes'][c]['C_MBps']['compress']:.0f} / "
    f"{summary['classes'][c]['C_MBps']['decompress']:.0f}" for c in classes) +
    " (compress / decompress).")
os.makedirs(results, exist_ok=True)
with open(os.path.join(results, "codec-kernel.json"), "w") as f:
    json.dump(summary, f, indent=1)
with open(os.path.join(results, "codec-kernel.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
