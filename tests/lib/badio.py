#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Bad input and racy I/O against an rzs device (tests/suites/80-bad-input.sh and
90-zram-regress.sh). Each mode prints one summary line "key=value ..." and exits 1
if what it checks does not hold.

    badio.py ioctl-fuzz DEV N SEED     N random ioctls: numbers, sizes, pointers
    badio.py ptr-edges DEV             argument buffers at the edge of a mapping
    badio.py same-index DEV SECS       writers and readers racing on one page
    badio.py unstable DEV SECS         a page modified while it is being written
"""
import ctypes
import errno
import mmap
import multiprocessing
import os
import random
import struct
import sys
import threading
import time

P = 4096
MAGIC = 0xB9
libc = ctypes.CDLL(None, use_errno=True)
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
libc.ioctl.restype = ctypes.c_int
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mmap.restype = ctypes.c_void_p
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
MAP_PRIVATE, MAP_ANONYMOUS = 0x02, 0x20


def ioc(d, nr, size, magic=MAGIC):
    return ((d & 3) << 30) | ((size & 0x3FFF) << 16) | ((magic & 0xFF) << 8) | (nr & 0xFF)


STATS_SIZE = 16 + 25 * 8  # struct rzs_stats version 2
STATS_V1_SIZE = 16 + 18 * 8
GET_STATS = ioc(3, 0, STATS_SIZE)
GET_STATS_V1 = ioc(3, 0, STATS_V1_SIZE)  # what a tool built against version 1 calls
SET_DISKSIZE = ioc(1, 1, 8)
SET_MEM_LIMIT = ioc(1, 2, 8)
RESET = ioc(0, 3, 0)
VALID = [GET_STATS, SET_DISKSIZE, SET_MEM_LIMIT, RESET]


def raw_ioctl(fd, cmd, arg):
    r = libc.ioctl(fd, cmd, arg)
    return 0 if r >= 0 else ctypes.get_errno()


def guarded_page():
    """A readable, writable page followed by an inaccessible one: (address of the
    good page, address of the guard page)."""
    a = libc.mmap(None, 2 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if a in (None, ctypes.c_void_p(-1).value):
        sys.exit("badio.py: mmap failed")
    libc.memset(a, 0, 2 * P)
    libc.mprotect(a + P, P, PROT_NONE)
    return a, a + P


def ioctl_fuzz(dev, n, seed):
    """Random ioctl numbers (ours with every direction, size and number; random
    32-bit values outside the block layer's and file systems' ranges), with random
    arguments: NULL, small integers, kernel addresses, unmapped and guard-page
    addresses, pointers into a buffer of random bytes. Errors are expected; the
    kernel surviving, and the device working after, is what counts (checked by the
    suite). Prints the errno histogram and admin_ok, the number of configuration
    ioctls (disksize, mem_limit, reset) that succeeded."""
    rng = random.Random(seed)
    fd = os.open(dev, os.O_RDWR)
    good, guard = guarded_page()
    hist = {}
    calls = admin_ok = 0
    for _ in range(n):
        k = rng.random()
        if k < 0.35:
            cmd = ioc(rng.randrange(4), rng.randrange(256), rng.randrange(1 << 14))
        elif k < 0.55:
            cmd = rng.choice(VALID)
        elif k < 0.75:
            cmd = ioc(rng.randrange(4), rng.randrange(8), rng.choice([0, 1, 4, 7, 8, 9, STATS_SIZE - 1, STATS_SIZE, STATS_SIZE + 8, 0x3FFF]))
        else:
            cmd = rng.getrandbits(32)
            # Leave generic block (0x12), fs (0x58 'X', 'f' 0x66) and tty ioctls
            # alone: they are not rzs's, and some (BLKROSET...) change state.
            if (cmd >> 8) & 0xFF in (0x12, 0x58, 0x66, 0x54, 0x94) or cmd & 0xFFFF0000 == 0:
                continue
        if cmd in (RESET, SET_DISKSIZE) and rng.random() < 0.9:
            continue  # mostly keep the device's size (the suite checks it still works)
        # Fill the buffer with random bytes; some sizes are plausible, some absurd.
        data = rng.randbytes(P)
        if rng.random() < 0.5:
            data = struct.pack("<I", rng.choice([0, 1, 7, 8, 16, STATS_SIZE, STATS_SIZE + 1, 0xFFFFFFFF, rng.getrandbits(32)])) + data[4:]
        ctypes.memmove(good, data, P)
        arg = rng.choice([
            0, 1, 8, 0x10000, 0xFFFFFFFFFFFFFFFF, 0xFFFF888000000000, 0xFFFFFFFF81000000,
            good, good + rng.randrange(P), guard - rng.randrange(1, 200), guard, guard + 8,
        ])
        e = raw_ioctl(fd, cmd, arg)
        calls += 1
        name = "ok" if e == 0 else errno.errorcode.get(e, str(e))
        hist[name] = hist.get(name, 0) + 1
        if e == 0 and cmd in (SET_DISKSIZE, SET_MEM_LIMIT, RESET):
            admin_ok += 1
    os.close(fd)
    print(f"calls={calls} admin_ok={admin_ok} " + " ".join(f"{k}={v}" for k, v in sorted(hist.items())))
    return 0


def ptr_edges(dev):
    """Each ioctl reads or writes exactly the bytes its ABI names: an argument that
    ends on the last byte of a mapping works, one byte further is EFAULT."""
    fd = os.open(dev, os.O_RDWR)
    good, guard = guarded_page()
    bad = []
    checks = [0]

    def expect(what, cmd, arg, want):
        checks[0] += 1
        e = raw_ioctl(fd, cmd, arg)
        got = "ok" if e == 0 else errno.errorcode.get(e, str(e))
        if got != want:
            bad.append(f"{what}: {got}, want {want}")

    # SET_MEM_LIMIT (__u64): 8 bytes right before the guard page, then 4.
    ctypes.memmove(guard - 8, struct.pack("<Q", 0), 8)
    expect("mem_limit at the end of a mapping", SET_MEM_LIMIT, guard - 8, "ok")
    expect("mem_limit straddling the guard page", SET_MEM_LIMIT, guard - 4, "EFAULT")
    # GET_STATS: room = 24 in the last 24 bytes; then room = 32 there (8 bytes over).
    ctypes.memmove(guard - 24, struct.pack("<I", 24), 4)
    expect("stats with room 24 in the last 24 bytes", GET_STATS, guard - 24, "ok")
    ctypes.memmove(guard - 24, struct.pack("<I", 32), 4)
    expect("stats with room 32 in the last 24 bytes", GET_STATS, guard - 24, "EFAULT")
    # The full struct ending exactly at the guard page.
    ctypes.memmove(guard - STATS_SIZE, struct.pack("<I", STATS_SIZE), 4)
    expect("full stats ending at the guard page", GET_STATS, guard - STATS_SIZE, "ok")
    # A larger room than the struct: only the struct is written (ends at the guard).
    ctypes.memmove(guard - STATS_SIZE, struct.pack("<I", 100000), 4)
    expect("room larger than the struct, struct fits", GET_STATS, guard - STATS_SIZE, "ok")
    room = struct.unpack("<I", ctypes.string_at(guard - STATS_SIZE, 4))[0]
    if room != STATS_SIZE:
        bad.append(f"size written back {room}, want {STATS_SIZE}")
    # A version-1 tool whose size field says more than its struct: its ioctl number
    # bounds what is written (160 bytes, ending at the guard page).
    ctypes.memmove(guard - STATS_V1_SIZE, struct.pack("<I", 100000), 4)
    expect("a version-1 tool with a larger room: its 160 bytes only", GET_STATS_V1, guard - STATS_V1_SIZE, "ok")
    room = struct.unpack("<I", ctypes.string_at(guard - STATS_V1_SIZE, 4))[0]
    if room != STATS_V1_SIZE:
        bad.append(f"version-1 call: size written back {room}, want {STATS_V1_SIZE}")
    # Too small a room: EINVAL, nothing written.
    ctypes.memmove(good, struct.pack("<I", 7) + b"\xaa" * 60, 64)
    expect("room 7", GET_STATS, good, "EINVAL")
    if ctypes.string_at(good + 4, 60) != b"\xaa" * 60:
        bad.append("room 7: bytes were written")
    os.close(fd)
    for b in bad:
        print("badio.py: " + b, file=sys.stderr)
    print(f"checks={checks[0]} failed={len(bad)}")
    return 1 if bad else 0


def pages_for_same_index():
    """The contents writers race with: compressible text per writer, one random
    page (stored raw), one same-filled page, one zero page."""
    out = []
    for w in range(3):
        line = f"writer {w} owns this page for now. ".encode()
        out.append((line * (P // len(line) + 1))[:P])
    out.append(random.Random(99).randbytes(P))
    out.append(b"\x5a" * P)
    out.append(bytes(P))
    return out


def same_index(dev, secs):
    """zram's concurrent-writes-to-one-index bug: several processes write one page
    with different contents (every kind of slot entry) while others read it. Every
    read must return exactly one of the contents, never a mix, never an error."""
    contents = pages_for_same_index()
    index = 7
    end = time.monotonic() + secs

    def writer(w, q):
        fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, P)
        n = 0
        rng = random.Random(w)
        while time.monotonic() < end:
            buf[:] = contents[rng.randrange(len(contents))] if w >= 3 else contents[w]
            os.pwritev(fd, [buf], index * P)
            n += 1
        q.put(("w", n, 0))

    def reader(r, q):
        fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, P)
        n = bad = 0
        allowed = set(contents)
        while time.monotonic() < end:
            os.preadv(fd, [buf], index * P)
            n += 1
            if buf[:] not in allowed:
                bad += 1
        q.put(("r", n, bad))

    mp = multiprocessing.get_context("fork")  # the workers are closures
    q = mp.Queue()
    procs = [mp.Process(target=writer, args=(w, q)) for w in range(4)]
    procs += [mp.Process(target=reader, args=(r, q)) for r in range(2)]
    for p in procs:
        p.start()
    res = [q.get(timeout=secs + 120) for _ in procs]
    for p in procs:
        p.join()
    writes = sum(n for k, n, _ in res if k == "w")
    reads = sum(n for k, n, _ in res if k == "r")
    bad = sum(b for _, _, b in res)
    failed = sum(1 for p in procs if p.exitcode != 0)
    print(f"writes={writes} reads={reads} torn={bad} failed_procs={failed}")
    return 1 if bad or failed or not writes or not reads else 0


def unstable(dev, secs):
    """zram's page-changed-between-compression-and-store bug: one thread writes a
    page with O_DIRECT (the kernel reads the user's page in place) while another
    keeps changing that page, between same-filled, text (matches at every
    distance) and incompressible content, so its compressed size changes under the
    compressor. rzs compresses such a page in place through volatile loads
    (BioData::with_racy_source). Every write must complete, and every read of the
    page must succeed, return one whole page, and return it again on a second read;
    once the page stays still, it must read back exactly."""
    fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
    wbuf = mmap.mmap(-1, P)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(wbuf))
    rbuf = mmap.mmap(-1, P)
    rbuf2 = mmap.mmap(-1, P)
    noise = random.Random(5).randbytes(P)
    text = (b"rzs compresses the page in place while it changes; " * (P // 32))[:P]
    stop = threading.Event()
    flips = [0]

    def mutate():
        i = 0
        while not stop.is_set():
            # ctypes calls drop the GIL, so these run while pwritev is in the kernel.
            k = (i * 512) % P
            if i % 3 == 0:
                libc.memset(addr, i & 0xFF, P)
            elif i % 3 == 1:
                ctypes.memmove(addr + k, noise, P - k)
            else:
                ctypes.memmove(addr + k // 8, text, P - k // 8)
            i += 1
        flips[0] = i

    t = threading.Thread(target=mutate)
    t.start()
    end = time.monotonic() + secs
    writes = reads = errors = 0
    while time.monotonic() < end:
        for idx in (3, 4):
            try:
                os.pwritev(fd, [wbuf], idx * P)
                writes += 1
                if os.preadv(fd, [rbuf], idx * P) != P or os.preadv(fd, [rbuf2], idx * P) != P:
                    errors += 1
                elif rbuf[:] != rbuf2[:]:
                    print(f"badio.py: page {idx}: two reads differ", file=sys.stderr)
                    errors += 1
                reads += 2
            except OSError as e:
                print(f"badio.py: page {idx}: {e}", file=sys.stderr)
                errors += 1
    stop.set()
    t.join()
    os.pwritev(fd, [wbuf], 3 * P)
    if os.preadv(fd, [rbuf], 3 * P) != P or rbuf[:] != wbuf[:]:
        print("badio.py: the page, still now, did not read back", file=sys.stderr)
        errors += 1
    os.close(fd)
    print(f"writes={writes} reads={reads} changes={flips[0]} errors={errors}")
    return 1 if errors or not writes else 0


def main():
    mode, dev = sys.argv[1], sys.argv[2]
    if mode == "ioctl-fuzz":
        return ioctl_fuzz(dev, int(sys.argv[3]), int(sys.argv[4]))
    if mode == "ptr-edges":
        return ptr_edges(dev)
    if mode == "same-index":
        return same_index(dev, float(sys.argv[3]))
    if mode == "unstable":
        return unstable(dev, float(sys.argv[3]))
    sys.exit(f"badio.py: unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main())
