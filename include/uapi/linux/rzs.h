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
#define RZS_STATS_VERSION 1

/* rzs_stats.flags */
#define RZS_FLAG_INITIALIZED	(1U << 0)	/* the device has a size */
#define RZS_FLAG_SWAP		(1U << 1)	/* the device is in use as swap */
#define RZS_FLAG_NOTIFY_EVENTS	(1U << 2)	/* slot frees come by swap event notifier */
#define RZS_FLAG_NOTIFY_BDEV	(1U << 3)	/* slot frees come by swap_slot_free_notify */

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

#define RZS_MAX_DISKSIZE	(1ULL << 40)

#endif /* _UAPI_LINUX_RZS_H */
