// SPDX-License-Identifier: GPL-2.0
//! zsmalloc, the kernel's allocator for compressed pages (mm/zsmalloc.c), and the
//! slot table whose entries own its objects.
//!
//! [`ObjTable`] is one device's slot table (`rzs_core::table`) plus its zsmalloc
//! pool. An allocated object is an [`Object`]: owned, not `Clone`, freed when it is
//! dropped, and tied by its lifetime to the table that allocated it. Moving an
//! `Object` into a slot hands its handle to the table; taking it out (through
//! [`Slot::replace`]) hands back an `Object`. So a handle is live exactly while one
//! `Object` or one slot holds it, and every zsmalloc call on it is safe by
//! construction: the driver's policy above needs no `unsafe`.
//!
//! # Locking
//!
//! A slot is locked with its bit lock in the table ([`rzs_core::table::SlotTable`])
//! *inside* one of [`NR_LOCKS`] `spinlock_t` stripes (slot `i` uses stripe
//! `i % NR_LOCKS`). The stripe is what makes the section right on every kernel:
//! a `spinlock_t` disables preemption on non-RT kernels, so the slot-free
//! notification (atomic context, under the swap area's spinlock) never spins on
//! a preempted holder, while on PREEMPT_RT it is a sleeping, priority-inheriting
//! lock, so zsmalloc's own locks (`spinlock_t`, `local_lock`, `rwlock_t`: all
//! sleeping there) may be taken inside, and an RT task never spins on a lower-
//! priority holder. Under the stripe, the bit lock is uncontended; it keeps the
//! core table's rule that only a lock holder touches a slot. Stripes are never
//! nested.

use core::pin::Pin;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU16, AtomicU64, AtomicU8, Ordering};

use kernel::ffi::c_ulong;
use kernel::init::pin_init_array_from_fn;
use kernel::new_spinlock;
use kernel::prelude::*;
use kernel::sync::lock::{spinlock::SpinLockBackend, Guard};
use kernel::sync::SpinLock;

use rzs_core::racy::RacySource;
use rzs_core::table::{Entry, ObjRef, SlotGuard, SlotTable};
use rzs_core::tier::{BackRef, BlockMap, Clock, Run};
use rzs_core::PAGE_SIZE;

use super::ffi;

/// Slot lock stripes per device (a power of two).
pub(crate) const NR_LOCKS: usize = 1024;
const _: () = assert!(NR_LOCKS.is_power_of_two());

/// How many slots a long loop handles between two `cond_resched` calls.
const RESCHED_EVERY: usize = 4096;

/// A zsmalloc pool. Destroying it frees every object still in it.
///
/// # Invariants
///
/// `pool` is a live pool created by `zs_create_pool`, destroyed only on drop.
struct Pool {
    pool: NonNull<ffi::ZsPool>,
}

// SAFETY: zsmalloc pools are designed for concurrent use from any CPU: every zs_*
// function takes its own locks.
unsafe impl Send for Pool {}
// SAFETY: as above.
unsafe impl Sync for Pool {}

impl Pool {
    fn new(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is a NUL-terminated string; zsmalloc copies it.
        let p = unsafe { ffi::rzs_zs_create_pool(name.as_char_ptr()) };
        Ok(Self { pool: NonNull::new(p).ok_or(ENOMEM)? })
    }

    fn ptr(&self) -> *mut ffi::ZsPool {
        self.pool.as_ptr()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: the pool is live (invariant) and nobody uses it any more.
        unsafe { ffi::rzs_zs_destroy_pool(self.ptr()) };
    }
}

/// An allocated zsmalloc object of `size` bytes, freed on drop.
///
/// # Invariants
///
/// `handle` is a live handle of `table`'s pool, `size` bytes long, held by this
/// `Object` alone (no slot of the table holds it).
pub(crate) struct Object<'a> {
    table: &'a ObjTable,
    handle: c_ulong,
    size: usize,
}

