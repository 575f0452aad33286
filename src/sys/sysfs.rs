// SPDX-License-Identifier: GPL-2.0
//! The files in `/sys/block/rzsN/`, named and formatted as zram's wherever the
//! meaning maps, so a script written for zram works with a path change:
//! - `disksize` (rw: bytes, or a size such as `256M`; `EBUSY` once sized),
//!   `initstate` (ro), `reset` (wo: a non-zero number; `EBUSY` while open),
//!   `mem_limit` (rw: bytes or a size; 0 = none), `mem_used_max` (rw: write 0 to
//!   restart the peak from the current use), `compact` (wo: compacts the pool),
//!   `comp_algorithm` (ro: `[lz4]`);
//! - `mm_stat`: orig_data_size compr_data_size mem_used_total mem_limit
//!   mem_used_max same_pages pages_compacted huge_pages (bytes or pages, as zram);
//! - `io_stat`: failed_reads failed_writes invalid_io notify_free;
//! - `debug_stat`: zram's layout, `version: 1` then write stalls and missed frees,
//!   both 0 by construction in rzs (no write stalls to retry an allocation; a
//!   slot free never gives up);
//! - `rzs_stat`: every field of `struct rzs_stats` as `name value` lines
//!   (`rzs_core::abi::RzsStats::fields`), world-readable: what rzsctl shows a user
//!   who cannot open the device node;
//! - tiering, as zram's: `backing_dev` (rw: a block device path, or `none`; only
//!   before `disksize`), `writeback` (wo: `idle`, `huge`, `huge_idle`,
//!   `incompressible`), `idle` (wo: `all` marks every page idle), `bd_stat`
//!   (bd_count bd_reads bd_writes, in pages), `writeback_limit_enable` and
//!   `writeback_limit` (rw: a budget of pages for flash wear);
//! - rzs's automatic tiering: `writeback_auto` (rw 0/1, default 1),
//!   `writeback_watermarks` (rw `HIGH LOW`, percent of `mem_limit` or of RAM,
//!   default `90 75`), `idle_epoch_secs` (rw, default 60: the unit of page age);
//! - `debug_corrupt` (write-only, test only): writing a page index corrupts that
//!   page's compressed object, when the module was loaded with `debug_corrupt=Y`
//!   (otherwise `-EPERM`), so tests can prove a corrupt page reads as `-EIO`.
//! Every write needs `CAP_SYS_ADMIN` (`-EPERM`), as the ioctls do; the files that
//! can be written are root's only (mode 0644 or 0200). The full set of statistics
//! is `RZS_IOC_GET_STATS` (what `rzsctl` reads).

use core::fmt::Write;
use core::sync::atomic::Ordering::Relaxed;

use kernel::bindings;
use kernel::error::{code, Result};
use kernel::ffi::c_char;

use super::blk::DiskRef;
use crate::device::Device;

/// An `attribute_group` list is a table of raw pointers; it is immutable.
#[repr(transparent)]
pub(crate) struct Table<T, const N: usize>(pub(crate) [*const T; N]);
// SAFETY: the tables point to immutable statics and are never written.
unsafe impl<T, const N: usize> Sync for Table<T, N> {}

#[repr(transparent)]
pub(crate) struct Attr(bindings::device_attribute);
// SAFETY: immutable after initialisation; sysfs only reads it.
unsafe impl Sync for Attr {}

#[repr(transparent)]
pub(crate) struct Group(bindings::attribute_group);
// SAFETY: as above.
unsafe impl Sync for Group {}

type Show = unsafe extern "C" fn(*mut bindings::device, *mut bindings::device_attribute, *mut c_char) -> isize;
type Store = unsafe extern "C" fn(*mut bindings::device, *mut bindings::device_attribute, *const c_char, usize) -> isize;

const fn attr(name: &'static core::ffi::CStr, mode: u16, show: Option<Show>, store: Option<Store>) -> Attr {
    Attr(bindings::device_attribute {
        attr: bindings::attribute {
            name: name.as_ptr() as *const c_char,
            mode,
            // SAFETY: the rest (lockdep keys when enabled) is valid all-zero.
            ..unsafe { core::mem::zeroed() }
        },
        show,
        store,
    })
}

/// A `show` trampoline for sysfs that formats with `$f(&Device, &mut PageBuf)`.
macro_rules! show_fn {
    ($f:expr) => {{
        unsafe extern "C" fn cb(dev: *mut bindings::device, _a: *mut bindings::device_attribute, buf: *mut c_char) -> isize {
            // SAFETY: sysfs calls `show` for our disks' attributes with its page buffer.
            unsafe { show(dev, buf, $f) }
        }
        cb as Show
    }};
}

