// SPDX-License-Identifier: GPL-2.0
//! Fuzz target: a page through the store path, `Compressor::compress{,_max}` then
//! `decompress`, and the same-fill check, on pages built from arbitrary bytes.
//!
//! Input: `[mode, limit_lo, limit_hi, body...]`. The page is built from `body` by
//! `mode & 3`: 0 repeats it over the page (short bodies give the short-period
//! patterns that lz4's overlapping matches, and rzs's lz4_flex patch, handle), 1
//! copies it and pads with zeros, 2 copies it and pads with its last byte, 3 fills
//! the page with the word in `body[..8]` and then sets the bytes that the
//! `(offset, value)` pairs in the rest of `body` give (pages that are nearly
//! same-filled). `limit` (little-endian, modulo 8192; 0xffff means `usize::MAX`)
//! is the `max_len` given to `compress_max`. The properties checked, for every page:
//!
//! * `page::same_filled` agrees with a naive word-by-word comparison, and
//!   `page::fill` with the word it returns rebuilds the page exactly;
//! * whatever `compress` / `compress_max` return as `Encoded::Compressed`
//!   decompresses (into a buffer full of other bytes) to exactly the page, and is
//!   no longer than the limit (`RAW_THRESHOLD` for `compress`, `min(max_len,
//!   PAGE_SIZE - 1)` for `compress_max`);
//! * `Encoded::Incompressible` is returned exactly when the page's lz4 size is over
//!   that limit: the size does not depend on the limit, nor on what the reused hash
//!   table held before (every compressed output of one page is the same bytes).
//!
//! Run it with `scripts/fuzz.sh` (it links the patched lz4_flex the kernel module
//! runs; see that script).

#![no_main]

use core::mem::size_of;

use libfuzzer_sys::fuzz_target;
use rzs_core::codec::{decompress, Compressor, Encoded, MAX_COMPRESSED, RAW_THRESHOLD};
use rzs_core::page::{fill, same_filled, Page};
use rzs_core::PAGE_SIZE;

const WORD: usize = size_of::<usize>();

fn build_page(mode: u8, body: &[u8]) -> Page {
    let mut page = [0u8; PAGE_SIZE];
    match mode & 3 {
        0 => {
            if !body.is_empty() {
                for (b, s) in page.iter_mut().zip(body.iter().cycle()) {
                    *b = *s;
                }
            }
        }
        1 | 2 => {
            let n = body.len().min(PAGE_SIZE);
            page[..n].copy_from_slice(&body[..n]);
            if mode & 3 == 2 {
                let pad = body.last().copied().unwrap_or(0);
                page[n..].fill(pad);
            }
        }
        _ => {
            let mut w = [0u8; WORD];
            let n = body.len().min(WORD);
            w[..n].copy_from_slice(&body[..n]);
            fill(&mut page, usize::from_ne_bytes(w));
            for pair in body[n..].chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % PAGE_SIZE;
                page[at] = pair[2];
            }
        }
    }
    page
}

/// The obvious same-fill check: every machine word equals the first one.
fn naive_same_filled(page: &Page) -> Option<usize> {
    let word = |i: usize| {
        let mut w = [0u8; WORD];
        w.copy_from_slice(&page[i * WORD..(i + 1) * WORD]);
        usize::from_ne_bytes(w)
    };
    let first = word(0);
    (1..PAGE_SIZE / WORD)
        .all(|i| word(i) == first)
        .then_some(first)
}

/// Decodes `enc` into a buffer that starts out different from `page` at every
/// byte, and checks it is the page again.
fn assert_decodes_to(enc: &[u8], page: &Page) {
    let mut out = [0u8; PAGE_SIZE];
    for (o, p) in out.iter_mut().zip(page) {
        *o = !*p;
    }
    assert_eq!(decompress(enc, &mut out), Ok(()), "{} bytes", enc.len());
    assert!(out == *page, "decoded page differs from the original");
}

fuzz_target!(|data: &[u8]| {
    let [mode, lo, hi, body @ ..] = data else {
        return;
    };
    let limit = match u16::from_le_bytes([*lo, *hi]) {
        0xffff => usize::MAX,
        l => usize::from(l) % (2 * PAGE_SIZE),
    };
    let page = build_page(*mode, body);

    // Same-fill detection.
    let same = same_filled(&page);
    assert_eq!(same, naive_same_filled(&page));
    if let Some(w) = same {
        let mut again = [0xa5u8; PAGE_SIZE];
        fill(&mut again, w);
        assert!(again == page, "fill({w:#x}) does not rebuild the page");
    }

    // A compressor as the driver has one per CPU: allocated once, reused.
    let mut slot = Box::<Compressor>::new_uninit();
    let c = Compressor::init_in_place(&mut slot);

    // The page's lz4 size: no limit but the page itself.
    let full = match c.compress_max(&page, usize::MAX) {
        Encoded::Compressed(s) => {
            assert!(!s.is_empty() && s.len() < PAGE_SIZE && s.len() <= MAX_COMPRESSED);
            assert_decodes_to(s, &page);
            Some(s.to_vec())
        }
        Encoded::Incompressible => None,
    };
    let size = full.as_ref().map_or(usize::MAX, Vec::len);

    for default in [false, true] {
        let (max, enc) = if default {
            (RAW_THRESHOLD, c.compress(&page))
        } else {
            (limit.min(PAGE_SIZE - 1), c.compress_max(&page, limit))
        };
        match enc {
            Encoded::Compressed(s) => {
                assert!(s.len() <= max, "{} bytes over the limit {max}", s.len());
                assert_eq!(Some(s), full.as_deref(), "output changed with the limit");
                assert_decodes_to(s, &page);
            }
            Encoded::Incompressible => {
                assert!(size > max, "{size} bytes fit the limit {max}, stored raw")
            }
        }
    }
});
