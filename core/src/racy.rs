// SPDX-License-Identifier: GPL-2.0
//! A page that someone else may write while rzs fills it.
//!
//! An O_DIRECT read fills pages of user memory, which another thread of the user may
//! read or write during the read. Lending such a page to Rust code as a `&mut [u8]`
//! would promise the compiler an exclusive access that does not exist. The driver
//! used to decode into a page of its own and copy it out with the kernel's `memcpy`
//! (a second pass over the page); [`RacyPage`] lets the decoder write straight into
//! the user's page instead, as zram's C decoder does, through accesses that make no
//! such promise: volatile loads and stores, the `READ_ONCE`/`WRITE_ONCE` of the
//! kernel's memory model, of 8 bytes where it can and of 4, 2 or 1 byte for the rest.
//!
//! What a racing writer can do is change bytes the decoder wrote, or reads back to
//! copy a match from. The page then holds garbage, as it would with zram (and as any
//! read into memory that is written during it may); nothing else follows from it,
//! because lz4_flex's decoder derives every position and length from the input and
//! its own counts, never from bytes it reads back (`DecodeOutput`'s contract, patch
//! 0008 in `scripts/patches/crates/`).

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::PAGE_SIZE;

/// Volatile accesses at any alignment, one access per call.
///
/// The kernel build (Kbuild passes `--cfg rzs_volatile_intrinsics`, as does the
/// fuzzing build) uses the compiler's unaligned volatile intrinsics: one `mov` of 8
/// bytes on x86-64. Stable Rust, which the userspace tests use, has no such function,
/// so there a `#[repr(packed)]` wrapper makes the same single access of the same
/// width, at the cost of a copy through the stack.
#[cfg(rzs_volatile_intrinsics)]
mod vol {
    /// # Safety
    ///
    /// `p` is valid for a read of `size_of::<T>()` bytes (any alignment).
    #[inline(always)]
    pub(super) unsafe fn load<T: Copy>(p: *const T) -> T {
        // SAFETY: per the contract; the intrinsic requires no alignment.
        unsafe { core::intrinsics::unaligned_volatile_load(p) }
    }

    /// # Safety
    ///
    /// `p` is valid for a write of `size_of::<T>()` bytes (any alignment).
    #[inline(always)]
    pub(super) unsafe fn store<T: Copy>(p: *mut T, v: T) {
        // SAFETY: per the contract; the intrinsic requires no alignment.
        unsafe { core::intrinsics::unaligned_volatile_store(p, v) }
    }
}

#[cfg(not(rzs_volatile_intrinsics))]
mod vol {
    /// `T` at alignment 1.
    #[repr(C, packed)]
    #[derive(Clone, Copy)]
    struct Unaligned<T>(T);

    /// # Safety
    ///
    /// `p` is valid for a read of `size_of::<T>()` bytes (any alignment).
    #[inline(always)]
    pub(super) unsafe fn load<T: Copy>(p: *const T) -> T {
        // SAFETY: per the contract; `Unaligned<T>` has `T`'s size and alignment 1, so
        // any `p` is aligned for it.
        unsafe { core::ptr::read_volatile(p.cast::<Unaligned<T>>()).0 }
    }

    /// # Safety
    ///
    /// `p` is valid for a write of `size_of::<T>()` bytes (any alignment).
    #[inline(always)]
    pub(super) unsafe fn store<T: Copy>(p: *mut T, v: T) {
        // SAFETY: as in `load`.
        unsafe { core::ptr::write_volatile(p.cast::<Unaligned<T>>(), Unaligned(v)) }
    }
}

/// The 8 bytes of `c` from `i` as a word in memory order (zeros past its end, which
/// callers never reach: one load where the length is known).
#[inline(always)]
fn word(c: &[u8], i: usize) -> u64 {
    let mut w = [0; 8];
    if let Some(s) = c.get(i..i.wrapping_add(8)) {
        w.copy_from_slice(s);
    }
    u64::from_ne_bytes(w)
}

/// The first 4 bytes of `c` (of at least 4) as a word in memory order.
#[inline(always)]
fn u32_of(c: &[u8]) -> u32 {
    let mut w = [0; 4];
    if let Some(s) = c.get(..4) {
        w.copy_from_slice(s);
    }
    u32::from_ne_bytes(w)
}

