#!/usr/bin/env python3
"""bench/tcgcount/report.py OUT RESULTS KERNEL [ARCH]: the counts of make bench-tcg-count.

Reads OUT/phases (<dump> <case> <device> <units>), OUT/kallsyms and the plugin's
dumps OUT/tb.<dump>; writes RESULTS/tcg-count.{json,md} (ARCH x86, the default) or
RESULTS/tcg-count-arm64.{json,md} (ARCH arm64): per case, guest
instructions, memory accesses and translated-block (TB) executions per unit (an I/O of
4 KiB, or a page swapped out or in), rzs against zram, and the functions whose TB
executions differ most between the two devices.
"""
import bisect
import collections
import json
import sys

out, results, kernel = sys.argv[1:4]
arch = sys.argv[4] if len(sys.argv) > 4 else "x86"
stem = "tcg-count" if arch == "x86" else f"tcg-count-{arch}"
GUEST = {
    "x86": "the guest of `make bench` (QEMU TCG, 2 vCPUs, `-cpu max,-erms,-fsrm`)",
    "arm64": "the arm64 guest of `make stress` (qemu-system-aarch64 `-M virt -cpu max`, TCG, "
    "2 vCPUs, 512 MiB, rzs.ko and the kernel cross-built; `BENCH_ARCH=arm64`)",
}[arch]
syms = []
with open(f"{out}/kallsyms") as f:
    for line in f:
        p = line.split()
        if len(p) < 3 or p[1] not in "tTwW":
            continue
        a = int(p[0], 16)
        if a:
            syms.append((a, p[2] + (" " + p[3] if len(p) > 3 else "")))
if not syms:
    sys.exit("report.py: no symbols in kallsyms (kptr_restrict?)")
syms.sort()
addrs = [a for a, _ in syms]


def symbol(a):
    if a < 0xFFFF800000000000:
        return "[user space]"
    i = bisect.bisect_right(addrs, a) - 1
    return syms[i][1] if i >= 0 else "?"


# Waiting, not work: a vCPU spinning for a lock that the other one holds runs these
# TBs for as long as the other takes, which depends on how the two interleave. They are
# counted apart (the "spin" column), not in the totals.
SPIN = ("native_queued_spin_lock_slowpath", "queued_spin_lock_slowpath", "__pv_queued_spin_lock_slowpath")


def load(dump):
    by = collections.defaultdict(lambda: [0, 0, 0])
    with open(f"{out}/tb.{dump}") as f:
        for line in f:
            vaddr, insns, execs, mem = line.split()
            name = symbol(int(vaddr, 16))
            s = by["(spinning for a lock)" if name in SPIN else name]
            s[0] += int(insns) * int(execs)
            s[1] += int(mem)
            s[2] += int(execs)
    return by


runs = {}
with open(f"{out}/phases") as f:
    for line in f:
        dump, case, dev, units = line.split()
        runs.setdefault(case, {})[dev] = (load(int(dump)), int(units))

NAMES = ("instructions", "memory accesses", "TBs")
UNIT = {True: "per page swapped out or in", False: "per 4 KiB I/O"}
data = {"kernel": kernel, "cases": {}}
md = [
    "# rzs vs zram under QEMU's TCG: instructions, memory accesses and translated blocks",
    "",
    f"`make bench-tcg-count` against {kernel}: {GUEST} with bench/tcgcount/tbcount.so, "
    "a TCG plugin that counts, for "
    "every translated block (TB) the guest runs, its executions, instructions and memory "
    "accesses; each case runs on rzs then on zram, each run counted on its own and divided "
    "by its units (8192 fio I/Os of 4 KiB; or the pages swapped out and in, from "
    "/proc/vmstat), everything the guest ran meanwhile included (fio or rzs-memtest, the "
    "kernel, the other vCPU). Under TCG a TB ends at every branch, call and return, and "
    "each memory access is a software TLB lookup: with instructions, these are what the "
    "wall clock of `make bench` pays for. rzs/zram < 1: rzs runs fewer.",
    "",
    "Lock spinning (a vCPU waiting for a lock the other holds) is counted apart, in the last "
    "column, not in the totals: how long it lasts depends on how the vCPUs interleave.",
    "",
    "| case | unit | instructions rzs / zram | memory accesses rzs / zram | TBs rzs / zram | TBs spinning rzs / zram |",
    "|---|---|---|---|---|---|",
]
detail = []
for case, devs in runs.items():
    if set(devs) != {"rzs", "zram"}:
        continue
    swap = case.startswith("swap")
    tot, spin = {}, {}
    for dev, (by, units) in devs.items():
        tot[dev] = [sum(v[k] for s, v in by.items() if s != "(spinning for a lock)") / units for k in range(3)]
        spin[dev] = by.get("(spinning for a lock)", [0, 0, 0])[2] / units
    data["cases"][case] = {
        "unit": UNIT[swap],
        "units": {dev: devs[dev][1] for dev in devs},
        "spin TBs": spin,
        **{
            NAMES[k]: {"rzs": tot["rzs"][k], "zram": tot["zram"][k], "ratio": tot["rzs"][k] / tot["zram"][k]}
            for k in range(3)
        },
    }
    md.append(
        f"| {case} | {UNIT[swap]} | "
        + " | ".join(
            f"{tot['rzs'][k]:,.0f} / {tot['zram'][k]:,.0f} [{tot['rzs'][k] / tot['zram'][k]:.3f}]" for k in range(3)
        )
        + f" | {spin['rzs']:,.0f} / {spin['zram']:,.0f} |"
    )
    (r, ur), (z, uz) = devs["rzs"], devs["zram"]
    keys = set(r) | set(z)
    zero = [0, 0, 0]
    top = sorted(keys, key=lambda s: -abs(r.get(s, zero)[2] / ur - z.get(s, zero)[2] / uz))[:12]
    detail += [
        "",
        f"**{case}**: the 12 functions whose TB executions differ most ({UNIT[swap]}; rzs / zram)",
        "",
        "| function | instructions | memory accesses | TBs |",
        "|---|---|---|---|",
    ]
    for s in top:
        a, b = r.get(s, zero), z.get(s, zero)
        name = s if len(s) <= 90 else s[:87] + "..."
        detail.append(
            f"| `{name}` | " + " | ".join(f"{a[k] / ur:,.1f} / {b[k] / uz:,.1f}" for k in range(3)) + " |"
        )
    data["cases"][case]["functions"] = {
        s: {"rzs": [v / ur for v in r.get(s, zero)], "zram": [v / uz for v in z.get(s, zero)]} for s in top
    }
if not data["cases"]:
    sys.exit("report.py: no case ran on both devices")
with open(f"{results}/{stem}.json", "w") as f:
    json.dump(data, f, indent=1)
with open(f"{results}/{stem}.md", "w") as f:
    f.write("\n".join(md + detail) + "\n")
