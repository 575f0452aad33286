// SPDX-License-Identifier: GPL-2.0
//! [`Gate`]: a value that the I/O path reads without sleeping locks and that control
//! operations (set disksize, reset) replace once every reader of the old one left.
//!
//! It is an SRCU-protected pointer. Readers [`Gate::enter`] with `srcu_read_lock`
//! (per-CPU, allowed in atomic context such as the slot-free notification, and they
//! may sleep inside, as writers do in their allocations); [`Gate::replace`] swaps the
//! pointer and waits with `synchronize_srcu` for every reader that may still see the
//! old value. Unlike polling a reader count, SRCU's grace period ends whatever new
//! readers keep arriving, so a replace cannot be starved.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::prelude::*;

use super::ffi;

/// # Invariants
///
/// `srcu` is a live SRCU domain owned by the gate. `ptr` is null or comes from
/// `KBox::into_raw`; it is freed only by `replace` after a grace period of `srcu`
/// (or on drop, when no reader can exist).
pub(crate) struct Gate<T> {
    ptr: AtomicPtr<T>,
    srcu: NonNull<ffi::Srcu>,
}

// SAFETY: the gate hands out `&T` to several threads at once (needs `T: Sync`) and
// moves ownership of the boxed `T` between threads on `replace` (needs `T: Send`);
// the SRCU domain is designed for use from any CPU.
unsafe impl<T: Send + Sync> Sync for Gate<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Send for Gate<T> {}

/// A reader's reference to the gate's value; the value stays alive while it exists.
pub(crate) struct GateRef<'a, T> {
    gate: &'a Gate<T>,
    idx: kernel::ffi::c_int,
    val: &'a T,
}

impl<T> core::ops::Deref for GateRef<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.val
    }
}

impl<T> Drop for GateRef<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `idx` came from the matching `rzs_srcu_read_lock` on this domain.
        unsafe { ffi::rzs_srcu_read_unlock(self.gate.srcu.as_ptr(), self.idx) };
    }
}

impl<T> Gate<T> {
    /// An empty gate. May sleep (allocates the SRCU domain).
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain allocation and `init_srcu_struct`; null on failure.
        let srcu = NonNull::new(unsafe { ffi::rzs_srcu_alloc() }).ok_or(ENOMEM)?;
        Ok(Self { ptr: AtomicPtr::new(ptr::null_mut()), srcu })
    }

    /// Enters the gate: `None` if it holds no value. Never sleeps.
    pub(crate) fn enter(&self) -> Option<GateRef<'_, T>> {
        // SAFETY: `srcu` is live (type invariant).
        let idx = unsafe { ffi::rzs_srcu_read_lock(self.srcu.as_ptr()) };
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: `p` is null or a live `KBox` allocation: `replace` frees a value only
        // after unpublishing it and waiting out every read-side section that began
        // before, and ours began before the load.
        match unsafe { p.as_ref() } {
            Some(val) => Some(GateRef { gate: self, idx, val }),
            None => {
                // SAFETY: as in `GateRef::drop`.
                unsafe { ffi::rzs_srcu_read_unlock(self.srcu.as_ptr(), idx) };
                None
            }
        }
    }

    /// Installs `new` and returns the old value once no reader can hold it. Sleeps
    /// (a grace period). Callers serialise calls (rzs: the device's control mutex).
    pub(crate) fn replace(&self, new: Option<KBox<T>>) -> Option<KBox<T>> {
        let new = new.map_or(ptr::null_mut(), KBox::into_raw);
        let old = self.ptr.swap(new, Ordering::AcqRel);
        if old.is_null() {
            return None;
        }
        // SAFETY: process context (callers' contract); `srcu` is live.
        unsafe { ffi::rzs_srcu_synchronize(self.srcu.as_ptr()) };
        // SAFETY: `old` came from `KBox::into_raw`; it is no longer published and the
        // grace period above waited for every reader that could have loaded it.
        Some(unsafe { KBox::from_raw(old) })
    }
}

impl<T> Drop for Gate<T> {
    fn drop(&mut self) {
        // `&mut self`: no reader exists.
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: `p` came from `KBox::into_raw` and nobody else can reach it.
            drop(unsafe { KBox::from_raw(p) });
        }
        // SAFETY: no read-side section is open (no `GateRef` can outlive `&self`);
        // the domain was allocated by `rzs_srcu_alloc` and is freed once.
        unsafe { ffi::rzs_srcu_free(self.srcu.as_ptr()) };
    }
}

/// A bare SRCU domain: read-side sections that may sleep, and a wait for every
/// section that began before it ([`Srcu::synchronize`]). Tiering uses one so that a
/// backing block is never rewritten while a reader that found it is still reading.
///
/// # Invariants
///
/// `srcu` is a live SRCU domain owned by this value, freed on drop.
pub(crate) struct Srcu {
    srcu: NonNull<ffi::Srcu>,
}

// SAFETY: an SRCU domain is designed for use from any CPU and task.
unsafe impl Send for Srcu {}
// SAFETY: as above.
unsafe impl Sync for Srcu {}

/// A read-side section of a [`Srcu`], ended on drop.
pub(crate) struct SrcuRead<'a> {
    srcu: &'a Srcu,
    idx: kernel::ffi::c_int,
}

impl Drop for SrcuRead<'_> {
    fn drop(&mut self) {
        // SAFETY: `idx` came from the matching `rzs_srcu_read_lock` on this domain.
        unsafe { ffi::rzs_srcu_read_unlock(self.srcu.srcu.as_ptr(), self.idx) };
    }
}

impl Srcu {
    /// A new domain. May sleep.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain allocation and `init_srcu_struct`; null on failure.
        let srcu = NonNull::new(unsafe { ffi::rzs_srcu_alloc() }).ok_or(ENOMEM)?;
        Ok(Self { srcu })
    }

    /// Begins a read-side section. Never sleeps; the section may.
    pub(crate) fn read(&self) -> SrcuRead<'_> {
        // SAFETY: `srcu` is live (invariant).
        let idx = unsafe { ffi::rzs_srcu_read_lock(self.srcu.as_ptr()) };
        SrcuRead { srcu: self, idx }
    }

    /// Waits until every read-side section that began before the call has ended.
    /// Sleeps: process context only.
    pub(crate) fn synchronize(&self) {
        // SAFETY: `srcu` is live; callers are in process context (documented).
        unsafe { ffi::rzs_srcu_synchronize(self.srcu.as_ptr()) };
    }
}

impl Drop for Srcu {
    fn drop(&mut self) {
        // SAFETY: no read-side section is open (an `SrcuRead` borrows the domain, so
        // none outlives it); allocated by `rzs_srcu_alloc`, freed once.
        unsafe { ffi::rzs_srcu_free(self.srcu.as_ptr()) };
    }
}
