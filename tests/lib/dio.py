#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""O_DIRECT I/O from and into buffers that do not start on a page boundary.

The device's logical block is 4 KiB, so O_DIRECT offsets and lengths are whole
pages, but the memory buffer only has to be 512-byte aligned (the queue's
dma_alignment is 511): a 4 KiB block then comes from, or goes to, two pieces of two
memory pages, and rzs must gather it into (scatter it from) one page of its own.

    dio.py DEV PAGES SEED

Writes and reads PAGES-page regions at random page offsets within the first PAGES
pages of DEV (1-4 pages at a time), from and into buffers at every 512-byte offset
in a page, and checks each read against a model of what the device holds. The
model starts as the device's current contents. Prints a summary; exit 1 on any
mismatch, with the first one.
"""
import mmap
import os
import random
import sys

PAGE = 4096


def main():
    dev, pages, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    r = random.Random(seed)
    fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
    # Model: the device as it is now (read aligned).
    buf = mmap.mmap(-1, pages * PAGE)
    got = os.preadv(fd, [buf], 0)
    if got != pages * PAGE:
        print(f"short initial read: {got}")
        return 1
    model = bytearray(buf[:])
    area = mmap.mmap(-1, 6 * PAGE)
    writes = reads = 0
    for n in range(4 * 8 * 4):
        shift = 512 * (n % 8)
        npages = 1 + (n // 8) % 4
        length = npages * PAGE
        pos = r.randrange(0, pages - npages + 1) * PAGE
        view = memoryview(area)[shift:shift + length]
        if n % 2 == 0:
            # Mix compressible, same-filled (one byte, or an 8-byte word of distinct
            # bytes: the pattern must go on across the pieces) and random pages.
            kind = r.randrange(4)
            if kind == 0:
                data = r.randbytes(length)
            elif kind == 1:
                data = bytes([r.randrange(256)]) * length
            elif kind == 3:
                data = r.randbytes(8) * (length // 8)
            else:
                data = (b"dio %d at %d " % (n, pos)) * (length // 8)
                data = (data + bytes(length))[:length]
            view[:] = data
            if os.pwritev(fd, [view], pos) != length:
                print(f"short write at {pos}")
                return 1
            model[pos:pos + length] = data
            writes += 1
        else:
            view[:] = bytes([0xa5]) * length
            if os.preadv(fd, [view], pos) != length:
                print(f"short read at {pos}")
                return 1
            if bytes(view) != bytes(model[pos:pos + length]):
                bad = next(i for i in range(length) if view[i] != model[pos + i])
                print(f"mismatch: read of {npages} page(s) at byte {pos} into a buffer at +{shift}: "
                      f"first wrong byte {bad} (page {bad // PAGE}, offset {bad % PAGE})")
                return 1
            reads += 1
    # Everything, read back aligned.
    if os.preadv(fd, [buf], 0) != pages * PAGE or buf[:] != bytes(model):
        print("final aligned read-back differs from the model")
        return 1
    print(f"writes={writes} reads={reads} shifts=0..3584 step 512, 1-4 pages each, 0 mismatches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
