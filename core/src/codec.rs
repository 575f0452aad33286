// SPDX-License-Identifier: GPL-2.0
//! The page codec: lz4_flex block format with a preallocated, reused hash table.
//!
//! `lz4_flex::compress_into` puts an 8-16 KiB hash table on the stack, which a 16 KiB
//! kernel stack cannot afford. [`Compressor`] owns the table and the output buffer; the
//! kernel allocates one per CPU (never on the stack) with [`Compressor::init_in_place`].

use core::mem::MaybeUninit;

use lz4_flex::block::{
    compress_into_with_table, decompress_into, get_maximum_output_size, CompressError,
    CompressTable,
};

use crate::page::Page;
use crate::PAGE_SIZE;

/// What [`Compressor::compress_max_from`] reads: lz4_flex's input trait (patch 0010).
#[cfg(feature = "patched-codec")]
pub use lz4_flex::block::CompressInput;

/// Worst-case lz4 output for one page (4525 bytes for 4096).
pub const MAX_COMPRESSED: usize = get_maximum_output_size(PAGE_SIZE);

/// The default limit of [`Compressor::compress`]: pages that do not compress to at
/// most this many bytes are stored raw (the threshold ramzswap used: 3/4 of a page).
/// The kernel driver uses [`Compressor::compress_max`] with zsmalloc's own limit
/// instead (its huge class size, as zram does): an object that large takes a whole
/// page in zsmalloc anyway, while anything smaller still saves memory.
pub const RAW_THRESHOLD: usize = PAGE_SIZE * 3 / 4;

/// Per-CPU compression state: the lz4 hash table and the output buffer.
pub struct Compressor {
    table: CompressTable,
    out: [u8; MAX_COMPRESSED],
}

/// A template to initialise [`Compressor::table`] from without a stack temporary.
static TABLE_TEMPLATE: CompressTable = CompressTable::small();

/// What a page compressed to.
#[derive(Debug, PartialEq, Eq)]
pub enum Encoded<'a> {
    /// lz4 block data no larger than [`RAW_THRESHOLD`].
    Compressed(&'a [u8]),
    /// The page does not compress well enough: store it as is.
    Incompressible,
}

/// Why stored data could not be decoded back into a page.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum DecodeError {
    /// lz4 rejected the data (corrupt, truncated).
    Corrupt,
    /// The data decoded to a length other than one page.
    WrongLength(usize),
}

impl Compressor {
    /// Initialises a `Compressor` in caller-provided (heap) memory and returns it.
    ///
    /// The 8 KiB table is copied from a static template, so nothing large is ever
    /// built on the stack; the output buffer needs no initialisation for its contents
    /// to be meaningful, but it is zeroed so no byte of it is ever uninitialised.
    pub fn init_in_place(slot: &mut MaybeUninit<Self>) -> &mut Self {
        let p = slot.as_mut_ptr();
        // SAFETY: `p` points to writable, properly aligned memory for a `Compressor`
        // (it comes from a `&mut MaybeUninit<Self>`). `CompressTable` holds only plain
        // integers (no pointers, no `Drop`), so a bitwise copy of the template is a
        // valid value; the output buffer is zero-filled byte by byte. After both
        // writes every field is initialised, so `assume_init_mut` is sound.
        unsafe {
            core::ptr::copy_nonoverlapping(&TABLE_TEMPLATE, core::ptr::addr_of_mut!((*p).table), 1);
            core::ptr::write_bytes(
                core::ptr::addr_of_mut!((*p).out).cast::<u8>(),
                0,
                MAX_COMPRESSED,
            );
            slot.assume_init_mut()
        }
    }

