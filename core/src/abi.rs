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
    /// Swap attach / detach events seen.
    pub swap_attach: u64,
    /// See `swap_attach`.
    pub swap_detach: u64,
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
            table_bytes: (d.disksize / page).saturating_mul(d.table_bytes_per_page),
            swap_attach: d.swap_attach,
            swap_detach: d.swap_detach,
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
        // 21 fields: the 22 of the struct less `size`.
        assert_eq!(RZS_STAT_FIELDS, 21);
        let st = sample();
        let values: std::vec::Vec<u64> = st.fields().iter().map(|f| f.1).collect();
        assert_eq!(values, (1000..1021).collect::<std::vec::Vec<_>>());
        assert_eq!(st.fields()[0].0, "version");
        assert_eq!(st.fields()[20].0, "swap_detach");
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
