// SPDX-License-Identifier: GPL-2.0
//! Tiering: pages written back from RAM to a backing device.
//!
//! Three kernel-independent parts, each over caller-provided storage (this module
//! never allocates):
//!
//! * [`BackRef`]: where a written-back object lives, a byte address on the backing
//!   device and a size. Objects are laid out back to back (a [`Run`]), so one may
//!   straddle two blocks: backing space is used to the byte, not one 4 KiB block
//!   per object as zram's writeback does.
//! * [`BlockMap`]: the backing device's blocks, each with the number of live
//!   objects that touch it (one byte per block). A block is free when its count is
//!   0; freeing an object's last neighbour frees the block at once, lock-free, so
//!   it can be done from the slot-free notification (atomic context).
//! * [`Clock`] and [`cold_threshold`]: a compact per-slot access stamp (one byte,
//!   an epoch number) and the choice of which pages are coldest.
//!
//! # Memory cost
//!
//! One byte of stamp per slot and one byte per backing block. The slot table is
//! 10 bytes per slot ([`crate::table::SlotTable::BYTES_PER_SLOT`]); with the backing
//! device capped at the rzs device's size (more can never be used: each page takes
//! at most one page of backing space), tiering keeps the total at or under
//! [`METADATA_BYTES_PER_PAGE`] = 12 bytes per page of the device.

use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crate::table::SlotTable;
use crate::PAGE_SIZE;

/// Size of a backing block: one page.
pub const BLOCK_SIZE: usize = PAGE_SIZE;
const BLOCK_SHIFT: u32 = 12;
const _: () = assert!(1 << BLOCK_SHIFT == BLOCK_SIZE);

/// Most objects that may touch one backing block: its count is one byte.
pub const MAX_OBJECTS_PER_BLOCK: u8 = u8::MAX;

/// Per-page metadata with tiering: the slot table, one stamp byte per slot and one
/// count byte per backing block (at most one block per page).
pub const METADATA_BYTES_PER_PAGE: usize = SlotTable::BYTES_PER_SLOT + 1 + 1;
const _: () = assert!(METADATA_BYTES_PER_PAGE <= 12);

/// Where an object written back lives: `size` bytes (1..=`PAGE_SIZE`) at byte
/// address `addr` of the backing device.
///
/// # Invariants
///
/// `1 <= size <= PAGE_SIZE` and `addr + size` does not overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackRef {
    addr: u64,
    size: u16,
}

impl BackRef {
    /// `None` unless `1 <= size <= PAGE_SIZE` and the object ends within `u64`.
    pub fn new(addr: u64, size: usize) -> Option<BackRef> {
        if size == 0 || size > PAGE_SIZE {
            return None;
        }
        let size16 = u16::try_from(size).ok()?;
        addr.checked_add(u64::from(size16))?;
        Some(BackRef { addr, size: size16 })
    }

    /// From the slot table's encoding, which only [`BackRef::new`]'s values reach.
    /// The methods stay total (saturating, never panicking) even on other bits.
    pub(crate) fn from_raw(addr: u64, size: u16) -> BackRef {
        BackRef { addr, size }
    }

    /// The byte address on the backing device.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// The object's size in bytes.
    pub fn size(&self) -> usize {
        usize::from(self.size)
    }

    pub(crate) fn size16(&self) -> u16 {
        self.size
    }

    /// Whether the object is a raw (uncompressed) page.
    pub fn is_raw(&self) -> bool {
        self.size() == PAGE_SIZE
    }

    /// The first block the object touches.
    pub fn first_block(&self) -> u64 {
        self.addr >> BLOCK_SHIFT
    }

    /// The last block the object touches (the first, or the one after it).
    pub fn last_block(&self) -> u64 {
        // Exact for valid values (invariant); saturating so that no bit pattern
        // panics.
        self.addr
            .saturating_add(u64::from(self.size))
            .saturating_sub(1)
            >> BLOCK_SHIFT
    }

    /// The blocks the object touches: one or two (none for a size-0 value at a
    /// block boundary, which only damaged bits give).
    pub fn blocks(&self) -> core::ops::RangeInclusive<u64> {
        if self.size == 0 {
            #[allow(clippy::reversed_empty_ranges)]
            return 1..=0;
        }
        self.first_block()..=self.last_block()
    }

    /// The object's offset in its first block.
    pub fn offset_in_block(&self) -> usize {
        // Below BLOCK_SIZE, so the cast loses nothing.
        (self.addr & (BLOCK_SIZE as u64 - 1)) as usize
    }
}

