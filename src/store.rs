// SPDX-License-Identifier: GPL-2.0
//! The compressed page store of one sized device: slot table + zsmalloc pool +
//! per-CPU workspaces.
//!
//! Ownership rule that makes the `unsafe` zsmalloc calls sound: a zsmalloc handle is
//! live exactly while it is in the slot table. A handle enters the table only right
//! after `alloc` + `write`, and leaves it only through `SlotGuard::set`/`take` under the
//! slot lock; whoever takes it out frees it, once. Readers map an object only while
//! holding its slot lock, so it cannot be freed under them.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use kernel::prelude::*;

use rzs_core::codec::{self, Encoded};
use rzs_core::page::{self, Page};
use rzs_core::stats::Stats;
use rzs_core::table::{Entry, ObjRef, SlotGuard, SlotTable};

use rzs_core::PAGE_SIZE;

use crate::cpu::{NoPreempt, Workspaces};
use crate::zs::{self, Pool};

/// Why a page could not be stored or loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreError {
    /// Index beyond the table.
    OutOfRange,
    /// No memory for the object (allocation failed).
    NoMem,
    /// `mem_limit` reached.
    Limit,
    /// Stored data failed to decompress to a page.
    Corrupt,
}

/// A zero-filled, `__GFP_ZERO` allocated array of atomics.
fn zeroed_atomics<T>(n: usize) -> Result<KVVec<T>> {
    let mut v = KVVec::<T>::with_capacity(n, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN)?;
    // SAFETY: the capacity is `n` and `__GFP_ZERO` zeroed the memory; every `T` used
    // here (`AtomicU64`, `AtomicU8`) is valid when all-zero.
    unsafe { v.set_len(n) };
    Ok(v)
}

pub(crate) struct Store {
    words: KVVec<AtomicU64>,
    flags: KVVec<AtomicU8>,
    pool: Pool,
    /// Compressed pages longer than this are stored raw: below zsmalloc's huge class
    /// size, where a compressed object still takes less than a page (as zram does).
    max_compressed: usize,
    ws: Workspaces,
    /// Pages the pool may hold (0: no limit).
    pub mem_limit_pages: AtomicU64,
}

/// A locked slot, with preemption disabled while the lock is held (the slot-free
/// path spins on slot locks in atomic context, so a holder must never be preempted).
struct Locked<'a> {
    g: SlotGuard<'a>,
    _np: NoPreempt,
}

impl Store {
    /// Allocates the table for `pages` pages.
    pub(crate) fn new(pages: usize, pool_name: &CStr) -> Result<Self> {
        let pool = Pool::new(pool_name)?;
        let max_compressed = match pool.huge_class_size() {
            0 => codec::RAW_THRESHOLD,
            huge => huge - 1,
        };
        Ok(Self {
            words: zeroed_atomics(pages)?,
            flags: zeroed_atomics(pages)?,
            pool,
            max_compressed,
            ws: Workspaces::new()?,
            mem_limit_pages: AtomicU64::new(0),
        })
    }

    pub(crate) fn pages(&self) -> usize {
        self.words.len()
    }

