#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns make bench's raw results into bench/results/{latest.json,summary.md,chart.png}.

    report.py OUT RESULTS

OUT holds codec.json (rzs-codec-bench; absent for make bench-icount) and raw/ (bench/guest.sh: fio JSON, mm_stat
snapshots, swap and table measurements, named DEV.REP.CASE). Every figure is the median
over the repetitions, with min and max; a ratio rzs / zram is the median [min-max] of
the per-repetition ratios (the devices alternate within each repetition).
"""
import datetime
import glob
import json
import math
import os
import re
import statistics
import sys

OUT, RESULTS = sys.argv[1], sys.argv[2]
# BENCH_ICOUNT=1 (make bench-icount): the guest ran under QEMU -icount shift=0, its
# clock counting instructions; no codec benchmark ran.
ICOUNT = os.environ.get("BENCH_ICOUNT") == "1"
RAW = os.path.join(OUT, "raw")
DEVS = ("rzs", "zram")
MIB = 1024 * 1024


def summary(v):
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": v} if v else None


def read(path):
    with open(path) as f:
        return f.read()


def runs_of(pattern, parse):
    """{dev: [value per rep]} for the raw files DEV.REP.<pattern>."""
    out = {d: [] for d in DEVS}
    for d in DEVS:
        files = glob.glob(os.path.join(RAW, f"{d}.*.{pattern}"))
        for f in sorted(files, key=lambda p: int(os.path.basename(p).split(".")[1])):
            v = parse(f)
            if v is not None:
                out[d].append(v)
    return out


def fio(path, what):
    j = json.loads(read(path))["jobs"][0]
    side = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
    pct = side["clat_ns"].get("percentile", {})
    return {
        "mib_s": side["bw"] / 1024.0,
        "p50_us": pct.get("50.000000", 0) / 1000.0,
        "p99_us": pct.get("99.000000", 0) / 1000.0,
    }[what]


def mm_stat(path, field):
    f = [int(x) for x in read(path).split()]
    names = ["orig", "compr", "mem_used", "limit", "mem_max", "same", "compacted", "huge"]
    return f[names.index(field)]


cases = {}  # name -> {"unit", "better", "rzs", "zram", "ratio"}


def geomean(v):
    return math.exp(sum(math.log(x) for x in v) / len(v))


def add(group, name, unit, better, runs):
    """A case: each device's median [min-max] over the reps, and the rzs/zram ratio:
    the median [min-max] of the per-rep ratios (rep i of rzs over rep i of zram, run
    next to each other), or of the medians when the reps do not pair up."""
    c = {"group": group, "unit": unit, "better": better}
    for d in DEVS:
        c[d] = summary(runs[d])
    c["ratio"] = c["ratio_min"] = c["ratio_max"] = None
    if c["rzs"] and c["zram"] and c["zram"]["median"]:
        r, z = runs["rzs"], runs["zram"]
        if len(r) == len(z) and all(z):
            per = [a / b for a, b in zip(r, z)]
            c["ratio"], c["ratio_min"], c["ratio_max"] = statistics.median(per), min(per), max(per)
            # bench/guest.sh runs rzs first in even reps and zram first in odd ones. With
            # an odd number of reps one order counts once more in the median, which a
            # strong order effect then tilts: the ratio per order, and their balance
            # (the geometric mean of the two orders' geometric means).
            if len(per) == meta["reps"] and len(per) >= 2 and all(x > 0 for x in per):
                first, second = per[0::2], per[1::2]
                c["ratio_rzs_first"] = statistics.median(first)
                c["ratio_zram_first"] = statistics.median(second)
                c["ratio_balanced"] = math.sqrt(geomean(first) * geomean(second))
        else:
            c["ratio"] = c["rzs"]["median"] / c["zram"]["median"]
    cases[name] = c


meta = json.loads(read(os.path.join(RAW, "meta.json")))
ncpu = meta["ncpu"]

# 1. Block I/O.
fio_cases = [("comp", rw) for rw in ("randwrite", "write", "randread", "read")]
fio_cases += [("corpus", rw) for rw in ("randread", "read")]
fio_cases += [("zero", "randread")]
for jobs in (1, ncpu):
    for data, rw in fio_cases:
        stem = f"{data}-{rw}-j{jobs}"
        add("Block I/O throughput", f"fio {data} {rw} {jobs}j", "MiB/s", "higher", runs_of(f"{stem}.json", lambda p: fio(p, "mib_s")))
        for what in ("p50_us", "p99_us"):
            label = f"fio {data} {rw} {jobs}j {what[:3]}"
            add("Block I/O latency", label, "us", "lower", runs_of(f"{stem}.json", lambda p, w=what: fio(p, w)))


def dd_rate(path):
    size, t0, t1 = read(path).split()
    return int(size) / MIB / (float(t1) - float(t0))


add("Block I/O throughput", "fio comp fill (seq write, 1j, untimed)", "MiB/s", "higher", runs_of("comp-fill-j1.json", lambda p: fio(p, "mib_s")))
add("Block I/O throughput", "corpus fill (dd, 1 MiB direct writes)", "MiB/s", "higher", runs_of("corpus-fill.dd", dd_rate))

# 2. Swap.
def swap_field(i):
    def parse(p):
        f = read(p).split()
        if f[0] != "0":
            raise SystemExit(f"report: {p}: the swap workload failed (exit {f[0]})")
        return [float(f[2]) - float(f[1]), int(f[3]), int(f[4])][i]

    return parse


def swap_pass(kind):
    def parse(p):
        m = re.search(rf"pass \d+ \({kind}\) verified (\d+) pages in ([\d.]+) s", read(p))
        return int(m.group(1)) * 4096 / MIB / max(float(m.group(2)), 1e-3) if m else None

    return parse


def mismatches(p):
    m = re.search(r"mismatches=(\d+)", read(p))
    return int(m.group(1)) if m else None


SWAP_CASES = {
    "swap": ("swap", ["swap.log"]),
    "swap-heap": ("swap, heap pages", ["swap-heap.log"]),
    "swap-2p": ("swap, 2 processes", ["swap-2p-a.log", "swap-2p-b.log"]),
}
for case, (label, logs) in SWAP_CASES.items():
    add("Swap", f"{label}: workload time", "s", "lower", runs_of(case, swap_field(0)))
    add("Swap", f"{label}: pages swapped out", "pages", "-", runs_of(case, swap_field(1)))
    add("Swap", f"{label}: pages swapped in", "pages", "-", runs_of(case, swap_field(2)))
    if len(logs) == 1:
        add("Swap", f"{label}: sequential verified pass", "MiB/s", "higher", runs_of(logs[0], swap_pass("seq")))
        add("Swap", f"{label}: random verified pass", "MiB/s", "higher", runs_of(logs[0], swap_pass("random")))
    for log in logs:
        bad = runs_of(log, mismatches)
        if any(x != 0 for d in DEVS for x in bad[d]) or not all(bad[d] for d in DEVS):
            raise SystemExit(f"report: {case} verification failed or missing ({log}): {bad}")

# 3. Memory.
for data in ("comp", "corpus"):
    add("Memory", f"{data} data stored", "MiB", "-", runs_of(f"{data}.mm_stat", lambda p: mm_stat(p, "orig") / MIB))
    add("Memory", f"{data} data: memory used", "MiB", "lower", runs_of(f"{data}.mm_stat", lambda p: mm_stat(p, "mem_used") / MIB))
add("Memory", "stale memory after the swap workload exits", "MiB", "lower", runs_of("swap.stale.mm_stat", lambda p: mm_stat(p, "mem_used") / MIB))
add("Memory", "stale pages after the swap workload exits", "pages", "lower", runs_of("swap.stale.mm_stat", lambda p: mm_stat(p, "orig") / 4096))


def meta_field(i):
    def parse(p):
        size, free_kb, vmalloc_kb, table = (int(x) for x in read(p).split())
        pages = size // 4096
        # MemFree can rise while the device is sized (the kernel freed memory
        # meanwhile): such a reading measures nothing and is left out.
        if i == 0 and free_kb <= 0:
            return None
        return [free_kb * 1024 / pages, vmalloc_kb * 1024 / pages, table / pages][i]

    return parse


add("Memory", "metadata per page of disksize (MemFree drop on sizing 4 GiB)", "B", "lower", runs_of("meta", meta_field(0)))

# One figure for speed (issue 14's yardstick): the geometric mean, over every throughput
# and swap-speed case, of rzs's speed relative to zram's (throughput rzs/zram; for a
# workload time zram/rzs, so > 1 is rzs faster everywhere).
speed = {}
for name, c in cases.items():
    if c["group"] in ("Block I/O throughput", "Swap") and c["ratio"] and c["unit"] in ("MiB/s", "s"):
        speed[name] = c["ratio"] if c["better"] == "higher" else 1 / c["ratio"]
speed_geomean = geomean(list(speed.values())) if speed else None
# The same over the order-balanced ratios, and the cases whose two orders differ most.
speed_bal = {}
order_effect = []
for name, c in cases.items():
    if name in speed and c.get("ratio_balanced"):
        speed_bal[name] = c["ratio_balanced"] if c["better"] == "higher" else 1 / c["ratio_balanced"]
        a, b = c["ratio_rzs_first"], c["ratio_zram_first"]
        if max(a, b) / min(a, b) > 1.25:
            order_effect.append(f"{name} {a:.2f} / {b:.2f}")
speed_geomean_bal = geomean(list(speed_bal.values())) if speed_bal and len(speed_bal) == len(speed) else None
# The noise floor: how far one device's own figure moves from one repetition to the
# next, with the same code, in the same boot (per speed case the |log| of each
# consecutive pair of reps; the median over all of them, as a fraction). A ratio
# rzs/zram that differs from 1 by less than this says nothing about either driver.
rep_change = {}
for d in DEVS:
    steps = []
    for name in speed:
        runs = cases[name][d]["runs"] if cases[name][d] else []
        steps += [abs(math.log(a / b)) for a, b in zip(runs, runs[1:]) if a > 0 and b > 0]
    rep_change[d] = math.exp(statistics.median(steps)) - 1 if steps else None

codec_path = os.path.join(OUT, "codec.json")
codec = json.loads(read(codec_path)) if os.path.exists(codec_path) else None
stock_path = os.path.join(OUT, "codec-stock.json")
codec_stock = json.loads(read(stock_path)) if os.path.exists(stock_path) else None

doc = {
    # When the guest measured (not when this report ran).
    "date": datetime.datetime.fromtimestamp(
        os.path.getmtime(os.path.join(RAW, "meta.json")), datetime.timezone.utc
    ).isoformat(timespec="seconds"),
    "guest": meta,
    "note": (
        "guest under QEMU TCG with -icount shift=0: the guest clock counts instructions (1 ns each), "
        "so MiB/s is MiB per 10^9 guest instructions and a time is instructions; ratios are instruction ratios"
        if ICOUNT
        else "guest under QEMU TCG (no KVM): absolute figures are emulated; only rzs/zram ratios from one run mean anything"
    ),
    "icount": ICOUNT,
    "cases": cases,
    "speed": {
        "geomean": speed_geomean,
        "cases": speed,
        "geomean_order_balanced": speed_geomean_bal,
        # The median change of one device's own figure between consecutive reps.
        "rep_to_rep_change": rep_change,
    },
    "codec": codec,
    "codec_stock_lz4_flex": codec_stock,
}
os.makedirs(RESULTS, exist_ok=True)
with open(os.path.join(RESULTS, "latest.json"), "w") as f:
    json.dump(doc, f, indent=1)


def fmt(x):
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def verdict(c):
    r = c["ratio"]
    if r is None or c["better"] == "-":
        return ""
    win = r >= 1.0 if c["better"] == "higher" else r <= 1.0
    return "rzs" if win else "zram"


lines = [
    "# rzs vs zram (lz4), one guest" + (", counting guest instructions (make bench-icount)" if ICOUNT else ""),
    "",
]
if ICOUNT:
    lines += [
        "QEMU ran with `-icount shift=0`: the guest's clock advances 1 ns per guest instruction "
        "executed. So every figure below counts instructions, not time: MiB/s is MiB per 10^9 "
        "guest instructions (the inverse of instructions per byte), a latency in us is thousands "
        "of instructions per I/O, a workload time in s is 10^9 instructions. Counts repeat from "
        "run to run and do not depend on where code lands in memory, which wall-clock TCG "
        "figures do (README, benchmarks): this sizes a change to the per-page path. It does not "
        "weigh instructions (a cache miss or a long `rep` string operation counts once), so "
        "make bench's times stay the yardstick. 2-job cases: the vCPUs take turns on one host "
        "thread under -icount, so they count both jobs' instructions (contention included), "
        "not parallel speed.",
        "",
    ]
lines += [
    f"{doc['date']}: Linux {meta['kernel']}, {meta['ncpu']} vCPUs, {meta['mem_kb'] // 1024} MiB RAM, "
    f"QEMU TCG (no KVM), guest CPU {'with' if meta.get('cpu_flags_erms') else 'without'} ERMS "
    "(TCG emulates `rep movsb` byte by byte; see scripts/bench.sh). "
    f"{meta['reps']} repetitions, devices alternating; median [min-max]. "
    "Absolute figures are emulated and small; the rzs/zram ratio is what counts. "
    f"fio: 4 KiB direct psync I/O over {meta['fio_mb']} MiB, {meta['fio_secs']} s per run; "
    "*comp* = fio compressible buffers (half random, half zero per 512 B), "
    "*zero* = zero pages (no codec, no allocator: the block path and slot table alone), "
    "*corpus* = pages cut from this machine's binaries, text and .gz files plus zero and "
    f"same-filled pages. Swap: {meta['swap_mb']} MiB working set in a "
    f"{meta['swap_limit_mb']} MiB memory cgroup (2.5x), one sequential and one random verified pass: "
    "of corpus pages (*swap*), of heap-like anonymous memory (*heap pages*: pointers, small "
    "integers, short runs), and corpus pages in two processes at once with half the set each "
    "(*2 processes*). rzs/zram: the median [min-max] of the per-repetition ratios.",
    "",
]


def ratio_cell(c):
    if c["ratio_min"] is None:
        return fmt(c["ratio"])
    return f"{fmt(c['ratio'])} [{fmt(c['ratio_min'])}-{fmt(c['ratio_max'])}]"


def cell(c, d):
    s = c[d]
    return f"{fmt(s['median'])} [{fmt(s['min'])}-{fmt(s['max'])}]" if s else "-"


for group in dict.fromkeys(c["group"] for c in cases.values()):
    lines += ["", f"## {group}", "", "| case | unit | rzs | zram | rzs/zram | ahead |", "|---|---|---|---|---|---|"]
    for name, c in cases.items():
        if c["group"] == group:
            lines.append(f"| {name} | {c['unit']} | {cell(c, 'rzs')} | {cell(c, 'zram')} | {ratio_cell(c)} | {verdict(c)} |")
if codec:
    lines += [
        "",
        "## Codec in userspace (not what the kernel runs): lz4_flex 0.14.0 vs liblz4 "
        f"{codec['liblz4_version'] // 10000}.{codec['liblz4_version'] // 100 % 100}.{codec['liblz4_version'] % 100}",
        "",
        "Pages the codec sees (same-filled left out); compress = `rzs_core::codec` (lz4_flex, "
        "preallocated table) vs `LZ4_compress_fast_extState`; MiB/s of page data, median of "
        f"{codec['reps']} runs. Both are built for userspace (cargo's release profile, SSE, "
        "glibc's memcpy), which rzs.ko is not: a change that wins here can lose in the kernel. "
        "The faithful comparison is codec-kernel.md (make bench-codec). "
        "*lz4_flex (rzs)* is lz4_flex with the features and build-time patches (scripts/patches/crates/, "
        "if any) rzs.ko has; *lz4_flex (stock)* is the crate as published.",
        "",
        "| pages | codec | compress MiB/s | decompress MiB/s | ratio | flex/C compress | flex/C decompress |",
        "|---|---|---|---|---|---|---|",
    ]
    runs = [("lz4_flex (rzs)", codec)] + ([("lz4_flex (stock)", codec_stock)] if codec_stock else [])
    for label, r in codec["results"].items():
        rows = [(n, doc_["results"][label]["lz4_flex"], doc_["results"][label]["flex_over_c"]) for n, doc_ in runs]
        rows.append(("liblz4", r["liblz4"], None))
        for name, x, rel in rows:
            extra = (fmt(rel["compress_flex_over_c"]), fmt(rel["decompress_flex_over_c"])) if rel else ("", "")
            lines.append(
                f"| {label} ({r['pages']}) | {name} | {fmt(x['compress_mib_s']['median'])} | "
                f"{fmt(x['decompress_mib_s']['median'])} | {x['ratio']:.2f} | {extra[0]} | {extra[1]} |"
            )
wins = [n for n, c in cases.items() if verdict(c) == "rzs"]
losses = [n for n, c in cases.items() if verdict(c) == "zram"]
lines += ["", f"rzs ahead or level in {len(wins)} cases, behind in {len(losses)}: " + (", ".join(losses) or "none"), ""]
if speed_geomean:
    slow = [f"{n} {r:.2f}" for n, r in speed.items() if r < 1.0]
    lines += [
        (
            "Instructions, zram's over rzs's for the same work (from throughput rzs/zram, workload "
            "time zram/rzs; > 1: rzs executes fewer), "
            if ICOUNT
            else "Speed, rzs relative to zram (throughput rzs/zram, workload time zram/rzs; > 1: rzs faster), "
        )
        +
        f"geometric mean over the {len(speed)} throughput and swap cases: **{speed_geomean:.2f}**; "
        f"below 1.0: " + (", ".join(slow) or "none"),
        "",
    ]
if speed_geomean_bal:
    lines += [
        "Devices take turns going first (rzs in even repetitions); with an odd number of "
        "repetitions one order counts once more in a median. Balanced over both orders (per "
        "case, the geometric mean of the two orders' geometric means), the same geometric mean "
        f"is **{speed_geomean_bal:.2f}**. Cases whose two orders differ by more than 25% "
        "(rzs/zram with rzs first / with zram first): " + (", ".join(order_effect) or "none"),
        "",
    ]
if all(rep_change.values()):
    lines += [
        "The noise floor: with the same code in the same boot, one device's own figure in a "
        "throughput or swap case moves by a median of "
        + ", ".join(f"{rep_change[d] * 100:.1f}% ({d})" for d in DEVS)
        + " from one repetition to the next. A per-case ratio closer to 1 than that tells "
        "the drivers apart from nothing but the emulator's noise.",
        "",
    ]
with open(os.path.join(RESULTS, "summary.md"), "w") as f:
    f.write("\n".join(lines))

# The chart: throughput (rzs and zram side by side) and memory.
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

tp = [(n, c) for n, c in cases.items() if c["unit"] == "MiB/s" and c["rzs"] and c["zram"]]
mem = [
    (n, c)
    for n, c in cases.items()
    if c["rzs"] and c["zram"] and c["unit"] == "MiB" and c["better"] == "lower"
]
fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, 0.32 * len(tp) + 2), gridspec_kw={"width_ratios": [3, 2]})
ys = range(len(tp))
h = 0.4
ratios = [c["ratio"] for _, c in tp]
err = [
    [r - (c["ratio_min"] if c["ratio_min"] is not None else r) for r, (_, c) in zip(ratios, tp)],
    [(c["ratio_max"] if c["ratio_max"] is not None else r) - r for r, (_, c) in zip(ratios, tp)],
]
a1.barh(list(ys), ratios, 0.6, xerr=err, capsize=2, color=["#2a9d4b" if r >= 1 else "#c0504d" for r in ratios])
a1.axvline(1.0, color="black", lw=1)
a1.set_xlim(0, max([1.2] + [r * 1.15 for r in ratios] + [c["ratio_max"] * 1.05 for _, c in tp if c["ratio_max"]]))
for y, r in zip(ys, ratios):
    a1.text(r, y, f" {r:.2f}", va="center", fontsize=8)
a1.set_yticks(list(ys), [n for n, _ in tp], fontsize=8)
a1.invert_yaxis()
a1.set_xlabel("rzs / zram, median of the repetitions with min-max (> 1: rzs faster)")
a1.set_title("Throughput ratio, higher is better for rzs")
ym = range(len(mem))
a2.barh([y - h / 2 for y in ym], [c["rzs"]["median"] for _, c in mem], h, label="rzs", color="#2a7ab9")
a2.barh([y + h / 2 for y in ym], [c["zram"]["median"] for _, c in mem], h, label="zram (lz4)", color="#c0504d")
a2.set_yticks(list(ym), [f"{n.replace('stale memory after the swap workload exits', 'stale after exit')}  ×{c['ratio']:.2f}" for n, c in mem], fontsize=8)
a2.invert_yaxis()
a2.set_xlabel("MiB (median; ×rzs/zram)")
meta_pp = cases.get("metadata per page of disksize (MemFree drop on sizing 4 GiB)")
pp = ""
if meta_pp and meta_pp["rzs"] and meta_pp["zram"]:
    pp = f"\nslot table: rzs {meta_pp['rzs']['median']:.1f} B/page, zram {meta_pp['zram']['median']:.1f} B/page"
a2.set_title("Memory, lower is better" + pp)
a2.legend(loc="lower right")
fig.suptitle(("Instruction counts (-icount): " if ICOUNT else "") + f"rzs vs zram, one TCG guest ({meta['ncpu']} vCPUs, {meta['mem_kb'] // 1024} MiB), {doc['date'][:10]}")
fig.tight_layout()
fig.savefig(os.path.join(RESULTS, "chart.png"), dpi=110)
print(f"report: wrote {RESULTS}/latest.json, summary.md, chart.png")