/// A `store` trampoline for sysfs that runs `$f(&Device, DiskRef, &[u8]) -> Result`.
macro_rules! store_fn {
    ($f:expr) => {{
        unsafe extern "C" fn cb(
            dev: *mut bindings::device,
            _a: *mut bindings::device_attribute,
            buf: *const c_char,
            count: usize,
        ) -> isize {
            // SAFETY: sysfs calls `store` for our disks' attributes with `count` bytes in `buf`.
            unsafe { store(dev, buf, count, $f) }
        }
        cb as Store
    }};
}

/// A read-only attribute.
macro_rules! ro {
    ($stat:ident, $name:expr, $f:expr) => {
        static $stat: Attr = attr($name, 0o444, Some(show_fn!($f)), None);
    };
}

/// A write-only attribute (root's).
macro_rules! wo {
    ($stat:ident, $name:expr, $f:expr) => {
        static $stat: Attr = attr($name, 0o200, None, Some(store_fn!($f)));
    };
}

/// A read-write attribute (root writes).
macro_rules! rw {
    ($stat:ident, $name:expr, $show:expr, $store:expr) => {
        static $stat: Attr = attr($name, 0o644, Some(show_fn!($show)), Some(store_fn!($store)));
    };
}

ro!(MM_STAT, c"mm_stat", |d, w| {
    let s = d.stats();
    let _ = writeln!(
        w,
        "{:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        s.orig_data_size,
        s.compr_data_size,
        s.mem_used_total,
        s.mem_limit,
        s.mem_used_max,
        s.same_pages,
        d.pages_compacted(),
        s.huge_pages
    );
});
ro!(IO_STAT, c"io_stat", |d, w| {
    let s = d.stats();
    let _ = writeln!(w, "{:>8} {:>8} {:>8} {:>8}", s.failed_reads, s.failed_writes, s.invalid_io, s.notify_free);
});
rw!(
    DISKSIZE,
    c"disksize",
    |d, w| {
        let _ = writeln!(w, "{}", d.stats().disksize);
    },
    |d, disk, input| d.set_disksize(parse_size(input)?, disk)
);
ro!(INITSTATE, c"initstate", |d, w| {
    let _ = writeln!(w, "{}", u8::from(d.initialized()));
});
wo!(RESET, c"reset", |d, disk, input| match parse_u64(input) {
    // As zram: the number must be non-zero.
    Some(n) if n != 0 => d.reset_disk(disk, 0),
    _ => Err(code::EINVAL),
});
rw!(
    MEM_LIMIT,
    c"mem_limit",
    |d, w| {
        let _ = writeln!(w, "{}", d.stats().mem_limit);
    },
    |d, _disk, input| d.set_mem_limit(parse_size(input)?)
);
rw!(
    MEM_USED_MAX,
    c"mem_used_max",
    |d, w| {
        let _ = writeln!(w, "{}", d.stats().mem_used_max);
    },
    |d, _disk, input| match parse_u64(input) {
        // As zram: only 0 is accepted, and restarts the peak from the current use.
        Some(0) => {
            d.reset_mem_used_max();
            Ok(())
        }
        _ => Err(code::EINVAL),
    }
);
wo!(COMPACT, c"compact", |d, _disk, _input| {
    d.compact();
    Ok(())
});
ro!(COMP_ALGORITHM, c"comp_algorithm", |_d, w| {
    let _ = writeln!(w, "[lz4]");
});
ro!(DEBUG_STAT, c"debug_stat", |_d, w| {
    // zram's layout (version 1: write stalls, then frees missed because the slot
    // was locked). Both are 0 by construction in rzs: no write stalls to retry its
    // allocation, and a slot free waits for the slot's spinlock instead of giving up.
    let _ = writeln!(w, "version: 1\n{:>8} {:>8}", 0, 0);
});
ro!(RZS_STAT, c"rzs_stat", |d, w| {
    for (name, value) in d.stats().fields() {
        let _ = writeln!(w, "{name} {value}");
    }
});
rw!(
    BACKING_DEV,
    c"backing_dev",
    |d, w| {
        let mut shown = false;
        d.backing_path(&mut |p| {
            let _ = writeln!(w, "{}", p);
            shown = true;
        });
        if !shown {
            let _ = writeln!(w, "none");
        }
    },
    |d, _disk, input| {
        let path = trim(input);
        if path == b"none" {
            return d.set_backing(None);
        }
        if path.is_empty() || path.len() >= rzs_core::abi::RZS_PATH_MAX as usize {
            return Err(code::EINVAL);
        }
        let mut buf = kernel::alloc::KVec::with_capacity(path.len() + 1, kernel::alloc::flags::GFP_KERNEL)?;
        buf.extend_from_slice(path, kernel::alloc::flags::GFP_KERNEL)?;
        buf.push(0, kernel::alloc::flags::GFP_KERNEL)?;
        let c = kernel::str::CStr::from_bytes_with_nul(&buf).map_err(|_| code::EINVAL)?;
        d.set_backing(Some(c))
    }
);
wo!(WRITEBACK, c"writeback", |d, _disk, input| {
    // zram's modes.
    let (idle, huge, incompressible) = match trim(input) {
        b"idle" => (true, false, false),
        b"huge" => (false, true, false),
        b"huge_idle" => (true, true, false),
        b"incompressible" => (false, false, true),
        _ => return Err(code::EINVAL),
    };
    let sel = crate::store::Select { min_age: u8::from(idle), huge, incompressible };
    d.writeback(sel, u64::MAX).map(|_| ())
});
wo!(IDLE, c"idle", |d, _disk, input| match trim(input) {
    b"all" => d.mark_idle(),
    _ => Err(code::EINVAL),
});
ro!(BD_STAT, c"bd_stat", |d, w| {
    let s = d.stats();
    let _ = writeln!(w, "{:>8} {:>8} {:>8}", s.bd_count, s.bd_reads, s.bd_writes);
});
rw!(
    WB_LIMIT_ENABLE,
    c"writeback_limit_enable",
    |d, w| {
        let _ = writeln!(w, "{}", u8::from(d.tier.limit_enable.load(Relaxed)));
    },
    |d, _disk, input| {
        let on = parse_bool(input)?;
        d.tier.limit_enable.store(on, Relaxed);
        Ok(())
    }
);
rw!(
    WB_LIMIT,
    c"writeback_limit",
    |d, w| {
        let _ = writeln!(w, "{}", d.tier.limit.load(Relaxed));
    },
    |d, _disk, input| {
        d.tier.limit.store(parse_u64(trim(input)).ok_or(code::EINVAL)?, Relaxed);
        Ok(())
    }
);
rw!(
    WB_AUTO,
    c"writeback_auto",
    |d, w| {
        let _ = writeln!(w, "{}", u8::from(d.tier.auto.load(Relaxed)));
    },
    |d, _disk, input| {
        d.set_auto_writeback(parse_bool(input)?);
        Ok(())
    }
);
rw!(
    WB_WATERMARKS,
    c"writeback_watermarks",
    |d, w| {
        let _ = writeln!(w, "{} {}", d.tier.high_pct.load(Relaxed), d.tier.low_pct.load(Relaxed));
    },
    |d, _disk, input| {
        let text = core::str::from_utf8(trim(input)).map_err(|_| code::EINVAL)?;
        let mut it = text.split_whitespace().map(|v| v.parse::<u32>());
        match (it.next(), it.next(), it.next()) {
            (Some(Ok(high)), Some(Ok(low)), None) => d.set_watermarks(high, low),
            _ => Err(code::EINVAL),
        }
    }
);
rw!(
    IDLE_EPOCH_SECS,
    c"idle_epoch_secs",
    |d, w| {
        let _ = writeln!(w, "{}", d.tier.epoch_secs.load(Relaxed));
    },
    |d, _disk, input| {
        let secs = parse_u64(trim(input)).and_then(|v| u32::try_from(v).ok()).ok_or(code::EINVAL)?;
        d.set_epoch_secs(secs)
    }
);
wo!(DEBUG_CORRUPT, c"debug_corrupt", |d, _disk, input| {
    d.debug_corrupt(parse_u64(input).ok_or(code::EINVAL)?)?;
    Ok(())
});

