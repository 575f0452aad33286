// SPDX-License-Identifier: GPL-2.0
//! The userspace ABI (`include/uapi/linux/rzs.h`) in Rust: shared by the kernel module
//! and `rzsctl`. A test compiles the C header and checks that both agree.

/// ioctl "type" byte of rzs (documented free in ioctl-number.rst).
pub const RZS_IOC_MAGIC: u8 = 0xB9;
/// Version of [`RzsStats`] described here.
pub const RZS_STATS_VERSION: u32 = 2;
/// `RzsStats::flags`: the device has a size.
pub const RZS_FLAG_INITIALIZED: u32 = 1 << 0;
/// `RzsStats::flags`: the device is in use as swap.
pub const RZS_FLAG_SWAP: u32 = 1 << 1;
/// `RzsStats::flags`: slot frees come by swap event notifier (attached on SWAPON).
pub const RZS_FLAG_NOTIFY_EVENTS: u32 = 1 << 2;
/// `RzsStats::flags`: slot frees come by `swap_slot_free_notify`.
pub const RZS_FLAG_NOTIFY_BDEV: u32 = 1 << 3;
/// `RzsStats::flags`: the device has a backing device (tiering).
pub const RZS_FLAG_BACKING: u32 = 1 << 4;
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
    // Version 2: tiering.
    pub bd_count: u64,
    pub bd_reads: u64,
    pub bd_writes: u64,
    pub bd_blocks_written: u64,
    pub bd_blocks_used: u64,
    pub bd_blocks: u64,
    pub bd_failed: u64,
}

/// `struct rzs_backing`, the argument of [`RZS_IOC_SET_BACKING`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RzsBacking {
    /// User address of the path, a NUL-terminated string; 0 to unset.
    pub path: u64,
    /// Bytes at `path`, NUL included: 2..=`RZS_PATH_MAX`.
    pub path_len: u32,
    /// Must be 0.
    pub flags: u32,
}

/// Reads a native-endian integer of `N` bytes at `at` of `b`.
fn ne<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

impl RzsBacking {
    /// From the bytes userspace passed (exactly the struct's size).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != core::mem::size_of::<Self>() {
            return None;
        }
        Some(Self {
            path: u64::from_ne_bytes(ne(b, 0)?),
            path_len: u32::from_ne_bytes(ne(b, 8)?),
            flags: u32::from_ne_bytes(ne(b, 12)?),
        })
    }
}

impl RzsWriteback {
    /// From the bytes userspace passed (exactly the struct's size).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != core::mem::size_of::<Self>() {
            return None;
        }
        Some(Self {
            flags: u32::from_ne_bytes(ne(b, 0)?),
            min_age: u32::from_ne_bytes(ne(b, 4)?),
            max_pages: u64::from_ne_bytes(ne(b, 8)?),
            pages: u64::from_ne_bytes(ne(b, 16)?),
            blocks: u64::from_ne_bytes(ne(b, 24)?),
        })
    }

    /// The bytes of the struct in C layout, for copying back to userspace.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        let parts: [&[u8]; 5] = [
            &self.flags.to_ne_bytes(),
            &self.min_age.to_ne_bytes(),
            &self.max_pages.to_ne_bytes(),
            &self.pages.to_ne_bytes(),
            &self.blocks.to_ne_bytes(),
        ];
        let mut at = 0;
        for p in parts {
            for (o, v) in out.iter_mut().skip(at).zip(p) {
                *o = *v;
            }
            at += p.len();
        }
        out
    }
}

/// Longest backing device path, NUL included (the kernel's `PATH_MAX`).
pub const RZS_PATH_MAX: u32 = 4096;

/// `RzsWriteback::flags`: only pages not accessed since the last
/// [`RZS_IOC_MARK_IDLE`] (an age of at least one epoch).
pub const RZS_WB_IDLE: u32 = 1 << 0;
/// `RzsWriteback::flags`: only pages stored raw (incompressible by lz4).
pub const RZS_WB_HUGE: u32 = 1 << 1;
/// `RzsWriteback::flags`: only pages compressed to more than 3/4 of a page.
pub const RZS_WB_INCOMPRESSIBLE: u32 = 1 << 2;
/// Every `RZS_WB_*` flag.
pub const RZS_WB_ALL: u32 = RZS_WB_IDLE | RZS_WB_HUGE | RZS_WB_INCOMPRESSIBLE;

