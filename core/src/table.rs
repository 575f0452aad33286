// SPDX-License-Identifier: GPL-2.0
//! The per-device slot table: one entry per 4 KiB page of the device.
//!
//! The table works over caller-provided storage (the kernel allocates the two arrays,
//! zeroed, with `kvcalloc`-style allocators; tests use `Vec`s), so this module never
//! allocates. Zeroed storage is a table of [`Entry::Empty`] slots, all unlocked.
//!
//! # Memory cost
//!
//! Each slot costs [`SlotTable::BYTES_PER_SLOT`] = 10 bytes: one 8-byte word in the
//! `words` array plus one 16-bit flag word in the `flags` array (two separate
//! arrays, so neither needs padding). zram spends 16-24 bytes per slot (a handle, a
//! flags-and-size word and, depending on the kernel configuration, an access time).
//! A 4 GiB device (1 Mi pages) thus needs 10 MiB of table.
//!
//! # Encoding
//!
//! The flag word holds:
//!
//! | bit   | name   | meaning                                              |
//! |-------|--------|------------------------------------------------------|
//! | 0     | `LOCK` | the slot is locked (see [`SlotTable::lock`])         |
//! | 1     | `SAME` | the page is same-filled; the word is the fill word   |
//! | 2     | `OBJ`  | the page is stored in an allocator object            |
//! | 1+2   | `BACK` | both: the page is on the backing device ([`tier`])   |
//! | 3     | `MARK` | marked for writeback; any new entry clears it        |
//! | 4..16 | size   | with `OBJ`: the object's size minus 1, 0..=4095      |
//!
//! The word's meaning depends on the flags:
//!
//! * [`Entry::Empty`]: neither `SAME` nor `OBJ`; the word is 0.
//! * [`Entry::Same`]`(w)`: `SAME` set; the word is `w`, all 64 bits.
//! * [`Entry::Object`]: `OBJ` set; the word is the allocator handle, all 64 bits,
//!   and the flag word's size field the object's size (less one: 12 bits hold
//!   1..=4096, and every bit pattern decodes to a valid size).
//! * [`Entry::Backed`]: `SAME` and `OBJ` set; the word is the object's byte
//!   address on the backing device, the size field its size.
//!
//! [`tier`]: crate::tier
//!
//! `MARK` lets writeback copy an object out under the slot lock, write it to the
//! backing device unlocked, and then install the new location only if the slot
//! still holds that very object: [`SlotGuard::set`] clears the mark, so a write or
//! free in between (even one that got the same allocator handle back) is seen.
//!
//! The handle is kept whole: no assumption about the shape of kernel addresses
//! (4- or 5-level paging, arm64's 48/52-bit spaces, pointer tags in the top byte
//! with KASAN's software tags or MTE, 32-bit kernels) can be wrong.
//!
//! # Locking
//!
//! Each slot has its own lock, the `LOCK` bit of its flag byte, taken with an
//! `Acquire` read-modify-write that preserves the other bits and released with a
//! `Release` one when the [`SlotGuard`] drops. Only the lock holder reads or writes
//! the word and the `SAME`/`OBJ` bits, so those are accessed with `Relaxed` ordering:
//! the lock's acquire/release pair orders them between successive holders.
//!
//! The lock is a plain spin lock (waiters spin with [`core::hint::spin_loop`]): it
//! does not disable preemption or interrupts, so the caller chooses the context.
//! Hold a slot only briefly and never sleep while holding it; a slot that can be
//! locked from interrupt context must only be locked with interrupts disabled.

use core::hint::spin_loop;
use core::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use crate::tier::BackRef;
use crate::PAGE_SIZE;

/// Flag bit: the slot is locked.
const LOCK: u16 = 1 << 0;
/// Flag bit: the slot holds a same-filled page; the word is the fill word.
const SAME: u16 = 1 << 1;
/// Flag bit: the slot holds an allocator object; the word is its handle.
const OBJ: u16 = 1 << 2;
/// Both kind bits: the slot's page is on the backing device; the word is its address.
const BACK: u16 = SAME | OBJ;
/// Flag bit: marked for writeback (see the module documentation).
const MARK: u16 = 1 << 3;
/// Where the object's size less one sits in the flag word.
const SIZE_SHIFT: u32 = 4;