/// The first 2 bytes of `c` (of at least 2) as a word in memory order.
#[inline(always)]
fn u16_of(c: &[u8]) -> u16 {
    let mut w = [0; 2];
    if let Some(s) = c.get(..2) {
        w.copy_from_slice(s);
    }
    u16::from_ne_bytes(w)
}

/// Whether `n` bytes from `pos` lie within a page.
#[inline(always)]
fn fits(pos: usize, n: usize) -> bool {
    pos <= PAGE_SIZE && n <= PAGE_SIZE - pos
}

/// One page of memory that others may read or write while it is in use here.
///
/// # Invariants
///
/// `base` is valid for reads and writes of `PAGE_SIZE` bytes for `'a`, and during
/// `'a` no Rust reference to any of those bytes exists: everything else that touches
/// them does so outside Rust (user space, the kernel's C copy routines).
pub struct RacyPage<'a> {
    base: NonNull<u8>,
    _page: PhantomData<&'a mut [u8; PAGE_SIZE]>,
}

impl<'a> RacyPage<'a> {
    /// The page at `base`.
    ///
    /// # Safety
    ///
    /// `base` is valid for reads and writes of `PAGE_SIZE` bytes for `'a` (any
    /// alignment), and no Rust reference to any of those bytes exists during `'a`.
    pub unsafe fn new(base: NonNull<u8>) -> Self {
        // INVARIANT: per the contract.
        Self {
            base,
            _page: PhantomData,
        }
    }

    /// A page of ours, through the same accesses (tests and benchmarks).
    pub fn from_page(page: &'a mut [u8; PAGE_SIZE]) -> Self {
        // SAFETY: the exclusive borrow makes the page valid for reads and writes for
        // `'a`, and no other reference to it can exist while it lasts.
        unsafe { Self::new(NonNull::from(page).cast()) }
    }

    /// Reads the `out.len()` bytes at `pos` into `out`; `false`, with nothing read,
    /// if they do not all lie within the page.
    #[inline(always)]
    pub fn read(&self, pos: usize, out: &mut [u8]) -> bool {
        let ok = fits(pos, out.len());
        if ok {
            self.read_at(pos, out);
        }
        ok
    }

    /// Writes `bytes` at `pos`; `false`, with nothing written, if they do not all
    /// lie within the page.
    #[inline(always)]
    pub fn write(&mut self, pos: usize, bytes: &[u8]) -> bool {
        let ok = fits(pos, bytes.len());
        if ok {
            self.write_at(pos, bytes);
        }
        ok
    }

    /// Reads `out.len()` bytes at `pos`, which the caller has checked lie within the
    /// page: 8 bytes at a time, then 4, 2 and 1.
    #[inline(always)]
    fn read_at(&self, pos: usize, out: &mut [u8]) {
        let mut done = 0;
        while let Some(chunk) = out.get_mut(done..done + 8) {
            // SAFETY: `pos + done + 8 <= pos + out.len()`, within the page (caller);
            // the page is valid for reads and no reference covers it (invariant).
            let w = unsafe { vol::load(self.base.as_ptr().add(pos + done).cast::<u64>()) };
            chunk.copy_from_slice(&w.to_ne_bytes());
            done += 8;
        }
        if let Some(chunk) = out.get_mut(done..done + 4) {
            // SAFETY: as above, for 4 bytes.
            let w = unsafe { vol::load(self.base.as_ptr().add(pos + done).cast::<u32>()) };
            chunk.copy_from_slice(&w.to_ne_bytes());
            done += 4;
        }
        if let Some(chunk) = out.get_mut(done..done + 2) {
            // SAFETY: as above, for 2 bytes.
            let w = unsafe { vol::load(self.base.as_ptr().add(pos + done).cast::<u16>()) };
            chunk.copy_from_slice(&w.to_ne_bytes());
            done += 2;
        }
        if let Some(b) = out.get_mut(done) {
            // SAFETY: as above, for 1 byte.
            *b = unsafe { vol::load(self.base.as_ptr().add(pos + done)) };
        }
    }