/// `struct rzs_writeback`, the argument of [`RZS_IOC_WRITEBACK`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RzsWriteback {
    /// In: `RZS_WB_*`, all of which a page must meet (none: every page).
    pub flags: u32,
    /// In: only pages not accessed for this many epochs (0..=192).
    pub min_age: u32,
    /// In: write back at most this many pages (0: no limit).
    pub max_pages: u64,
    /// Out: pages written back.
    pub pages: u64,
    /// Out: backing blocks written for them.
    pub blocks: u64,
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
const _: () = assert!(core::mem::size_of::<RzsStats>() == 4 * 4 + 25 * 8);
const _: () = assert!(core::mem::size_of::<RzsBacking>() == 16);
const _: () = assert!(core::mem::size_of::<RzsWriteback>() == 32);

/// Generates [`RzsStats::fields`] and [`RzsStats::set_field`] over the named fields,
/// so the sysfs text form (`/sys/block/rzsN/rzs_stat`, one `name value` line per
/// field) is written by the module and read by rzsctl from one list.
macro_rules! text_fields {
    ($($f:ident),* $(,)?) => {
        /// The number of fields of the text form.
        pub const RZS_STAT_FIELDS: usize = [$(stringify!($f)),*].len();

        impl RzsStats {
            /// Every field but `size` as `(name, value)`, in struct order: the text form.
            pub fn fields(&self) -> [(&'static str, u64); RZS_STAT_FIELDS] {
                [$((stringify!($f), u64::from(self.$f))),*]
            }

            /// Sets field `name` from the text form. `false` if there is no such field
            /// (a newer module's: ignored by the reader) or the value does not fit.
            pub fn set_field(&mut self, name: &str, value: u64) -> bool {
                match name {
                    $(stringify!($f) => match value.try_into() {
                        Ok(v) => {
                            self.$f = v;
                            true
                        }
                        Err(_) => false,
                    },)*
                    _ => false,
                }
            }
        }
    };
}

text_fields!(
    version,
    flags,
    index,
    disksize,
    mem_limit,
    num_reads,
    num_writes,
    failed_reads,
    failed_writes,
    invalid_io,
    notify_free,
    pages_stored,
    same_pages,
    huge_pages,
    orig_data_size,
    compr_data_size,
    mem_used_total,
    mem_used_max,
    table_bytes,
    swap_attach,
    swap_detach,
    bd_count,
    bd_reads,
    bd_writes,
    bd_blocks_written,
    bd_blocks_used,
    bd_blocks,
    bd_failed,
);

impl RzsStats {
    /// Reads the text form: `name value` lines. Unknown names and malformed lines
    /// are skipped (a newer module may add fields); `size` is set to what the
    /// fields cover, as the ioctl sets it.
    pub fn parse_text(text: &str) -> RzsStats {
        let mut st = RzsStats::default();
        for line in text.lines() {
            let mut w = line.split_whitespace();
            if let (Some(name), Some(Ok(v)), None) =
                (w.next(), w.next().map(str::parse::<u64>), w.next())
            {
                st.set_field(name, v);
            }
        }
        st.size = core::mem::size_of::<RzsStats>() as u32;
        st
    }
}

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
/// `RZS_IOC_SET_BACKING`: `_IOW(RZS_IOC_MAGIC, 0x04, struct rzs_backing)`.
pub const RZS_IOC_SET_BACKING: u32 = ioc(IOC_WRITE, 0x04, core::mem::size_of::<RzsBacking>());
/// `RZS_IOC_WRITEBACK`: `_IOWR(RZS_IOC_MAGIC, 0x05, struct rzs_writeback)`.
pub const RZS_IOC_WRITEBACK: u32 = ioc(
    IOC_READ | IOC_WRITE,
    0x05,
    core::mem::size_of::<RzsWriteback>(),
);
/// `RZS_IOC_MARK_IDLE`: `_IO(RZS_IOC_MAGIC, 0x06)`.
pub const RZS_IOC_MARK_IDLE: u32 = ioc(IOC_NONE, 0x06, 0);

/// Whether `cmd` is `RZS_IOC_GET_STATS` of any struct size: the size field of the
/// number changes as `struct rzs_stats` grows, and a tool built against an older
/// header must keep working (the struct's own `size` says how much it has room for).
pub const fn is_get_stats(cmd: u32) -> bool {
    const SIZE_FIELD: u32 = 0x3fff << 16;
    cmd & !SIZE_FIELD == RZS_IOC_GET_STATS & !SIZE_FIELD
}

/// How many bytes of `struct rzs_stats` a `GET_STATS` `cmd` may write, given the
/// caller's `room` (the struct's `size` field): no more than the caller says it
/// has, than the size its ioctl number was built with (a tool built against an
/// older, smaller struct, whatever its `size` field says), or than this struct.
/// `None` below 8 bytes (`size` and `version` at least): `EINVAL`.
pub fn stats_copy_len(cmd: u32, room: u32) -> Option<usize> {
    let ioc_size = (cmd >> 16) & 0x3fff;
    let n = (room.min(ioc_size) as usize).min(core::mem::size_of::<RzsStats>());
    (n >= 8).then_some(n)
}

/// What the driver reports beside its counters, for [`RzsStats::build`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DeviceState {
    /// `RZS_FLAG_*` bits.
    pub flags: u32,
    /// N of `/dev/rzsN`.
    pub index: u32,
    /// Bytes (0: no size).
    pub disksize: u64,
    /// Bytes (0: no limit).
    pub mem_limit: u64,
    /// Pages the allocator holds now.
    pub mem_used_pages: u64,
    /// Bytes of slot table per page of disk.
    pub table_bytes_per_page: u64,
    /// Bytes of tiering metadata (access stamps, backing block map), 0 without.
    pub tier_bytes: u64,
    /// Swap attach / detach events seen.
    pub swap_attach: u64,
    /// See `swap_attach`.
    pub swap_detach: u64,
    /// Backing blocks in use now, and usable in all (0, 0: no backing device).
    pub bd_blocks_used: u64,
    /// See `bd_blocks_used`.
    pub bd_blocks: u64,
}

