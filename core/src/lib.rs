// SPDX-License-Identifier: GPL-2.0
//! Kernel-independent core of rzs.
//!
//! Everything here is plain `no_std` Rust with no allocation: the kernel module links
//! it as a crate (see `Kbuild`), and `cargo test` / `cargo fuzz` exercise the very
//! same code in userspace.

#![no_std]
// The kernel build's volatile accesses (`racy`); the kernel's rustc allows unstable
// features (the kernel build sets RUSTC_BOOTSTRAP=1), as does the fuzzing build.
#![cfg_attr(
    rzs_volatile_intrinsics,
    feature(core_intrinsics),
    allow(internal_features)
)]
// Non-test code must not unwrap; unit tests (cfg(test)) may.
#![cfg_attr(not(test), forbid(clippy::unwrap_used, clippy::expect_used))]

#[cfg(test)]
extern crate std;

pub mod abi;
pub mod codec;
pub mod page;
pub mod racy;
pub mod size;
pub mod stats;
pub mod table;
pub mod tier;

/// The unit rzs stores: one 4 KiB page. rzs requires `PAGE_SIZE == 4096`.
pub const PAGE_SIZE: usize = 4096;
