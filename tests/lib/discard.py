#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Discard and write-zeroes, verified, on one region of an rzs device.

    discard.py DEV OFFSET LENGTH SECONDS [SEED]

Until SECONDS have passed: write a random run of pages at a random page in the
region (text-like or random content that names its offset and round), read it back,
then free part or all of it with BLKDISCARD or BLKZEROOUT (whole 4 KiB logical
blocks: the ioctls refuse less) and check that the freed bytes read as zeros and the rest still
holds what was written. Runs beside tests/lib/stress.fio's jobs (other regions), so
discards race other I/O on the device. Prints one summary line; exits 1 on any
mismatch or failed call.
"""
import fcntl
import mmap
import os
import random
import struct
import sys
import time

BLKDISCARD = 0x1277  # _IO(0x12, 119)
BLKZEROOUT = 0x127F  # _IO(0x12, 127)
PAGE = 4096
MAX_PAGES = 64


def content(off, rnd, n, rng):
    if rng.random() < 0.3:
        return rng.randbytes(n)
    line = f"rzs discard test: offset {off} round {rnd} ".encode()
    return (line * (n // len(line) + 1))[:n]


def main():
    dev, base, length, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
    wbuf = mmap.mmap(-1, MAX_PAGES * PAGE)  # page aligned, as O_DIRECT needs
    rbuf = mmap.mmap(-1, MAX_PAGES * PAGE)
    pages = length // PAGE
    end = time.monotonic() + secs
    rounds = written = verified = freed = bad = 0
    while time.monotonic() < end and bad == 0:
        rounds += 1
        n = rng.randint(1, MAX_PAGES) * PAGE
        off = base + rng.randrange(pages - n // PAGE + 1) * PAGE
        data = content(off, rounds, n, rng)
        wbuf[:n] = data
        if os.pwritev(fd, [memoryview(wbuf)[:n]], off) != n:
            print(f"discard.py: short write at {off}", file=sys.stderr)
            bad += 1
            break
        written += n
        # Free [a, b) of the run: all of it or a part.
        kind = rng.choice(["discard-all", "discard-part", "zero-all", "zero-part"])
        if kind.endswith("-all"):
            a, b = 0, n
        else:
            a = rng.randrange(n // PAGE) * PAGE
            b = rng.randrange(a // PAGE + 1, n // PAGE + 1) * PAGE
        op = BLKDISCARD if kind.startswith("discard") else BLKZEROOUT
        fcntl.ioctl(fd, op, struct.pack("QQ", off + a, b - a))
        freed += b - a
        expect = data[:a] + bytes(b - a) + data[b:]
        if os.preadv(fd, [memoryview(rbuf)[:n]], off) != n or rbuf[:n] != expect:
            got = rbuf[:n]
            first = next((i for i in range(n) if got[i] != expect[i]), None)
            print(f"discard.py: mismatch after {kind} [{a},{b}) of {n} at {off}: first bad byte {first}",
                  file=sys.stderr)
            bad += 1
        verified += n
    os.close(fd)
    print(f"discard.py: rounds={rounds} written={written} verified={verified} freed={freed} mismatches={bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
