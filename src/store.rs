// SPDX-License-Identifier: GPL-2.0
//! The compressed page store of one sized device: the slot table and its zsmalloc
//! pool (`sys::zs::ObjTable`), the per-CPU workspaces, and the memory limit.
//!
//! Policy only, in safe Rust: what a page becomes (same-filled, compressed, raw),
//! the accounting of what the table holds, and the limit. Ownership of zsmalloc
//! objects is enforced by `sys::zs` (an `Object` is freed when dropped, and a
//! slot owns the object moved into it).

#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use core::pin::Pin;

use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

use rzs_core::codec::{self, Compressor, Encoded};
use rzs_core::page::{self, Page};
use rzs_core::racy::RacySource;
use rzs_core::stats::{Hot, Local, Stats};

use rzs_core::tier::{BackRef, CompactPlan, LiveBytes};
use rzs_core::PAGE_SIZE;

use crate::sys::backing::{BackingDev, ReadBuf, ReadBufs, WbState};
use crate::sys::gate::Srcu;
use crate::sys::workspace::Workspaces;
use crate::sys::zs::{Backed, Held, ObjTable, View};

/// What an object is filled with: compressed bytes, or the page itself (which
/// someone may write meanwhile: copied by the kernel's `memcpy`).
#[derive(Clone, Copy)]
enum Payload<'a> {
    Compressed(&'a [u8]),
    Raw(&'a RacySource<'a>),
}

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
    /// The bio's data could not be copied (shorter than it claims).
    Io,
    /// The backing device failed a read.
    BackingIo,
}

/// Blocks one writeback batch writes at most (one bio): 128 KiB.
const BATCH_BLOCKS: usize = 32;

/// How often a write that found the pool past its limit after allocating makes
/// room and allocates again before it fails.
const MAX_LIMIT_RETRIES: u32 = 8;

/// A device's backing device and what writeback and reads of written-back pages
/// need (see `rzs_core::tier` for the layout).
pub(crate) struct Backing {
    dev: BackingDev,
    /// Readers of backing blocks hold a section from finding a page's location
    /// until their read is done; writeback waits for them between claiming freed
    /// blocks and rewriting them.
    readers: Srcu,
    bufs: ReadBufs,
    /// A writeback is running (one at a time per device).
    busy: AtomicBool,
    /// The slot the next writeback starts its scan at: where the last one stopped
    /// (a clock hand: each scan goes on from there, wrapping, instead of walking
    /// again over the slots already written back).
    cursor: AtomicUsize,
    /// Its memory, used under `busy`.
    wb: Pin<KBox<Mutex<WbState>>>,
}

impl Backing {
    /// Wraps an opened backing device. May sleep.
    pub(crate) fn new(dev: BackingDev) -> Result<Self> {
        let per_batch = BATCH_BLOCKS * usize::from(rzs_core::tier::MAX_OBJECTS_PER_BLOCK);
        let wb = KBox::pin_init(new_mutex!(WbState::new(BATCH_BLOCKS, per_batch)?, "rzs::Backing::wb"), GFP_KERNEL)?;
        Ok(Self { dev, readers: Srcu::new()?, bufs: ReadBufs::new()?, busy: AtomicBool::new(false), cursor: AtomicUsize::new(0), wb })
    }

    /// The backing device.
    pub(crate) fn dev(&self) -> &BackingDev {
        &self.dev
    }
}

/// Which stored pages a writeback takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Select {
    /// Only pages not accessed for at least this many epochs (0: any age).
    pub min_age: u8,
    /// Only pages stored raw (incompressible by lz4: zram's `huge`).
    pub huge: bool,
    /// Only pages that compressed to more than 3/4 of a page (or not at all).
    pub incompressible: bool,
}

impl Select {
    fn wants(&self, size: usize, age: u8) -> bool {
        age >= self.min_age
            && (!self.huge || size == PAGE_SIZE)
            && (!self.incompressible || size > PAGE_SIZE / 4 * 3)
    }
}

/// What a writeback did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WbReport {
    /// Pages now on the backing device.
    pub pages: u64,
    /// Blocks written for them.
    pub blocks: u64,
}

/// What a compaction of the backing device did.
#[derive(Clone, Copy, Default)]
pub(crate) struct CompactReport {
    /// What the pass found.
    pub plan: CompactPlan,
    /// Objects moved.
    pub objects: u64,
    /// Blocks written for them.
    pub blocks_written: u64,
    /// Blocks in use fewer than before, net of those written.
    pub blocks_freed: u64,
}