// The 12-bit size field holds exactly 0..=PAGE_SIZE - 1.
const _: () = assert!(PAGE_SIZE as u64 == 1 << (16 - SIZE_SHIFT));

/// The size a flag word holds: 1..=PAGE_SIZE, whatever its bits.
fn size_of_flags(flags: u16) -> u16 {
    (flags >> SIZE_SHIFT) + 1
}

/// The size field for `size` (1..=PAGE_SIZE by the callers' invariants).
fn size_field(size: u16) -> u16 {
    size.saturating_sub(1) << SIZE_SHIFT
}

/// A reference to a stored object: the allocator handle and the stored size.
///
/// Only handles that fit the slot encoding can be built (see [`ObjRef::new`] and the
/// module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjRef {
    handle: u64,
    size: u16,
}

impl ObjRef {
    /// Makes a reference to an object of `size` bytes at allocator handle `handle`.
    ///
    /// Returns `None` unless `1 <= size <= PAGE_SIZE`. Any handle is representable.
    pub fn new(handle: u64, size: usize) -> Option<ObjRef> {
        if size == 0 || size > PAGE_SIZE {
            return None;
        }
        let size = u16::try_from(size).ok()?;
        Some(ObjRef { handle, size })
    }

    /// The allocator handle.
    pub fn handle(&self) -> u64 {
        self.handle
    }

    /// The stored size in bytes, `1..=PAGE_SIZE`.
    pub fn size(&self) -> usize {
        usize::from(self.size)
    }

    /// Whether the object holds the page uncompressed (its size is a whole page).
    pub fn is_raw(&self) -> bool {
        self.size() == PAGE_SIZE
    }
}

/// What one slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Nothing: the page was never written, or was discarded/freed.
    Empty,
    /// A same-filled page: every 64-bit word of the page is this value.
    Same(u64),
    /// A page stored in an allocator object.
    Object(ObjRef),
    /// A page written back to the backing device.
    Backed(BackRef),
}

impl Entry {
    /// Decodes a flag byte and word.
    #[inline]
    fn decode(flags: u16, word: u64) -> Entry {
        if flags & BACK == BACK {
            // Only `encode` writes these bits, from a valid `BackRef`. Decoding is
            // total anyway: `BackRef`'s methods never panic, whatever the bits.
            return Entry::Backed(BackRef::from_raw(word, size_of_flags(flags)));
        }
        if flags & OBJ != 0 {
            Entry::Object(ObjRef {
                handle: word,
                size: size_of_flags(flags),
            })
        } else if flags & SAME != 0 {
            Entry::Same(word)
        } else {
            Entry::Empty
        }
    }

    /// Encodes into the kind flag bits and the word.
    #[inline]
    fn encode(self) -> (u16, u64) {
        match self {
            Entry::Empty => (0, 0),
            Entry::Same(w) => (SAME, w),
            // `1 <= size <= PAGE_SIZE` (`ObjRef::new`, `BackRef::new`), so the
            // field loses nothing.
            Entry::Object(o) => (OBJ | size_field(o.size), o.handle),
            Entry::Backed(b) => (BACK | size_field(b.size16()), b.addr()),
        }
    }
}

/// The slot table over caller-provided arrays (see the module documentation).
///
/// A `SlotTable` is just the two slices: it is cheap to copy, or to rebuild from
/// the storage with [`SlotTable::new`] wherever it is needed.
#[derive(Clone, Copy)]
pub struct SlotTable<'a> {
    words: &'a [AtomicU64],
    flags: &'a [AtomicU16],
}

impl<'a> SlotTable<'a> {
    /// Memory per slot: an 8-byte word plus a 16-bit flag word.
    pub const BYTES_PER_SLOT: usize = 10;

    /// Makes a table over `words` and `flags`, one element of each per slot.
    ///
    /// The storage should start zeroed (all slots empty and unlocked). Returns `None`
    /// if the two arrays differ in length.
    pub fn new(words: &'a [AtomicU64], flags: &'a [AtomicU16]) -> Option<Self> {
        (words.len() == flags.len()).then_some(SlotTable { words, flags })
    }