    /// Writes `bytes` at `pos`, which the caller has checked lie within the page: 32
    /// bytes at a time (four 8-byte stores: a literal run of the decoder can be
    /// hundreds of bytes), then 8; past 8 bytes, the last ones with one more store
    /// of 8 that overlaps the ones before (it writes some of the same bytes again)
    /// rather than with up to three smaller ones; below 8, stores of 4, 2 and 1.
    #[inline(always)]
    fn write_at(&mut self, pos: usize, bytes: &[u8]) {
        let n = bytes.len();
        // Where the next byte goes. It stays within the page or at its end: it moves
        // past bytes of `bytes` only, and `pos + n <= PAGE_SIZE` (caller).
        let start = self.base.as_ptr().wrapping_add(pos);
        if n < 8 {
            let (mut dst, mut rest) = (start, bytes);
            if let (Some(c), Some(tail)) = (rest.get(..4), rest.get(4..)) {
                // SAFETY: `dst..dst + 4` are among `pos..pos + n`, within the page
                // (caller), valid for writes, and no reference covers them (invariant).
                unsafe { vol::store(dst.cast::<u32>(), u32_of(c)) };
                dst = dst.wrapping_add(4);
                rest = tail;
            }
            if let (Some(c), Some(tail)) = (rest.get(..2), rest.get(2..)) {
                // SAFETY: as above, for 2 bytes.
                unsafe { vol::store(dst.cast::<u16>(), u16_of(c)) };
                dst = dst.wrapping_add(2);
                rest = tail;
            }
            if let Some(&b) = rest.first() {
                // SAFETY: as above, for 1 byte.
                unsafe { vol::store(dst, b) };
            }
            return;
        }
        let mut dst = start;
        let mut blocks = bytes.chunks_exact(32);
        for b in &mut blocks {
            // SAFETY: `dst..dst + 32` are bytes of the page (above), valid for writes,
            // and no reference covers them (invariant).
            unsafe {
                vol::store(dst.cast::<u64>(), word(b, 0));
                vol::store(dst.wrapping_add(8).cast::<u64>(), word(b, 8));
                vol::store(dst.wrapping_add(16).cast::<u64>(), word(b, 16));
                vol::store(dst.wrapping_add(24).cast::<u64>(), word(b, 24));
            }
            dst = dst.wrapping_add(32);
        }
        let mut words = blocks.remainder().chunks_exact(8);
        for w in &mut words {
            // SAFETY: as above, for 8 bytes.
            unsafe { vol::store(dst.cast::<u64>(), word(w, 0)) };
            dst = dst.wrapping_add(8);
        }
        if !words.remainder().is_empty() {
            // SAFETY: as above, for the last 8 bytes of `pos..pos + n` (`n >= 8`).
            unsafe {
                vol::store(
                    start.wrapping_add(n.wrapping_sub(8)).cast::<u64>(),
                    word(bytes, n.wrapping_sub(8)),
                )
            };
        }
    }

    /// A copy of the page as it is now. Tests only: a 4 KiB value has no place on a
    /// kernel stack (`scripts/stack-check.py`).
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> [u8; PAGE_SIZE] {
        let mut p = [0; PAGE_SIZE];
        self.read_at(0, &mut p);
        p
    }
}

/// The decoder's output (`lz4_flex`'s `DecodeOutput`, patch 0008). The decoder keeps
/// to `0..PAGE_SIZE`; an access outside it is a bug there, which reads zeros and
/// writes nothing here, so it cannot reach past the page in any build. A build with
/// debug assertions panics on it instead: the tests, the fuzzer, and a kernel with
/// `CONFIG_RUST_DEBUG_ASSERTIONS` (an oops then, for a decoder bug only).
#[cfg(feature = "patched-codec")]
impl lz4_flex::block::DecodeOutput for RacyPage<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        PAGE_SIZE
    }

    #[inline(always)]
    fn load<const N: usize>(&self, pos: usize) -> [u8; N] {
        let mut v = [0; N];
        let fits = self.read(pos, &mut v);
        debug_assert!(fits, "load of {N} bytes at {pos}");
        v
    }

    #[inline(always)]
    fn store<const N: usize>(&mut self, pos: usize, bytes: &[u8; N]) {
        self.store_slice(pos, bytes);
    }

    #[inline(always)]
    fn store_slice(&mut self, pos: usize, bytes: &[u8]) {
        let fits = self.write(pos, bytes);
        debug_assert!(fits, "store of {} bytes at {pos}", bytes.len());
    }
}