/// Objects laid out back to back over a run of consecutive free blocks, as one
/// writeback batch writes them: the next object starts where the last one ended,
/// crossing a block boundary if it must, but never the end of the run, and never
/// making a block touched by more than [`MAX_OBJECTS_PER_BLOCK`] objects.
///
/// [`Run::place`] hands out locations; [`Run::counts`] then gives each block's
/// object count, which [`BlockMap::claim`] records.
#[derive(Debug)]
pub struct Run {
    first: u64,
    blocks: u64,
    /// Bytes of the run used so far.
    used: u64,
    /// Objects touching the block that `used` is in (the open block).
    open_count: u8,
}

impl Run {
    /// An empty run of `blocks` blocks from block `first`. `None` if it would end
    /// beyond `u64` byte addresses.
    pub fn new(first: u64, blocks: u64) -> Option<Run> {
        let end = first.checked_add(blocks)?;
        end.checked_mul(BLOCK_SIZE as u64)?;
        Some(Run {
            first,
            blocks,
            used: 0,
            open_count: 0,
        })
    }

    /// The run's first block.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The run's length in blocks.
    pub fn len(&self) -> u64 {
        self.blocks
    }

    /// Whether the run has no blocks.
    pub fn is_empty(&self) -> bool {
        self.blocks == 0
    }

    /// Bytes placed so far, including the tails skipped to keep counts in range.
    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    /// Blocks touched so far (what a write of the run must cover).
    pub fn used_blocks(&self) -> u64 {
        self.used.div_ceil(BLOCK_SIZE as u64)
    }

    /// Places an object of `size` bytes; `None` if it does not fit in what is left
    /// of the run (or `size` is out of range).
    pub fn place(&mut self, size: usize) -> Option<BackRef> {
        let cap = self.blocks.checked_mul(BLOCK_SIZE as u64)?;
        let mut start = self.used;
        let mut open = self.open_count;
        if open == MAX_OBJECTS_PER_BLOCK {
            // The open block is full by count: start at the next block.
            start = start
                .div_ceil(BLOCK_SIZE as u64)
                .checked_mul(BLOCK_SIZE as u64)?;
            open = 0;
        }
        let size64 = u64::try_from(size).ok()?;
        let end = start.checked_add(size64)?;
        if size == 0 || size > PAGE_SIZE || end > cap {
            return None;
        }
        let base = self.first.checked_mul(BLOCK_SIZE as u64)?;
        let r = BackRef::new(base.checked_add(start)?, size)?;
        // Counts of the blocks the object touches: the open one gets one more; a
        // block it runs into starts with this object. The block `end` is in is the
        // new open block (when `end` is a block boundary, nothing touches it yet).
        let first = start >> BLOCK_SHIFT;
        let last_touched = (end - 1) >> BLOCK_SHIFT;
        let next_open = end >> BLOCK_SHIFT;
        self.open_count = if next_open > last_touched {
            0
        } else if last_touched > first {
            1
        } else {
            open + 1
        };
        self.used = end;
        Some(r)
    }

    /// Each touched block's object count, in order: `f(block, count)` for every
    /// block of the run that some object touches. Recomputed from `objects` (the
    /// locations the caller kept), so the counts are those of what will really be
    /// written. `State` (and no call of `f`) if some block would be touched by more
    /// than [`MAX_OBJECTS_PER_BLOCK`] objects, which [`Run::place`] never does.
    pub fn counts<'o>(
        &self,
        objects: impl Iterator<Item = &'o BackRef> + Clone,
        mut f: impl FnMut(u64, u8),
    ) -> Result<(), BlockError> {
        let blocks = self.first..self.first.saturating_add(self.used_blocks());
        let count = |b: u64| objects.clone().filter(|o| o.blocks().contains(&b)).count();
        if blocks
            .clone()
            .any(|b| count(b) > usize::from(MAX_OBJECTS_PER_BLOCK))
        {
            return Err(BlockError::State);
        }
        for b in blocks {
            if let Ok(n @ 1..) = u8::try_from(count(b)) {
                f(b, n);
            }
        }
        Ok(())
    }
}

/// Errors of [`BlockMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The block number is beyond the map.
    OutOfRange,
    /// The block is already in use (claim) or already free (release): an
    /// accounting error, reported and never wrapped.
    State,
}

