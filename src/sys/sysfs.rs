// SPDX-License-Identifier: GPL-2.0
//! Read-only statistics in `/sys/block/rzsN/`, for shell scripts and monitoring
//! agents, in zram's formats:
//! - `mm_stat`: orig_data_size compr_data_size mem_used_total mem_limit
//!   mem_used_max same_pages pages_compacted huge_pages (bytes or pages, as zram);
//! - `io_stat`: failed_reads failed_writes invalid_io notify_free;
//! - `disksize`: bytes;
//! - `debug_corrupt` (write-only, test only): writing a page index corrupts that
//!   page's compressed object, when the module was loaded with `debug_corrupt=Y`
//!   (otherwise `-EPERM`), so tests can prove a corrupt page reads as `-EIO`.
//! The full set is `RZS_IOC_GET_STATS` (what `rzsctl` reads).

use core::fmt::Write;

use kernel::bindings;
use kernel::ffi::c_char;

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

const fn attr(name: &'static core::ffi::CStr, show: Show) -> Attr {
    Attr(bindings::device_attribute {
        attr: bindings::attribute {
            name: name.as_ptr() as *const c_char,
            mode: 0o444,
            // SAFETY: the rest (lockdep keys when enabled) is valid all-zero.
            ..unsafe { core::mem::zeroed() }
        },
        show: Some(show),
        store: None,
    })
}

type Store = unsafe extern "C" fn(*mut bindings::device, *mut bindings::device_attribute, *const c_char, usize) -> isize;

const fn wo_attr(name: &'static core::ffi::CStr, store: Store) -> Attr {
    Attr(bindings::device_attribute {
        attr: bindings::attribute {
            name: name.as_ptr() as *const c_char,
            mode: 0o200,
            // SAFETY: as in `attr`.
            ..unsafe { core::mem::zeroed() }
        },
        show: None,
        store: Some(store),
    })
}

static MM_STAT: Attr = attr(c"mm_stat", mm_stat_show);
static IO_STAT: Attr = attr(c"io_stat", io_stat_show);
static DISKSIZE: Attr = attr(c"disksize", disksize_show);
static DEBUG_CORRUPT: Attr = wo_attr(c"debug_corrupt", debug_corrupt_store);

static ATTRS: Table<bindings::attribute, 5> =
    Table([&MM_STAT.0.attr, &IO_STAT.0.attr, &DISKSIZE.0.attr, &DEBUG_CORRUPT.0.attr, core::ptr::null()]);

static GROUP: Group = Group(bindings::attribute_group {
    attrs: &ATTRS.0 as *const [*const bindings::attribute; 5] as *mut *mut bindings::attribute,
    // SAFETY: no name, no visibility callbacks, no binary attributes: all-zero.
    ..unsafe { core::mem::zeroed() }
});

/// The attribute groups to give `device_add_disk`.
pub(crate) static GROUPS: Table<bindings::attribute_group, 2> = Table([&GROUP.0, core::ptr::null()]);

/// Writes formatted text into a sysfs `show` buffer (one page), truncating.
struct PageBuf {
    buf: *mut u8,
    len: usize,
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
    let mut w = PageBuf { buf: buf as *mut u8, len: 0 };
    f(d, &mut w);
    w.len as isize
}

unsafe extern "C" fn mm_stat_show(dev: *mut bindings::device, _a: *mut bindings::device_attribute, buf: *mut c_char) -> isize {
    // SAFETY: sysfs calls this for our disks' attributes with its page buffer.
    unsafe {
        show(dev, buf, |d, w| {
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
                0,
                s.huge_pages
            );
        })
    }
}

unsafe extern "C" fn io_stat_show(dev: *mut bindings::device, _a: *mut bindings::device_attribute, buf: *mut c_char) -> isize {
    // SAFETY: as for `mm_stat_show`.
    unsafe {
        show(dev, buf, |d, w| {
            let s = d.stats();
            let _ = writeln!(w, "{:>8} {:>8} {:>8} {:>8}", s.failed_reads, s.failed_writes, s.invalid_io, s.notify_free);
        })
    }
}

unsafe extern "C" fn disksize_show(dev: *mut bindings::device, _a: *mut bindings::device_attribute, buf: *mut c_char) -> isize {
    // SAFETY: as for `mm_stat_show`.
    unsafe {
        show(dev, buf, |d, w| {
            let _ = writeln!(w, "{}", d.stats().disksize);
        })
    }
}

/// Parses a decimal number written to a sysfs file (one trailing newline allowed).
fn parse_u64(bytes: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(bytes).ok()?;
    s.strip_suffix('\n').unwrap_or(s).parse().ok()
}

unsafe extern "C" fn debug_corrupt_store(
    dev: *mut bindings::device,
    _a: *mut bindings::device_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: sysfs calls `store` for our disks' attributes (see `show`), with `buf`
    // holding `count` bytes.
    let (d, input) = unsafe {
        match crate::sys::blk::driver_of_device::<Device>(dev) {
            Some(d) => (d, core::slice::from_raw_parts(buf as *const u8, count)),
            None => return kernel::error::code::ENODEV.to_errno() as isize,
        }
    };
    let Some(index) = parse_u64(input) else {
        return kernel::error::code::EINVAL.to_errno() as isize;
    };
    match d.debug_corrupt(index) {
        Ok(_) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}
