// SPDX-License-Identifier: GPL-2.0
//! [`Gate`]: a value that the I/O path uses without sleeping locks and that control
//! operations replace (set disksize, reset) after every user of the old value left.
//!
//! Users `enter` with one atomic increment (allowed in atomic context, e.g. the
//! slot-free notification); `replace` marks the gate closing, waits for users to drain
//! (it may sleep) and swaps the value. The increment-then-check / mark-then-wait pair,
//! both sequentially consistent, guarantees that either the user sees `closing` and
//! backs out, or `replace` sees the user and waits for it.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};

use kernel::bindings;
use kernel::prelude::*;

pub(crate) struct Gate<T> {
    ptr: AtomicPtr<T>,
    users: AtomicUsize,
    closing: AtomicBool,
}

// SAFETY: the gate hands out `&T` to several threads at once (needs `T: Sync`) and
// moves ownership of the boxed `T` between threads on `replace` (needs `T: Send`).
unsafe impl<T: Send + Sync> Sync for Gate<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Send for Gate<T> {}

/// A user's reference to the gate's value; the value stays alive while it exists.
pub(crate) struct GateRef<'a, T> {
    gate: &'a Gate<T>,
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
        self.gate.users.fetch_sub(1, SeqCst);
    }
}

impl<T> Gate<T> {
    pub(crate) const fn new() -> Self {
        Self { ptr: AtomicPtr::new(ptr::null_mut()), users: AtomicUsize::new(0), closing: AtomicBool::new(false) }
    }

    /// Enters the gate: `None` if it holds no value or is being replaced. Never sleeps.
    pub(crate) fn enter(&self) -> Option<GateRef<'_, T>> {
        self.users.fetch_add(1, SeqCst);
        if !self.closing.load(SeqCst) {
            let p = self.ptr.load(SeqCst);
            if !p.is_null() {
                // SAFETY: `p` came from `KBox::into_raw` in `replace`, and `replace`
                // frees it only after `users` dropped to zero with `closing` set; we
                // are counted in `users` and saw `closing` clear, so it outlives us.
                return Some(GateRef { gate: self, val: unsafe { &*p } });
            }
        }
        self.users.fetch_sub(1, SeqCst);
        None
    }

    /// Installs `new` and returns the old value once no user holds it. May sleep.
    /// Callers must serialise calls to `replace` (rzs does so with the device's
    /// control mutex).
    pub(crate) fn replace(&self, new: Option<KBox<T>>) -> Option<KBox<T>> {
        self.closing.store(true, SeqCst);
        while self.users.load(SeqCst) != 0 {
            // SAFETY: plain sleep; we are in process context (ioctl, module exit).
            unsafe { bindings::msleep(1) };
        }
        let new = new.map_or(ptr::null_mut(), KBox::into_raw);
        let old = self.ptr.swap(new, SeqCst);
        self.closing.store(false, SeqCst);
        if old.is_null() {
            None
        } else {
            // SAFETY: `old` came from `KBox::into_raw` and no user can still see it:
            // `users` was zero while `closing` was set, and the pointer is gone now.
            Some(unsafe { KBox::from_raw(old) })
        }
    }
}

impl<T> Drop for Gate<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: we own the gate exclusively, so no user exists; `p` came from
            // `KBox::into_raw`.
            drop(unsafe { KBox::from_raw(p) });
        }
    }
}