/// Clears a busy flag on drop.
struct Busy<'a>(&'a AtomicBool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

pub(crate) struct Store {
    table: ObjTable,
    /// Compressed pages longer than this are stored raw: below zsmalloc's huge class
    /// size, where a compressed object still takes less than a page (as zram does).
    max_compressed: usize,
    ws: Workspaces,
    /// Pages the pool may hold (0: no limit).
    pub mem_limit_pages: AtomicU64,
    backing: Option<Backing>,
    /// Pool pages past which a write asks for writeback (0: never).
    wb_trigger: AtomicU64,
    /// A write passed `wb_trigger` since the last `writeback_wanted`.
    wb_wanted: AtomicBool,
    /// The age the last automatic writeback chose (`make_room` takes as old).
    cold_age: AtomicU8,
}

/// Where [`Store::read`] puts a page: the bio, in the driver.
pub(crate) trait PageSink {
    /// Fills the page with `word` repeated in native byte order (as
    /// `rzs_core::page::fill` does).
    fn fill(&mut self, word: usize) -> core::result::Result<(), StoreError>;
    /// Copies in a whole page, `PAGE_SIZE` bytes. Callable under a slot's lock:
    /// must not sleep.
    fn copy(&mut self, page: &[u8]) -> core::result::Result<(), StoreError>;
    /// Lends the page to `f` to write in place, if no one else may see it before
    /// the read completes (`None`, nothing consumed, otherwise).
    fn with_own_page<R>(&mut self, f: impl FnOnce(&mut Page) -> R) -> Option<R>;
    /// Decodes the lz4 data `src` (one page) straight into the page, whoever else
    /// may write it meanwhile; `None`, nothing consumed, if the sink cannot take a
    /// whole page in place. Callable under a slot's lock: must not sleep.
    fn decode(&mut self, src: &[u8]) -> Option<core::result::Result<(), StoreError>>;
}

/// How [`Store::read`] serves a page without the workspace.
enum Direct {
    Fill(usize),
    Done(core::result::Result<(), StoreError>),
    No,
}

/// Where an I/O runs: its CPU (a hint: which workspace to take) and that CPU's
/// stripe of the device's statistics.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub cpu: usize,
    /// The device's statistics.
    pub all: &'a Stats,
    /// Their stripe for `cpu`.
    pub stats: Local<'a>,
}

impl<'a> Ctx<'a> {
    /// The context of an I/O on CPU `cpu` of a device with statistics `stats`.
    pub(crate) fn new(stats: &'a Stats, cpu: usize) -> Self {
        Self { cpu, all: stats, stats: stats.local(cpu) }
    }
}

/// Reads the bytes of the object at `r` from the backing device into `rb`.
fn fetch<'b>(b: &Backing, r: BackRef, rb: &'b mut ReadBuf, ctx: Ctx<'_>) -> core::result::Result<&'b [u8], StoreError> {
    let n = r.blocks().count();
    if b.dev.read(r.first_block(), &mut rb.io, n).is_err() {
        rzs_core::stats::inc(&ctx.all.bd_failed);
        return Err(StoreError::BackingIo);
    }
    let bytes = rb.bytes.get_mut(..r.size()).ok_or(StoreError::Corrupt)?;
    rb.io.get(r.offset_in_block(), bytes).map_err(|_| StoreError::Corrupt)?;
    Ok(bytes)
}

/// Updates the stats for an entry `v` entering (`entering`) or leaving the table.
fn account(ctx: Ctx<'_>, v: View, entering: bool) {
    let stats = ctx.stats;
    let (same, huge, compr) = match v {
        View::Empty => return,
        View::Same(_) => (1, 0, 0),
        View::Object(size) => (0, u64::from(size == PAGE_SIZE), size as u64),
        // A page on the backing device still counts as stored (as zram counts it),
        // and in `bd_count`; none of its bytes are in RAM.
        View::Backed(_) => {
            if entering {
                rzs_core::stats::inc(&ctx.all.bd_count);
            } else {
                rzs_core::stats::sub(&ctx.all.bd_count, 1);
            }
            (0, 0, 0)
        }
    };
    let op = |h: Hot, n: u64| {
        if n != 0 {
            if entering {
                stats.add(h, n);
            } else {
                stats.sub(h, n);
            }
        }
    };
    op(Hot::SamePages, same);
    op(Hot::HugePages, huge);
    op(Hot::ComprDataSize, compr);
    op(Hot::PagesStored, 1);
}

fn view_of_backed(b: &Backed<'_>) -> View {
    View::Backed(b.location())
}