const N_ATTRS: usize = 21;
static ATTRS: Table<bindings::attribute, { N_ATTRS + 1 }> = Table([
    &MM_STAT.0.attr,
    &IO_STAT.0.attr,
    &DISKSIZE.0.attr,
    &INITSTATE.0.attr,
    &RESET.0.attr,
    &MEM_LIMIT.0.attr,
    &MEM_USED_MAX.0.attr,
    &COMPACT.0.attr,
    &COMP_ALGORITHM.0.attr,
    &DEBUG_STAT.0.attr,
    &RZS_STAT.0.attr,
    &DEBUG_CORRUPT.0.attr,
    &BACKING_DEV.0.attr,
    &WRITEBACK.0.attr,
    &IDLE.0.attr,
    &BD_STAT.0.attr,
    &WB_LIMIT_ENABLE.0.attr,
    &WB_LIMIT.0.attr,
    &WB_AUTO.0.attr,
    &WB_WATERMARKS.0.attr,
    &IDLE_EPOCH_SECS.0.attr,
    core::ptr::null(),
]);

static GROUP: Group = Group(bindings::attribute_group {
    attrs: &ATTRS.0 as *const [*const bindings::attribute; N_ATTRS + 1] as *mut *mut bindings::attribute,
    // SAFETY: no name, no visibility callbacks, no binary attributes: all-zero.
    ..unsafe { core::mem::zeroed() }
});

