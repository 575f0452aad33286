// SPDX-License-Identifier: GPL-2.0
//! Fuzz target: `rzs_core::codec::decompress` on arbitrary bytes.
//!
//! Whatever the input, decoding into a one-page buffer must return `Ok` (the buffer
//! then holds exactly one page) or `Err`, and never panic or touch memory outside
//! the buffer. `decompress_racy`, the same decoder through the volatile accesses an
//! O_DIRECT read's user page gets (as the kernel module builds them: scripts/fuzz.sh
//! passes `--cfg rzs_volatile_intrinsics`), must give the same result and leave the
//! same bytes in its page.
//!
//! Run it with `scripts/fuzz.sh [SECONDS]`: it builds a copy of this project that
//! links lz4_flex as the kernel module does (scripts/patches/crates/, if any), with
//! the cargo-fuzz pinned in scripts/versions.env, on the stable toolchain
//! (RUSTC_BOOTSTRAP=1 unlocks the `-Z` flags cargo-fuzz passes).

#![no_main]

use libfuzzer_sys::fuzz_target;
use rzs_core::codec::{decompress, decompress_racy, DecodeError};
use rzs_core::racy::RacyPage;
use rzs_core::PAGE_SIZE;

fuzz_target!(|data: &[u8]| {
    let mut page = [0u8; PAGE_SIZE];
    let r = decompress(data, &mut page);
    match r {
        Ok(()) | Err(DecodeError::Corrupt) => {}
        Err(DecodeError::WrongLength(n)) => assert!(n < PAGE_SIZE),
    }
    let mut racy = [0u8; PAGE_SIZE];
    assert_eq!(decompress_racy(data, &mut RacyPage::from_page(&mut racy)), r);
    assert!(racy == page, "decompress_racy left other bytes");
});