impl Object<'_> {
    /// The object's size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Fills the object with `data`, which must be exactly `size()` bytes (else
    /// `EINVAL`). May take sleeping locks on PREEMPT_RT: not under a stripe lock.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result {
        if data.len() != self.size {
            return Err(EINVAL);
        }
        // SAFETY: the handle is live and ours alone (invariant), `size` bytes long,
        // so the write-only mapping covers `data.len()` bytes until the unmap.
        unsafe {
            let dst = ffi::zs_map_object(self.table.pool.ptr(), self.handle, ffi::ZS_MM_WO) as *mut u8;
            core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
            ffi::zs_unmap_object(self.table.pool.ptr(), self.handle);
        }
        Ok(())
    }

    /// Fills the object, which must be one page long (else `EINVAL`), with the page
    /// `src`, which others may write meanwhile: copied by the kernel's `memcpy`, in C.
    /// May take sleeping locks on PREEMPT_RT: not under a stripe lock.
    pub(crate) fn write_racy(&mut self, src: &RacySource<'_>) -> Result {
        if self.size != PAGE_SIZE {
            return Err(EINVAL);
        }
        // SAFETY: the handle is live and ours alone (invariant), `PAGE_SIZE` bytes
        // long, so the write-only mapping covers the copy until the unmap. `src`'s
        // page is valid for reads of `PAGE_SIZE` bytes while `src` lives, and whatever
        // may write it meanwhile does so outside Rust (`RacySource`'s invariant): the
        // C `memcpy` reads it, racing with such writes as C code may.
        unsafe {
            let dst = ffi::zs_map_object(self.table.pool.ptr(), self.handle, ffi::ZS_MM_WO);
            ffi::rzs_copy_racy(dst, src.as_ptr().cast(), PAGE_SIZE);
            ffi::zs_unmap_object(self.table.pool.ptr(), self.handle);
        }
        Ok(())
    }
}

impl Drop for Object<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle is live and held by us alone (invariant), so it is freed
        // once. zs_free only takes spinlocks: callable in atomic context.
        unsafe { ffi::zs_free(self.table.pool.ptr(), self.handle) };
    }
}

/// A page's place on the backing device, owned: dropping it releases the backing
/// blocks it touches (lock-free: callable in atomic context).
///
/// # Invariants
///
/// `table` has a tier, and `r`'s blocks hold one count each for this `Backed`,
/// which no slot holds.
pub(crate) struct Backed<'a> {
    table: &'a ObjTable,
    r: BackRef,
}

impl Backed<'_> {
    /// Where the page is.
    pub(crate) fn location(&self) -> BackRef {
        self.r
    }
}