/// The attribute groups to give `device_add_disk`.
pub(crate) static GROUPS: Table<bindings::attribute_group, 2> = Table([&GROUP.0, core::ptr::null()]);

/// Writes formatted text into a sysfs `show` buffer (one page), truncating.
///
/// # Invariants
///
/// `buf` is a page-sized buffer this `PageBuf` may write, and `len < PAGE_SIZE`.
pub(crate) struct PageBuf {
    buf: *mut u8,
    len: usize,
}

impl PageBuf {
    /// # Safety
    ///
    /// `buf` is sysfs's page-sized `show` buffer, written by no one else while the
    /// `PageBuf` lives.
    pub(crate) unsafe fn new(buf: *mut c_char) -> Self {
        PageBuf { buf: buf as *mut u8, len: 0 }
    }

    /// The bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Write for PageBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(kernel::page::PAGE_SIZE - 1 - self.len);
        // SAFETY: `buf` is sysfs's page-sized buffer and `len + n < PAGE_SIZE`.
        unsafe { core::ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.len), n) };
        self.len += n;
        Ok(())
    }
}

/// Runs `f` on the device behind a sysfs `dev` and writes what it formats.
///
/// # Safety
///
/// `dev` is the `struct device` of one of our disks, `buf` sysfs's page buffer.
unsafe fn show(dev: *mut bindings::device, buf: *mut c_char, f: impl FnOnce(&Device, &mut PageBuf)) -> isize {
    // SAFETY: per the contract.
    let Some(d) = (unsafe { crate::sys::blk::driver_of_device::<Device>(dev) }) else {
        return 0;
    };
    // SAFETY: per the contract.
    let mut w = unsafe { PageBuf::new(buf) };
    f(d, &mut w);
    w.len as isize
}

/// Checks the writer's capability, finds the device and disk behind `dev`, and runs
/// `f` on the written bytes: `count` on success, a negative errno otherwise.
///
/// # Safety
///
/// `dev` is the `struct device` of one of our disks; `buf` holds `count` bytes.
unsafe fn store(
    dev: *mut bindings::device,
    buf: *const c_char,
    count: usize,
    f: impl FnOnce(&Device, DiskRef<'_>, &[u8]) -> Result,
) -> isize {
    if !super::capable_sys_admin() {
        return code::EPERM.to_errno() as isize;
    }
    // SAFETY: per the contract.
    let Some((d, disk)) = (unsafe { super::blk::disk_of_device::<Device>(dev) }) else {
        return code::ENODEV.to_errno() as isize;
    };
    // SAFETY: sysfs's buffer holds `count` bytes, and only sysfs writes it, before
    // calling us.
    let input = unsafe { core::slice::from_raw_parts(buf as *const u8, count) };
    match f(d, disk, input) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// Parses a decimal number written to a sysfs file (one trailing newline allowed).
/// `0` or `1` (zram's booleans).
fn parse_bool(bytes: &[u8]) -> Result<bool> {
    match trim(bytes) {
        b"0" => Ok(false),
        b"1" => Ok(true),
        _ => Err(code::EINVAL),
    }
}

/// `bytes` without one trailing newline (what `echo` adds).
fn trim(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\n").unwrap_or(bytes)
}

pub(crate) fn parse_u64(bytes: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(bytes).ok()?;
    s.strip_suffix('\n').unwrap_or(s).parse().ok()
}

/// Parses a size written to a sysfs file: bytes, or a number with K, M, G, T...
/// (binary units, as rzsctl and zram's memparse take them).
fn parse_size(bytes: &[u8]) -> Result<u64> {
    let s = core::str::from_utf8(bytes).map_err(|_| code::EINVAL)?;
    rzs_core::size::parse_size(s).map_err(|_| code::EINVAL)
}