fn view_of(h: &Held<'_>) -> View {
    match h {
        Held::Empty => View::Empty,
        Held::Same(w) => View::Same(*w),
        Held::Object(o) => View::Object(o.size()),
        Held::Backed(b) => View::Backed(b.location()),
    }
}

impl Store {
    /// Allocates the table for `pages` pages, with tiering to `backing` if given.
    /// May sleep.
    pub(crate) fn new(pages: usize, pool_name: &CStr, backing: Option<Backing>) -> Result<Self> {
        let table = ObjTable::new(pages, pool_name, backing.as_ref().map(|b| b.dev.pages()))?;
        let max_compressed = match table.huge_class_size() {
            0 => codec::RAW_THRESHOLD,
            huge => huge - 1,
        };
        Ok(Self {
            table,
            max_compressed,
            ws: Workspaces::new()?,
            mem_limit_pages: AtomicU64::new(0),
            backing,
            wb_trigger: AtomicU64::new(0),
            wb_wanted: AtomicBool::new(false),
            cold_age: AtomicU8::new(0),
        })
    }

    /// Sets the pool size past which writes ask for writeback (0: never).
    pub(crate) fn set_writeback_trigger(&self, pages: u64) {
        self.wb_trigger.store(pages, Ordering::Relaxed);
    }

    /// Whether a write passed the writeback trigger since the last call.
    pub(crate) fn writeback_wanted(&self) -> bool {
        self.wb_wanted.load(Ordering::Relaxed) && self.wb_wanted.swap(false, Ordering::Relaxed)
    }

    /// The youngest age such that writing back every page at least that old frees
    /// about `pages` pages of pool memory (by compressed size), for writing back
    /// the coldest first; `None` if all of them would not. Scans the table.
    pub(crate) fn cold_threshold(&self, pages: u64) -> Option<u8> {
        let mut weight: KVec<u64> = KVec::from_elem(0u64, rzs_core::tier::AGES, GFP_KERNEL).ok()?;
        for i in 0..self.pages() {
            let age = self.table.age(i);
            let size = match self.table.lock(i).map(|s| s.view()) {
                Some(View::Object(size)) => size as u64,
                _ => continue,
            };
            if let Some(w) = weight.get_mut(usize::from(age)) {
                *w = w.saturating_add(size);
            }
            if i % 4096 == 0 {
                crate::sys::cond_resched();
            }
        }
        let w: &[u64; rzs_core::tier::AGES] = weight.as_slice().try_into().ok()?;
        let t = rzs_core::tier::cold_threshold(w, pages.saturating_mul(PAGE_SIZE as u64), 0);
        self.cold_age.store(t.unwrap_or(0), Ordering::Relaxed);
        t
    }

    /// The backing device, if the store tiers to one.
    pub(crate) fn backing(&self) -> Option<&Backing> {
        self.backing.as_ref()
    }

    /// Backing blocks in use and in all (0, 0 without a backing device).
    pub(crate) fn backing_blocks(&self) -> (u64, u64) {
        self.table.tier().map_or((0, 0), |t| (t.blocks_used(), t.blocks() as u64))
    }

    /// Starts a new access epoch: every page accessed before is now at least one
    /// epoch old (`rzsctl idle`, as zram's `idle` marks pages). `ENODEV` without a
    /// backing device.
    pub(crate) fn mark_idle(&self) -> Result {
        self.table.tier().ok_or(ENODEV)?.clock.tick();
        Ok(())
    }

    pub(crate) fn pages(&self) -> usize {
        self.table.pages()
    }