impl Drop for Backed<'_> {
    fn drop(&mut self) {
        if let Some(t) = &self.table.tier {
            if t.map.release_object(&self.r).is_err() {
                // A count already zero: an accounting error, never wrapped.
                t.bad_releases.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Backing locations whose blocks were claimed, handed out one by one.
///
/// # Invariants
///
/// Every location of `locs[next..]` holds one count on each block it touches,
/// owned by this value (those before `next` were handed out as [`Backed`]).
pub(crate) struct Claimed<'a, 'l> {
    table: &'a ObjTable,
    locs: &'l [BackRef],
    next: usize,
}

impl<'a> Iterator for Claimed<'a, '_> {
    type Item = Backed<'a>;

    fn next(&mut self) -> Option<Backed<'a>> {
        let r = *self.locs.get(self.next)?;
        self.next += 1;
        // INVARIANT: `r`'s counts pass from the claim to the `Backed`.
        Some(Backed { table: self.table, r })
    }
}

impl Drop for Claimed<'_, '_> {
    fn drop(&mut self) {
        // Release what was not handed out (a failed write, or an early return).
        for b in self.by_ref() {
            drop(b);
        }
    }
}

/// What a slot holds, owned: taking an `Object` out of the table gives it back.
pub(crate) enum Held<'a> {
    Empty,
    /// A same-filled page: every 64-bit word is this value.
    Same(u64),
    Object(Object<'a>),
    Backed(Backed<'a>),
}

/// Tiering's per-table state: the backing device's block map and one access
/// stamp per slot (`rzs_core::tier`).
pub(crate) struct Tier {
    map: BlockMap<KVVec<AtomicU8>>,
    stamps: KVVec<AtomicU8>,
    pub(crate) clock: Clock,
    /// Releases of blocks already free (an accounting error; expected 0).
    pub(crate) bad_releases: AtomicU64,
}

impl Tier {
    /// Backing blocks in use.
    pub(crate) fn blocks_used(&self) -> u64 {
        self.map.used()
    }

    /// Backing blocks in all.
    pub(crate) fn blocks(&self) -> usize {
        self.map.len()
    }

    /// Bytes of its arrays: one stamp per slot, one count per block.
    pub(crate) fn metadata_bytes(&self) -> u64 {
        (self.stamps.len() as u64).saturating_add(self.map.len() as u64)
    }

    /// The longest free run of at most `want` blocks (see `BlockMap::find_free_run`).
    pub(crate) fn find_free_run(&self, want: u64) -> Option<Run> {
        self.map.find_free_run(want)
    }
}

/// What a slot holds, as seen under its lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    Empty,
    Same(u64),
    /// An object of this many bytes (`PAGE_SIZE`: the page stored raw).
    Object(usize),
    /// On the backing device, there.
    Backed(BackRef),
}

/// One device's slot table and zsmalloc pool (see the module documentation).
///
/// # Invariants
///
/// `words` and `flags` have the same length; every slot holding an object holds a
/// live handle of `pool`, owned by the slot; every slot holding a backing location
/// holds one count of each backing block it touches in `tier`'s map (so the table
/// has a tier).
pub(crate) struct ObjTable {
    words: KVVec<AtomicU64>,
    flags: KVVec<AtomicU16>,
    locks: Pin<KVBox<[SpinLock<()>; NR_LOCKS]>>,
    pool: Pool,
    /// The flags objects are allocated with (`rzs_gfp_noio_obj`), read once.
    gfp: kernel::bindings::gfp_t,
    tier: Option<Tier>,
}

/// A zero-filled array of `n` atomics.
fn zeroed_atomics<T>(n: usize) -> Result<KVVec<T>> {
    let mut v = KVVec::<T>::with_capacity(n, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN)?;
    // SAFETY: the capacity is `n` and `__GFP_ZERO` zeroed the memory; every `T` used
    // here (`AtomicU64`, `AtomicU16`) is valid when all-zero.
    unsafe { v.set_len(n) };
    Ok(v)
}

impl ObjTable {
    /// A table of `pages` empty slots and an empty pool named `name`; with
    /// `backing_blocks`, tiering state for that many backing blocks (capped at
    /// `pages`: no more can ever be used). May sleep.
    pub(crate) fn new(pages: usize, name: &CStr, backing_blocks: Option<u64>) -> Result<Self> {
        let locks = KVBox::pin_init(pin_init_array_from_fn(|_| new_spinlock!((), "rzs::ObjTable::locks")), GFP_KERNEL)?;
        let tier = match backing_blocks {
            Some(b) => {
                let blocks = usize::try_from(b).unwrap_or(usize::MAX).min(pages);
                Some(Tier {
                    map: BlockMap::new(zeroed_atomics(blocks)?),
                    stamps: zeroed_atomics(pages)?,
                    clock: Clock::new(),
                    bad_releases: AtomicU64::new(0),
                })
            }
            None => None,
        };
        // SAFETY: returns a constant.
        let gfp = unsafe { ffi::rzs_gfp_noio_obj() };
        Ok(Self { words: zeroed_atomics(pages)?, flags: zeroed_atomics(pages)?, locks, pool: Pool::new(name)?, gfp, tier })
    }

    /// Tiering state, if the device has a backing device.
    pub(crate) fn tier(&self) -> Option<&Tier> {
        self.tier.as_ref()
    }

    /// Records an access to slot `index` (tiering's age stamp). Never sleeps.
    pub(crate) fn touch(&self, index: usize) {
        if let Some(s) = self.tier.as_ref().and_then(|t| t.stamps.get(index).map(|s| (t, s))) {
            s.0.clock.touch(s.1);
        }
    }

    /// The age of slot `index`'s last access in epochs, clamped to `tier::MAX_AGE`
    /// (see `Clock::clamp`). 0 without tiering.
    pub(crate) fn age(&self, index: usize) -> u8 {
        match self.tier.as_ref().and_then(|t| t.stamps.get(index).map(|s| (t, s))) {
            Some((t, s)) => t.clock.clamp(s),
            None => 0,
        }
    }

    /// Claims the backing blocks of `run` for the objects at `locs` (placed in it
    /// by `Run::place`). The [`Claimed`] hands out one owned [`Backed`] per object,
    /// in order, and releases those it did not hand out when dropped. `EINVAL`
    /// without tiering or for counts out of range; `EBUSY` if a block is not free
    /// (nothing stays claimed then). Never allocates.
    pub(crate) fn claim<'a, 'l>(&'a self, run: &Run, locs: &'l [BackRef]) -> Result<Claimed<'a, 'l>> {
        let t = self.tier.as_ref().ok_or(EINVAL)?;
        let mut claimed: u64 = 0;
        let mut failed = false;
        run.counts(locs.iter(), |b, n| {
            if failed {
                return;
            }
            match t.map.claim(b, n) {
                Ok(()) => claimed += 1,
                Err(_) => failed = true,
            }
        })
        .map_err(|_| EINVAL)?;
        if failed {
            // Give back what was claimed: the first `claimed` touched blocks.
            let mut left = claimed;
            let _ = run.counts(locs.iter(), |b, n| {
                if left > 0 {
                    left -= 1;
                    for _ in 0..n {
                        let _ = t.map.release(b);
                    }
                }
            });
            return Err(EBUSY);
        }
        // INVARIANT: every object of `locs` holds a count on each of its blocks.
        Ok(Claimed { table: self, locs, next: 0 })
    }

    /// Number of slots.
    pub(crate) fn pages(&self) -> usize {
        self.words.len()
    }

    /// Allocates an object of `size` bytes (1..=PAGE_SIZE) with `GFP_NOIO`: may
    /// sleep (direct reclaim), never recurses into I/O.
    pub(crate) fn alloc(&self, size: usize) -> Result<Object<'_>> {
        if size == 0 || size > PAGE_SIZE {
            return Err(EINVAL);
        }
        // SAFETY: the pool is live; the flags are a valid gfp mask.
        let h = unsafe { ffi::zs_malloc(self.pool.ptr(), size, self.gfp) };
        if ffi::zs_failed(h) {
            return Err(ENOMEM);
        }
        Ok(Object { table: self, handle: h, size })
    }

    /// Locks slot `index`; `None` if out of range. Never sleeps on non-RT kernels;
    /// callable in atomic context (the slot-free notification).
    pub(crate) fn lock(&self, index: usize) -> Option<Slot<'_>> {
        // `new` fails only for arrays of different lengths (never: invariant).
        let table = SlotTable::new(&self.words, &self.flags)?;
        if index >= table.len() {
            return None;
        }
        let stripe = self.locks.get(index & (NR_LOCKS - 1))?.lock();
        let g = table.lock(index)?;
        Some(Slot { table: self, g, _stripe: stripe })
    }

    /// Pages the pool holds (objects and fragmentation).
    pub(crate) fn total_pages(&self) -> u64 {
        // SAFETY: the pool is live.
        unsafe { ffi::zs_get_total_pages(self.pool.ptr()) as u64 }
    }

    /// Compacts the pool: moves objects out of sparsely used zspages and frees
    /// those. Returns the pages given back. May sleep (process context only).
    pub(crate) fn compact(&self) -> u64 {
        // SAFETY: the pool is live; zs_compact synchronises with concurrent
        // zs_malloc/zs_free/zs_map_object itself (the pool's locks).
        unsafe { ffi::rzs_zs_compact(self.pool.ptr()) as u64 }
    }

    /// The smallest object size zsmalloc gives a whole page to.
    pub(crate) fn huge_class_size(&self) -> usize {
        // SAFETY: the pool is live; the call reads a constant of it.
        unsafe { ffi::rzs_zs_huge_class_size(self.pool.ptr()) }
    }

    /// Empties every slot from `from` on, dropping what they hold, and returns how
    /// many held something. Process context: reschedules every few thousand slots
    /// (a 1 TiB device has 268 M of them).
    pub(crate) fn clear_from(&self, from: usize) -> u64 {
        let mut n = 0;
        for i in from..self.pages() {
            if let Some(mut s) = self.lock(i) {
                let old = s.replace(Held::Empty);
                drop(s);
                if !matches!(old, Ok(Held::Empty)) {
                    n += 1;
                }
            }
            if i % RESCHED_EVERY == 0 {
                super::cond_resched();
            }
        }
        n
    }
}

