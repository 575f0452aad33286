// SPDX-License-Identifier: GPL-2.0
//! Per-CPU compression workspaces.
//!
//! A writer (and a reader whose page cannot be filled in place: a page on the
//! backing device, a bio piece smaller than a page) needs an lz4 hash table, an output
//! buffer and a page of scratch: 25 KiB, too big for the kernel stack and too costly
//! to allocate per page. A device keeps one [`Workspace`] per possible CPU, each under
//! its own mutex, and an I/O takes the one of the CPU it runs on. As in zram since
//! 6.15 the section is preemptible: the holder may sleep (it allocates with
//! `GFP_NOIO`) and may migrate, in which case a later I/O on the old CPU waits for the
//! mutex. Nothing here disables preemption, so the section is sound on PREEMPT_RT,
//! where zsmalloc's locks sleep.

use core::mem::MaybeUninit;
use core::pin::Pin;

use kernel::init;
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::new_mutex;

use rzs_core::codec::Compressor;
use rzs_core::page::Page;

use super::ffi;

/// One CPU's working memory.
pub(crate) struct Workspace {
    pub(crate) comp: Compressor,
    /// A page rzs owns: the stable snapshot of a page being written (the source may
    /// change during the write: O_DIRECT from user memory), and the page a read
    /// that cannot decode in place decodes into before it is copied out to the bio.
    pub(crate) page: Page,
}

impl Workspace {
    /// A workspace initialised in place, without a stack temporary (it is 25 KiB).
    fn new_boxed() -> Result<KVBox<Workspace>> {
        let init = |slot: *mut Workspace| -> Result {
            // SAFETY: `slot` points to uninitialised memory for a `Workspace`, ours
            // until this returns. `init_in_place` initialises the compressor field
            // (seen as `MaybeUninit`, which has the same layout), and `write_bytes`
            // zeroes the page, a valid `[u8; N]`. Every field is then initialised.
            unsafe {
                let comp = &mut *(core::ptr::addr_of_mut!((*slot).comp) as *mut MaybeUninit<Compressor>);
                Compressor::init_in_place(comp);
                core::ptr::addr_of_mut!((*slot).page).write_bytes(0, 1);
            }
            Ok(())
        };
        // SAFETY: `init` initialises every field of the slot or fails without
        // leaving anything to drop (it never fails).
        KVBox::init(unsafe { init::init_from_closure(init) }, GFP_KERNEL)
    }
}

type Entry = Pin<KBox<Mutex<KVBox<Workspace>>>>;

/// The per-CPU workspaces of one device: `first` for CPU 0, `rest` for the others
/// (never empty, so `get` needs no failure path).
pub(crate) struct Workspaces {
    first: Entry,
    rest: KVec<Entry>,
}

/// Exclusive use of one workspace until dropped. May have slept to get it.
pub(crate) type WsGuard<'a> = kernel::sync::lock::Guard<'a, KVBox<Workspace>, kernel::sync::lock::mutex::MutexBackend>;

/// Number of possible CPU ids.
fn nr_cpu_ids() -> usize {
    // SAFETY: reads a variable fixed at boot.
    unsafe { ffi::rzs_nr_cpu_ids() as usize }
}

fn new_entry() -> Result<Entry> {
    let ws = Workspace::new_boxed()?;
    KBox::pin_init(new_mutex!(ws, "rzs::Workspace"), GFP_KERNEL)
}

impl Workspaces {
    /// A workspace for every possible CPU. May sleep.
    pub(crate) fn new() -> Result<Self> {
        let first = new_entry()?;
        let n = nr_cpu_ids().saturating_sub(1);
        let mut rest = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            rest.push(new_entry()?, GFP_KERNEL)?;
        }
        Ok(Self { first, rest })
    }

    /// Takes the workspace of CPU `cpu` (the caller's [`super::cpu_hint`]), waiting
    /// for it if another task holds it. Process context only: may sleep.
    pub(crate) fn get(&self, cpu: usize) -> WsGuard<'_> {
        let e = match cpu.checked_sub(1) {
            Some(i) => self.rest.get(i).unwrap_or(&self.first),
            None => &self.first,
        };
        e.lock()
    }
}
