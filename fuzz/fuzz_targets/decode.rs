// SPDX-License-Identifier: GPL-2.0
//! Fuzz target: `rzs_core::codec::decompress` on arbitrary bytes.
//!
//! Whatever the input, decoding into a one-page buffer must return `Ok` (the buffer
//! then holds exactly one page) or `Err`, and never panic or touch memory outside
//! the buffer.
//!
//! Run it with `scripts/fuzz.sh [SECONDS]`: it builds a copy of this project that
//! links lz4_flex as the kernel module does (scripts/patches/crates/, if any), with
//! the cargo-fuzz pinned in scripts/versions.env, on the stable toolchain
//! (RUSTC_BOOTSTRAP=1 unlocks the `-Z` flags cargo-fuzz passes).

#![no_main]

use libfuzzer_sys::fuzz_target;
use rzs_core::codec::{decompress, DecodeError};
use rzs_core::PAGE_SIZE;

fuzz_target!(|data: &[u8]| {
    let mut page = [0u8; PAGE_SIZE];
    match decompress(data, &mut page) {
        Ok(()) | Err(DecodeError::Corrupt) => {}
        Err(DecodeError::WrongLength(n)) => assert!(n < PAGE_SIZE),
    }
});
