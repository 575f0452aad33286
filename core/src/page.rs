// SPDX-License-Identifier: GPL-2.0
//! Same-filled page detection and reconstruction.
//!
//! A page whose machine words are all equal (zero pages above all) is stored as that
//! one word, in the slot itself, with no allocation (zram's "same-filled" pages).

use crate::PAGE_SIZE;

/// A page as the driver hands it to the core.
pub type Page = [u8; PAGE_SIZE];

const WORD: usize = core::mem::size_of::<usize>();

/// Returns the repeated word if every machine word of `page` is the same.
pub fn same_filled(page: &Page) -> Option<usize> {
    let mut words = page.chunks_exact(WORD).map(word_at);
    let first = words.next()?;
    // Check the last word first: a non-same page usually differs by its end.
    if word_at(&page[PAGE_SIZE - WORD..]) != first {
        return None;
    }
    words.all(|w| w == first).then_some(first)
}

/// Fills `page` with `word` repeated (the inverse of [`same_filled`]).
pub fn fill(page: &mut Page, word: usize) {
    let bytes = word.to_ne_bytes();
    for chunk in page.chunks_exact_mut(WORD) {
        chunk.copy_from_slice(&bytes);
    }
}

#[inline]
fn word_at(chunk: &[u8]) -> usize {
    let mut b = [0u8; WORD];
    b.copy_from_slice(&chunk[..WORD]);
    usize::from_ne_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_page_is_same_filled() {
        assert_eq!(same_filled(&[0u8; PAGE_SIZE]), Some(0));
    }

    #[test]
    fn pattern_round_trips() {
        let mut p = [0u8; PAGE_SIZE];
        let w = usize::from_ne_bytes(
            [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4][..WORD]
                .try_into()
                .unwrap(),
        );
        fill(&mut p, w);
        assert_eq!(same_filled(&p), Some(w));
    }

    #[test]
    fn any_single_byte_difference_is_detected() {
        for i in [0, 1, 7, 8, 100, PAGE_SIZE / 2, PAGE_SIZE - 9, PAGE_SIZE - 1] {
            let mut p = [0xabu8; PAGE_SIZE];
            p[i] ^= 1;
            assert_eq!(same_filled(&p), None, "byte {i}");
        }
    }

    #[test]
    fn byte_fill_is_word_fill() {
        assert_eq!(same_filled(&[0xffu8; PAGE_SIZE]), Some(usize::MAX));
    }
}
