// SPDX-License-Identifier: GPL-2.0
//! Preemption control and per-CPU compression state.
//!
//! Writers compress into per-CPU state (lz4 hash table + output buffer + scratch
//! page), allocated once when the device gets a size, never on the stack. A writer
//! disables preemption and takes its own CPU's entry, so writers on different CPUs
//! never share a lock. Each entry still has a busy flag: if a bio were ever submitted
//! from interrupt context on a CPU whose entry is in use, it takes another free entry
//! instead of corrupting the first.

use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::prelude::*;

use rzs_core::codec::Compressor;

extern "C" {
    fn rzs_preempt_disable();
    fn rzs_preempt_enable();
    fn rzs_smp_processor_id() -> u32;
    fn rzs_nr_cpu_ids() -> u32;
}

/// Number of possible CPU ids.
pub(crate) fn nr_cpu_ids() -> usize {
    // SAFETY: reads a variable fixed at boot.
    unsafe { rzs_nr_cpu_ids() as usize }
}

/// Preemption is disabled while this lives: the holder must not sleep.
pub(crate) struct NoPreempt(());

impl NoPreempt {
    pub(crate) fn new() -> Self {
        // SAFETY: balanced by `Drop`.
        unsafe { rzs_preempt_disable() };
        NoPreempt(())
    }

    /// The current CPU (stable while preemption is off).
    pub(crate) fn cpu(&self) -> usize {
        // SAFETY: preemption is disabled (we exist), so the id is stable.
        unsafe { rzs_smp_processor_id() as usize }
    }
}

impl Drop for NoPreempt {
    fn drop(&mut self) {
        // SAFETY: balances `new`.
        unsafe { rzs_preempt_enable() };
    }
}

/// One CPU's compression state.
pub(crate) struct Workspace {
    pub comp: Compressor,
    /// A stable copy of the page being written. The source page may change while it
    /// is written (O_DIRECT from user memory, a file system without stable pages):
    /// the page is copied here first, and only the copy is checked for same-fill,
    /// compressed and stored raw, so the stored object always decodes to exactly one
    /// page's worth of what the caller wrote. (Compressing a changing page is zram's
    /// known bug class; lz4_flex's match finder can even trip an overflow check.)
    pub page: rzs_core::page::Page,
}

struct Entry {
    busy: AtomicBool,
    ws: KVBox<core::cell::UnsafeCell<Workspace>>,
}

/// The per-CPU workspaces of one device.
pub(crate) struct Workspaces {
    entries: KVec<Entry>,
}

// SAFETY: access to each `Workspace` is serialised by its `busy` flag (see `get`).
unsafe impl Sync for Workspaces {}
// SAFETY: the workspaces hold plain data.
unsafe impl Send for Workspaces {}

/// Exclusive use of one workspace, with preemption disabled. Must not sleep.
pub(crate) struct WsGuard<'a> {
    entry: &'a Entry,
    _np: NoPreempt,
}

impl Workspaces {
    pub(crate) fn new() -> Result<Self> {
        let n = nr_cpu_ids().max(1);
        let mut entries = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            let mut b = KVBox::<core::cell::UnsafeCell<Workspace>>::new_uninit(GFP_KERNEL)?;
            let p: *mut Workspace = b.as_mut_ptr().cast();
            // SAFETY: `p` points to the uninitialised, exclusively owned workspace.
            // `Compressor::init_in_place` initialises the compressor without a stack
            // temporary and `write_bytes` zeroes the page buffer (a valid `[u8; N]`).
            // `UnsafeCell<T>` has the layout of `T`, so the box is then fully
            // initialised.
            let ws = unsafe {
                let comp = &mut *(core::ptr::addr_of_mut!((*p).comp) as *mut MaybeUninit<Compressor>);
                Compressor::init_in_place(comp);
                core::ptr::addr_of_mut!((*p).page).write_bytes(0, 1);
                b.assume_init()
            };
            entries.push(Entry { busy: AtomicBool::new(false), ws }, GFP_KERNEL)?;
        }
        Ok(Self { entries })
    }

    /// Takes this CPU's workspace (or, if it is busy, any free one), disabling
    /// preemption until the guard is dropped.
    pub(crate) fn get(&self) -> WsGuard<'_> {
        let np = NoPreempt::new();
        let n = self.entries.len();
        let start = np.cpu();
        loop {
            for i in 0..n {
                if let Some(e) = self.entries.get((start + i) % n) {
                    if e.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                        return WsGuard { entry: e, _np: np };
                    }
                }
            }
            core::hint::spin_loop();
        }
    }
}

impl WsGuard<'_> {
    pub(crate) fn ws(&mut self) -> &mut Workspace {
        // SAFETY: the `busy` flag, which we hold, gives exclusive access to the
        // workspace; `&mut self` keeps the borrow unique.
        unsafe { &mut *self.entry.ws.get() }
    }
}

impl Drop for WsGuard<'_> {
    fn drop(&mut self) {
        self.entry.busy.store(false, Ordering::Release);
    }
}
