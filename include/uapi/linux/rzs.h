/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rzs: compressed-RAM swap block device - userspace ABI.
 *
 * Device ioctls are issued on an open /dev/rzsN. Getting stats needs only an open
 * file descriptor; every other operation needs CAP_SYS_ADMIN (-EPERM otherwise).
 *
 * The Rust definitions in core/src/abi.rs are the same ABI; `cargo test` compiles
 * this header and checks that sizes and field offsets agree.
 */
#ifndef _UAPI_LINUX_RZS_H
#define _UAPI_LINUX_RZS_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define RZS_IOC_MAGIC 0xB9

/* Version of struct rzs_stats this header describes. */
#define RZS_STATS_VERSION 2

/* rzs_stats.flags */
#define RZS_FLAG_INITIALIZED	(1U << 0)	/* the device has a size */
#define RZS_FLAG_SWAP		(1U << 1)	/* the device is in use as swap */
#define RZS_FLAG_NOTIFY_EVENTS	(1U << 2)	/* slot frees come by swap event notifier */
#define RZS_FLAG_NOTIFY_BDEV	(1U << 3)	/* slot frees come by swap_slot_free_notify */
#define RZS_FLAG_BACKING	(1U << 4)	/* the device has a backing device */

/*
 * Device statistics. Extensible: the caller sets @size to sizeof(its struct
 * rzs_stats) before the call; the kernel fills at most that many bytes, never more
 * than it knows, and sets @size to the number of bytes it wrote and @version to its
 * RZS_STATS_VERSION. New fields are only ever appended.
 *
 * Sizes are in bytes; counters count bios (reads, writes, failures) or pages.
 */
struct rzs_stats {
	__u32 size;		/* in: room the caller has; out: bytes filled */
	__u32 version;		/* out: RZS_STATS_VERSION of the kernel */
	__u32 flags;		/* RZS_FLAG_* */
	__u32 index;		/* N of /dev/rzsN */
	__u64 disksize;
	__u64 mem_limit;	/* 0: no limit */
	__u64 num_reads;
	__u64 num_writes;
	__u64 failed_reads;
	__u64 failed_writes;
	__u64 invalid_io;	/* out-of-range or unsized-device I/O */
	__u64 notify_free;	/* slots freed by swap slot-free notifications */
	__u64 pages_stored;	/* pages held, including same-filled ones */
	__u64 same_pages;	/* same-filled pages: no memory beyond the table */
	__u64 huge_pages;	/* incompressible pages stored raw */
	__u64 orig_data_size;	/* bytes of the pages held */
	__u64 compr_data_size;	/* bytes of their compressed objects */
	__u64 mem_used_total;	/* bytes the allocator holds for them */
	__u64 mem_used_max;	/* peak of mem_used_total */
	__u64 table_bytes;	/* slot table size (metadata) */
	__u64 swap_attach;	/* times a SWAPON event attached the table */
	__u64 swap_detach;	/* times a SWAPOFF event detached it */
	/* version 2: tiering to a backing device */
	__u64 bd_count;		/* pages on the backing device now */
	__u64 bd_reads;		/* pages read from it */
	__u64 bd_writes;	/* pages written back to it */
	__u64 bd_blocks_written; /* 4 KiB blocks written for them (packed: fewer) */
	__u64 bd_blocks_used;	/* its 4 KiB blocks in use now */
	__u64 bd_blocks;	/* its 4 KiB blocks rzs may use */
	__u64 bd_failed;	/* its reads and writes that failed */
};

/*
 * Backing device (RZS_IOC_SET_BACKING): @path is the user address of a
 * NUL-terminated block device path, @path_len its size with the NUL
 * (2..RZS_PATH_MAX), @flags 0. @path 0 and @path_len 0 unset it.
 */
struct rzs_backing {
	__u64 path;
	__u32 path_len;
	__u32 flags;
};

#define RZS_PATH_MAX		4096

/* rzs_writeback.flags: a page must meet every flag given */
#define RZS_WB_IDLE		(1U << 0)	/* not accessed since the last MARK_IDLE */
#define RZS_WB_HUGE		(1U << 1)	/* stored raw (incompressible by lz4) */
#define RZS_WB_INCOMPRESSIBLE	(1U << 2)	/* compressed to more than 3/4 page */

/* Writeback (RZS_IOC_WRITEBACK). */
struct rzs_writeback {
	__u32 flags;		/* in: RZS_WB_* */
	__u32 min_age;		/* in: only pages not accessed for this many epochs (<= 192) */
	__u64 max_pages;	/* in: at most this many pages (0: no limit) */
	__u64 pages;		/* out: pages written back */
	__u64 blocks;		/* out: backing blocks written for them */
};

/*
 * Get statistics (no privilege needed). @size must be at least 8 (room for @size
 * and @version); -EINVAL otherwise.
 */
#define RZS_IOC_GET_STATS	_IOWR(RZS_IOC_MAGIC, 0x00, struct rzs_stats)
/*
 * Set the size in bytes of an uninitialised device; rounded up to a whole number
 * of 4 KiB pages. -EBUSY if the device already has a size (reset it first), -EINVAL
 * for 0 or more than RZS_MAX_DISKSIZE.
 */
#define RZS_IOC_SET_DISKSIZE	_IOW(RZS_IOC_MAGIC, 0x01, __u64)
/* Limit the memory the device may use, in bytes (0: no limit). */
#define RZS_IOC_SET_MEM_LIMIT	_IOW(RZS_IOC_MAGIC, 0x02, __u64)
/*
 * Free everything and return to size 0. -EBUSY while the device is open by anyone
 * but the caller, mounted or swapped on.
 */
#define RZS_IOC_RESET		_IO(RZS_IOC_MAGIC, 0x03)
/*
 * Set the backing device that pages are written back to (tiering): a block device
 * (a file through a loop device), opened exclusively. Only before the device has a
 * size: -EBUSY after. A reset releases it. -ENOTBLK, -ENOENT, ... from opening it;
 * -EINVAL for a device smaller than a page or a bad struct.
 */
#define RZS_IOC_SET_BACKING	_IOW(RZS_IOC_MAGIC, 0x04, struct rzs_backing)
/*
 * Write pages back to the backing device, packed several to a 4 KiB block, and free
 * their memory. -ENODEV without a backing device, -EBUSY while another writeback
 * runs, -ENOSPC when the backing device is full before any page was written, -EIO
 * (or the device's error) when its write fails: the pages stay in RAM.
 */
#define RZS_IOC_WRITEBACK	_IOWR(RZS_IOC_MAGIC, 0x05, struct rzs_writeback)
/*
 * Start a new access epoch: every page stored now counts as idle (RZS_WB_IDLE)
 * until it is next read or written. -ENODEV without a backing device.
 */
#define RZS_IOC_MARK_IDLE	_IO(RZS_IOC_MAGIC, 0x06)

#define RZS_MAX_DISKSIZE	(1ULL << 40)

#endif /* _UAPI_LINUX_RZS_H */