/// The backing device's blocks and their live object counts (see the module
/// documentation). Claims come from one writer at a time (the device's writeback);
/// releases come from anywhere, concurrently, lock-free.
pub struct BlockMap<S> {
    live: S,
    used: AtomicU64,
    cursor: AtomicUsize,
}

impl<S: core::ops::Deref<Target = [AtomicU8]>> BlockMap<S> {
    /// A map over `live`, one byte per block, all zero (free): a slice in tests, a
    /// kernel vector in the driver.
    pub fn new(live: S) -> Self {
        BlockMap {
            live,
            used: AtomicU64::new(0),
            cursor: AtomicUsize::new(0),
        }
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether the map has no blocks.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Blocks in use.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Live objects touching `block` (0: free).
    pub fn live(&self, block: u64) -> Option<u8> {
        Some(self.cell(block)?.load(Ordering::Relaxed))
    }

    fn cell(&self, block: u64) -> Option<&AtomicU8> {
        self.live.get(usize::try_from(block).ok()?)
    }

    /// The longest run of free blocks, of at most `want` blocks, found first from
    /// the cursor on (wrapping once); `None` if every block is used. The cursor moves
    /// past the run. Nothing is claimed: only the one writer claims, so the run stays
    /// free until it does.
    pub fn find_free_run(&self, want: u64) -> Option<Run> {
        let n = self.live.len();
        if n == 0 || want == 0 {
            return None;
        }
        let start = self.cursor.load(Ordering::Relaxed) % n;
        let mut i = 0;
        while i < n {
            let b = (start + i) % n;
            if self.live.get(b)?.load(Ordering::Relaxed) == 0 {
                // Extend the run forward, without wrapping past the end.
                let mut len = 1u64;
                while len < want {
                    let next = b.checked_add(usize::try_from(len).ok()?)?;
                    match self.live.get(next) {
                        Some(c) if c.load(Ordering::Relaxed) == 0 => len += 1,
                        _ => break,
                    }
                }
                let end = b.checked_add(usize::try_from(len).ok()?)?;
                self.cursor.store(end % n, Ordering::Relaxed);
                return Run::new(b as u64, len);
            }
            i += 1;
        }
        None
    }

    /// Marks `block` used by `count` (>= 1) objects. `State` if it is not free.
    pub fn claim(&self, block: u64, count: u8) -> Result<(), BlockError> {
        let c = self.cell(block).ok_or(BlockError::OutOfRange)?;
        if count == 0 {
            return Err(BlockError::State);
        }
        c.compare_exchange(0, count, Ordering::Relaxed, Ordering::Relaxed)
            .map_err(|_| BlockError::State)?;
        self.used.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// One object touching `block` is gone. `Ok(true)` if that freed the block.
    /// Never sleeps, never wraps: releasing a free block is `State`.
    pub fn release(&self, block: u64) -> Result<bool, BlockError> {
        let c = self.cell(block).ok_or(BlockError::OutOfRange)?;
        let old = c
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
            .map_err(|_| BlockError::State)?;
        if old == 1 {
            self.used.fetch_sub(1, Ordering::Relaxed);
            return Ok(true);
        }
        Ok(false)
    }

    /// Releases every block `r` touches. How many blocks that freed.
    pub fn release_object(&self, r: &BackRef) -> Result<u64, BlockError> {
        let mut freed = 0;
        let mut err = None;
        for b in r.blocks() {
            match self.release(b) {
                Ok(true) => freed += 1,
                Ok(false) => {}
                // Go on with the other block: one bad count must not leak another.
                Err(e) => err = Some(e),
            }
        }
        match err {
            Some(e) => Err(e),
            None => Ok(freed),
        }
    }
}

/// Live bytes per backing block, for compacting the backing device: a pass over
/// the written-back objects fills it ([`LiveBytes::add`]); objects all of whose
/// a block is less than half full are worth moving ([`LiveBytes::sparse`]),
/// packed into fresh blocks, when that frees enough ([`LiveBytes::plan`]).
pub struct LiveBytes<S> {
    live: S,
}

/// What compacting the backing device would do: the blocks that moving every
/// sparse object frees, and the blocks those objects take packed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactPlan {
    /// Objects to move.
    pub objects: u64,
    /// Blocks freed once they are moved.
    pub frees: u64,
    /// Blocks they take, packed.
    pub needs: u64,
}

impl CompactPlan {
    /// Whether moving is worth its writes: it frees at least a batch's worth of
    /// blocks (`min_gain`) and at least twice the blocks it writes.
    pub fn worth(&self, min_gain: u64) -> bool {
        let gain = self.frees.saturating_sub(self.needs);
        gain >= min_gain.max(1) && self.frees >= self.needs.saturating_mul(2)
    }
}

impl<S: core::ops::DerefMut<Target = [u16]>> LiveBytes<S> {
    /// Over `live`, one counter per block, all zero.
    pub fn new(live: S) -> Self {
        LiveBytes { live }
    }