    /// The number of slots.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the table has no slots.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Locks slot `index`, spinning until it is free.
    ///
    /// Returns `None` if `index` is out of range. Never lock a second slot while
    /// holding one unless every caller locks in the same (ascending) order.
    #[inline]
    pub fn lock(&self, index: usize) -> Option<SlotGuard<'a>> {
        let (word, flags) = self.slot(index)?;
        let mut cur = flags.load(Ordering::Relaxed);
        loop {
            if cur & LOCK != 0 {
                spin_loop();
                cur = flags.load(Ordering::Relaxed);
                continue;
            }
            match flags.compare_exchange_weak(cur, cur | LOCK, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Some(SlotGuard { word, flags, index }),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Locks slot `index` if it is free.
    ///
    /// Returns `None` if `index` is out of range or the slot is already locked.
    #[inline]
    pub fn try_lock(&self, index: usize) -> Option<SlotGuard<'a>> {
        let (word, flags) = self.slot(index)?;
        if flags.fetch_or(LOCK, Ordering::Acquire) & LOCK != 0 {
            // Held by someone else. (No guard may be built here, not even one that is
            // then discarded: dropping it would release their lock.)
            return None;
        }
        Some(SlotGuard { word, flags, index })
    }

    #[inline]
    fn slot(&self, index: usize) -> Option<(&'a AtomicU64, &'a AtomicU16)> {
        Some((self.words.get(index)?, self.flags.get(index)?))
    }
}

/// A locked slot. The lock is released when the guard drops.
#[must_use = "the slot is unlocked again as soon as the guard is dropped"]
pub struct SlotGuard<'a> {
    word: &'a AtomicU64,
    flags: &'a AtomicU16,
    index: usize,
}

