#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarises bench/tier.sh's raw results (make bench-tier).

    tier-report.py RAW RESULTS

RAW holds SETUP.REP files ("rc seconds pswpout sectors_written pool_peak_bytes
wb_pages failed_writes mismatches bd_reads") and meta.json; writes RESULTS/tier.json and
RESULTS/tier.md: per set-up the median and min-max over the reps of the time, the
disk's writes per GiB swapped out, the pool's peak, the pages written back and
read back from the disk, and the rzs/zram time ratios.
"""
import json
import os
import statistics
import sys

SETUPS = ["rzs-auto", "zram-script", "zram-plain"]


def load(raw):
    runs = {s: [] for s in SETUPS}
    for name in sorted(os.listdir(raw)):
        setup, _, rep = name.rpartition(".")
        if setup not in runs or not rep.isdigit():
            continue
        f = open(os.path.join(raw, name)).read().split()
        rc, secs, pswpout, sectors, peak, wb, failed, mism, rd = f
        runs[setup].append(
            {
                "rep": int(rep),
                "rc": int(rc),
                "seconds": float(secs),
                "swapped_gib": int(pswpout) * 4096 / 2**30,
                "disk_mib": int(sectors) * 512 / 2**20,
                "pool_peak_mib": int(peak) / 2**20,
                "wb_pages": int(wb),
                "bd_reads": int(rd),
                "failed_writes": int(failed),
                "mismatches": None if mism == "none" else int(mism),
            }
        )
    return runs


def spread(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def fmt(s, digits=1):
    if s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}"
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def main():
    raw, results = sys.argv[1], sys.argv[2]
    meta = json.load(open(os.path.join(raw, "meta.json")))
    runs = load(raw)
    summary = {"meta": meta, "setups": {}}
    for s, rs in runs.items():
        if not rs:
            continue
        per_gib = [r["disk_mib"] / r["swapped_gib"] if r["swapped_gib"] else 0.0 for r in rs]
        summary["setups"][s] = {
            "runs": rs,
            "seconds": spread([r["seconds"] for r in rs]),
            "swapped_gib": spread([r["swapped_gib"] for r in rs]),
            "disk_mib_per_gib_swapped": spread(per_gib),
            "pool_peak_mib": spread([r["pool_peak_mib"] for r in rs]),
            "wb_pages": spread([float(r["wb_pages"]) for r in rs]),
            "bd_reads": spread([float(r["bd_reads"]) for r in rs]),
            "failed_writes": sum(r["failed_writes"] for r in rs),
            "mismatches": sum(r["mismatches"] or 0 for r in rs),
            "all_ok": all(r["rc"] == 0 and r["mismatches"] == 0 for r in rs),
        }
    # Time ratios zram/rzs per rep (same rep: same seed, same boot): > 1 means rzs
    # was faster.
    ratios = {}
    base = {r["rep"]: r["seconds"] for r in runs["rzs-auto"]}
    for other in ["zram-script", "zram-plain"]:
        xs = [r["seconds"] / base[r["rep"]] for r in runs[other] if r["rep"] in base and base[r["rep"]] > 0]
        if xs:
            ratios[other] = spread(xs)
    summary["speed_rzs_over"] = ratios
    json.dump(summary, open(os.path.join(results, "tier.json"), "w"), indent=1)

    m = meta
    out = [
        f"Tiering under swap (make bench-tier, {m['kernel']}, TCG guest): a {m['ws_mb']} MiB "
        f"working set of corpus pages, verified, in a {m['cg_mb']} MiB memory cgroup; pool budget "
        f"{m['pool_mb']} MiB; backing device a virtio disk. Median (min-max) of {m['reps']} reps.",
        "",
        "| set-up | time (s) | swapped out (GiB) | disk writes per GiB swapped (MiB) | pages written back | pages read back | pool peak (MiB) | failed writes | mismatches |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s, v in summary["setups"].items():
        out.append(
            f"| {s} | {fmt(v['seconds'])} | {fmt(v['swapped_gib'], 2)} | {fmt(v['disk_mib_per_gib_swapped'])} | "
            f"{fmt(v['wb_pages'], 0)} | {fmt(v['bd_reads'], 0)} | {fmt(v['pool_peak_mib'])} | {v['failed_writes']} | {v['mismatches']} |"
        )
    out.append("")
    for other, r in ratios.items():
        out.append(f"- time {other} / rzs-auto: {fmt(r, 2)} (above 1: rzs faster)")
    out.append("")
    open(os.path.join(results, "tier.md"), "w").write("\n".join(out))
    bad = [s for s, v in summary["setups"].items() if not v["all_ok"]]
    if bad:
        print(f"tier-report: runs failed or mismatched in {', '.join(bad)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