    /// Compresses `page`, stored raw above [`RAW_THRESHOLD`]. The returned slice
    /// borrows this compressor's buffer.
    pub fn compress(&mut self, page: &Page) -> Encoded<'_> {
        self.compress_max(page, RAW_THRESHOLD)
    }

    /// Compresses `page`; if the result is longer than `max_len` bytes (or than
    /// `PAGE_SIZE - 1`: never larger than the page itself) the page is to be stored
    /// raw. The returned slice borrows this compressor's buffer.
    pub fn compress_max(&mut self, page: &Page, max_len: usize) -> Encoded<'_> {
        let r = compress_into_with_table(page, &mut self.out, &mut self.table);
        self.encoded(r, max_len)
    }

    /// What a compression that returned `r` into `self.out` gives, under `max_len`.
    fn encoded(&self, r: Result<usize, CompressError>, max_len: usize) -> Encoded<'_> {
        match r {
            Ok(n) if n <= max_len.min(PAGE_SIZE - 1) => match self.out.get(..n) {
                Some(s) => Encoded::Compressed(s),
                None => Encoded::Incompressible,
            },
            // Too large, or (impossible with a MAX_COMPRESSED buffer) out of space:
            // either way the raw page is the safe thing to store.
            _ => Encoded::Incompressible,
        }
    }
}

#[cfg(feature = "patched-codec")]
impl Compressor {
    /// [`Compressor::compress_max`] of a page read through `src`'s loads (lz4_flex's
    /// `CompressInput`, patch 0010), such as a [`crate::racy::RacySource`]: a page that
    /// someone else may write meanwhile. If nobody does, the result is
    /// `compress_max`'s; if someone does, `Compressed` holds a block that decodes to
    /// some page (of bytes the compressor loaded), never a block that fails to decode,
    /// nor an access outside `src`. `src` is one page long: any other length gives
    /// `Incompressible` (raw: the caller stores `src`'s page as it is).
    pub fn compress_max_from<I>(&mut self, src: &I, max_len: usize) -> Encoded<'_>
    where
        I: lz4_flex::block::CompressInput + ?Sized,
    {
        if src.len() != PAGE_SIZE {
            return Encoded::Incompressible;
        }
        let r = lz4_flex::block::compress_into_with_table_from(src, &mut self.out, &mut self.table);
        self.encoded(r, max_len)
    }

    /// [`Compressor::compress_max_from`] of a [`crate::racy::RacySource`]: what the
    /// kernel driver compresses a page with. Not generic, and never inlined, so that the
    /// compressor's code for it is generated here, in rzs_core, with the codec crates'
    /// code generation flags (Kbuild: on arm64 they, unlike the driver's crate, are
    /// built for unaligned word accesses), and not in the driver's crate, as a generic
    /// function instantiated by the driver would be.
    #[inline(never)]
    pub fn compress_max_racy(
        &mut self,
        src: &crate::racy::RacySource<'_>,
        max_len: usize,
    ) -> Encoded<'_> {
        self.compress_max_from(src, max_len)
    }
}

/// Decodes lz4 block data that must expand to exactly one page.
pub fn decompress(src: &[u8], page: &mut Page) -> Result<(), DecodeError> {
    match decompress_into(src, page) {
        Ok(PAGE_SIZE) => Ok(()),
        Ok(n) => Err(DecodeError::WrongLength(n)),
        Err(_) => Err(DecodeError::Corrupt),
    }
}