impl SlotGuard<'_> {
    /// What the slot holds.
    #[inline]
    pub fn get(&self) -> Entry {
        Entry::decode(
            self.flags.load(Ordering::Relaxed),
            self.word.load(Ordering::Relaxed),
        )
    }

    /// Stores `e` and returns the previous entry (whose object, if any, the caller
    /// now owns and must free).
    #[inline]
    pub fn set(&mut self, e: Entry) -> Entry {
        let old = self.get();
        let (kind, word) = e.encode();
        self.word.store(word, Ordering::Relaxed);
        // Other threads may only set LOCK (already set) while we hold the slot, so a
        // plain store of our kind bits plus LOCK loses nothing.
        self.flags.store(kind | LOCK, Ordering::Relaxed);
        old
    }

    /// Marks the slot for writeback. The mark stays until the next [`set`].
    ///
    /// [`set`]: SlotGuard::set
    #[inline]
    pub fn mark(&mut self) {
        let f = self.flags.load(Ordering::Relaxed);
        // As in `set`: only LOCK (already set) may change under us.
        self.flags.store(f | MARK, Ordering::Relaxed);
    }

    /// Whether the slot is marked: no [`set`] since the last [`mark`].
    ///
    /// [`set`]: SlotGuard::set
    /// [`mark`]: SlotGuard::mark
    pub fn is_marked(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & MARK != 0
    }

    /// Empties the slot and returns what it held (`set(Entry::Empty)`).
    pub fn take(&mut self) -> Entry {
        self.set(Entry::Empty)
    }

    /// The slot's index in its table.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.flags.fetch_and(!LOCK, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::vec::Vec;

    struct Storage {
        words: Vec<AtomicU64>,
        flags: Vec<AtomicU16>,
    }

    impl Storage {
        fn new(n: usize) -> Self {
            Storage {
                words: (0..n).map(|_| AtomicU64::new(0)).collect(),
                flags: (0..n).map(|_| AtomicU16::new(0)).collect(),
            }
        }

        fn table(&self) -> SlotTable<'_> {
            SlotTable::new(&self.words, &self.flags).unwrap()
        }
    }

    const UPPER: u64 = 0xffff_8880_1234_5678 & !7;
    const LOWER: u64 = 0x0000_7fff_ffff_fff8;

    #[test]
    fn lengths_must_match() {
        let w = [AtomicU64::new(0), AtomicU64::new(0)];
        let f = [AtomicU16::new(0)];
        assert!(SlotTable::new(&w, &f).is_none());
        assert!(SlotTable::new(&w[..1], &f).is_some());
        let t = SlotTable::new(&[], &[]).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert!(t.lock(0).is_none());
    }

    #[test]
    fn bytes_per_slot_matches_storage() {
        assert_eq!(
            SlotTable::BYTES_PER_SLOT,
            core::mem::size_of::<AtomicU64>() + core::mem::size_of::<AtomicU16>()
        );
    }

    #[test]
    fn every_entry_kind_round_trips() {
        let s = Storage::new(3);
        let t = s.table();
        assert_eq!(t.len(), 3);
        let handles = [
            UPPER,
            LOWER,
            0,
            8,
            0xffff_8000_0000_0000,
            0xffff_ffff_ffff_fff8,
            0x0000_4000_0000_0000,
        ];
        let mut entries = std::vec![Entry::Empty, Entry::Same(0), Entry::Same(u64::MAX)];
        entries.push(Entry::Same(0xdead_beef_0123_4567));
        for h in handles {
            for size in [1, 2, 100, PAGE_SIZE * 3 / 4, PAGE_SIZE - 1, PAGE_SIZE] {
                entries.push(Entry::Object(ObjRef::new(h, size).unwrap()));
            }
        }
        for a in [0, 1, 4095, 4096 * 1000 + 17, u64::MAX - PAGE_SIZE as u64] {
            for size in [1, 2000, PAGE_SIZE] {
                entries.push(Entry::Backed(BackRef::new(a, size).unwrap()));
            }
        }
        for (i, e) in entries.iter().enumerate() {
            let mut g = t.lock(i % 3).unwrap();
            assert_eq!(g.index(), i % 3);
            g.set(*e);
            assert_eq!(g.get(), *e);
            drop(g);
            // Unlocked with the entry intact.
            let g = t.try_lock(i % 3).unwrap();
            assert_eq!(g.get(), *e);
            if let Entry::Object(o) = e {
                let Entry::Object(back) = g.get() else {
                    panic!()
                };
                assert_eq!(back.handle(), o.handle());
                assert_eq!(back.size(), o.size());
            }
        }
    }

    #[test]
    fn encoding_is_as_documented() {
        let s = Storage::new(1);
        let t = s.table();
        let mut g = t.lock(0).unwrap();
        g.set(Entry::Object(ObjRef::new(UPPER, PAGE_SIZE).unwrap()));
        assert_eq!(
            s.flags[0].load(Ordering::Relaxed),
            OBJ | LOCK | ((PAGE_SIZE as u16 - 1) << 4)
        );
        assert_eq!(s.words[0].load(Ordering::Relaxed), UPPER);
        g.set(Entry::Object(ObjRef::new(UPPER, 0x3ff).unwrap()));
        assert_eq!(
            s.flags[0].load(Ordering::Relaxed),
            OBJ | LOCK | (0x3fe << 4)
        );
        g.set(Entry::Backed(BackRef::new(0x1234_5678, 0x3ff).unwrap()));
        assert_eq!(
            s.flags[0].load(Ordering::Relaxed),
            SAME | OBJ | LOCK | (0x3fe << 4)
        );
        assert_eq!(s.words[0].load(Ordering::Relaxed), 0x1234_5678);
        g.set(Entry::Same(42));
        assert_eq!(s.flags[0].load(Ordering::Relaxed), SAME | LOCK);
        assert_eq!(s.words[0].load(Ordering::Relaxed), 42);
        assert_eq!(g.take(), Entry::Same(42));
        assert_eq!(s.flags[0].load(Ordering::Relaxed), LOCK);
        assert_eq!(s.words[0].load(Ordering::Relaxed), 0);
        drop(g);
        assert_eq!(s.flags[0].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_mark_survives_reads_and_unlocks_but_not_a_set() {
        let s = Storage::new(1);
        let t = s.table();
        let o = Entry::Object(ObjRef::new(UPPER, 1234).unwrap());
        let mut g = t.lock(0).unwrap();
        g.set(o);
        assert!(!g.is_marked());
        g.mark();
        assert!(g.is_marked());
        assert_eq!(g.get(), o, "the mark changes no entry");
        drop(g);
        let mut g = t.lock(0).unwrap();
        assert!(g.is_marked());
        // The same entry stored again (the same handle reused): the mark is gone.
        g.set(o);
        assert!(!g.is_marked());
        g.mark();
        g.take();
        assert!(!g.is_marked());
        drop(g);
        assert_eq!(s.flags[0].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn every_flag_word_decodes_to_a_valid_entry() {
        for f in 0..=u16::MAX {
            match Entry::decode(f, u64::MAX) {
                Entry::Object(o) => assert!((1..=PAGE_SIZE).contains(&o.size())),
                Entry::Backed(b) => {
                    assert!((1..=PAGE_SIZE).contains(&b.size()));
                    let _ = (b.blocks(), b.offset_in_block());
                }
                Entry::Empty | Entry::Same(_) => {}
            }
        }
    }

    #[test]
    fn every_handle_round_trips() {
        // Whatever the architecture makes of kernel addresses: 4- and 5-level x86-64,
        // arm64 with a pointer tag in the top byte (KASAN_SW_TAGS, MTE), 32-bit
        // values, odd values.
        let s = Storage::new(1);
        let t = s.table();
        for h in [
            0,
            1,
            7,
            0xffff_8880_0304_7000,
            0xff11_0000_0304_7000,
            0xf2ff_0000_1234_5670,
            0x0100_0000_0000_0000,
            0x8000_0000_0000_0000,
            0x7fff_ffff_ffff_ffff,
            u64::MAX,
            0xc123_4568,
        ] {
            for size in [1, 1234, PAGE_SIZE] {
                let o = ObjRef::new(h, size).unwrap();
                let mut g = t.lock(0).unwrap();
                g.set(Entry::Object(o));
                drop(g);
                assert_eq!(t.lock(0).unwrap().get(), Entry::Object(o), "{h:#x}");
            }
        }
    }

    #[test]
    fn size_bounds() {
        assert_eq!(ObjRef::new(UPPER, 0), None);
        assert_eq!(ObjRef::new(UPPER, PAGE_SIZE + 1), None);
        assert_eq!(ObjRef::new(UPPER, usize::MAX), None);
        assert_eq!(ObjRef::new(UPPER, 65536), None);
        let min = ObjRef::new(UPPER, 1).unwrap();
        assert_eq!(min.size(), 1);
        assert!(!min.is_raw());
        let raw = ObjRef::new(LOWER, PAGE_SIZE).unwrap();
        assert_eq!(raw.size(), PAGE_SIZE);
        assert!(raw.is_raw());
        assert_eq!(raw.handle(), LOWER);
    }

    #[test]
    fn lock_excludes_and_out_of_range_is_none() {
        let s = Storage::new(2);
        let t = s.table();
        assert!(t.lock(2).is_none());
        assert!(t.try_lock(2).is_none());
        assert!(t.try_lock(usize::MAX).is_none());
        let mut g = t.lock(0).unwrap();
        g.set(Entry::Same(7));
        assert!(t.try_lock(0).is_none());
        // A failed try_lock must neither release the holder's lock nor disturb its
        // bits.
        assert_eq!(s.flags[0].load(Ordering::Relaxed), SAME | LOCK);
        assert!(t.try_lock(0).is_none());
        assert_eq!(g.get(), Entry::Same(7));
        let other = t.try_lock(1).unwrap();
        assert_eq!(other.get(), Entry::Empty);
        drop(g);
        assert_eq!(t.lock(0).unwrap().get(), Entry::Same(7));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Set(usize, Entry),
        Take(usize),
        Get(usize),
    }

    fn handle_strategy() -> impl Strategy<Value = u64> {
        any::<u64>()
    }

    fn entry_strategy() -> impl Strategy<Value = Entry> {
        prop_oneof![
            Just(Entry::Empty),
            any::<u64>().prop_map(Entry::Same),
            (handle_strategy(), 1usize..=PAGE_SIZE)
                .prop_map(|(h, s)| Entry::Object(ObjRef::new(h, s).unwrap())),
            (0u64..u64::MAX / 2, 1usize..=PAGE_SIZE)
                .prop_map(|(a, s)| Entry::Backed(BackRef::new(a, s).unwrap())),
        ]
    }

    const MODEL_SLOTS: usize = 5;

    fn op_strategy() -> impl Strategy<Value = Op> {
        // Indices go one past the end to exercise the out-of-range path.
        prop_oneof![
            (0..=MODEL_SLOTS, entry_strategy()).prop_map(|(i, e)| Op::Set(i, e)),
            (0..=MODEL_SLOTS).prop_map(Op::Take),
            (0..=MODEL_SLOTS).prop_map(Op::Get),
        ]
    }

    proptest! {
        #[test]
        fn table_matches_model(ops in proptest::collection::vec(op_strategy(), 0..200)) {
            let s = Storage::new(MODEL_SLOTS);
            let t = s.table();
            let mut model = [Entry::Empty; MODEL_SLOTS];
            for op in ops {
                match op {
                    Op::Set(i, e) => match t.lock(i) {
                        Some(mut g) => {
                            let old = g.set(e);
                            prop_assert_eq!(old, core::mem::replace(&mut model[i], e));
                        }
                        None => prop_assert!(i >= MODEL_SLOTS),
                    },
                    Op::Take(i) => match t.try_lock(i) {
                        Some(mut g) => {
                            prop_assert_eq!(g.take(), core::mem::replace(&mut model[i], Entry::Empty));
                        }
                        None => prop_assert!(i >= MODEL_SLOTS),
                    },
                    Op::Get(i) => match t.lock(i) {
                        Some(g) => prop_assert_eq!(g.get(), model[i]),
                        None => prop_assert!(i >= MODEL_SLOTS),
                    },
                }
                // Every slot is unlocked between operations.
                for f in &s.flags {
                    prop_assert_eq!(f.load(Ordering::Relaxed) & LOCK, 0);
                }
            }
            for (i, m) in model.iter().enumerate() {
                prop_assert_eq!(t.lock(i).unwrap().get(), *m);
            }
        }
    }

    /// Four threads set and take entries with unique handles on a small table. Every
    /// handle ever stored must come back exactly once: as the old value of a later
    /// `set`/`take`, or from the final sweep. A lost update would leak a handle, a
    /// torn or duplicated one would be returned twice.
    #[test]
    fn concurrent_set_take_loses_nothing() {
        const THREADS: u64 = 4;
        const ITERS: u64 = 20_000;
        const SLOTS: usize = 3;
        let s = Storage::new(SLOTS);

        let returned: Vec<Vec<u64>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..THREADS)
                .map(|tid| {
                    let s = &s;
                    scope.spawn(move || {
                        let t = s.table();
                        let mut seen = Vec::new();
                        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (tid + 1);
                        for n in 0..ITERS {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let slot = (x % SLOTS as u64) as usize;
                            // Mix both ways of locking.
                            let mut g = match t.try_lock(slot) {
                                Some(g) => g,
                                None => t.lock(slot).unwrap(),
                            };
                            // Unique per thread and iteration; upper-half handles for
                            // odd threads so sign extension is exercised concurrently.
                            let id = ((tid << 32) | n) << 3;
                            let handle = if tid % 2 == 1 {
                                id | 0xffff_8000_0000_0000
                            } else {
                                id
                            };
                            let old = match x >> 60 {
                                0..=2 => g.take(),
                                3 => g.set(Entry::Same(x)),
                                _ => g.set(Entry::Object(
                                    ObjRef::new(handle, 1 + (x as usize >> 8) % PAGE_SIZE).unwrap(),
                                )),
                            };
                            if let Entry::Object(o) = old {
                                seen.push(o.handle());
                            }
                        }
                        seen
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });

        // Recompute every handle that was set, in the same way the threads did.
        let mut expected: HashMap<u64, u32> = HashMap::new();
        for tid in 0..THREADS {
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (tid + 1);
            for n in 0..ITERS {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x >> 60 >= 4 {
                    let id = ((tid << 32) | n) << 3;
                    let handle = if tid % 2 == 1 {
                        id | 0xffff_8000_0000_0000
                    } else {
                        id
                    };
                    expected.insert(handle, 0);
                }
            }
        }
        let t = s.table();
        let mut all: Vec<u64> = returned.into_iter().flatten().collect();
        for i in 0..SLOTS {
            if let Entry::Object(o) = t.lock(i).unwrap().take() {
                all.push(o.handle());
            }
        }
        for h in all {
            let Some(count) = expected.get_mut(&h) else {
                panic!("returned a handle never set: {h:#x}")
            };
            *count += 1;
        }
        for (h, count) in &expected {
            assert_eq!(*count, 1, "handle {h:#x} returned {count} times");
        }
        assert!(!expected.is_empty());
        for f in &s.flags {
            assert_eq!(f.load(Ordering::Relaxed), 0);
        }
    }
}
