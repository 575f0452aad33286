// SPDX-License-Identifier: GPL-2.0
//! C entry points into `rzs_core::codec` for the kernel codec benchmark
//! (`bench/kcodec/harness.c`). scripts/bench-codec.sh compiles this file with the exact
//! rustc command line kbuild used for rzs.ko's `rzs_core.o` (crate name and paths
//! changed) and links it to that `rzs_core.o` and `lz4_flex.o`: the code timed is the
//! code rzs.ko runs. Not part of the module.
#![no_std]

use core::mem::MaybeUninit;

use rzs_core::codec::{decompress, Compressor, Encoded};
use rzs_core::PAGE_SIZE;

/// Bytes the caller must allocate for a workspace.
#[no_mangle]
pub extern "C" fn kb_flex_ws_size() -> usize {
    core::mem::size_of::<Compressor>()
}

/// Initialises a workspace.
///
/// # Safety
/// `ws` points to `kb_flex_ws_size()` writable bytes, aligned for a `Compressor`.
#[no_mangle]
pub unsafe extern "C" fn kb_flex_ws_init(ws: *mut MaybeUninit<Compressor>) {
    // SAFETY: the caller's contract.
    Compressor::init_in_place(unsafe { &mut *ws });
}

/// Compresses one page as rzs.ko does (its raw limit aside: anything below a page
/// counts): with the patched crate, through a `RacySource` of the page, the volatile
/// loads the driver reads every page it compresses in place with
/// (`Store::write_in_place`); with the crate as published, from the slice. Returns
/// the compressed length and sets `*out` to the data (in `ws`), or returns -1 for a
/// page stored raw.
///
/// # Safety
/// `ws` was initialised by `kb_flex_ws_init`; `page` points to 4096 readable bytes;
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn kb_flex_compress(
    ws: *mut Compressor,
    page: *const [u8; PAGE_SIZE],
    out: *mut *const u8,
) -> isize {
    // SAFETY: the caller's contract.
    let (c, page) = unsafe { (&mut *ws, &*page) };
    #[cfg(feature = "patched-codec")]
    let enc = c.compress_max_racy(&rzs_core::racy::RacySource::from_page(page), PAGE_SIZE - 1);
    #[cfg(not(feature = "patched-codec"))]
    let enc = c.compress_max(page, PAGE_SIZE - 1);
    match enc {
        Encoded::Compressed(s) => {
            // SAFETY: the caller's contract.
            unsafe { *out = s.as_ptr() };
            s.len() as isize
        }
        Encoded::Incompressible => -1,
    }
}

/// Decodes `len` bytes at `src` into the page at `page`: 0 on success, -1 if the data
/// is corrupt or not one page long.
///
/// # Safety
/// `src` points to `len` readable bytes, `page` to 4096 writable ones.
#[no_mangle]
pub unsafe extern "C" fn kb_flex_decompress(
    src: *const u8,
    len: usize,
    page: *mut [u8; PAGE_SIZE],
) -> i32 {
    // SAFETY: the caller's contract.
    let (src, page) = unsafe { (core::slice::from_raw_parts(src, len), &mut *page) };
    match decompress(src, page) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// Decodes `len` bytes at `src` into the page at `page` as rzs.ko decodes an O_DIRECT
/// read into the user's page (`codec::decompress_racy`: volatile accesses, no
/// reference to the page): 0 on success, -1 if the data is corrupt or not one page
/// long, -2 if this build has no such decoder (rzs_core against lz4_flex without
/// scripts/patches/crates/: the codec bench's "stock" variant).
///
/// # Safety
/// `src` points to `len` readable bytes, `page` to 4096 writable ones that nothing
/// else accesses during the call.
#[no_mangle]
pub unsafe extern "C" fn kb_flex_decompress_racy(src: *const u8, len: usize, page: *mut u8) -> i32 {
    #[cfg(feature = "patched-codec")]
    {
        let Some(page) = core::ptr::NonNull::new(page) else {
            return -1;
        };
        // SAFETY: the caller's contract; `RacyPage` makes no reference to the page.
        let (src, mut page) = unsafe {
            (
                core::slice::from_raw_parts(src, len),
                rzs_core::racy::RacyPage::new(page),
            )
        };
        match rzs_core::codec::decompress_racy(src, &mut page) {
            Ok(()) => 0,
            Err(_) => -1,
        }
    }
    #[cfg(not(feature = "patched-codec"))]
    {
        let _ = (src, len, page);
        -2
    }
}