/// Decodes lz4 block data that must expand to exactly one page into `page`, which
/// someone else may write meanwhile (an O_DIRECT read's user page). The same decoder
/// as [`decompress`]'s, through volatile accesses (`crate::racy`); with no one else
/// writing, the same result. If someone does, the page holds garbage and the result
/// is still `Ok` or an error, never an access outside `src` or the page.
#[cfg(feature = "patched-codec")]
pub fn decompress_racy(
    src: &[u8],
    page: &mut crate::racy::RacyPage<'_>,
) -> Result<(), DecodeError> {
    match lz4_flex::block::decompress_into_output(src, page) {
        Ok(PAGE_SIZE) => Ok(()),
        Ok(n) => Err(DecodeError::WrongLength(n)),
        Err(_) => Err(DecodeError::Corrupt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;

    fn compressor() -> Box<Compressor> {
        let mut b = Box::<Compressor>::new_uninit();
        Compressor::init_in_place(&mut b);
        // SAFETY: init_in_place initialised it.
        unsafe { b.assume_init() }
    }

    fn text_page() -> Page {
        let mut p = [0u8; PAGE_SIZE];
        let s = b"rzs compresses pages into RAM; lz4 likes repeated text. ";
        for (i, b) in p.iter_mut().enumerate() {
            *b = s[i % s.len()];
        }
        p
    }

    #[test]
    fn text_round_trips_compressed() {
        let mut c = compressor();
        let p = text_page();
        let enc = match c.compress(&p) {
            Encoded::Compressed(s) => s.to_vec(),
            Encoded::Incompressible => panic!("text should compress"),
        };
        assert!(enc.len() < PAGE_SIZE / 4);
        let mut out = [0u8; PAGE_SIZE];
        decompress(&enc, &mut out).unwrap();
        assert_eq!(out, p);
    }

    #[test]
    fn random_page_is_incompressible() {
        let mut c = compressor();
        let mut p = [0u8; PAGE_SIZE];
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for b in p.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        assert_eq!(c.compress(&p), Encoded::Incompressible);
    }

    #[test]
    fn compress_max_sets_the_raw_limit() {
        let mut c = compressor();
        // Half random, half zero: compresses to a bit over half a page.
        let mut p = [0u8; PAGE_SIZE];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for b in p[..PAGE_SIZE / 2].iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let Encoded::Compressed(enc) = c.compress_max(&p, PAGE_SIZE) else {
            panic!("half-zero page did not compress")
        };
        let n = enc.len();
        assert!(n > PAGE_SIZE / 2 && n < RAW_THRESHOLD, "{n}");
        assert!(matches!(c.compress_max(&p, n), Encoded::Compressed(e) if e.len() == n));
        assert_eq!(c.compress_max(&p, n - 1), Encoded::Incompressible);
        // Never more than the page: a limit beyond it is capped at PAGE_SIZE - 1.
        let mut r = [0u8; PAGE_SIZE];
        for b in r.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        assert_eq!(c.compress_max(&r, usize::MAX), Encoded::Incompressible);
    }

    #[test]
    fn short_output_is_wrong_length() {
        let mut c = compressor();
        let p = text_page();
        let Encoded::Compressed(enc) = c.compress(&p) else {
            panic!()
        };
        let enc = enc.to_vec();
        // A valid stream for a shorter input decodes fine but is not a page.
        let mut buf = [0u8; MAX_COMPRESSED];
        let mut table = CompressTable::small();
        let n = compress_into_with_table(&p[..100], &mut buf, &mut table).unwrap();
        let short = &buf[..n];
        let mut out = [0u8; PAGE_SIZE];
        assert_eq!(
            decompress(short, &mut out),
            Err(DecodeError::WrongLength(100))
        );
        assert_eq!(
            decompress(&enc[..enc.len() / 2], &mut out),
            Err(DecodeError::Corrupt)
        );
    }

    /// Through a `RacySource` of a page nobody writes, `compress_max_from` and
    /// `compress_max_racy` give `compress_max`'s bytes, `same_filled` gives
    /// `page::same_filled`'s word, and the loads and copies give the page's bytes (every
    /// length near both ends).
    #[test]
    #[cfg(feature = "patched-codec")]
    fn racy_source_reads_as_the_page() {
        use crate::racy::RacySource;
        use lz4_flex::block::CompressInput;

        let mut c = compressor();
        let mut d = compressor();
        let mut pages = sample_pages();
        let mut same = [0x5au8; PAGE_SIZE];
        pages.push(same);
        same[PAGE_SIZE - 1] ^= 1;
        pages.push(same);
        same[PAGE_SIZE - 1] ^= 1;
        same[8 * 200 + 3] ^= 1;
        pages.push(same);
        pages.push([0; PAGE_SIZE]);
        for (i, p) in pages.iter().enumerate() {
            let src = RacySource::from_page(p);
            assert_eq!(src.same_filled(), crate::page::same_filled(p), "page {i}");
            for max in [PAGE_SIZE, 2000, 100] {
                assert_eq!(
                    c.compress_max_from(&src, max),
                    d.compress_max(p, max),
                    "page {i}, limit {max}"
                );
                assert_eq!(
                    c.compress_max_racy(&src, max),
                    d.compress_max(p, max),
                    "page {i}, limit {max}, compress_max_racy"
                );
            }
        }
        // No zero byte, and no two neighbours equal.
        let mut p = [0u8; PAGE_SIZE];
        for (i, b) in p.iter_mut().enumerate() {
            *b = (i % 251) as u8 + 1;
        }
        let p = &p;
        let src = RacySource::from_page(p);
        for pos in (0..40).chain(PAGE_SIZE - 40..PAGE_SIZE) {
            for len in 0..=(PAGE_SIZE - pos).min(80) {
                let mut out = [0u8; 80];
                // SAFETY: `pos + len <= PAGE_SIZE`; `out` holds 80 bytes, ours.
                unsafe { src.copy_to(pos, out.as_mut_ptr(), len) };
                assert_eq!(out[..len], p[pos..pos + len], "pos {pos} len {len}");
                assert!(out[len..].iter().all(|&b| b == 0), "pos {pos} len {len}");
            }
            // SAFETY: the loads below stay within the page.
            unsafe {
                assert_eq!(src.load_u8(pos), p[pos]);
                if pos + 8 <= PAGE_SIZE {
                    let w = |n: usize| p[pos..pos + n].to_vec();
                    assert_eq!(src.load_u16(pos).to_ne_bytes().to_vec(), w(2));
                    assert_eq!(src.load_u32(pos).to_ne_bytes().to_vec(), w(4));
                    assert_eq!(
                        src.load_usize(pos).to_ne_bytes().to_vec(),
                        w(core::mem::size_of::<usize>())
                    );
                }
            }
        }
        // A page that is not one page long is never compressed.
        assert_eq!(
            c.compress_max_from(&[0u8; 100][..], PAGE_SIZE),
            Encoded::Incompressible
        );
    }

    /// A page two threads race on, for the tests that write it while the codec
    /// works on it: a data race outside Rust's model, on purpose (see those tests).
    #[cfg(feature = "patched-codec")]
    struct SharedPage(std::cell::UnsafeCell<Page>);
    // SAFETY: see `SharedPage`: the race is the point.
    #[cfg(feature = "patched-codec")]
    unsafe impl Sync for SharedPage {}
    #[cfg(feature = "patched-codec")]
    impl SharedPage {
        fn ptr(&self) -> *mut u8 {
            self.0.get().cast()
        }
    }

    /// Stops a racing writer however the test's thread leaves the scope (a failed
    /// assertion too), or the scope would wait for the writer forever.
    #[cfg(feature = "patched-codec")]
    struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
    #[cfg(feature = "patched-codec")]
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// xorshift64: a fixed-seed PRNG, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Page kinds with different lz4 stream shapes (long matches, literals, mixed).
    fn sample_pages() -> std::vec::Vec<Page> {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let mut pages = std::vec![text_page(), [0u8; PAGE_SIZE]];
        // Small little-endian counters: short matches and many literals.
        let mut p = [0u8; PAGE_SIZE];
        for (i, c) in p.chunks_exact_mut(4).enumerate() {
            c.copy_from_slice(&(i as u32 * 7).to_le_bytes());
        }
        pages.push(p);
        // Half random, half text.
        let mut p = text_page();
        for b in p[..PAGE_SIZE / 2].iter_mut() {
            *b = rng.next() as u8;
        }
        pages.push(p);
        // Sparse: mostly zero with a few random bytes.
        let mut p = [0u8; PAGE_SIZE];
        for _ in 0..64 {
            p[rng.below(PAGE_SIZE)] = rng.next() as u8;
        }
        pages.push(p);
        pages
    }

    /// Deterministic mutation fuzzing of [`decompress`] (the `fuzz/` cargo-fuzz target
    /// does the same with coverage guidance): corrupted streams must be rejected or
    /// decode to a page, never panic or write out of bounds.
    #[test]
    fn mutated_streams_never_panic() {
        let mut c = compressor();
        let mut table = CompressTable::small();
        let mut streams = std::vec::Vec::new();
        for p in sample_pages() {
            // Every page, even an incompressible one, as an lz4 stream.
            let mut buf = [0u8; MAX_COMPRESSED];
            let n = compress_into_with_table(&p, &mut buf, &mut table).unwrap();
            streams.push((buf[..n].to_vec(), p));
            if let Encoded::Compressed(s) = c.compress(&p) {
                assert_eq!(s, &buf[..n]);
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut out = [0u8; PAGE_SIZE];
        let (mut ok, mut corrupt, mut wrong_len) = (0u32, 0u32, 0u32);
        for iter in 0..20_000 {
            let (orig, page) = &streams[iter % streams.len()];
            let mut s = orig.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(s.len());
                match rng.below(8) {
                    0 | 1 => {
                        if let Some(b) = s.get_mut(at) {
                            *b ^= 1 << rng.below(8);
                        }
                    }
                    2 => {
                        if let Some(b) = s.get_mut(at) {
                            *b = rng.next() as u8;
                        }
                    }
                    3 => s.insert(at, rng.next() as u8),
                    4 => {
                        if at < s.len() {
                            s.remove(at);
                        }
                    }
                    5 => s.truncate(at),
                    6 => {
                        // Extreme values in length/offset positions.
                        if let Some(b) = s.get_mut(at) {
                            *b = [0x00, 0xff, 0x0f, 0xf0][rng.below(4)];
                        }
                    }
                    _ => {
                        let n = rng.below(16);
                        s.extend((0..n).map(|_| rng.next() as u8));
                    }
                }
            }
            if iter % 16 == 0 {
                // Now and then, pure noise of any length up to a stream's size.
                s = (0..rng.below(MAX_COMPRESSED + 1))
                    .map(|_| rng.next() as u8)
                    .collect();
            }
            match decompress(&s, &mut out) {
                Ok(()) => {
                    ok += 1;
                    if s == *orig {
                        assert_eq!(out, *page);
                    }
                }
                Err(DecodeError::Corrupt) => corrupt += 1,
                Err(DecodeError::WrongLength(n)) => {
                    assert!(n < PAGE_SIZE, "iteration {iter}: {n}");
                    wrong_len += 1;
                }
            }
        }
        // The mutations must reach every outcome, or the test is not testing much.
        assert!(
            ok > 0 && corrupt > 0 && wrong_len > 0,
            "{ok} {corrupt} {wrong_len}"
        );
    }

    /// A page that changes while it is compressed (an O_DIRECT write's user page, or
    /// a swap page when root cleared the disk's stable writes: see
    /// `BioData::with_racy_source` in the driver) must give a stream that decodes to
    /// exactly one page, whatever
    /// bytes the encoder saw: no panic, no write beyond the output buffer, no stream
    /// the decoder rejects. Another thread rewrites spans of the page with other
    /// sample pages' bytes while this one compresses it.
    ///
    /// Concurrent writes under a `&[u8]` are a data race, outside Rust's model: that
    /// is the situation this test exercises, on the compiled encoder. The writer
    /// uses volatile byte stores so it cannot be optimised away.
    ///
    /// lz4_flex as published fails it (a block with a match of offset 0, which no
    /// decoder accepts; scripts/patches/crates/lz4_flex-0.14.0/0004), so it runs with
    /// feature `patched-codec`, which `make test` sets where it tests rzs-core on the
    /// patched crate.
    #[test]
    #[cfg(feature = "patched-codec")]
    fn compress_survives_input_changing_under_it() {
        compress_while_the_page_changes(false);
    }

    /// The same through a [`crate::racy::RacySource`] (`compress_max_from`), as the
    /// driver compresses every page it writes in place: volatile loads against the
    /// writer's volatile stores. That is still a data race in Rust's model (volatile
    /// accesses are not atomic), on purpose, as above: in the kernel, such loads are
    /// `READ_ONCE`, which the kernel's memory model gives a meaning.
    #[test]
    #[cfg(feature = "patched-codec")]
    fn compress_max_from_survives_the_page_changing_under_it() {
        compress_while_the_page_changes(true);
    }

    /// The body of the two tests above: `racy` compresses through a `RacySource`.
    #[cfg(feature = "patched-codec")]
    fn compress_while_the_page_changes(racy: bool) {
        use crate::racy::RacySource;
        use core::ptr::NonNull;
        use std::cell::UnsafeCell;
        use std::sync::atomic::{AtomicBool, Ordering};

        let samples = sample_pages();
        let shared = SharedPage(UnsafeCell::new(samples[0]));
        let stop = AtomicBool::new(false);
        let started = AtomicBool::new(false);
        let mut c = compressor();
        let mut out = [0u8; PAGE_SIZE];
        let (mut compressed, mut raced) = (0u32, 0u32);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut rng = Rng(0x2545_f491_4f6c_dd1d);
                started.store(true, Ordering::Relaxed);
                while !stop.load(Ordering::Relaxed) {
                    let src = &samples[rng.below(samples.len())];
                    let at = rng.below(PAGE_SIZE);
                    let len = rng.below(PAGE_SIZE - at + 1).min(512);
                    let base = shared.ptr();
                    for (i, b) in src[at..at + len].iter().enumerate() {
                        // SAFETY: `at + i < PAGE_SIZE`, inside the page.
                        unsafe { base.add(at + i).write_volatile(*b) };
                    }
                }
            });
            let _stop = StopOnDrop(&stop);
            while !started.load(Ordering::Relaxed) {
                std::thread::yield_now();
            }
            // Until enough compressions saw the page change (a busy machine may
            // schedule the writer rarely), within a bound.
            for _ in 0..200_000 {
                if raced >= 1000 {
                    break;
                }
                let enc = if racy {
                    let base = NonNull::new(shared.ptr()).unwrap();
                    // SAFETY: the page is valid for reads while `shared` lives, and
                    // no reference to it exists. The other thread writes it through
                    // raw pointers, in Rust: a race outside Rust's model, which is
                    // what the test exercises (see its documentation).
                    let src = unsafe { RacySource::new(base) };
                    c.compress_max_racy(&src, PAGE_SIZE - 1)
                } else {
                    // SAFETY: see the test's documentation.
                    let page: &Page = unsafe { &*shared.ptr().cast::<Page>() };
                    c.compress_max(page, PAGE_SIZE - 1)
                };
                if let Encoded::Compressed(s) = enc {
                    compressed += 1;
                    assert!(s.len() < PAGE_SIZE);
                    assert_eq!(
                        decompress(s, &mut out),
                        Ok(()),
                        "a torn page's stream must decode"
                    );
                    // Evidence the race happened: what was stored is not the page
                    // as it is now.
                    let now = (0..PAGE_SIZE).map(|i| {
                        // SAFETY: inside the page; a volatile read of racing bytes.
                        unsafe { shared.ptr().add(i).read_volatile() }
                    });
                    if !out.iter().copied().eq(now) {
                        raced += 1;
                    }
                }
            }
        });
        assert!(
            compressed > 0 && raced > 0,
            "{compressed} compressed, {raced} raced"
        );
    }

    /// Streams of every sample page, valid and corrupted, and every prefix of
    /// one: [`decompress_racy`] gives [`decompress`]'s result and leaves the page
    /// byte for byte as `decompress` leaves its own (the bytes a failed decode wrote
    /// included).
    #[test]
    #[cfg(feature = "patched-codec")]
    fn decompress_racy_decodes_as_decompress() {
        use crate::racy::RacyPage;
        let check = |enc: &[u8]| {
            let mut want = [0x5Au8; PAGE_SIZE];
            let mut got = [0x5Au8; PAGE_SIZE];
            let want_r = decompress(enc, &mut want);
            let got_r = decompress_racy(enc, &mut RacyPage::from_page(&mut got));
            assert_eq!(got_r, want_r);
            assert!(got == want, "bytes differ for {enc:?}");
        };
        let mut c = compressor();
        let mut rng = Rng(0x5851_f42d_4c95_7f2d);
        for page in sample_pages() {
            let Encoded::Compressed(enc) = c.compress_max(&page, PAGE_SIZE - 1) else {
                continue;
            };
            let enc = enc.to_vec();
            check(&enc);
            let mut out = [0u8; PAGE_SIZE];
            decompress_racy(&enc, &mut RacyPage::from_page(&mut out)).unwrap();
            assert!(out == page);
            for cut in (0..enc.len()).step_by(7) {
                check(&enc[..cut]);
            }
            for _ in 0..200 {
                let mut bad = enc.clone();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(bad.len());
                    bad[at] = rng.next() as u8;
                }
                check(&bad);
            }
        }
    }

    /// The page an O_DIRECT read decodes into may be written by another thread of
    /// the user meanwhile. Whatever it writes, a valid stream still decodes (`Ok`):
    /// the decoder's positions come from the stream, never from bytes it reads back
    /// from the page. Another thread rewrites spans of the page while this one
    /// decodes into it, until enough decodes saw their output changed.
    ///
    /// As in `compress_survives_input_changing_under_it`, the race is the point: the
    /// writer's volatile stores race with the decoder's volatile accesses.
    #[test]
    #[cfg(feature = "patched-codec")]
    fn decompress_racy_survives_the_page_changing_under_it() {
        use crate::racy::RacyPage;
        use std::cell::UnsafeCell;
        use std::sync::atomic::{AtomicBool, Ordering};

        let mut c = compressor();
        let streams: std::vec::Vec<(Page, std::vec::Vec<u8>)> = sample_pages()
            .into_iter()
            .filter_map(|p| match c.compress_max(&p, PAGE_SIZE - 1) {
                Encoded::Compressed(e) => Some((p, e.to_vec())),
                Encoded::Incompressible => None,
            })
            .collect();
        assert!(streams.len() > 3);
        let shared = SharedPage(UnsafeCell::new([0; PAGE_SIZE]));
        let stop = AtomicBool::new(false);
        let started = AtomicBool::new(false);
        let (mut decoded, mut raced) = (0u32, 0u32);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
                started.store(true, Ordering::Relaxed);
                while !stop.load(Ordering::Relaxed) {
                    let at = rng.below(PAGE_SIZE);
                    let len = rng.below(PAGE_SIZE - at + 1).min(256);
                    let v = rng.next() as u8;
                    for i in 0..len {
                        // SAFETY: `at + i < PAGE_SIZE`, inside the page.
                        unsafe { shared.ptr().add(at + i).write_volatile(v) };
                    }
                }
            });
            let _stop = StopOnDrop(&stop);
            while !started.load(Ordering::Relaxed) {
                std::thread::yield_now();
            }
            for round in 0..200_000 {
                if raced >= 1000 {
                    break;
                }
                let (page, enc) = &streams[round % streams.len()];
                // SAFETY: the page is valid for `PAGE_SIZE` bytes for the whole
                // scope, and no reference to it exists (only raw accesses).
                let mut racy =
                    unsafe { RacyPage::new(core::ptr::NonNull::new(shared.ptr()).unwrap()) };
                assert_eq!(
                    decompress_racy(enc, &mut racy),
                    Ok(()),
                    "a valid stream must decode whatever the page holds"
                );
                decoded += 1;
                if racy.snapshot() != *page {
                    raced += 1;
                }
            }
        });
        assert!(decoded > 0 && raced > 0, "{decoded} decoded, {raced} raced");
    }
}