impl Drop for ObjTable {
    /// Frees every stored object: zsmalloc cannot destroy a pool with live handles.
    fn drop(&mut self) {
        self.clear_from(0);
    }
}

/// A locked slot of an [`ObjTable`]. Must not be held across anything that sleeps
/// on non-RT kernels (it holds a `spinlock_t`).
pub(crate) struct Slot<'a> {
    table: &'a ObjTable,
    g: SlotGuard<'a>,
    _stripe: Guard<'a, (), SpinLockBackend>,
}

impl<'a> Slot<'a> {
    /// What the slot holds.
    pub(crate) fn view(&self) -> View {
        match self.g.get() {
            Entry::Empty => View::Empty,
            Entry::Same(w) => View::Same(w),
            Entry::Object(o) => View::Object(o.size()),
            Entry::Backed(r) => View::Backed(r),
        }
    }

    /// Marks the slot for writeback (`SlotGuard::mark`): the mark survives until
    /// the slot is next given a new entry.
    pub(crate) fn mark(&mut self) {
        self.g.mark();
    }

    /// Whether the slot kept its writeback mark.
    pub(crate) fn is_marked(&self) -> bool {
        self.g.is_marked()
    }

    /// Stores `new` and returns what the slot held (drop it after unlocking: an
    /// `Object` is freed then). `Err(new)` back if `new` is an object of another
    /// table: the slot is unchanged.
    pub(crate) fn replace(&mut self, new: Held<'a>) -> core::result::Result<Held<'a>, Held<'a>> {
        let e = match &new {
            Held::Empty => Entry::Empty,
            Held::Same(w) => Entry::Same(*w),
            Held::Object(o) => {
                if !core::ptr::eq(o.table, self.table) {
                    return Err(new);
                }
                match ObjRef::new(o.handle as u64, o.size) {
                    Some(r) => Entry::Object(r),
                    None => return Err(new),
                }
            }
            Held::Backed(b) => {
                if !core::ptr::eq(b.table, self.table) {
                    return Err(new);
                }
                Entry::Backed(b.r)
            }
        };
        // The handle now belongs to the slot: forget the `Object` without freeing.
        core::mem::forget(new);
        Ok(match self.g.set(e) {
            Entry::Empty => Held::Empty,
            Entry::Same(w) => Held::Same(w),
            // The slot owned the handle (invariant); it is ours now.
            Entry::Object(o) => Held::Object(Object { table: self.table, handle: o.handle() as c_ulong, size: o.size() }),
            // The slot held the location's block counts (invariant); they are ours now.
            Entry::Backed(r) => Held::Backed(Backed { table: self.table, r }),
        })
    }

