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

#[cfg_attr(not(rzs_swap_events), allow(unused_imports))]
use super::ffi;
use super::params::ParamCell;

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
    unsafe { super::params::write_line(buf, m.name()) }
}

pub(crate) mod events {
    //! The swap event notifier API (scripts/patches/0001-mm-swap-add-swap-event-notifiers.patch),
    //! through `helpers.c`. The types exist on every kernel; registering fails
    //! (`EINVAL`) on a kernel without the API, where most of this is unused.
    #![cfg_attr(not(rzs_swap_events), allow(dead_code))]
    use super::*;
    use crate::sys::blk::{Bdev, Operations};
    use core::marker::{PhantomData, PhantomPinned};
    use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering::SeqCst};
    use kernel::types::Opaque;

    /// What a driver does on its devices' swap events.
    pub(crate) trait Handler: Operations {
        /// SWAPON of this device (`pages` usable pages). Process context, under
        /// `swapon_mutex`: may sleep, must not swapon/swapoff.
        fn swap_on(&self, bdev: Bdev, pages: u64);
        /// SWAPOFF of this device (every slot was freed). As `swap_on`.
        fn swap_off(&self, bdev: Bdev);
    }

    /// `NOTIFY_OK` / `NOTIFY_DONE` from include/linux/notifier.h.
    const NOTIFY_OK: c_int = bindings::NOTIFY_OK as c_int;
    const NOTIFY_DONE: c_int = bindings::NOTIFY_DONE as c_int;

    /// The global SWAPON (`off == false`) or SWAPOFF notifier of driver `T`, for a
    /// `static` (so it never moves). Registered by [`GlobalNotifiers::register`].
    ///
    /// # Invariants
    ///
    /// `registered` is true exactly while `nb` is on the kernel's chain.
    pub(crate) struct GlobalNotifier<T: Handler> {
        nb: Opaque<bindings::notifier_block>,
        off: bool,
        registered: AtomicBool,
        _p: PhantomData<T>,
    }

    // SAFETY: the block is only touched by the notifier chain code, which does its
    // own locking, and by `register`/`unregister`, serialised by module init/exit.
    unsafe impl<T: Handler> Sync for GlobalNotifier<T> {}

    impl<T: Handler> GlobalNotifier<T> {
        pub(crate) const fn new(off: bool) -> Self {
            Self {
                nb: Opaque::new(bindings::notifier_block {
                    notifier_call: Some(event_cb::<T>),
                    next: core::ptr::null_mut(),
                    priority: 0,
                }),
                off,
                registered: AtomicBool::new(false),
                _p: PhantomData,
            }
        }

        #[cfg(rzs_swap_events)]
        fn register(&'static self) -> Result {
            // SAFETY: the block is a `static` (never moves) and is unregistered before
            // the module's text goes (`unregister` from module exit).
            let r = unsafe { ffi::rzs_swap_events_register(self.nb.get(), self.off as c_int) };
            if r != 0 {
                return Err(Error::from_errno(r));
            }
            self.registered.store(true, SeqCst);
            Ok(())
        }

        #[cfg(not(rzs_swap_events))]
        fn register(&'static self) -> Result {
            Err(EINVAL)
        }

        /// On return no callback of ours is running. May sleep.
        fn unregister(&'static self) {
            if self.registered.swap(false, SeqCst) {
                // SAFETY: registered with the same event.
                #[cfg(rzs_swap_events)]
                unsafe {
                    ffi::rzs_swap_events_unregister(self.nb.get(), self.off as c_int)
                };
            }
        }
    }

    /// SWAPON/SWAPOFF callback: `data` is a `struct swap_event_info`.
    unsafe extern "C" fn event_cb<T: Handler>(nb: *mut bindings::notifier_block, _ev: kernel::ffi::c_ulong, data: *mut c_void) -> c_int {
        #[cfg(rzs_swap_events)]
        {
            // SAFETY: `nb` is the block of a live `GlobalNotifier<T>` (a static);
            // `data` is the `swap_event_info` the chain passes, with `bdev` null (a
            // swap file) or the swap area's live block device.
            let (off, bdev, pages) = unsafe {
                let n = &*(nb as *const GlobalNotifier<T>);
                (n.off, ffi::rzs_swap_event_bdev(data), ffi::rzs_swap_event_pages(data) as u64)
            };
            // SAFETY: as above: null or live.
            let Some(bdev) = (unsafe { Bdev::from_live(bdev) }) else {
                return NOTIFY_DONE;
            };
            match bdev.driver::<T>() {
                Some(dev) => {
                    if off {
                        dev.swap_off(bdev);
                    } else {
                        dev.swap_on(bdev, pages);
                    }
                    NOTIFY_OK
                }
                None => NOTIFY_DONE,
            }
        }
        #[cfg(not(rzs_swap_events))]
        {
            let _ = (nb, data);
            NOTIFY_DONE
        }
    }

    /// The pair of global notifiers, registered together; unregistered on drop.
    pub(crate) struct GlobalNotifiers<T: Handler + 'static> {
        on: &'static GlobalNotifier<T>,
        off: &'static GlobalNotifier<T>,
    }

    impl<T: Handler> GlobalNotifiers<T> {
        /// Registers `off` (SWAPOFF) then `on` (SWAPON). Registering for SWAPON
        /// replays it for areas already on, so the order of load and swapon is free.
        pub(crate) fn register(on: &'static GlobalNotifier<T>, off: &'static GlobalNotifier<T>) -> Result<Self> {
            off.register()?;
            if let Err(e) = on.register() {
                off.unregister();
                return Err(e);
            }
            Ok(Self { on, off })
        }
    }

    impl<T: Handler> Drop for GlobalNotifiers<T> {
        fn drop(&mut self) {
            self.on.unregister();
            self.off.unregister();
        }
    }

    /// A per-device SLOT_FREE notifier: the callback finds the device from the block
    /// device the kernel passes (one of ours, else it is ignored).
    ///
    /// # Invariants
    ///
    /// Only built pinned ([`SlotFreeNotifier::new`] is a `PinInit` and the type is
    /// `!Unpin`), so the block never moves while registered. `bdev` is the block
    /// device it is registered for, or null; unregistered at the latest on drop.
    pub(crate) struct SlotFreeNotifier<T: Operations> {
        nb: Opaque<bindings::notifier_block>,
        bdev: AtomicPtr<bindings::block_device>,
        _p: PhantomData<T>,
        _pin: PhantomPinned,
    }

    // SAFETY: see `GlobalNotifier`; `bdev` is atomic.
    unsafe impl<T: Operations> Sync for SlotFreeNotifier<T> {}
    // SAFETY: as above.
    unsafe impl<T: Operations> Send for SlotFreeNotifier<T> {}

    impl<T: Operations> SlotFreeNotifier<T> {
        pub(crate) fn new() -> impl kernel::init::PinInit<Self> {
            // SAFETY: writes every field of the slot; never fails.
            unsafe {
                kernel::init::pin_init_from_closure(|slot: *mut Self| {
                    slot.write(Self {
                        nb: Opaque::new(bindings::notifier_block {
                            notifier_call: Some(slot_free_cb::<T>),
                            next: core::ptr::null_mut(),
                            priority: 0,
                        }),
                        bdev: AtomicPtr::new(core::ptr::null_mut()),
                        _p: PhantomData,
                        _pin: PhantomPinned,
                    });
                    Ok::<(), core::convert::Infallible>(())
                })
            }
        }

        /// Registers for the freed slots of the swap area on `bdev` (from a SWAPON
        /// callback). `EBUSY` if already registered.
        #[cfg(rzs_swap_events)]
        pub(crate) fn register(&self, bdev: Bdev) -> Result {
            if self.bdev.compare_exchange(core::ptr::null_mut(), bdev.as_ptr(), SeqCst, SeqCst).is_err() {
                return Err(EBUSY);
            }
            // SAFETY: the block is pinned (invariant) and unregistered at the latest
            // on drop; `bdev` is a live block device.
            let r = unsafe { ffi::rzs_slot_free_register(self.nb.get(), bdev.as_ptr()) };
            if r != 0 {
                self.bdev.store(core::ptr::null_mut(), SeqCst);
                return Err(Error::from_errno(r));
            }
            Ok(())
        }

        #[cfg(not(rzs_swap_events))]
        pub(crate) fn register(&self, _bdev: Bdev) -> Result {
            Err(EINVAL)
        }

        /// Unregisters if registered; on return no callback is running. May sleep.
        pub(crate) fn unregister(&self) -> bool {
            let b = self.bdev.swap(core::ptr::null_mut(), SeqCst);
            if b.is_null() {
                return false;
            }
            // SAFETY: registered for `b` by `register`.
            #[cfg(rzs_swap_events)]
            unsafe {
                ffi::rzs_slot_free_unregister(self.nb.get(), b)
            };
            true
        }
    }

    impl<T: Operations> Drop for SlotFreeNotifier<T> {
        fn drop(&mut self) {
            self.unregister();
        }
    }

    /// SLOT_FREE callback: atomic context. `data` is the swap area's block device.
    unsafe extern "C" fn slot_free_cb<T: Operations>(_nb: *mut bindings::notifier_block, offset: kernel::ffi::c_ulong, data: *mut c_void) -> c_int {
        // SAFETY: the chain passes the live block device of the swap area whose slot
        // was freed; `driver` checks it is one of ours.
        let Some(bdev) = (unsafe { Bdev::from_live(data.cast()) }) else {
            return NOTIFY_DONE;
        };
        match bdev.driver::<T>() {
            Some(dev) => {
                dev.swap_slot_free(offset as u64);
                NOTIFY_OK
            }
            None => NOTIFY_DONE,
        }
    }
}