    /// Puts `new` in slot `index`, accounts for it and for what it replaces, and
    /// frees the replaced object after the slot is unlocked.
    fn install<'a>(&'a self, index: usize, new: Held<'a>, ctx: Ctx<'_>) -> core::result::Result<(), StoreError> {
        let v = view_of(&new);
        let old = {
            let mut s = self.table.lock(index).ok_or(StoreError::OutOfRange)?;
            // An object of this table always goes in; `Err` would give it back.
            s.replace(new).map_err(|_| StoreError::NoMem)?
        };
        self.table.touch(index);
        account(ctx, v, true);
        account(ctx, view_of(&old), false);
        drop(old);
        Ok(())
    }

    /// Frees slot `index` (discard, slot-free notification). Never sleeps; callable
    /// in atomic context. Whether the slot held something.
    pub(crate) fn free(&self, index: usize, ctx: Ctx<'_>) -> bool {
        let old = match self.table.lock(index) {
            Some(mut s) => match s.replace(Held::Empty) {
                Ok(old) => old,
                Err(_) => return false,
            },
            None => return false,
        };
        let v = view_of(&old);
        account(ctx, v, false);
        // Dropping an object frees it: zs_free takes only spinlocks.
        drop(old);
        v != View::Empty
    }

    /// Stores one page at `index`: `fill` writes the page into a buffer of ours (so
    /// the source may change meanwhile: what is stored is one snapshot of it). May
    /// sleep (it allocates with `GFP_NOIO`).
    pub(crate) fn write(
        &self,
        index: usize,
        fill: impl FnOnce(&Store, &mut Page) -> core::result::Result<(), StoreError>,
        ctx: Ctx<'_>,
    ) -> core::result::Result<(), StoreError> {
        if index >= self.pages() {
            return Err(StoreError::OutOfRange);
        }
        let mut g = self.ws.get(ctx.cpu);
        let ws = &mut **g;
        fill(self, &mut ws.page)?;
        let new = match page::same_filled(&ws.page) {
            Some(w) => Held::Same(w as u64),
            None => self.encode_object(&RacySource::from_page(&ws.page), &mut ws.comp, ctx)?,
        };
        drop(g);
        self.install(index, new, ctx)
    }

    /// Stores page `src` at `index` in place, without a snapshot, reading it through
    /// volatile loads (`BioData::with_racy_source`): a page that nobody writes
    /// meanwhile (swap writeout) or one that someone may (an O_DIRECT write's user
    /// memory). A same-filled page needs no workspace at all. If
    /// the page changes meanwhile, what is stored is still a page that reads back (the
    /// codec is robust to it: `rzs_core::codec`'s test
    /// `compress_max_from_survives_the_page_changing_under_it`), made of bytes it
    /// held. May sleep.
    pub(crate) fn write_in_place(&self, index: usize, src: &RacySource<'_>, ctx: Ctx<'_>) -> core::result::Result<(), StoreError> {
        if index >= self.pages() {
            return Err(StoreError::OutOfRange);
        }
        if let Some(w) = src.same_filled() {
            return self.install(index, Held::Same(w as u64), ctx);
        }
        let mut g = self.ws.get(ctx.cpu);
        let new = self.encode_object(src, &mut g.comp, ctx)?;
        drop(g);
        self.install(index, new, ctx)
    }

    /// An object holding page `src` (not same-filled: the caller checked) compressed
    /// or raw, allocated here against the memory limit.
    fn encode_object(&self, src: &RacySource<'_>, comp: &mut Compressor, ctx: Ctx<'_>) -> core::result::Result<Held<'_>, StoreError> {
        let limit = self.mem_limit_pages.load(Ordering::Relaxed);
        if limit != 0 && self.table.total_pages() >= limit && !self.make_room(ctx) {
            return Err(StoreError::Limit);
        }
        let data = match comp.compress_max_racy(src, self.max_compressed) {
            Encoded::Compressed(c) => Payload::Compressed(c),
            Encoded::Incompressible => Payload::Raw(src),
        };
        let len = match data {
            Payload::Compressed(c) => c.len(),
            Payload::Raw(_) => PAGE_SIZE,
        };
        let mut obj = self.table.alloc(len).map_err(|_| StoreError::NoMem)?;
        let mut total = self.table.total_pages();
        // Past the limit after all (other writers got there first), as zram checks:
        // give the object back, make room if we can, and try again. `make_room`
        // leaves headroom, so concurrent writers rarely need more than one retry.
        let mut tries = 0u32;
        while limit != 0 && total > limit {
            drop(obj);
            tries += 1;
            if tries > MAX_LIMIT_RETRIES || !self.make_room(ctx) {
                return Err(StoreError::Limit);
            }
            obj = self.table.alloc(len).map_err(|_| StoreError::NoMem)?;
            total = self.table.total_pages();
        }
        match data {
            Payload::Compressed(c) => obj.write(c),
            Payload::Raw(r) => obj.write_racy(r),
        }
        .map_err(|_| StoreError::NoMem)?;
        // A relaxed load, and a write only at a new peak: no shared line is dirtied
        // per write (`Stats::update_max`).
        ctx.all.update_max(total);
        let trigger = self.wb_trigger.load(Ordering::Relaxed);
        if trigger != 0 && total > trigger && !self.wb_wanted.load(Ordering::Relaxed) {
            self.wb_wanted.store(true, Ordering::Relaxed);
        }
        Ok(Held::Object(obj))
    }

    /// Decodes page `index` into `out`. Unwritten and freed slots read as zeros; a
    /// written-back page is read from the backing device. Callable from a `write`'s
    /// `fill` (read-modify-write). May sleep.
    pub(crate) fn load(&self, index: usize, out: &mut Page, ctx: Ctx<'_>) -> core::result::Result<(), StoreError> {
        // One read-side section over finding a backing location and reading it:
        // writeback rewrites no block while a section that may read it is open.
        let _section = self.backing.as_ref().map(|b| b.readers.read());
        let s = self.table.lock(index).ok_or(StoreError::OutOfRange)?;
        let mut backed = None;
        match s.view() {
            View::Empty => out.fill(0),
            View::Same(w) => page::fill(out, w as usize),
            View::Backed(r) => backed = Some(r),
            View::Object(len) => {
                let ok = s.read(|src| {
                    if len == PAGE_SIZE {
                        match src.get(..PAGE_SIZE) {
                            Some(b) => {
                                out.copy_from_slice(b);
                                true
                            }
                            None => false,
                        }
                    } else {
                        codec::decompress(src, out).is_ok()
                    }
                });
                if ok != Some(true) {
                    return Err(StoreError::Corrupt);
                }
            }
        }
        // The read sleeps: not under the slot's lock.
        drop(s);
        if let Some(r) = backed {
            self.read_backed(r, out, ctx)?;
        }
        self.table.touch(index);
        Ok(())
    }

    /// Reads the page at backing location `r` into `out`. The caller holds a
    /// section of `Backing::readers` since it found `r` in a slot. May sleep.
    fn read_backed(&self, r: BackRef, out: &mut Page, ctx: Ctx<'_>) -> core::result::Result<(), StoreError> {
        let b = self.backing.as_ref().ok_or(StoreError::Corrupt)?;
        let mut g = b.bufs.get(ctx.cpu).ok_or(StoreError::Corrupt)?;
        let bytes = fetch(b, r, &mut g, ctx)?;
        if r.is_raw() {
            out.copy_from_slice(bytes.get(..PAGE_SIZE).ok_or(StoreError::Corrupt)?);
        } else {
            codec::decompress(bytes, out).map_err(|_| StoreError::Corrupt)?;
        }
        rzs_core::stats::inc(&ctx.all.bd_reads);
        Ok(())
    }

    /// Writes back to the backing device up to `max_pages` of the pages `sel`
    /// picks, in batches packed back to back into free blocks. Sleeps, and never
    /// allocates (its memory comes with the backing device): callable from the
    /// write path under memory pressure. `ENODEV` without a backing device,
    /// `EBUSY` while another writeback runs, `ENOSPC` if the backing device is full
    /// before anything was written, the device's error if a write fails (the
    /// batch's pages stay in RAM, nothing is lost).
    pub(crate) fn writeback(&self, sel: Select, max_pages: u64, ctx: Ctx<'_>) -> Result<WbReport> {
        let b = self.backing.as_ref().ok_or(ENODEV)?;
        let tier = self.table.tier().ok_or(ENODEV)?;
        if b.busy.swap(true, Ordering::Acquire) {
            return Err(EBUSY);
        }
        let _busy = Busy(&b.busy);
        // Uncontended: `busy` lets one writeback at a time this far.
        let mut st = b.wb.lock();
        let mut report = WbReport::default();
        // `next` counts the slots scanned, from the cursor on, wrapping once.
        let mut next = 0usize;
        let pages = self.pages();
        let start = match b.cursor.load(Ordering::Relaxed) {
            c if c < pages => c,
            _ => 0,
        };
        let slot = |next: usize| match pages.saturating_sub(start) {
            left if next < left => start + next,
            left => next - left,
        };
        while next < pages && report.pages < max_pages {
            let Some(mut run) = tier.find_free_run(BATCH_BLOCKS as u64) else {
                if report.pages == 0 {
                    return Err(ENOSPC);
                }
                break;
            };
            let base = run.first().saturating_mul(PAGE_SIZE as u64);
            st.clear();
            // Copy objects into the buffer, marking their slots.
            while next < pages && report.pages.saturating_add(st.len() as u64) < max_pages {
                let i = slot(next);
                let age = self.table.age(i);
                if next % 4096 == 0 {
                    crate::sys::cond_resched();
                }
                let Some(mut s) = self.table.lock(i) else { break };
                let View::Object(size) = s.view() else {
                    next += 1;
                    continue;
                };
                if !sel.wants(size, age) {
                    next += 1;
                    continue;
                }
                let Some(r) = run.place(size) else {
                    // The run is full: this slot starts the next batch.
                    break;
                };
                let at = usize::try_from(r.addr().saturating_sub(base)).map_err(|_| EINVAL)?;
                if s.read(|bytes| st.buf.put(at, bytes)) == Some(Ok(())) {
                    if !st.push(i, r) {
                        // The batch is full by count (never before the run is).
                        break;
                    }
                    s.mark();
                }
                drop(s);
                next += 1;
            }
            if st.len() == 0 {
                continue;
            }
            let mut claimed = self.table.claim(&run, st.locations())?;
            // Readers that found any of these blocks before it was freed finish
            // reading before it is rewritten.
            b.readers.synchronize();
            let blocks = run.used_blocks();
            let n = usize::try_from(blocks).map_err(|_| EINVAL)?;
            if let Err(e) = b.dev.write(run.first(), &st.buf, n) {
                rzs_core::stats::inc(&ctx.all.bd_failed);
                // `claimed` drops: the blocks are free again; the pages stay in RAM.
                return if report.pages == 0 { Err(e) } else { Ok(report) };
            }
            rzs_core::stats::add(&ctx.all.bd_blocks_written, blocks);
            report.blocks += blocks;
            let delay = crate::debug_wb_delay_ms();
            if delay > 0 {
                crate::sys::msleep(delay);
            }
            // Install each location where the slot still holds what was copied.
            for &i in st.indices() {
                let Some(bk) = claimed.next() else { break };
                let Some(mut s) = self.table.lock(i) else { continue };
                if !s.is_marked() {
                    // Rewritten or freed meanwhile: `bk` drops, its blocks free.
                    continue;
                }
                let v = view_of_backed(&bk);
                let old = match s.replace(Held::Backed(bk)) {
                    Ok(old) => old,
                    Err(_) => continue,
                };
                drop(s);
                account(ctx, v, true);
                account(ctx, view_of(&old), false);
                // The object is freed here, its page now on the backing device.
                drop(old);
                rzs_core::stats::inc(&ctx.all.bd_writes);
                report.pages += 1;
            }
        }
        b.cursor.store(if next < pages { slot(next) } else { start }, Ordering::Relaxed);
        Ok(report)
    }

    /// At the memory limit with a backing device: write back a batch of the
    /// coldest pages (as old as the last automatic writeback took), or wait a
    /// little for a writeback already running. Whether there is room now.
    fn make_room(&self, ctx: Ctx<'_>) -> bool {
        if self.backing.is_none() {
            return false;
        }
        let limit = self.mem_limit_pages.load(Ordering::Relaxed);
        // Room for the writers on other CPUs too: below the limit by 1/32 of it, up
        // to a writeback batch.
        let target = limit.saturating_sub((limit / 32).min(BATCH_BLOCKS as u64));
        let sel = Select { min_age: self.cold_age.load(Ordering::Relaxed), huge: false, incompressible: false };
        // Up to about 2 s waiting for a writeback already running (the automatic
        // one scans the whole table: seconds on a large device).
        for _ in 0..1000 {
            if limit == 0 || self.table.total_pages() < target.max(1) {
                return true;
            }
            match self.writeback(sel, BATCH_BLOCKS as u64 * 4, ctx) {
                Ok(r) if r.pages > 0 => {
                    // Freed objects leave zspages partly used: the pool shrinks only
                    // once they are compacted.
                    if self.table.total_pages() >= target {
                        self.table.compact();
                    }
                    continue;
                }
                // Nothing that old is left: take any page.
                Ok(_) if sel.min_age > 0 => {
                    let any = Select { min_age: 0, ..sel };
                    if !matches!(self.writeback(any, BATCH_BLOCKS as u64 * 4, ctx), Ok(r) if r.pages > 0) {
                        return false;
                    }
                }
                Ok(_) => return false,
                // Another writeback (the automatic one) is making room.
                Err(e) if e == EBUSY => crate::sys::msleep(2),
                Err(_) => return false,
            }
        }
        limit == 0 || self.table.total_pages() < limit
    }

    /// Compacts the backing device: when frees have left blocks less than half
    /// full, and moving their objects would free at least `min_gain` blocks and
    /// twice what it writes (`rzs_core::tier::CompactPlan::worth`), reads those
    /// objects and writes them again packed into free blocks, then frees the old
    /// ones. Process context (sleeps, allocates a 2-byte counter per backing block
    /// for the pass). `Ok` with what it moved (zero if not worth it); `EBUSY`
    /// while a writeback runs; a read or write error of the backing device leaves
    /// the objects where they were.
    pub(crate) fn compact_backing(&self, min_gain: u64, ctx: Ctx<'_>) -> Result<CompactReport> {
        let b = self.backing.as_ref().ok_or(ENODEV)?;
        let tier = self.table.tier().ok_or(ENODEV)?;
        if b.busy.swap(true, Ordering::Acquire) {
            return Err(EBUSY);
        }
        let _busy = Busy(&b.busy);
        let mut report = CompactReport::default();
        let mut cells: KVVec<u16> = KVVec::from_elem(0u16, tier.blocks(), GFP_KERNEL)?;
        let mut live = LiveBytes::new(&mut cells[..]);
        let pages = self.pages();
        let backed = |i: usize| match self.table.lock(i).map(|s| s.view()) {
            Some(View::Backed(r)) => Some(r),
            _ => None,
        };
        for i in 0..pages {
            if let Some(r) = backed(i) {
                live.add(&r);
            }
            if i % 4096 == 0 {
                crate::sys::cond_resched();
            }
        }
        // The slots may change meanwhile: the plan is an estimate, and what is
        // moved is checked slot by slot below.
        let plan = live.plan((0..pages).filter_map(backed));
        report.plan = plan;
        if !plan.worth(min_gain) {
            return Ok(report);
        }
        let blocks_before = tier.blocks_used();
        let mut st = b.wb.lock();
        let mut next = 0usize;
        while next < pages {
            let Some(mut run) = tier.find_free_run(BATCH_BLOCKS as u64) else { break };
            let base = run.first().saturating_mul(PAGE_SIZE as u64);
            st.clear();
            while next < pages {
                let i = next;
                if i % 4096 == 0 {
                    crate::sys::cond_resched();
                }
                let Some(mut s) = self.table.lock(i) else { break };
                let View::Backed(old) = s.view() else {
                    next += 1;
                    continue;
                };
                if !live.sparse(&old) {
                    next += 1;
                    continue;
                }
                let Some(r) = run.place(old.size()) else { break };
                // Marked under the slot's lock: any rewrite or free from here on
                // clears the mark, and the new copy is not installed.
                s.mark();
                drop(s);
                next += 1;
                // Only this pass writes to the backing device (`busy`): the old
                // blocks hold the object until it is installed elsewhere. If the
                // slot is freed meanwhile, what is read may be stale, and the mark,
                // cleared, keeps it out.
                let mut g = b.bufs.get(ctx.cpu).ok_or(EINVAL)?;
                let bytes = fetch(b, old, &mut g, ctx).map_err(|_| EIO)?;
                let at = usize::try_from(r.addr().saturating_sub(base)).map_err(|_| EINVAL)?;
                st.buf.put(at, bytes)?;
                drop(g);
                if !st.push(i, r) {
                    break;
                }
            }
            if st.len() == 0 {
                break;
            }
            let mut claimed = self.table.claim(&run, st.locations())?;
            b.readers.synchronize();
            let blocks = run.used_blocks();
            let n = usize::try_from(blocks).map_err(|_| EINVAL)?;
            if let Err(e) = b.dev.write(run.first(), &st.buf, n) {
                rzs_core::stats::inc(&ctx.all.bd_failed);
                return Err(e);
            }
            rzs_core::stats::add(&ctx.all.bd_blocks_written, blocks);
            report.blocks_written += blocks;
            for &i in st.indices() {
                let Some(bk) = claimed.next() else { break };
                let Some(mut s) = self.table.lock(i) else { continue };
                if !s.is_marked() || !matches!(s.view(), View::Backed(_)) {
                    continue;
                }
                let v = view_of_backed(&bk);
                let old = match s.replace(Held::Backed(bk)) {
                    Ok(old) => old,
                    Err(_) => continue,
                };
                drop(s);
                account(ctx, v, true);
                account(ctx, view_of(&old), false);
                // The old location's blocks are released here.
                drop(old);
                report.objects += 1;
            }
        }
        report.blocks_freed = (blocks_before + report.blocks_written).saturating_sub(tier.blocks_used());
        Ok(report)
    }

    /// Reads page `index` into `out` (the bio). May sleep (waits for this CPU's
    /// workspace).
    ///
    /// A page only this read may touch (swap-in, page cache:
    /// `PageSink::with_own_page`) is loaded in place, with one lock of the slot (a
    /// page on the backing device is then read into it after the lock is dropped,
    /// which may sleep: the mapping is a `kmap_local` one, which allows that).
    /// Any other (O_DIRECT into user memory, which someone else may write) is never
    /// lent as a `&mut`: empty and same-filled pages are filled, raw pages copied,
    /// and compressed pages decoded, straight into it under the slot's one lock, as
    /// zram does (the decoder through volatile accesses: `PageSink::decode`). Only
    /// a page on the backing device, or a bio piece smaller than a page, goes
    /// through this CPU's workspace and is copied out (taking the slot's lock a
    /// second time: the workspace cannot be waited for under it).
    ///
    /// Guest instructions per 4 KiB fio read (`-icount`), against 188394a, where
    /// every page went through the workspace: page-cache read of compressed pages
    /// 11.8k -> 10.1k, O_DIRECT zero pages 5.6k -> 3.6k, O_DIRECT corpus pages 15.4k
    /// -> 14.4k, O_DIRECT compressed pages 8.6k -> 8.1k (decoded in place, without
    /// the workspace, its copy and a second lock of the slot, since 9f81974).
    pub(crate) fn read(&self, index: usize, out: &mut impl PageSink, ctx: Ctx<'_>) -> core::result::Result<(), StoreError> {
        // A page only this read may touch: everything straight into it, one lock.
        if let Some(r) = out.with_own_page(|page| self.load(index, page, ctx)) {
            return r;
        }
        let s = self.table.lock(index).ok_or(StoreError::OutOfRange)?;
        let direct = match s.view() {
            View::Empty => Direct::Fill(0),
            View::Same(w) => Direct::Fill(w as usize),
            // Under the slot's lock (the object stays put), as `load` copies it.
            View::Object(PAGE_SIZE) => match s.read(|src| src.get(..PAGE_SIZE).map(|b| out.copy(b))) {
                Some(Some(r)) => Direct::Done(r),
                _ => Direct::Done(Err(StoreError::Corrupt)),
            },
            View::Object(_) => match s.read(|src| out.decode(src)) {
                Some(Some(r)) => Direct::Done(r),
                // Not a whole page of the bio: through the workspace.
                Some(None) => Direct::No,
                None => Direct::Done(Err(StoreError::Corrupt)),
            },
            View::Backed(_) => Direct::No,
        };
        // A fill needs no lock: the value was the slot's at one instant, as a read
        // racing a write of the same page may return either.
        drop(s);
        match direct {
            Direct::Fill(w) => out.fill(w)?,
            Direct::Done(r) => r?,
            Direct::No => {
                let mut g = self.ws.get(ctx.cpu);
                let ws = &mut **g;
                return self.load(index, &mut ws.page, ctx).and_then(|()| out.copy(&ws.page));
            }
        }
        self.table.touch(index);
        Ok(())
    }

    /// Bytes of tiering metadata: an access stamp per slot and a count per backing
    /// block (0 without a backing device).
    pub(crate) fn tier_bytes(&self) -> u64 {
        self.table.tier().map_or(0, |t| t.metadata_bytes())
    }

    /// Pages the pool holds.
    pub(crate) fn mem_used_pages(&self) -> u64 {
        self.table.total_pages()
    }

    /// Compacts the pool (frees zspages that frees left sparse) and counts the pages
    /// given back in `stats`. May sleep.
    pub(crate) fn compact(&self, stats: &Stats) -> u64 {
        let n = self.table.compact();
        stats.pages_compacted.fetch_add(n, Ordering::Relaxed);
        n
    }

    /// Test only (`debug_corrupt=Y`): overwrites the compressed object of slot
    /// `index` with 0xff bytes (an LZ4 literal run longer than any object, so
    /// decoding must fail). Returns the object's size; `EINVAL` if the slot holds no
    /// compressed object (empty, same-filled or raw: nothing a decoder would check).
    pub(crate) fn corrupt(&self, index: usize, junk: &[u8]) -> Result<usize> {
        let mut s = self.table.lock(index).ok_or(EINVAL)?;
        match s.view() {
            View::Object(len) if len != PAGE_SIZE => {
                s.overwrite(junk.get(..len).ok_or(EINVAL)?)?;
                Ok(len)
            }
            _ => Err(EINVAL),
        }
    }

    /// Empties every slot but the first (the swap header), in process context.
    /// Returns how many held something. Stats follow.
    pub(crate) fn clear_after_header(&self, ctx: Ctx<'_>) -> u64 {
        let mut n = 0;
        for i in 1..self.pages() {
            if self.free(i, ctx) {
                n += 1;
            }
            if i % 4096 == 0 {
                crate::sys::cond_resched();
            }
        }
        n
    }

    /// The longest compressed object this store keeps.
    pub(crate) fn max_compressed(&self) -> usize {
        self.max_compressed
    }
}

