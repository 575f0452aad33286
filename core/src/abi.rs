// SPDX-License-Identifier: GPL-2.0
//! The userspace ABI (`include/uapi/linux/rzs.h`) in Rust: shared by the kernel module
//! and `rzsctl`. A test compiles the C header and checks that both agree.

/// ioctl "type" byte of rzs (documented free in ioctl-number.rst).
pub const RZS_IOC_MAGIC: u8 = 0xB9;
/// Version of [`RzsStats`] described here.
pub const RZS_STATS_VERSION: u32 = 1;
/// `RzsStats::flags`: the device has a size.
pub const RZS_FLAG_INITIALIZED: u32 = 1 << 0;
/// `RzsStats::flags`: the device is in use as swap.
pub const RZS_FLAG_SWAP: u32 = 1 << 1;
/// `RzsStats::flags`: slot frees come by swap event notifier (attached on SWAPON).
pub const RZS_FLAG_NOTIFY_EVENTS: u32 = 1 << 2;
/// `RzsStats::flags`: slot frees come by `swap_slot_free_notify`.
pub const RZS_FLAG_NOTIFY_BDEV: u32 = 1 << 3;
/// Largest disksize accepted.
pub const RZS_MAX_DISKSIZE: u64 = 1 << 40;

/// `struct rzs_stats`. See the C header for the meaning of each field and the
/// size/version rules that let it grow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RzsStats {
    pub size: u32,
    pub version: u32,
    pub flags: u32,
    pub index: u32,
    pub disksize: u64,
    pub mem_limit: u64,
    pub num_reads: u64,
    pub num_writes: u64,
    pub failed_reads: u64,
    pub failed_writes: u64,
    pub invalid_io: u64,
    pub notify_free: u64,
    pub pages_stored: u64,
    pub same_pages: u64,
    pub huge_pages: u64,
    pub orig_data_size: u64,
    pub compr_data_size: u64,
    pub mem_used_total: u64,
    pub mem_used_max: u64,
    pub table_bytes: u64,
    pub swap_attach: u64,
    pub swap_detach: u64,
}

impl RzsStats {
    /// Views the struct as bytes (for copying to userspace). It is `repr(C)` with only
    /// integer fields and no padding (checked below), so every byte is initialised.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: see above; the slice covers exactly `self`.
        unsafe {
            core::slice::from_raw_parts(
                (self as *const Self).cast::<u8>(),
                core::mem::size_of::<Self>(),
            )
        }
    }
}

// No padding anywhere: the size is the sum of the fields.
const _: () = assert!(core::mem::size_of::<RzsStats>() == 4 * 4 + 18 * 8);

/// Linux `_IOC` encoding (asm-generic/ioctl.h, used by x86 and most architectures).
pub const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((RZS_IOC_MAGIC as u32) << 8) | nr
}
const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `RZS_IOC_GET_STATS`: `_IOWR(RZS_IOC_MAGIC, 0x00, struct rzs_stats)`.
pub const RZS_IOC_GET_STATS: u32 =
    ioc(IOC_READ | IOC_WRITE, 0x00, core::mem::size_of::<RzsStats>());
/// `RZS_IOC_SET_DISKSIZE`: `_IOW(RZS_IOC_MAGIC, 0x01, __u64)`.
pub const RZS_IOC_SET_DISKSIZE: u32 = ioc(IOC_WRITE, 0x01, 8);
/// `RZS_IOC_SET_MEM_LIMIT`: `_IOW(RZS_IOC_MAGIC, 0x02, __u64)`.
pub const RZS_IOC_SET_MEM_LIMIT: u32 = ioc(IOC_WRITE, 0x02, 8);
/// `RZS_IOC_RESET`: `_IO(RZS_IOC_MAGIC, 0x03)`.
pub const RZS_IOC_RESET: u32 = ioc(IOC_NONE, 0x03, 0);
