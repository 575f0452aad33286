// SPDX-License-Identifier: GPL-2.0
//! Swap integration: learning that a swap slot was freed, so its compressed copy
//! can be dropped at once instead of sitting in RAM until the slot is rewritten.
//!
//! Two mechanisms, chosen by the `swap_notify` module parameter:
//! - `events`: the swap event notifier API that `scripts/patches/` adds to the
//!   kernel (`register_swap_event_notifier()`): on SWAPON of one of our disks we
//!   *attach* (register a per-device SLOT_FREE notifier), on SWAPOFF we *detach*.
//!   Detected at build time (Kbuild passes `--cfg rzs_swap_events`).
//! - `bdev`: mainline's `block_device_operations.swap_slot_free_notify`.
//! - `off`: no notification (to show what stale memory costs).
//! `auto` (default) takes `events` when the kernel has it, else `bdev`.

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_void};
use kernel::prelude::*;
use kernel::str::CStr;

use crate::params::ParamCell;

/// How slot frees reach rzs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum Mode {
    Auto = 0,
    Events = 1,
    Bdev = 2,
    Off = 3,
}

const NAMES: [(&str, Mode); 4] = [("auto", Mode::Auto), ("events", Mode::Events), ("bdev", Mode::Bdev), ("off", Mode::Off)];

impl Mode {
    fn from_u32(v: u32) -> Mode {
        NAMES.iter().map(|(_, m)| *m).find(|m| *m as u32 == v).unwrap_or(Mode::Auto)
    }

    pub(crate) fn name(self) -> &'static str {
        NAMES.iter().find(|(_, m)| *m == self).map_or("auto", |(n, _)| n)
    }

    /// Whether this kernel has the swap event notifier API.
    pub(crate) const fn events_available() -> bool {
        cfg!(rzs_swap_events)
    }

    /// Resolves `auto`, and refuses `events` on a kernel without the API.
    pub(crate) fn resolve(self) -> Result<Mode> {
        match self {
            Mode::Auto if Self::events_available() => Ok(Mode::Events),
            Mode::Auto => Ok(Mode::Bdev),
            Mode::Events if !Self::events_available() => {
                pr_err!("swap_notify=events needs a kernel with the swap event notifier patch (scripts/patches/); use bdev\n");
                Err(EINVAL)
            }
            m => Ok(m),
        }
    }
}

/// The `swap_notify` parameter's value.
pub(crate) fn param(cell: &ParamCell<u32>) -> Mode {
    Mode::from_u32(cell.get())
}

/// Parameter ops for `swap_notify=auto|events|bdev|off` (stored as a `u32`).
pub(crate) static MODE_OPS: bindings::kernel_param_ops =
    bindings::kernel_param_ops { flags: 0, set: Some(mode_set), get: Some(mode_get), free: None };

unsafe extern "C" fn mode_set(val: *const c_char, kp: *const bindings::kernel_param) -> c_int {
    // SAFETY: the kernel passes a NUL-terminated value and our `kernel_param`.
    let val = unsafe { CStr::from_char_ptr(val) };
    let s = val.to_str().unwrap_or("").trim();
    match NAMES.iter().find(|(n, _)| *n == s) {
        Some((_, m)) => {
            // SAFETY: `arg` of this parameter is its `ParamCell<u32>`, written only
            // while the kernel parses arguments (see `ParamCell`).
            unsafe { *((*kp).__bindgen_anon_1.arg as *mut u32) = *m as u32 };
            0
        }
        None => {
            pr_err!("invalid swap_notify='{}': expected auto, events, bdev or off\n", val);
            EINVAL.to_errno()
        }
    }
}

unsafe extern "C" fn mode_get(buf: *mut c_char, kp: *const bindings::kernel_param) -> c_int {
    // SAFETY: `arg` points to the parameter's `ParamCell<u32>`.
    let m = Mode::from_u32(unsafe { *((*kp).__bindgen_anon_1.arg as *const u32) });
    // SAFETY: `buf` is the page-sized buffer the kernel passes to `get`.
    unsafe { crate::params::write_line(buf, m.name()) }
}