impl RzsStats {
    /// The ABI record for counters `s` and device state `d`. Every conversion to
    /// bytes saturates: the counters are statistics that concurrent updates (or a
    /// bug) can leave momentarily unbalanced, e.g. `pages_stored` wrapped below
    /// zero, and a world-readable stats read must never panic (a BUG in the
    /// kernel) over one; a saturated field shows the imbalance instead.
    pub fn build(s: &crate::stats::StatsSnapshot, d: &DeviceState) -> RzsStats {
        let page = crate::PAGE_SIZE as u64;
        let bytes = |pages: u64| pages.saturating_mul(page);
        RzsStats {
            size: core::mem::size_of::<RzsStats>() as u32,
            version: RZS_STATS_VERSION,
            flags: d.flags,
            index: d.index,
            disksize: d.disksize,
            mem_limit: d.mem_limit,
            num_reads: s.num_reads,
            num_writes: s.num_writes,
            failed_reads: s.failed_reads,
            failed_writes: s.failed_writes,
            invalid_io: s.invalid_io,
            notify_free: s.notify_free,
            pages_stored: s.pages_stored,
            same_pages: s.same_pages,
            huge_pages: s.huge_pages,
            orig_data_size: bytes(s.pages_stored),
            compr_data_size: s.compr_data_size,
            mem_used_total: bytes(d.mem_used_pages),
            mem_used_max: bytes(s.mem_used_max),
            table_bytes: (d.disksize / page)
                .saturating_mul(d.table_bytes_per_page)
                .saturating_add(d.tier_bytes),
            swap_attach: d.swap_attach,
            swap_detach: d.swap_detach,
            bd_count: s.bd_count,
            bd_reads: s.bd_reads,
            bd_writes: s.bd_writes,
            bd_blocks_written: s.bd_blocks_written,
            bd_blocks_used: d.bd_blocks_used,
            bd_blocks: d.bd_blocks,
            bd_failed: s.bd_failed,
        }
    }
}