    fn lock(&self, index: usize) -> Option<Locked<'_>> {
        let np = NoPreempt::new();
        // The table borrows `self`; the guard borrows the table's storage.
        let g = SlotTable::new(&self.words, &self.flags)?.lock(index)?;
        Some(Locked { g, _np: np })
    }

    /// Frees what `old` holds and updates the stats for it leaving the table.
    fn release(&self, old: Entry, stats: &Stats) {
        match old {
            Entry::Empty => {}
            Entry::Same(_) => {
                stats.same_pages.fetch_sub(1, Ordering::Relaxed);
                stats.pages_stored.fetch_sub(1, Ordering::Relaxed);
            }
            Entry::Object(o) => {
                // SAFETY: `o` was just taken out of the table, so (module rule above)
                // it is a live handle of `self.pool` that nobody else can reach.
                unsafe { self.pool.free(o.handle()) };
                if o.is_raw() {
                    stats.huge_pages.fetch_sub(1, Ordering::Relaxed);
                }
                stats.compr_data_size.fetch_sub(o.size() as u64, Ordering::Relaxed);
                stats.pages_stored.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    fn account_new(&self, new: Entry, stats: &Stats) {
        match new {
            Entry::Empty => return,
            Entry::Same(_) => {
                stats.same_pages.fetch_add(1, Ordering::Relaxed);
            }
            Entry::Object(o) => {
                if o.is_raw() {
                    stats.huge_pages.fetch_add(1, Ordering::Relaxed);
                }
                stats.compr_data_size.fetch_add(o.size() as u64, Ordering::Relaxed);
            }
        }
        stats.pages_stored.fetch_add(1, Ordering::Relaxed);
    }

    fn install(&self, index: usize, new: Entry, stats: &Stats) -> core::result::Result<(), StoreError> {
        let old = {
            let mut l = self.lock(index).ok_or(StoreError::OutOfRange)?;
            self.account_new(new, stats);
            l.g.set(new)
        };
        self.release(old, stats);
        Ok(())
    }

    /// Frees slot `index` (discard, slot-free notification). Never sleeps.
    pub(crate) fn free(&self, index: usize, stats: &Stats) -> bool {
        let old = match self.lock(index) {
            Some(mut l) => l.g.take(),
            None => return false,
        };
        let had = old != Entry::Empty;
        self.release(old, stats);
        had
    }

    /// Stores one page at `index`. `data` may change during the call (see
    /// `Workspace::page`): what is stored is one snapshot of it.
    pub(crate) fn write(&self, index: usize, data: &Page, stats: &Stats) -> core::result::Result<(), StoreError> {
        if index >= self.pages() {
            return Err(StoreError::OutOfRange);
        }
        let limit = self.mem_limit_pages.load(Ordering::Relaxed);
        // Snapshot and compress with preemption off, allocate without sleeping; if
        // that fails, allocate with NOIO outside the workspace and start again.
        let mut sleeping_alloc: Option<(zs::Handle, usize)> = None;
        let free_unused = |a: Option<(zs::Handle, usize)>| {
            if let Some((h, _)) = a {
                // SAFETY: `h` is ours, never entered the table.
                unsafe { self.pool.free(h) };
            }
        };
        for _attempt in 0..3 {
            let mut g = self.ws.get();
            let ws = g.ws();
            ws.page.copy_from_slice(data);
            if let Some(w) = page::same_filled(&ws.page) {
                drop(g);
                free_unused(sleeping_alloc.take());
                return self.install(index, Entry::Same(w as u64), stats);
            }
            if limit != 0 && self.pool.total_pages() >= limit {
                drop(g);
                free_unused(sleeping_alloc.take());
                return Err(StoreError::Limit);
            }
            let (src, len): (&[u8], usize) = match ws.comp.compress_max(&ws.page, self.max_compressed) {
                Encoded::Compressed(c) => (c, c.len()),
                Encoded::Incompressible => (&ws.page[..], PAGE_SIZE),
            };
            let h = match sleeping_alloc.take() {
                Some((h, l)) if l == len => h,
                Some(a) => {
                    // The page changed between two snapshots: its new size differs,
                    // so drop this object and start over.
                    drop(g);
                    free_unused(Some(a));
                    continue;
                }
                None => match self.pool.alloc(len, zs::gfp::ATOMIC_TRY) {
                    Ok(h) => h,
                    Err(_) => {
                        drop(g);
                        let h = self.pool.alloc(len, zs::gfp::NOIO).map_err(|_| StoreError::NoMem)?;
                        sleeping_alloc = Some((h, len));
                        continue;
                    }
                },
            };
            // SAFETY: `h` was just allocated with size `len` == `src.len()` and is not
            // yet visible to anyone else.
            unsafe { self.pool.write(h, src) };
            drop(g);
            let Some(obj) = ObjRef::new(h, len) else {
                // A handle the table cannot represent (not a canonical kernel pointer):
                // never expected; refuse the write rather than lose track of it.
                // SAFETY: `h` is ours, never entered the table.
                unsafe { self.pool.free(h) };
                return Err(StoreError::NoMem);
            };
            stats.update_max(self.pool.total_pages());
            return self.install(index, Entry::Object(obj), stats);
        }
        free_unused(sleeping_alloc);
        Err(StoreError::NoMem)
    }

    /// Loads page `index` into `out`. Unwritten and freed slots read as zeros.
    pub(crate) fn read(&self, index: usize, out: &mut Page) -> core::result::Result<(), StoreError> {
        let l = self.lock(index).ok_or(StoreError::OutOfRange)?;
        match l.g.get() {
            Entry::Empty => out.fill(0),
            Entry::Same(w) => page::fill(out, w as usize),
            Entry::Object(o) => {
                let len = o.size();
                // SAFETY: `o` is in the table and we hold its slot lock, so the handle
                // is live and cannot be freed during the call; its object is `len` bytes.
                let ok = unsafe {
                    self.pool.read(o.handle(), len, |src| {
                        if o.is_raw() {
                            match src.get(..PAGE_SIZE) {
                                Some(s) => {
                                    out.copy_from_slice(s);
                                    true
                                }
                                None => false,
                            }
                        } else {
                            codec::decompress(src, out).is_ok()
                        }
                    })
                };
                if !ok {
                    return Err(StoreError::Corrupt);
                }
            }
        }
        Ok(())
    }

    /// Pages the pool holds.
    pub(crate) fn mem_used_pages(&self) -> u64 {
        self.pool.total_pages()
    }

    /// Test only (`debug_corrupt=Y`): overwrites the compressed object of slot
    /// `index` with `junk` (0xff bytes: an LZ4 literal run longer than any object, so
    /// decoding must fail). Returns the object's size; `EINVAL` if the slot holds no
    /// compressed object (empty, same-filled or raw: nothing a decoder would check).
    pub(crate) fn corrupt(&self, index: usize, junk: &[u8]) -> Result<usize> {
        let l = self.lock(index).ok_or(EINVAL)?;
        match l.g.get() {
            Entry::Object(o) if !o.is_raw() => {
                let len = o.size();
                let bytes = junk.get(..len).ok_or(EINVAL)?;
                // SAFETY: `o` is in the table and we hold its slot lock, so the handle
                // is live, `len` bytes long, and no reader maps it during the call.
                unsafe { self.pool.write(o.handle(), bytes) };
                Ok(len)
            }
            _ => Err(EINVAL),
        }
    }

    /// The longest compressed object this store keeps.
    pub(crate) fn max_compressed(&self) -> usize {
        self.max_compressed
    }
}

impl Drop for Store {
    /// Frees every stored object: zsmalloc cannot destroy a pool with live handles.
    fn drop(&mut self) {
        let Some(table) = SlotTable::new(&self.words, &self.flags) else {
            return;
        };
        for i in 0..table.len() {
            if let Some(Entry::Object(o)) = table.lock(i).map(|mut g| g.take()) {
                // SAFETY: `o` was just taken out of the table: a live handle of
                // `self.pool` that nobody else can reach (we are being dropped).
                unsafe { self.pool.free(o.handle()) };
            }
        }
    }
}

/// A page of scratch memory for partial-page I/O (read-modify-write), allocated per
/// bio that needs it. Partial I/O is rare: the disk's logical block is a page.
pub(crate) struct Scratch {
    addr: kernel::ffi::c_ulong,
}

impl Scratch {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain page allocation; NOIO because we are on the I/O path.
        let addr = unsafe { kernel::bindings::get_free_pages_noprof(zs::gfp::NOIO_LOWMEM, 0) };
        if addr == 0 {
            return Err(ENOMEM);
        }
        Ok(Self { addr })
    }

    pub(crate) fn page(&mut self) -> &mut Page {
        // SAFETY: `addr` is the direct-map address of a page we own exclusively
        // (lowmem: no HIGHMEM flag), PAGE_SIZE bytes, suitably aligned for `[u8; N]`.
        unsafe { &mut *(self.addr as *mut Page) }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: `addr` came from `get_free_pages_noprof(_, 0)` and is freed once.
        unsafe { kernel::bindings::free_pages(self.addr, 0) };
    }
}