/// Whether the block device `bdev` is in use as swap (swapon marks its inode).
///
/// # Safety
///
/// `bdev` must be a live block device.
pub(crate) unsafe fn bdev_is_swap(bdev: *mut bindings::block_device) -> bool {
    // SAFETY: a live block device has a valid mapping whose host is its inode.
    unsafe {
        let m = (*bdev).bd_mapping;
        !m.is_null() && !(*m).host.is_null() && (*(*m).host).i_flags & bindings::S_SWAPFILE != 0
    }
}

pub(crate) mod events {
    //! The swap event notifier API (scripts/patches/0001-mm-swap-add-swap-event-notifiers.patch).
    //! The types exist on every kernel; registering fails without the API.
    use super::*;
    use core::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use kernel::types::Opaque;

    pub(crate) const SWAP_EVENT_SWAPON: u32 = 0;
    pub(crate) const SWAP_EVENT_SWAPOFF: u32 = 1;
    pub(crate) const SWAP_EVENT_SLOT_FREE: u32 = 2;

    /// `struct swap_event_info` (include/linux/swap.h, as patched).
    #[repr(C)]
    pub(crate) struct SwapEventInfo {
        pub(crate) bdev: *mut bindings::block_device,
        pub(crate) swap_file: *mut bindings::file,
        pub(crate) pages: kernel::ffi::c_ulong,
    }

    // Only pointers to these kernel structs cross the boundary.
    #[cfg(rzs_swap_events)]
    #[allow(improper_ctypes)]
    extern "C" {
        fn register_swap_event_notifier(nb: *mut bindings::notifier_block, event: u32, bdev: *mut bindings::block_device) -> c_int;
        fn unregister_swap_event_notifier(nb: *mut bindings::notifier_block, event: u32, bdev: *mut bindings::block_device) -> c_int;
    }

    /// A notifier block registered for one event (and one bdev for SLOT_FREE).
    /// Pinned: the kernel links it into a chain. `repr(C)` with the block first, so
    /// a callback's `nb` pointer is also a pointer to its `Notifier`.
    #[repr(C)]
    pub(crate) struct Notifier {
        nb: Opaque<bindings::notifier_block>,
        registered: AtomicBool,
    }

    // SAFETY: the notifier block is only touched by the notifier chain code, which
    // does its own locking, and through `register`/`unregister` below.
    unsafe impl Sync for Notifier {}
    // SAFETY: as above.
    unsafe impl Send for Notifier {}

    pub(crate) type Callback = unsafe extern "C" fn(*mut bindings::notifier_block, kernel::ffi::c_ulong, *mut c_void) -> c_int;

    impl Notifier {
        pub(crate) const fn new(cb: Callback) -> Self {
            Self {
                nb: Opaque::new(bindings::notifier_block { notifier_call: Some(cb), next: core::ptr::null_mut(), priority: 0 }),
                registered: AtomicBool::new(false),
            }
        }

        /// Registers for `event`. The notifier must not move until unregistered.
        #[cfg(rzs_swap_events)]
        pub(crate) fn register(&self, event: u32, bdev: *mut bindings::block_device) -> Result {
            // SAFETY: the block is valid and (caller's contract) pinned until
            // `unregister`; `bdev` is a live block device or null.
            let r = unsafe { register_swap_event_notifier(self.nb.get(), event, bdev) };
            if r != 0 {
                return Err(Error::from_errno(r));
            }
            self.registered.store(true, SeqCst);
            Ok(())
        }

        /// Without the API there is nothing to register with.
        #[cfg(not(rzs_swap_events))]
        pub(crate) fn register(&self, _event: u32, _bdev: *mut bindings::block_device) -> Result {
            Err(EINVAL)
        }

        /// Unregisters if registered; on return no callback is running. May sleep.
        pub(crate) fn unregister(&self, _event: u32, _bdev: *mut bindings::block_device) {
            if self.registered.swap(false, SeqCst) {
                // SAFETY: registered with the same event and bdev.
                #[cfg(rzs_swap_events)]
                unsafe {
                    unregister_swap_event_notifier(self.nb.get(), _event, _bdev)
                };
            }
        }
    }
}

/// `NOTIFY_OK` / `NOTIFY_DONE` from include/linux/notifier.h.
pub(crate) const NOTIFY_OK: c_int = bindings::NOTIFY_OK as c_int;
pub(crate) const NOTIFY_DONE: c_int = bindings::NOTIFY_DONE as c_int;