#[cfg(test)]
mod build_tests {
    use super::*;
    use crate::stats::StatsSnapshot;

    #[test]
    fn build_converts_pages_to_bytes() {
        let s = StatsSnapshot {
            pages_stored: 3,
            mem_used_max: 2,
            compr_data_size: 100,
            ..Default::default()
        };
        let d = DeviceState {
            disksize: 8 << 12,
            mem_used_pages: 5,
            table_bytes_per_page: 10,
            index: 4,
            ..Default::default()
        };
        let r = RzsStats::build(&s, &d);
        assert_eq!(r.orig_data_size, 3 * 4096);
        assert_eq!(r.mem_used_total, 5 * 4096);
        assert_eq!(r.mem_used_max, 2 * 4096);
        assert_eq!(r.table_bytes, 80);
        assert_eq!((r.index, r.compr_data_size), (4, 100));
        let tiered = RzsStats::build(
            &s,
            &DeviceState {
                tier_bytes: 16,
                ..d
            },
        );
        assert_eq!(
            tiered.table_bytes, 96,
            "tiering's stamps and block map count too"
        );
        assert_eq!(r.size as usize, core::mem::size_of::<RzsStats>());
    }

    /// An unbalanced counter (a free counted twice wraps `pages_stored` below zero)
    /// must not panic: tests run with overflow checks on, as rzs.ko may be built.
    #[test]
    fn build_saturates_unbalanced_counters() {
        let s = StatsSnapshot {
            pages_stored: u64::MAX,
            mem_used_max: u64::MAX - 1,
            ..Default::default()
        };
        let d = DeviceState {
            disksize: u64::MAX,
            mem_used_pages: u64::MAX / 2,
            table_bytes_per_page: 10,
            ..Default::default()
        };
        let r = RzsStats::build(&s, &d);
        assert_eq!(r.orig_data_size, u64::MAX);
        assert_eq!(r.mem_used_total, u64::MAX);
        assert_eq!(r.mem_used_max, u64::MAX);
        assert_eq!(r.table_bytes, u64::MAX / 4096 * 10);
    }
}

#[cfg(test)]
mod ioctl_tests {
    use super::*;

