// SPDX-License-Identifier: GPL-2.0
//! [`Ticker`]: a device's periodic job, a `delayed_work` on the system's unbound
//! workqueue that calls [`Tick::tick`] on the value it is a field of. Tiering's
//! background writeback and its access clock run on it.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::bindings;
use kernel::prelude::*;
use kernel::types::Opaque;

use super::ffi;

/// What a [`Ticker`] runs.
pub(crate) trait Tick: Sync + Sized {
    /// The job. Runs in a worker (process context: it may sleep), never twice at
    /// once.
    fn tick(&self);
}

/// A `delayed_work` that calls `tick` on its owner, the `T` it is a field of.
///
/// # Invariants
///
/// `dw` was initialised by `rzs_dwork_init` with [`Ticker::run`]. `owner` is null
/// or the address of the pinned `T` that contains this ticker (checked in
/// [`Ticker::schedule`]); the work is cancelled, and can no longer run, before the
/// ticker (and so, as it is declared first, anything else of `T`) is dropped.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub(crate) struct Ticker<T: Tick> {
    // First, so that the `work_struct` the workqueue hands back (the first field of
    // `delayed_work`) is the ticker's address.
    #[pin]
    dw: Opaque<bindings::delayed_work>,
    owner: AtomicPtr<T>,
    _t: PhantomData<T>,
}

// SAFETY: the work item is designed to be queued from any CPU; `owner` is atomic.
unsafe impl<T: Tick> Sync for Ticker<T> {}
// SAFETY: as above.
unsafe impl<T: Tick> Send for Ticker<T> {}

impl<T: Tick> Ticker<T> {
    /// A ticker that has not been scheduled.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `p` is the uninitialised `delayed_work` of a pinned ticker;
            // `rzs_dwork_init` initialises it (INIT_DELAYED_WORK).
            dw <- Opaque::ffi_init(|p| unsafe { ffi::rzs_dwork_init(p, Some(Self::run)) }),
            owner: AtomicPtr::new(core::ptr::null_mut()),
            _t: PhantomData,
        })
    }

    /// Runs `owner.tick()` in `ms` milliseconds (0: as soon as a worker is free),
    /// moving it earlier or later if it is already pending. `owner` must be the
    /// pinned value this ticker is a field of (every `T` using one lives pinned in a
    /// box); anything else is refused and nothing is scheduled.
    pub(crate) fn schedule(&self, owner: &T, ms: u32) {
        let o = owner as *const T as usize;
        let me = self as *const Self as usize;
        // The ticker must lie inside `owner`.
        if me < o || me.saturating_add(core::mem::size_of::<Self>()) > o.saturating_add(core::mem::size_of::<T>()) {
            return;
        }
        self.owner.store(owner as *const T as *mut T, Ordering::Release);
        // SAFETY: `dw` was initialised by `new` (invariant) and stays pinned; the
        // owner it will call is alive until the ticker is dropped, which cancels it.
        unsafe { ffi::rzs_dwork_mod(self.dw.get(), ms) };
    }

    /// The workqueue's callback.
    ///
    /// # Safety
    ///
    /// Only the workqueue calls it, with the `work_struct` of a ticker's `dw` (the
    /// one `new` initialised with this function).
    unsafe extern "C" fn run(work: *mut bindings::work_struct) {
        let t = work as *const Self;
        // SAFETY: `work` is the first field of `dw`, the first field of a
        // `repr(C)` ticker (invariant: only `new` sets this callback), so it is the
        // ticker's address, alive (drop cancels the work first).
        let owner = unsafe { (*t).owner.load(Ordering::Acquire) };
        // SAFETY: `owner` is null or the live `T` containing the ticker
        // (invariant); the work runs only before the ticker is dropped.
        if let Some(o) = unsafe { owner.as_ref() } {
            o.tick();
        }
    }
}

#[pinned_drop]
impl<T: Tick> PinnedDrop for Ticker<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `dw` is initialised (invariant). `cancel_delayed_work_sync` waits
        // for a running `tick` and keeps one that requeues itself from running again.
        unsafe { ffi::rzs_dwork_cancel_sync(self.dw.get()) };
    }
}
