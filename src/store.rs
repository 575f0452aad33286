// SPDX-License-Identifier: GPL-2.0
//! The compressed page store of one sized device: the slot table and its zsmalloc
//! pool (`sys::zs::ObjTable`), the per-CPU workspaces, and the memory limit.
//!
//! Policy only, in safe Rust: what a page becomes (same-filled, compressed, raw),
//! the accounting of what the table holds, and the limit. Ownership of zsmalloc
//! objects is enforced by `sys::zs` (an `Object` is freed when dropped, and a
//! slot owns the object moved into it).

#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use kernel::prelude::*;

use rzs_core::codec::{self, Compressor, Encoded};
use rzs_core::page::{self, Page};
use rzs_core::stats::{Hot, Local, Stats};

use rzs_core::PAGE_SIZE;

use crate::sys::workspace::Workspaces;
use crate::sys::zs::{Held, ObjTable, View};

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
}

pub(crate) struct Store {
    table: ObjTable,
    /// Compressed pages longer than this are stored raw: below zsmalloc's huge class
    /// size, where a compressed object still takes less than a page (as zram does).
    max_compressed: usize,
    ws: Workspaces,
    /// Pages the pool may hold (0: no limit).
    pub mem_limit_pages: AtomicU64,
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

/// Updates the stats for an entry `v` entering (`entering`) or leaving the table.
fn account(stats: Local<'_>, v: View, entering: bool) {
    let (same, huge, compr) = match v {
        View::Empty => return,
        View::Same(_) => (1, 0, 0),
        View::Object(size) => (0, u64::from(size == PAGE_SIZE), size as u64),
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

fn view_of(h: &Held<'_>) -> View {
    match h {
        Held::Empty => View::Empty,
        Held::Same(w) => View::Same(*w),
        Held::Object(o) => View::Object(o.size()),
    }
}

impl Store {
    /// Allocates the table for `pages` pages. May sleep.
    pub(crate) fn new(pages: usize, pool_name: &CStr) -> Result<Self> {
        let table = ObjTable::new(pages, pool_name)?;
        let max_compressed = match table.huge_class_size() {
            0 => codec::RAW_THRESHOLD,
            huge => huge - 1,
        };
        Ok(Self { table, max_compressed, ws: Workspaces::new()?, mem_limit_pages: AtomicU64::new(0) })
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
        account(ctx.stats, v, true);
        account(ctx.stats, view_of(&old), false);
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
        account(ctx.stats, v, false);
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
            None => self.encode_object(&ws.page, &mut ws.comp, ctx)?,
        };
        drop(g);
        self.install(index, new, ctx)
    }

    /// Stores page `src` at `index` in place, without a snapshot: for a page that
    /// nobody writes meanwhile (swap writeout, `BioData::with_stable_page`). A
    /// same-filled page needs no workspace at all. Were the page to change anyway,
    /// what is stored is still a page that reads back (the codec is robust to it),
    /// made of bytes it held at some moment. May sleep.
    pub(crate) fn write_stable(&self, index: usize, src: &Page, ctx: Ctx<'_>) -> core::result::Result<(), StoreError> {
        if index >= self.pages() {
            return Err(StoreError::OutOfRange);
        }
        if let Some(w) = page::same_filled(src) {
            return self.install(index, Held::Same(w as u64), ctx);
        }
        let mut g = self.ws.get(ctx.cpu);
        let new = self.encode_object(src, &mut g.comp, ctx)?;
        drop(g);
        self.install(index, new, ctx)
    }

    /// An object holding page `src` (not same-filled: the caller checked) compressed
    /// or raw, allocated here against the memory limit.
    fn encode_object(&self, src: &Page, comp: &mut Compressor, ctx: Ctx<'_>) -> core::result::Result<Held<'_>, StoreError> {
        let limit = self.mem_limit_pages.load(Ordering::Relaxed);
        if limit != 0 && self.table.total_pages() >= limit {
            return Err(StoreError::Limit);
        }
        let data: &[u8] = match comp.compress_max(src, self.max_compressed) {
            Encoded::Compressed(c) => c,
            Encoded::Incompressible => &src[..],
        };
        let mut obj = self.table.alloc(data.len()).map_err(|_| StoreError::NoMem)?;
        obj.write(data).map_err(|_| StoreError::NoMem)?;
        // A relaxed load, and a write only at a new peak: no shared line is dirtied
        // per write (`Stats::update_max`).
        ctx.all.update_max(self.table.total_pages());
        Ok(Held::Object(obj))
    }

    /// Decodes page `index` into `out`. Unwritten and freed slots read as zeros.
    /// Callable from a `write`'s `fill` (read-modify-write).
    pub(crate) fn load(&self, index: usize, out: &mut Page) -> core::result::Result<(), StoreError> {
        let s = self.table.lock(index).ok_or(StoreError::OutOfRange)?;
        match s.view() {
            View::Empty => out.fill(0),
            View::Same(w) => page::fill(out, w as usize),
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
        Ok(())
    }

    /// Reads page `index` and hands it to `out` (which copies it to the bio). May
    /// sleep (waits for this CPU's workspace).
    pub(crate) fn read(
        &self,
        index: usize,
        out: impl FnOnce(&Page) -> core::result::Result<(), StoreError>,
        ctx: Ctx<'_>,
    ) -> core::result::Result<(), StoreError> {
        let mut g = self.ws.get(ctx.cpu);
        let ws = &mut **g;
        self.load(index, &mut ws.page)?;
        out(&ws.page)
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