    #[test]
    fn ioctl_structs_convert_as_laid_out() {
        let w = RzsWriteback {
            flags: 5,
            min_age: 7,
            max_pages: 1 << 40,
            pages: 3,
            blocks: 2,
        };
        let b = w.to_bytes();
        assert_eq!(RzsWriteback::from_bytes(&b), Some(w));
        // The offsets of the C layout (checked against the header by abi_header.rs).
        assert_eq!(
            &b[core::mem::offset_of!(RzsWriteback, max_pages)..][..8],
            &(1u64 << 40).to_ne_bytes()
        );
        assert_eq!(
            &b[core::mem::offset_of!(RzsWriteback, blocks)..][..8],
            &2u64.to_ne_bytes()
        );
        assert_eq!(RzsWriteback::from_bytes(&b[..31]), None);
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&0xdead_beef_u64.to_ne_bytes());
        raw[8..12].copy_from_slice(&9u32.to_ne_bytes());
        raw[12..].copy_from_slice(&1u32.to_ne_bytes());
        assert_eq!(
            RzsBacking::from_bytes(&raw),
            Some(RzsBacking {
                path: 0xdead_beef,
                path_len: 9,
                flags: 1
            })
        );
        assert_eq!(RzsBacking::from_bytes(&raw[..15]), None);
    }

    #[test]
    fn stats_copy_len_is_the_least_of_room_ioctl_size_and_struct() {
        let v1 = ioc(IOC_READ | IOC_WRITE, 0x00, 4 * 4 + 18 * 8);
        let full = core::mem::size_of::<RzsStats>();
        assert_eq!(stats_copy_len(RZS_IOC_GET_STATS, 100_000), Some(full));
        assert_eq!(stats_copy_len(RZS_IOC_GET_STATS, 100), Some(100));
        // An old tool: its ioctl number bounds what is written, whatever `size` says.
        assert_eq!(stats_copy_len(v1, 100_000), Some(160));
        assert_eq!(stats_copy_len(v1, 160), Some(160));
        assert_eq!(stats_copy_len(RZS_IOC_GET_STATS, 7), None);
        assert_eq!(
            stats_copy_len(ioc(IOC_READ | IOC_WRITE, 0x00, 4), 1000),
            None
        );
    }

    #[test]
    fn get_stats_of_any_size_is_get_stats() {
        assert!(is_get_stats(RZS_IOC_GET_STATS));
        // Version 1's struct: 4 u32 and 18 u64.
        assert!(is_get_stats(ioc(
            IOC_READ | IOC_WRITE,
            0x00,
            4 * 4 + 18 * 8
        )));
        assert!(is_get_stats(ioc(IOC_READ | IOC_WRITE, 0x00, 8)));
        for other in [
            RZS_IOC_SET_DISKSIZE,
            RZS_IOC_SET_MEM_LIMIT,
            RZS_IOC_RESET,
            RZS_IOC_SET_BACKING,
            RZS_IOC_WRITEBACK,
            RZS_IOC_MARK_IDLE,
            ioc(IOC_WRITE, 0x00, core::mem::size_of::<RzsStats>()),
            ioc(IOC_READ | IOC_WRITE, 0x07, core::mem::size_of::<RzsStats>()),
            RZS_IOC_GET_STATS ^ (1 << 8),
        ] {
            assert!(!is_get_stats(other), "{other:#x}");
        }
    }
}

#[cfg(test)]
mod text_tests {
    extern crate std;
    use super::*;
    use std::format;
    use std::string::String;

    fn sample() -> RzsStats {
        // Every field distinct, so a field written or read under another's name shows.
        let mut st = RzsStats {
            size: core::mem::size_of::<RzsStats>() as u32,
            ..Default::default()
        };
        for (i, (name, _)) in RzsStats::default().fields().iter().enumerate() {
            assert!(st.set_field(name, 1000 + i as u64), "{name}");
        }
        st
    }

    #[test]
    fn every_field_but_size_is_in_the_text_form() {
        // 28 fields: the 29 of the struct less `size`.
        assert_eq!(RZS_STAT_FIELDS, 28);
        let st = sample();
        let values: std::vec::Vec<u64> = st.fields().iter().map(|f| f.1).collect();
        assert_eq!(values, (1000..1028).collect::<std::vec::Vec<_>>());
        assert_eq!(st.fields()[0].0, "version");
        assert_eq!(st.fields()[20].0, "swap_detach");
        assert_eq!(st.fields()[27].0, "bd_failed");
    }

    #[test]
    fn text_round_trip() {
        let st = sample();
        let text: String = st
            .fields()
            .iter()
            .map(|(n, v)| format!("{n} {v}\n"))
            .collect();
        assert_eq!(RzsStats::parse_text(&text), st);
    }

    #[test]
    fn text_tolerates_new_and_malformed_lines() {
        let got = RzsStats::parse_text(
            "disksize 4096\nfuture_field 7\nflags x\nindex\nnum_reads 1 2\n\nindex 3\nversion 99999999999\n",
        );
        assert_eq!(
            (got.disksize, got.index, got.flags, got.num_reads),
            (4096, 3, 0, 0)
        );
        // version is a u32: a value that does not fit is not truncated.
        assert_eq!(got.version, 0);
        assert_eq!(got.size as usize, core::mem::size_of::<RzsStats>());
        assert!(
            !RzsStats::default().set_field("size", 1),
            "size is not a text field"
        );
    }
}