    /// Counts object `r`'s bytes in each block it touches. `false` if `r` lies
    /// beyond the map (nothing counted).
    pub fn add(&mut self, r: &BackRef) -> bool {
        let last = usize::try_from(r.last_block()).ok();
        if last.map_or(true, |l| l >= self.live.len()) {
            return false;
        }
        let (mut at, end) = (r.addr(), r.addr().saturating_add(r.size() as u64));
        for b in r.blocks() {
            let block_end = b.saturating_add(1).saturating_mul(BLOCK_SIZE as u64);
            let n = block_end.min(end).saturating_sub(at);
            if let Some(c) = usize::try_from(b).ok().and_then(|b| self.live.get_mut(b)) {
                // At most BLOCK_SIZE per block: objects never overlap.
                *c = c.saturating_add(u16::try_from(n).unwrap_or(u16::MAX));
            }
            at = block_end;
        }
        true
    }

    /// Whether some block `r` touches is less than half full: moving every such
    /// object empties exactly the blocks that are.
    pub fn sparse(&self, r: &BackRef) -> bool {
        r.blocks().any(|b| {
            usize::try_from(b)
                .ok()
                .and_then(|b| self.live.get(b))
                .is_some_and(|&n| usize::from(n) < BLOCK_SIZE / 2)
        })
    }

    /// The plan for `objects`, the written-back objects (the same ones given to
    /// `add`): which are sparse, what moving them frees and takes.
    pub fn plan(&self, objects: impl Iterator<Item = BackRef>) -> CompactPlan {
        let mut p = CompactPlan::default();
        let mut bytes = 0u64;
        for r in objects.filter(|r| self.sparse(r)) {
            p.objects += 1;
            bytes = bytes.saturating_add(r.size() as u64);
        }
        // Every object touching a sparse block moves, so each sparse block is
        // freed (the fuller blocks some of them straddle into keep their others).
        p.frees = self
            .live
            .iter()
            .filter(|&&n| n > 0 && usize::from(n) < BLOCK_SIZE / 2)
            .count() as u64;
        p.needs = bytes.div_ceil(BLOCK_SIZE as u64);
        p
    }
}

/// Number of distinct ages: a stamp is one byte.
pub const AGES: usize = 256;

/// The oldest age kept exactly; older stamps are clamped to it ([`Clock::clamp`]),
/// so that ages never wrap as long as the epoch advances at most
/// `AGES - 1 - MAX_AGE` times between two clamping scans of the table.
pub const MAX_AGE: u8 = 192;

/// The access clock: a one-byte epoch that the device advances (on a timer, and
/// when idle pages are marked). A slot's stamp is the epoch of its last access; its
/// age is how many epochs ago that was.
#[derive(Debug, Default)]
pub struct Clock {
    epoch: AtomicU8,
}

impl Clock {
    /// A clock at epoch 0.
    pub const fn new() -> Self {
        Clock {
            epoch: AtomicU8::new(0),
        }
    }

    /// The current epoch: what an access stamps.
    #[inline]
    pub fn now(&self) -> u8 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Moves to the next epoch and returns it.
    pub fn tick(&self) -> u8 {
        self.epoch.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }

    /// The age of `stamp` now.
    pub fn age(&self, stamp: u8) -> u8 {
        age(self.now(), stamp)
    }

    /// Records an access in `stamp`. A plain relaxed store: racing a clamp, the
    /// later write wins, and either value is a valid stamp.
    #[inline]
    pub fn touch(&self, stamp: &AtomicU8) {
        let now = self.now();
        // Skip the store when it would change nothing: no cache line is dirtied
        // for pages read again within an epoch.
        if stamp.load(Ordering::Relaxed) != now {
            stamp.store(now, Ordering::Relaxed);
        }
    }

