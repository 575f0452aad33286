#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Read an rzs device's statistics with RZS_IOC_GET_STATS, independently of rzsctl.

    rzsstat.py /dev/rzs0            print every field as name=value
    rzsstat.py /dev/rzs0 FIELD...   print the values of FIELDs, one per line

The layout is struct rzs_stats of include/uapi/linux/rzs.h (version 2).
"""
import fcntl
import os
import struct
import sys

FIELDS = ["size", "version", "flags", "index"] + [
    "disksize", "mem_limit", "num_reads", "num_writes", "failed_reads", "failed_writes",
    "invalid_io", "notify_free", "pages_stored", "same_pages", "huge_pages", "orig_data_size",
    "compr_data_size", "mem_used_total", "mem_used_max", "table_bytes", "swap_attach",
    "swap_detach", "bd_count", "bd_reads", "bd_writes", "bd_blocks_written", "bd_blocks_used",
    "bd_blocks", "bd_failed",
]
FMT = "=4I25Q"
SIZE = struct.calcsize(FMT)
# _IOWR(0xB9, 0x00, struct rzs_stats)
GET_STATS = (3 << 30) | (SIZE << 16) | (0xB9 << 8) | 0x00


def read_stats(dev):
    fd = os.open(dev, os.O_RDONLY)
    try:
        buf = bytearray(struct.pack(FMT, SIZE, *([0] * (len(FIELDS) - 1))))
        fcntl.ioctl(fd, GET_STATS, buf, True)
    finally:
        os.close(fd)
    return dict(zip(FIELDS, struct.unpack(FMT, bytes(buf))))


def main():
    st = read_stats(sys.argv[1])
    if len(sys.argv) > 2:
        for f in sys.argv[2:]:
            print(st[f])
    else:
        for k, v in st.items():
            print(f"{k}={v}")


if __name__ == "__main__":
    main()
