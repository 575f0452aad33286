// SPDX-License-Identifier: GPL-2.0
//! Fuzz target: the slot table (`rzs_core::table`) against a model, a plain
//! `Vec<Entry>`, under arbitrary sequences of operations.
//!
//! Input: the first byte sets the number of slots (0..=8); then each operation is
//! one byte (low 3 bits: the operation, high bits: the slot index, up to one past
//! the end) followed by the bytes its entry needs. Operations: `set` (through
//! `lock`), `take` (through `try_lock`), `get`, `lock` and hold the guard,
//! `try_lock` and hold it, `unlock` (drop a held guard). On a held slot, `set`,
//! `take` and `get` go through the held guard (locking it again would spin
//! forever). Entries are `Empty`, `Same(word)`, or `Object` built by `ObjRef::new`
//! from a raw 64-bit handle and a raw size (often out of range) or a size in range.
//! The properties checked:
//!
//! * `ObjRef::new` accepts exactly the sizes the slot encoding can hold (1..=4096)
//!   with any handle, and the `ObjRef` it returns gives back that handle and size,
//!   raw iff size is 4096;
//! * `set` returns the previous entry and `take` returns it and empties the slot,
//!   as the model says; `get` returns what was last stored, every handle and size
//!   unpacked unchanged;
//! * an index out of range gives no guard; a held slot cannot be locked by
//!   `try_lock`, and a failed `try_lock` leaves it held and its entry intact;
//! * after every operation each slot that is not held can be locked and holds what
//!   the model says (nothing leaks between neighbouring slots' bits), and once every
//!   guard is dropped, every slot is unlocked.
//!
//! Run it with `scripts/fuzz.sh`.

#![no_main]

use core::sync::atomic::{AtomicU64, AtomicU16};

use libfuzzer_sys::fuzz_target;
use rzs_core::table::{Entry, ObjRef, SlotGuard, SlotTable};
use rzs_core::PAGE_SIZE;

const MAX_SLOTS: usize = 8;

/// Reads the input from the front; missing bytes read as zero.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for x in &mut b {
            *x = self.u8().unwrap_or(0);
        }
        b
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.bytes())
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.bytes())
    }
}

/// What `ObjRef::new` should accept, written out plainly.
fn naive_valid(_handle: u64, size: usize) -> bool {
    (1..=PAGE_SIZE).contains(&size)
}

/// Reads an entry; `None` if the input asked for an object `ObjRef::new` rejects
/// (after checking it was right to).
fn entry(inp: &mut Input) -> Option<Entry> {
    match inp.u8().unwrap_or(0) % 4 {
        0 => Some(Entry::Empty),
        1 => Some(Entry::Same(inp.u64())),
        kind => {
            let raw = inp.u64();
            let size_raw = inp.u16();
            let (handle, size) = if kind == 2 {
                // Any size: exercises the rejection of sizes out of range.
                (raw, usize::from(size_raw))
            } else {
                (raw, 1 + usize::from(size_raw) % PAGE_SIZE)
            };
            let obj = ObjRef::new(handle, size);
            assert_eq!(
                obj.is_some(),
                naive_valid(handle, size),
                "ObjRef::new({handle:#x}, {size})"
            );
            let obj = obj?;
            assert_eq!((obj.handle(), obj.size()), (handle, size));
            assert_eq!(obj.is_raw(), size == PAGE_SIZE);
            Some(Entry::Object(obj))
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let n = usize::from(inp.u8().unwrap_or(0)) % (MAX_SLOTS + 1);
    let words: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
    let flags: Vec<AtomicU16> = (0..n).map(|_| AtomicU16::new(0)).collect();
    let Some(table) = SlotTable::new(&words, &flags) else {
        panic!("SlotTable::new refused arrays of equal length");
    };
    assert_eq!(table.len(), n);
    assert_eq!(table.is_empty(), n == 0);
    if n > 0 {
        assert!(SlotTable::new(&words[1..], &flags).is_none());
    }

    let mut model = vec![Entry::Empty; n];
    // Guards held across operations, at most one per slot.
    let mut held: Vec<Option<SlotGuard>> = (0..n).map(|_| None).collect();

    while let Some(op) = inp.u8() {
        let i = usize::from(op >> 3) % (n + 1);
        let in_range = i < n;
        match op & 7 {
            // set
            0 | 1 => {
                let Some(e) = entry(&mut inp) else { continue };
                let mut fresh = None;
                let g = match held.get_mut(i) {
                    Some(Some(g)) => g,
                    _ => match table.lock(i) {
                        Some(g) => fresh.insert(g),
                        None => {
                            assert!(!in_range, "lock({i}) failed on {n} slots");
                            continue;
                        }
                    },
                };
                assert!(in_range && g.index() == i);
                let old = g.set(e);
                assert_eq!(old, model[i], "set on slot {i}");
                assert_eq!(g.get(), e);
                model[i] = e;
            }
            // take
            2 => {
                let mut fresh = None;
                let g = match held.get_mut(i) {
                    Some(Some(g)) => g,
                    _ => match table.try_lock(i) {
                        Some(g) => fresh.insert(g),
                        None => {
                            assert!(!in_range, "try_lock({i}) failed on a free slot");
                            continue;
                        }
                    },
                };
                assert_eq!(g.take(), model[i], "take on slot {i}");
                assert_eq!(g.get(), Entry::Empty);
                model[i] = Entry::Empty;
            }
            // get
            3 => match held.get(i) {
                Some(Some(g)) => assert_eq!(g.get(), model[i]),
                _ => match table.lock(i) {
                    Some(g) => assert_eq!(g.get(), model[i], "get on slot {i}"),
                    None => assert!(!in_range),
                },
            },
            // lock / try_lock, and hold the guard
            4 | 5 => {
                if let Some(Some(g)) = held.get(i) {
                    // Held: try_lock must fail, and must not release the holder.
                    assert!(table.try_lock(i).is_none(), "try_lock on held slot {i}");
                    assert!(table.try_lock(i).is_none(), "failed try_lock released {i}");
                    assert_eq!(g.get(), model[i]);
                    continue;
                }
                let g = if op & 7 == 4 {
                    table.lock(i)
                } else {
                    table.try_lock(i)
                };
                match g {
                    Some(g) => {
                        assert_eq!(g.index(), i);
                        assert_eq!(g.get(), model[i]);
                        held[i] = Some(g);
                    }
                    None => assert!(!in_range),
                }
            }
            // unlock
            _ => {
                if let Some(h) = held.get_mut(i) {
                    *h = None;
                }
            }
        }

        // Every slot: held ones cannot be taken, free ones hold the model's entry.
        for (j, m) in model.iter().enumerate() {
            match table.try_lock(j) {
                Some(g) => {
                    assert!(held[j].is_none(), "slot {j} is held, yet try_lock got it");
                    assert_eq!(g.get(), *m, "slot {j} after op {op:#04x}");
                }
                None => assert!(held[j].is_some(), "slot {j} is locked, yet not held"),
            }
        }
        assert!(table.try_lock(n).is_none() && table.lock(n).is_none());
    }

    drop(held);
    for (j, m) in model.iter().enumerate() {
        let Some(g) = table.try_lock(j) else {
            panic!("slot {j} still locked after every guard dropped");
        };
        assert_eq!(g.get(), *m);
    }
});
