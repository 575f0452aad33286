// SPDX-License-Identifier: GPL-2.0
//! The kernel interface of rzs: every FFI call and every `unsafe` block of the driver
//! lives in this module, as small safe abstractions with `# Safety` / `# Invariants`
//! documentation. The driver's policy (`crate::device`, `crate::store`, the module
//! in `crate`) is safe Rust above it (those modules `#![forbid(unsafe_code)]`).
//!
//! - [`blk`]: the block device: major, gendisk, `block_device_operations`, bios and
//!   their pages (copied, never referenced: another agent may be writing them).
//! - [`zs`]: zsmalloc, and the slot table whose entries own its objects or their
//!   places on the backing device.
//! - [`backing`]: the backing device (tiering) and the pages its I/O goes through.
//! - [`workspace`]: per-CPU compression workspaces, each under a mutex.
//! - [`gate`]: an SRCU-protected pointer the I/O path reads and control replaces.
//! - [`swap`]: the swap event notifiers and the swap state of a block device.
//! - [`params`], [`sysfs`]: module parameters and sysfs attributes.
//! - [`control`]: `/sys/class/rzs-control/` (hot_add, hot_remove).
//! - [`ticker`]: a device's periodic job on a workqueue (tiering's writeback).
//! - [`ffi`]: the declarations of `src/helpers.c`.

pub(crate) mod backing;
pub(crate) mod blk;
pub(crate) mod control;
pub(crate) mod ffi;
pub(crate) mod gate;
pub(crate) mod params;
pub(crate) mod swap;
pub(crate) mod ticker;
pub(crate) mod sysfs;
pub(crate) mod workspace;
pub(crate) mod zs;

/// Lets the scheduler run something else if it wants to (a long loop in process
/// context, e.g. freeing a terabyte device's slots). May sleep.
pub(crate) fn cond_resched() {
    // SAFETY: called only from process context outside atomic sections (callers'
    // contract, checked by `might_sleep` inside under DEBUG_ATOMIC_SLEEP).
    unsafe { ffi::rzs_cond_resched() };
}

/// Sleeps for `ms` milliseconds. Process context only.
pub(crate) fn msleep(ms: u32) {
    // SAFETY: callers are in process context, where sleeping is allowed.
    unsafe { kernel::bindings::msleep(ms) };
}

/// The CPU the calling task runs on now: a hint (it may run elsewhere right after),
/// for picking a per-CPU workspace or statistics stripe.
#[inline]
pub(crate) fn cpu_hint() -> usize {
    // SAFETY: `raw_smp_processor_id` has no precondition; the value is only a hint.
    unsafe { ffi::rzs_raw_smp_processor_id() as usize }
}

/// The RAM the kernel manages, in pages (`totalram_pages`; changes with hotplug).
pub(crate) fn totalram_pages() -> u64 {
    // SAFETY: reads an atomic counter.
    unsafe { ffi::rzs_totalram_pages() as u64 }
}

/// Whether the calling task has `CAP_SYS_ADMIN`.
pub(crate) fn capable_sys_admin() -> bool {
    // SAFETY: `capable` only inspects the current task's credentials.
    unsafe { kernel::bindings::capable(kernel::bindings::CAP_SYS_ADMIN as i32) }
}

// Hand-written C values rzs relies on, checked against the kernel's bindings at
// compile time (values the bindings lack come from helpers.c instead):
// - rzs_core::abi encodes ioctl numbers with the generic _IOC layout; an
//   architecture with another layout (powerpc, mips, sparc, alpha) fails here;
// - the page size rzs_core works in.
const _: () = {
    use kernel::bindings as b;
    assert!(b::_IOC_NRSHIFT == 0 && b::_IOC_TYPESHIFT == 8 && b::_IOC_SIZESHIFT == 16 && b::_IOC_DIRSHIFT == 30);
    assert!(b::_IOC_NONE == 0 && b::_IOC_WRITE == 1 && b::_IOC_READ == 2);
    assert!(rzs_core::PAGE_SIZE == b::PAGE_SIZE);
};