    /// Runs `f` on the stored object's bytes, mapped read-only; `None` if the slot
    /// holds no object. `f` must not sleep.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let Entry::Object(o) = self.g.get() else {
            return None;
        };
        let (h, len) = (o.handle() as c_ulong, o.size());
        // SAFETY: the slot owns the live handle `h` of `len` bytes (invariant) and we
        // hold its lock, so it is not freed or rewritten during the call; the
        // mapping is readable for `len` bytes until the unmap, and only zsmalloc
        // writes an object's memory (migration copies it under its own locks).
        unsafe {
            let src = ffi::zs_map_object(self.table.pool.ptr(), h, ffi::ZS_MM_RO) as *const u8;
            let r = f(core::slice::from_raw_parts(src, len));
            ffi::zs_unmap_object(self.table.pool.ptr(), h);
            Some(r)
        }
    }

    /// Overwrites the stored object with `data` (exactly its size; else `EINVAL`).
    /// Test only (`debug_corrupt`).
    pub(crate) fn overwrite(&mut self, data: &[u8]) -> Result {
        let Entry::Object(o) = self.g.get() else {
            return Err(EINVAL);
        };
        if data.len() != o.size() {
            return Err(EINVAL);
        }
        // SAFETY: the slot owns the live handle, `data.len()` bytes long, and its
        // lock keeps every reader out during the write.
        unsafe {
            let h = o.handle() as c_ulong;
            let dst = ffi::zs_map_object(self.table.pool.ptr(), h, ffi::ZS_MM_WO) as *mut u8;
            core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
            ffi::zs_unmap_object(self.table.pool.ptr(), h);
        }
        Ok(())
    }
}