/// One page of memory that others may write while rzs reads it: the user's page of
/// an O_DIRECT write, which the compressor reads in place ([`crate::codec::Compressor::compress_max_from`])
/// instead of from a copy, as zram's C compressor does.
///
/// Every read is a volatile load (the kernel's `READ_ONCE`) of 8, 4, 2 or 1 bytes,
/// each made once, its value used as read (one instruction where the target allows
/// unaligned accesses, as x86-64 does; on a strict-alignment target the compiler
/// splits an unaligned one into smaller loads, which may then see a torn word, as
/// two loads may disagree anyway). A racing writer can make two loads of the same
/// bytes disagree; what rzs then stores is garbage (as what zram stores would be) but
/// decodes to a page: the bytes lz4_flex's compressor loads decide where matches are
/// and how long, but every bound on a position or a length comes from the input's
/// length and the compressor's own counts (`CompressInput`'s contract, patch 0010 in
/// `scripts/patches/crates/`).
///
/// # Invariants
///
/// `base` is valid for reads of `PAGE_SIZE` bytes for `'a`. During `'a` no Rust
/// `&mut` to any of those bytes exists, and if any of them may change, it changes only
/// through writes outside Rust (user space, the kernel's C code) and no Rust `&` to
/// them exists either.
pub struct RacySource<'a> {
    base: NonNull<u8>,
    _page: PhantomData<&'a [u8; PAGE_SIZE]>,
}

impl<'a> RacySource<'a> {
    /// The page at `base`.
    ///
    /// # Safety
    ///
    /// `base` is valid for reads of `PAGE_SIZE` bytes for `'a` (any alignment), and
    /// during `'a` no Rust `&mut` to those bytes exists; if they may change meanwhile,
    /// they change only through writes outside Rust (user space, the kernel's C code)
    /// and no Rust `&` to them exists either.
    pub unsafe fn new(base: NonNull<u8>) -> Self {
        // INVARIANT: per the contract.
        Self {
            base,
            _page: PhantomData,
        }
    }

    /// A page of ours, through the same loads (tests and benchmarks).
    pub fn from_page(page: &'a [u8; PAGE_SIZE]) -> Self {
        // SAFETY: the shared borrow makes the page valid for reads for `'a`, and
        // nothing can write it (nor hold a `&mut`) while it lasts.
        unsafe { Self::new(NonNull::from(page).cast()) }
    }

    /// The page's first byte: for copying it with the kernel's C routines, which may
    /// read memory that others write.
    pub fn as_ptr(&self) -> *const u8 {
        self.base.as_ptr()
    }

    /// The `size_of::<T>()` bytes at `pos`, in native byte order: one volatile load.
    ///
    /// # Safety
    ///
    /// `pos + size_of::<T>() <= PAGE_SIZE`.
    #[inline(always)]
    unsafe fn load<T: Copy>(&self, pos: usize) -> T {
        // SAFETY: the bytes lie within the page (precondition), which is valid for
        // reads, and no reference covers them if they may change (invariant).
        unsafe { vol::load(self.base.as_ptr().add(pos).cast::<T>()) }
    }

    /// [`crate::page::same_filled`] of the page: the repeated word if every machine
    /// word read equals the first (the last word is read second, as there).
    pub fn same_filled(&self) -> Option<usize> {
        const WORD: usize = core::mem::size_of::<usize>();
        // SAFETY: `0 + WORD <= PAGE_SIZE`.
        let first: usize = unsafe { self.load(0) };
        // SAFETY: `PAGE_SIZE - WORD + WORD <= PAGE_SIZE`.
        if unsafe { self.load::<usize>(PAGE_SIZE - WORD) } != first {
            return None;
        }
        // SAFETY: `pos + WORD <= PAGE_SIZE` for every `pos` of the range.
        (WORD..PAGE_SIZE - WORD)
            .step_by(WORD)
            .all(|pos| unsafe { self.load::<usize>(pos) } == first)
            .then_some(first)
    }
}