    /// Clamps `stamp` to [`MAX_AGE`] if it is older, and returns its age. An access
    /// racing the clamp wins (compare-and-swap).
    pub fn clamp(&self, stamp: &AtomicU8) -> u8 {
        let now = self.now();
        let s = stamp.load(Ordering::Relaxed);
        let a = age(now, s);
        if a <= MAX_AGE {
            return a;
        }
        let oldest = now.wrapping_sub(MAX_AGE);
        match stamp.compare_exchange(s, oldest, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => MAX_AGE,
            Err(fresh) => age(now, fresh),
        }
    }
}

/// The age of `stamp` at epoch `now`.
pub fn age(now: u8, stamp: u8) -> u8 {
    now.wrapping_sub(stamp)
}

/// Choosing the coldest pages: `weight[a]` is what writing back every candidate of
/// age `a` would free (pages, or bytes). Returns the youngest age `t` such that the
/// candidates of age `t` or older weigh at least `target`, i.e. writing back
/// exactly the pages at least `t` old frees enough while taking the oldest first;
/// with `min_age`, never younger than it. `None` when even every candidate of at
/// least `min_age` is not enough: the caller then takes all of those.
pub fn cold_threshold(weight: &[u64; AGES], target: u64, min_age: u8) -> Option<u8> {
    let mut sum: u64 = 0;
    let mut a = AGES;
    while a > usize::from(min_age) {
        a -= 1;
        sum = sum.saturating_add(*weight.get(a)?);
        if sum >= target {
            return u8::try_from(a).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    fn obj(addr: u64, size: usize) -> BackRef {
        BackRef::new(addr, size).unwrap()
    }

    #[test]
    fn live_bytes_split_an_object_across_its_blocks() {
        let mut cells = [0u16; 4];
        let mut lb = LiveBytes::new(&mut cells[..]);
        assert!(lb.add(&obj(3000, 2000))); // 1096 in block 0, 904 in block 1
        assert!(lb.add(&obj(4096 + 904, 4096))); // the rest of block 1, 904 of block 2
        assert!(!lb.add(&obj(4 * 4096 - 10, 20)), "beyond the map: refused");
        assert_eq!(cells, [1096, 4096, 904, 0]);
    }

    #[test]
    fn plan_moves_the_objects_of_sparse_blocks_and_frees_those_blocks() {
        // Blocks 0..8 each keep one 1 KiB object of four (the others freed);
        // block 8 is full (four 1 KiB objects).
        let mut objs = std::vec::Vec::new();
        for b in 0..8u64 {
            objs.push(obj(b * 4096, 1024));
        }
        for k in 0..4u64 {
            objs.push(obj(8 * 4096 + k * 1024, 1024));
        }
        let mut cells = [0u16; 16];
        let mut lb = LiveBytes::new(&mut cells[..]);
        for r in &objs {
            lb.add(r);
        }
        let p = lb.plan(objs.iter().copied());
        assert_eq!(
            p,
            CompactPlan {
                objects: 8,
                frees: 8,
                needs: 2
            }
        );
        assert!(p.worth(4));
        assert!(!p.worth(7), "a gain of 6 is below a minimum of 7");
        assert!(
            !objs[8..].iter().any(|r| lb.sparse(r)),
            "the full block stays"
        );
    }

    #[test]
    fn an_object_straddling_into_a_full_block_moves_with_its_sparse_block() {
        // Block 0: a 1000-byte object, then the first 500 bytes of one that goes
        // on into block 1 (1500 live bytes: sparse); block 1 full.
        let objs = [obj(0, 1000), obj(4096 - 500, 4096), obj(4096 + 3596, 500)];
        let mut cells = [0u16; 4];
        let mut lb = LiveBytes::new(&mut cells[..]);
        objs.iter().for_each(|r| {
            lb.add(r);
        });
        let p = lb.plan(objs.iter().copied());
        assert_eq!(
            p,
            CompactPlan {
                objects: 2,
                frees: 1,
                needs: 2
            }
        );
        assert_eq!(cells[..2], [1500, 4096]);
        assert!(
            !p.worth(1),
            "freeing one block by writing two is not worth it"
        );
    }

    #[test]
    fn half_full_is_not_sparse() {
        let mut cells = [0u16; 1];
        let mut lb = LiveBytes::new(&mut cells[..]);
        let r = obj(0, 2048);
        lb.add(&r);
        assert!(!lb.sparse(&r));
    }

    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn map(n: usize) -> Vec<AtomicU8> {
        (0..n).map(|_| AtomicU8::new(0)).collect()
    }

    #[test]
    fn metadata_budget() {
        assert_eq!(METADATA_BYTES_PER_PAGE, 12);
    }

    #[test]
    fn backref_bounds_and_blocks() {
        assert_eq!(BackRef::new(0, 0), None);
        assert_eq!(BackRef::new(0, PAGE_SIZE + 1), None);
        assert_eq!(BackRef::new(u64::MAX, 1), None);
        assert!(BackRef::new(u64::MAX - 1, 1).is_some());
        let r = BackRef::new(4096 * 7 + 100, 200).unwrap();
        assert_eq!(
            (r.first_block(), r.last_block(), r.offset_in_block()),
            (7, 7, 100)
        );
        let r = BackRef::new(4096 * 7 + 4000, 200).unwrap();
        assert_eq!((r.first_block(), r.last_block()), (7, 8));
        assert_eq!(r.blocks().count(), 2);
        let r = BackRef::new(4096 * 7 + 3896, 200).unwrap();
        assert_eq!(
            (r.first_block(), r.last_block()),
            (7, 7),
            "ends exactly at the boundary"
        );
        let raw = BackRef::new(4096 * 3, PAGE_SIZE).unwrap();
        assert!(raw.is_raw());
        assert_eq!(raw.blocks(), 3..=3);
        let raw = BackRef::new(4096 * 3 + 1, PAGE_SIZE).unwrap();
        assert_eq!(raw.blocks(), 3..=4);
        // Bits no valid value has (a damaged slot) touch no block and never panic.
        for (a, s) in [(5, 0), (0, 0), (u64::MAX, 4096), (u64::MAX, u16::MAX)] {
            let r = BackRef::from_raw(a, s);
            let _ = (
                r.first_block(),
                r.last_block(),
                r.offset_in_block(),
                r.is_raw(),
            );
            if s == 0 {
                assert_eq!(r.blocks().count(), 0);
            }
        }
    }

    #[test]
    fn run_packs_back_to_back_and_stops_at_its_end() {
        let mut run = Run::new(10, 2).unwrap();
        let a = run.place(3000).unwrap();
        let b = run.place(3000).unwrap();
        assert_eq!(a.addr(), 10 * 4096);
        assert_eq!(b.addr(), 10 * 4096 + 3000, "straddles blocks 10 and 11");
        assert_eq!(b.blocks(), 10..=11);
        assert_eq!(run.place(2193), None, "past the end of the run");
        let c = run.place(2192).unwrap();
        assert_eq!(c.addr() + 2192, 12 * 4096);
        assert_eq!(run.used_blocks(), 2);
        assert_eq!(run.place(1), None);
        assert_eq!(run.place(0), None);
        let mut counts = Vec::new();
        run.counts([a, b, c].iter(), |blk, n| counts.push((blk, n)))
            .unwrap();
        assert_eq!(counts, [(10, 2), (11, 2)]);
    }

    #[test]
    fn run_never_puts_more_than_255_objects_on_a_block() {
        let mut run = Run::new(0, 4).unwrap();
        let mut placed = Vec::new();
        // 1-byte objects: 255 fit in block 0, then the run moves to block 1.
        for _ in 0..600 {
            placed.push(run.place(1).unwrap());
        }
        assert_eq!(placed[254].addr(), 254);
        assert_eq!(placed[255].addr(), 4096);
        assert_eq!(placed[510].addr(), 8192);
        let mut counts = Vec::new();
        run.counts(placed.iter(), |blk, n| counts.push((blk, n)))
            .unwrap();
        assert_eq!(counts, [(0, 255), (1, 255), (2, 90)]);
        // A straddling object counts once on the block it runs into: after it, 254
        // more fit there.
        let mut run = Run::new(0, 3).unwrap();
        let mut placed = std::vec![run.place(4000).unwrap(), run.place(200).unwrap()];
        for _ in 0..300 {
            placed.push(run.place(1).unwrap());
        }
        assert_eq!(placed[1].blocks(), 0..=1);
        assert_eq!(placed[2 + 253].addr(), 4200 + 253);
        assert_eq!(placed[2 + 254].addr(), 8192);
        let mut counts = Vec::new();
        run.counts(placed.iter(), |blk, n| counts.push((blk, n)))
            .unwrap();
        assert_eq!(counts, [(0, 2), (1, 255), (2, 46)]);
        // 256 objects said to sit on one block: refused, nothing reported.
        let many: Vec<BackRef> = (0..256).map(|i| BackRef::new(i, 1).unwrap()).collect();
        let run = Run {
            first: 0,
            blocks: 1,
            used: 256,
            open_count: 0,
        };
        let mut called = false;
        assert_eq!(
            run.counts(many.iter(), |_, _| called = true),
            Err(BlockError::State)
        );
        assert!(!called);
    }

    fn arb_sizes() -> impl Strategy<Value = Vec<usize>> {
        proptest::collection::vec(
            prop_oneof![4 => 1usize..24, 1 => 24usize..=PAGE_SIZE, 1 => Just(PAGE_SIZE)],
            0..400,
        )
    }

    proptest! {
        /// Objects placed in a run never overlap, never leave it, are contiguous
        /// (waste only where a block's count was full), and every block's count is
        /// the number of objects touching it, at most 255.
        #[test]
        fn run_layout_is_sound(first in 0u64..1000, blocks in 0u64..40, sizes in arb_sizes()) {
            let mut run = Run::new(first, blocks).unwrap();
            let mut placed: Vec<BackRef> = Vec::new();
            for s in sizes {
                match run.place(s) {
                    Some(r) => {
                        prop_assert_eq!(r.size(), s);
                        prop_assert!(r.first_block() >= first);
                        prop_assert!(r.last_block() < first + blocks);
                        if let Some(p) = placed.last() {
                            let end = p.addr() + p.size() as u64;
                            prop_assert!(r.addr() >= end);
                            if r.addr() > end {
                                // A gap only where the block was full by count.
                                let blk = end >> 12;
                                let n = placed.iter().filter(|o| o.blocks().contains(&blk)).count();
                                prop_assert_eq!(n, 255);
                                prop_assert_eq!(r.addr(), (blk + 1) * 4096);
                            }
                        }
                        placed.push(r);
                    }
                    None => {
                        // Refused only when it really does not fit.
                        let cap = (first + blocks) * 4096;
                        let base = first * 4096 + run.used_bytes();
                        prop_assert!(base + s as u64 > cap || base.div_ceil(4096) * 4096 + s as u64 > cap);
                    }
                }
            }
            let mut total = 0u64;
            run.counts(placed.iter(), |b, n| {
                let real = placed.iter().filter(|o| o.blocks().contains(&b)).count();
                assert_eq!(usize::from(n), real);
                assert!(real <= 255);
                total += 1;
            }).unwrap();
            prop_assert_eq!(total, placed.iter().flat_map(|o| o.blocks()).collect::<std::collections::BTreeSet<_>>().len() as u64);
        }

        /// Claims and releases against a model: a block is free exactly when every
        /// object touching it is released, and `used` counts the blocks in use.
        #[test]
        fn block_map_matches_model(sizes in arb_sizes(), order in proptest::collection::vec(any::<u16>(), 400)) {
            let live = map(64);
            let m = BlockMap::new(&live[..]);
            let mut run = m.find_free_run(64).unwrap();
            let mut placed = Vec::new();
            for s in sizes {
                if let Some(r) = run.place(s) { placed.push(r); }
            }
            let mut claimed = 0;
            run.counts(placed.iter(), |b, n| { m.claim(b, n).unwrap(); claimed += 1; }).unwrap();
            prop_assert_eq!(m.used(), claimed);
            // Release in a random order.
            let mut idx: Vec<usize> = (0..placed.len()).collect();
            for (i, k) in order.iter().enumerate() {
                let n = idx.len(); if n > 1 { idx.swap(i % n, usize::from(*k) % n); }
            }
            let mut gone = std::vec![false; placed.len()];
            for &i in &idx {
                m.release_object(&placed[i]).unwrap();
                gone[i] = true;
                for b in placed[i].blocks() {
                    let want = placed.iter().zip(&gone).filter(|(o, g)| !**g && o.blocks().contains(&b)).count();
                    prop_assert_eq!(usize::from(m.live(b).unwrap()), want);
                }
            }
            prop_assert_eq!(m.used(), 0);
        }
    }

    #[test]
    fn block_map_errors_never_wrap() {
        let live = map(4);
        let m = BlockMap::new(&live[..]);
        assert_eq!(m.release(0), Err(BlockError::State));
        assert_eq!(m.live(0), Some(0));
        assert_eq!(m.claim(4, 1), Err(BlockError::OutOfRange));
        assert_eq!(m.claim(0, 0), Err(BlockError::State));
        m.claim(0, 2).unwrap();
        assert_eq!(m.claim(0, 1), Err(BlockError::State));
        assert_eq!(m.release(0), Ok(false));
        assert_eq!(m.release(0), Ok(true));
        assert_eq!(m.release(0), Err(BlockError::State));
        assert_eq!(m.used(), 0);
        // An object over a good and a bad block releases the good one anyway.
        m.claim(1, 1).unwrap();
        let r = BackRef::new(4096 + 4000, 200).unwrap();
        assert_eq!(m.release_object(&r), Err(BlockError::State));
        assert_eq!(m.live(1), Some(0));
        assert_eq!(m.used(), 0);
    }

    #[test]
    fn free_runs_are_found_from_the_cursor() {
        let live = map(8);
        let m = BlockMap::new(&live[..]);
        let r = m.find_free_run(3).unwrap();
        assert_eq!((r.first(), r.len()), (0, 3));
        for b in 0..3 {
            m.claim(b, 1).unwrap();
        }
        m.claim(4, 1).unwrap();
        let r = m.find_free_run(5).unwrap();
        assert_eq!((r.first(), r.len()), (3, 1), "stops at a used block");
        let r = m.find_free_run(5).unwrap();
        assert_eq!((r.first(), r.len()), (5, 3), "does not wrap within a run");
        m.claim(3, 1).unwrap();
        for b in 5..8 {
            m.claim(b, 1).unwrap();
        }
        assert!(m.find_free_run(1).is_none());
        m.release(1).unwrap();
        let r = m.find_free_run(4).unwrap();
        assert_eq!((r.first(), r.len()), (1, 1), "wraps around to find it");
        assert!(BlockMap::new(&[][..]).find_free_run(1).is_none());
        assert!(m.find_free_run(0).is_none());
    }

    /// Releases from many threads at once (as slot frees arrive) lose no count and
    /// free each block exactly once.
    #[test]
    fn concurrent_releases_free_each_block_once() {
        let live = map(16);
        let m = BlockMap::new(&live[..]);
        for b in 0..16 {
            m.claim(b, 200).unwrap();
        }
        let freed: u64 = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|t| {
                    let m = &m;
                    s.spawn(move || {
                        let mut freed = 0u64;
                        for i in 0..800u64 {
                            if m.release((i * 7 + t) % 16).unwrap() {
                                freed += 1;
                            }
                        }
                        freed
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(freed, 16);
        assert_eq!(m.used(), 0);
        assert!((0..16).all(|b| m.live(b) == Some(0)));
    }

    #[test]
    fn clock_ages_and_clamps() {
        let c = Clock::new();
        let s = AtomicU8::new(0);
        c.touch(&s);
        assert_eq!(c.age(s.load(Ordering::Relaxed)), 0);
        for _ in 0..10 {
            c.tick();
        }
        assert_eq!(c.clamp(&s), 10);
        for _ in 0..190 {
            c.tick();
        }
        assert_eq!(c.age(s.load(Ordering::Relaxed)), 200);
        assert_eq!(c.clamp(&s), MAX_AGE);
        assert_eq!(c.age(s.load(Ordering::Relaxed)), MAX_AGE);
        // Clamped at every scan, a stamp never wraps into looking young.
        for _ in 0..1000 {
            c.tick();
            assert_eq!(c.clamp(&s), MAX_AGE);
        }
        c.touch(&s);
        assert_eq!(c.clamp(&s), 0);
        // Wrapping epochs.
        let c = Clock::new();
        for _ in 0..300 {
            c.tick();
        }
        assert_eq!(c.now(), 44);
        assert_eq!(age(3, 250), 9);
    }

    #[test]
    fn cold_threshold_takes_the_oldest_first() {
        let mut w = [0u64; AGES];
        w[0] = 100;
        w[3] = 10;
        w[50] = 5;
        w[MAX_AGE as usize] = 7;
        assert_eq!(cold_threshold(&w, 7, 0), Some(MAX_AGE));
        assert_eq!(cold_threshold(&w, 8, 0), Some(50));
        assert_eq!(cold_threshold(&w, 12, 0), Some(50));
        assert_eq!(cold_threshold(&w, 13, 0), Some(3));
        assert_eq!(cold_threshold(&w, 122, 0), Some(0));
        assert_eq!(cold_threshold(&w, 123, 0), None);
        assert_eq!(
            cold_threshold(&w, 13, 4),
            None,
            "never younger than min_age"
        );
        assert_eq!(cold_threshold(&w, 0, 0), Some(255));
        w[255] = u64::MAX;
        w[254] = u64::MAX;
        assert_eq!(cold_threshold(&w, u64::MAX, 0), Some(255), "saturates");
    }
}
