// SPDX-License-Identifier: GPL-2.0
//! [`Gate`]: a value that the I/O path reads without sleeping locks and that control
//! operations install (set disksize) and take out (reset) once every reader of it
//! left.
//!
//! It is an SRCU-protected pointer. Readers [`Gate::enter`] with `srcu_read_lock`
//! (per-CPU, allowed in atomic context such as the slot-free notification, and they
//! may sleep inside, as writers do in their allocations); [`Gate::take`] swaps the
//! pointer and waits with `synchronize_srcu` for every reader that may still see the
//! old value. Unlike polling a reader count, SRCU's grace period ends whatever new
//! readers keep arriving, so a take cannot be starved.
//!
//! The I/O path reads it for free: a disk's `submit_bio` runs with the queue's usage
//! counter held by the block layer. The gate records the queue of the disk it serves
//! ([`Gate::install`]), and [`Gate::take`] also waits for every `submit_bio` in
//! flight on it ([`QueueRef::drain_submitters`]), so [`Gate::enter_submit`], for a
//! bio of that queue, needs no read-side section (`srcu_read_lock` and
//! `srcu_read_unlock` are a full memory barrier each and two calls per bio).

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::prelude::*;

use super::blk::{Bio, DiskRef, QueueRef};
use super::ffi;

/// # Invariants
///
/// `srcu` is a live SRCU domain owned by the gate. `queue` is null until the first
/// `install`, then for good a pointer from `QueueRef::into_raw` (a reference the
/// gate owns until it is dropped); `ptr` is non-null only once `queue` is set. `ptr`
/// is null or comes from `KBox::into_raw`; it is freed only by `take`, after a grace
/// period of `srcu` and a drain of the submitters of `queue` (or on drop, when no
/// reader can exist).
pub(crate) struct Gate<T> {
    ptr: AtomicPtr<T>,
    srcu: NonNull<ffi::Srcu>,
    queue: AtomicPtr<kernel::bindings::request_queue>,
}

// SAFETY: the gate hands out `&T` to several threads at once (needs `T: Sync`) and
// moves ownership of the boxed `T` between threads on `install` and `take` (needs
// `T: Send`);
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
        Ok(Self { ptr: AtomicPtr::new(ptr::null_mut()), srcu, queue: AtomicPtr::new(ptr::null_mut()) })
    }

    /// Enters the gate: `None` if it holds no value. Never sleeps.
    pub(crate) fn enter(&self) -> Option<GateRef<'_, T>> {
        // SAFETY: `srcu` is live (type invariant).
        let idx = unsafe { ffi::rzs_srcu_read_lock(self.srcu.as_ptr()) };
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: `p` is null or a live `KBox` allocation: `take` frees a value only
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

    /// Reads the value from the `submit_bio` of `bio`, without a read-side section:
    /// `None` if the gate holds no value, or if `bio` is not of the queue the gate
    /// serves (it always is: only its disk's `submit_bio` reads it). The value stays
    /// alive while `bio` is borrowed, that is within the call of `submit_bio` that
    /// received it.
    #[inline]
    pub(crate) fn enter_submit<'a>(&'a self, bio: &'a Bio<'_>) -> Option<&'a T> {
        let p = self.ptr.load(Ordering::Acquire);
        // `queue` was set before `p` was published (`install`), and never changes.
        if p.is_null() || self.queue.load(Ordering::Relaxed).cast_const() != bio.queue() {
            return None;
        }
        // SAFETY: `p` is a live `KBox` allocation: `take` frees a value only after
        // unpublishing it and draining every `submit_bio` call in flight on `queue`
        // (invariant); `bio` is of `queue` and is borrowed within such a call (a
        // `Bio` exists only inside `submit_bio`), which holds the queue's usage
        // counter until after the borrow ends. Either that call entered the queue
        // before the drain's freeze, and the drain waits for it; or it entered after
        // the unfreeze, and then sees the null `take` stored before freezing: the
        // freeze (`percpu_ref_kill`, an RCU grace period before the count can reach
        // zero) and the unfreeze (`percpu_ref_resurrect` under `mq_freeze_lock`)
        // order the `swap` before any later `bio_queue_enter` that succeeds.
        Some(unsafe { &*p })
    }

    /// Installs `new` into an empty gate that serves `disk` (the first install
    /// records its queue). `Err(new)` if the gate holds a value (only
    /// [`Gate::take`] removes one), if it serves another disk, or if `disk` is
    /// being deleted. Never sleeps.
    pub(crate) fn install(&self, new: KBox<T>, disk: DiskRef<'_>) -> core::result::Result<(), KBox<T>> {
        let Some(q) = disk.queue() else { return Err(new) };
        let q = q.into_raw();
        if let Err(cur) = self.queue.compare_exchange(ptr::null_mut(), q, Ordering::AcqRel, Ordering::Acquire) {
            // Recorded before: ours is an extra reference.
            // SAFETY: `q` came from `into_raw` just above, and is taken back once.
            drop(unsafe { QueueRef::from_raw(q) });
            if cur != q {
                return Err(new);
            }
        }
        let p = KBox::into_raw(new);
        match self.ptr.compare_exchange(ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire) {
            // INVARIANT: `queue` is set (above) before `p` is published.
            Ok(_) => Ok(()),
            // SAFETY: `p` came from `KBox::into_raw` above and was never published.
            Err(_) => Err(unsafe { KBox::from_raw(p) }),
        }
    }

    /// Empties the gate and returns its value once no reader can hold it. Sleeps
    /// (a grace period, a drain of the disk's submitters). Callers serialise calls
    /// (rzs: the device's control mutex).
    pub(crate) fn take(&self) -> Option<KBox<T>> {
        let old = self.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
        if old.is_null() {
            return None;
        }
        let q = self.queue.load(Ordering::Acquire);
        // SAFETY: `q` is the gate's reference from `QueueRef::into_raw` (set before
        // `old` was published, never changed; invariant), which the gate keeps: it
        // is only lent here.
        unsafe { QueueRef::drain_raw(q) };
        // SAFETY: process context (callers' contract); `srcu` is live.
        unsafe { ffi::rzs_srcu_synchronize(self.srcu.as_ptr()) };
        // SAFETY: `old` came from `KBox::into_raw`; it is no longer published, the
        // grace period above waited for every `enter` reader that could have loaded
        // it, and the drain for every `enter_submit` one.
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
        // SAFETY: `queue` is null or the gate's reference from `into_raw`
        // (invariant), given back once, here.
        drop(unsafe { QueueRef::from_raw(*self.queue.get_mut()) });
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