/// The compressor's input (`lz4_flex`'s `CompressInput`, patch 0010): volatile loads.
/// The compressor keeps to `0..PAGE_SIZE` (the trait's contract, which each load
/// relies on); a build with debug assertions (the tests, the fuzzer, a kernel with
/// `CONFIG_RUST_DEBUG_ASSERTIONS`) also checks it.
// SAFETY: `len()` is always `PAGE_SIZE`, and every method reads only the bytes its
// precondition puts within `0..PAGE_SIZE`, which the page is valid for (invariant).
#[cfg(feature = "patched-codec")]
unsafe impl lz4_flex::block::CompressInput for RacySource<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        PAGE_SIZE
    }

    #[inline(always)]
    unsafe fn load_u8(&self, pos: usize) -> u8 {
        debug_assert!(fits(pos, 1), "load of 1 byte at {pos}");
        // SAFETY: `pos < PAGE_SIZE` (precondition).
        unsafe { self.load(pos) }
    }

    #[inline(always)]
    unsafe fn load_u16(&self, pos: usize) -> u16 {
        debug_assert!(fits(pos, 2), "load of 2 bytes at {pos}");
        // SAFETY: `pos + 2 <= PAGE_SIZE` (precondition).
        unsafe { self.load(pos) }
    }

    #[inline(always)]
    unsafe fn load_u32(&self, pos: usize) -> u32 {
        debug_assert!(fits(pos, 4), "load of 4 bytes at {pos}");
        // SAFETY: `pos + 4 <= PAGE_SIZE` (precondition).
        unsafe { self.load(pos) }
    }

    #[inline(always)]
    unsafe fn load_usize(&self, pos: usize) -> usize {
        debug_assert!(
            fits(pos, core::mem::size_of::<usize>()),
            "load of a word at {pos}"
        );
        // SAFETY: `pos + size_of::<usize>() <= PAGE_SIZE` (precondition).
        unsafe { self.load(pos) }
    }

    /// 8 bytes at a time, then 4, 2 and 1: for the literals the compressor copies
    /// (8, 16 or 24 bytes, a constant, for most runs: a few loads and stores).
    #[inline(always)]
    unsafe fn copy_to(&self, pos: usize, dst: *mut u8, len: usize) {
        debug_assert!(fits(pos, len), "copy of {len} bytes at {pos}");
        // `done <= len` and `pos + len <= PAGE_SIZE` (precondition): the wrapping
        // operations below never wrap, and spare overflow-checked builds a branch each.
        let mut done = 0usize;
        while len.wrapping_sub(done) >= 8 {
            // SAFETY: `pos + done + 8 <= pos + len <= PAGE_SIZE` (precondition), and
            // `dst` is valid for writes of `len` bytes that overlap no byte of the page.
            unsafe {
                dst.add(done)
                    .cast::<u64>()
                    .write_unaligned(self.load(pos.wrapping_add(done)))
            };
            done = done.wrapping_add(8);
        }
        if len.wrapping_sub(done) >= 4 {
            // SAFETY: as above, for 4 bytes.
            unsafe {
                dst.add(done)
                    .cast::<u32>()
                    .write_unaligned(self.load(pos.wrapping_add(done)))
            };
            done = done.wrapping_add(4);
        }
        if len.wrapping_sub(done) >= 2 {
            // SAFETY: as above, for 2 bytes.
            unsafe {
                dst.add(done)
                    .cast::<u16>()
                    .write_unaligned(self.load(pos.wrapping_add(done)))
            };
            done = done.wrapping_add(2);
        }
        if len != done {
            // SAFETY: as above, for the last byte.
            unsafe { dst.add(done).write(self.load(pos.wrapping_add(done))) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length and position of a write lands exactly where asked, and a read
    /// gives back what is there, through the 8-4-2-1 splits.
    #[test]
    fn reads_and_writes_land_where_asked() {
        let mut page = [0xEEu8; PAGE_SIZE];
        let mut model = page;
        let mut r = RacyPage::from_page(&mut page);
        let mut k = 0u8;
        for pos in (0..40).chain(PAGE_SIZE - 40..PAGE_SIZE) {
            for len in 0..=(PAGE_SIZE - pos).min(80) {
                let bytes: std::vec::Vec<u8> = (0..len)
                    .map(|_| {
                        k = k.wrapping_mul(31).wrapping_add(7);
                        k
                    })
                    .collect();
                assert!(r.write(pos, &bytes));
                model[pos..pos + len].copy_from_slice(&bytes);
                let mut back = std::vec![0; len];
                assert!(r.read(pos, &mut back));
                assert_eq!(back, bytes, "pos {pos} len {len}");
            }
        }
        assert_eq!(r.snapshot(), model);
    }

    /// An access that reaches past the page does nothing.
    #[test]
    fn accesses_past_the_page_are_refused() {
        let mut page = [7u8; PAGE_SIZE];
        let mut r = RacyPage::from_page(&mut page);
        assert!(!r.write(PAGE_SIZE - 3, &[1, 2, 3, 4]));
        assert!(!r.write(usize::MAX, &[1]));
        assert!(r.write(PAGE_SIZE, &[]));
        let mut out = [9u8; 4];
        assert!(!r.read(PAGE_SIZE - 3, &mut out));
        assert_eq!(out, [9; 4]);
        assert!(r.snapshot().iter().all(|&b| b == 7));
    }
}
