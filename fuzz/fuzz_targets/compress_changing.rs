// SPDX-License-Identifier: GPL-2.0
//! Fuzz target: the compressor on a page that changes while it is compressed, as an
//! O_DIRECT write's user page may (`Compressor::compress_max_from`, which the driver
//! gives a `RacySource` of that page).
//!
//! Input: `[every, limit, body...]`. The page is `body` repeated over it (zeros if
//! `body` is empty). The page lives in `Cell`s, read through `CompressInput`'s loads,
//! each of which checks its range (a panic, so a crash, on any access outside the
//! page); every `every`-th load (never if `every` is 0) first rewrites a span of
//! the page with bytes of `body` shifted, at places and lengths that the input
//! decides: the compressor sees the page change under it at the points of the
//! fuzzer's choosing. `limit` (times 16) is the `max_len` given. Checked:
//!
//! * whatever comes out as `Encoded::Compressed` is at most the limit (and below a
//!   page) and decodes to exactly one page: never a block that fails to decode;
//! * with no change (`every == 0`), the output is `compress_max`'s on the page,
//!   and that of a `RacySource` of it (the driver's loads).
//!
//! Run it with `scripts/fuzz.sh` (it links the patched lz4_flex the kernel module
//! runs; see that script).

#![no_main]

use core::cell::Cell;

use libfuzzer_sys::fuzz_target;
use rzs_core::codec::{decompress, CompressInput, Compressor, Encoded};
use rzs_core::racy::RacySource;
use rzs_core::PAGE_SIZE;

/// A page that rewrites itself every `every` loads.
struct Changing<'a> {
    page: [Cell<u8>; PAGE_SIZE],
    body: &'a [u8],
    every: usize,
    loads: Cell<usize>,
}

impl Changing<'_> {
    /// `N` bytes at `pos`, after the change this load is due for, if any.
    fn get<const N: usize>(&self, pos: usize) -> [u8; N] {
        assert!(
            pos <= PAGE_SIZE && N <= PAGE_SIZE - pos,
            "load of {N} at {pos}"
        );
        let n = self.loads.get() + 1;
        self.loads.set(n);
        if self.every != 0 && n % self.every == 0 && !self.body.is_empty() {
            // Where, how much and with what: from the body and the load count.
            let k = self.body[n / self.every % self.body.len()] as usize;
            let at = (pos + k * 17) % PAGE_SIZE;
            let len = [1, 8, 64, 700][k % 4].min(PAGE_SIZE - at);
            for i in 0..len {
                let b = self.body[(at + i + k) % self.body.len()] ^ (k as u8);
                self.page[at + i].set(b);
            }
        }
        core::array::from_fn(|i| self.page[pos + i].get())
    }
}

// SAFETY: `len()` is always `PAGE_SIZE`; every load checks its range (it is sound
// for any argument) and `copy_to` writes `len` bytes to `dst`, which the caller
// guarantees are valid.
unsafe impl CompressInput for Changing<'_> {
    fn len(&self) -> usize {
        PAGE_SIZE
    }
    unsafe fn load_u8(&self, pos: usize) -> u8 {
        self.get::<1>(pos)[0]
    }
    unsafe fn load_u16(&self, pos: usize) -> u16 {
        u16::from_ne_bytes(self.get(pos))
    }
    unsafe fn load_u32(&self, pos: usize) -> u32 {
        u32::from_ne_bytes(self.get(pos))
    }
    unsafe fn load_usize(&self, pos: usize) -> usize {
        usize::from_ne_bytes(self.get(pos))
    }
    unsafe fn copy_to(&self, pos: usize, dst: *mut u8, len: usize) {
        assert!(
            pos <= PAGE_SIZE && len <= PAGE_SIZE - pos,
            "copy of {len} at {pos}"
        );
        for i in 0..len {
            // SAFETY: `dst` is valid for `len` bytes (the caller's precondition).
            unsafe { dst.add(i).write(self.get::<1>(pos + i)[0]) };
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [every, limit, body @ ..] = data else {
        return;
    };
    let max_len = usize::from(*limit) * 16;
    let mut page = [0u8; PAGE_SIZE];
    if !body.is_empty() {
        for (b, s) in page.iter_mut().zip(body.iter().cycle()) {
            *b = *s;
        }
    }
    let input = Changing {
        page: core::array::from_fn(|i| Cell::new(page[i])),
        body,
        every: usize::from(*every),
        loads: Cell::new(0),
    };
    let mut slot = Box::<Compressor>::new_uninit();
    let c = Compressor::init_in_place(&mut slot);
    let enc = c.compress_max_from(&input, max_len);
    let got = match enc {
        Encoded::Compressed(s) => {
            assert!(
                s.len() <= max_len.min(PAGE_SIZE - 1),
                "{} bytes over {max_len}",
                s.len()
            );
            let mut out = [0u8; PAGE_SIZE];
            assert_eq!(
                decompress(s, &mut out),
                Ok(()),
                "a changing page's block must decode"
            );
            Some(s.to_vec())
        }
        Encoded::Incompressible => None,
    };
    if *every == 0 {
        let mut slot2 = Box::<Compressor>::new_uninit();
        let d = Compressor::init_in_place(&mut slot2);
        let want = match d.compress_max(&page, max_len) {
            Encoded::Compressed(s) => Some(s.to_vec()),
            Encoded::Incompressible => None,
        };
        assert_eq!(got, want, "the same page, other bytes");
        let racy = match d.compress_max_racy(&RacySource::from_page(&page), max_len) {
            Encoded::Compressed(s) => Some(s.to_vec()),
            Encoded::Incompressible => None,
        };
        assert_eq!(racy, want, "through RacySource, other bytes");
    }
});
