// SPDX-License-Identifier: GPL-2.0
//! Device statistics.
//!
//! [`Stats`] is a set of independent `AtomicU64` counters that the I/O paths update
//! concurrently; [`Stats::snapshot`] copies them into a plain [`StatsSnapshot`] for
//! reporting (sysfs, the userspace tool). The counters touched on every page
//! ([`Hot`]) are split in per-CPU stripes, each on cache lines of its own, so two
//! CPUs writing pages do not contend for one line (zram's single `atomic64_t`s do);
//! a snapshot sums them.
//!
//! # Ordering
//!
//! Every access uses `Ordering::Relaxed`. That is enough because each counter is a
//! statistic on its own: the atomic read-modify-write operations guarantee that no
//! update is lost or torn, and no other memory is published through a counter (the
//! slot table has its own locks), so nothing needs a happens-before edge from it.
//! The price is that a snapshot is not one instant across counters: while I/O is
//! running, `pages_stored` and `compr_data_size` may come from slightly different
//! moments. zram's `atomic64_t` statistics have the same property.

use core::sync::atomic::{AtomicU64, Ordering};

/// Adds 1 to `counter`.
#[inline]
pub fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to `counter` (wrapping, like every atomic add).
#[inline]
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Subtracts `n` from `counter` (wrapping: an unbalanced subtraction shows up as a
/// huge value rather than being hidden).
#[inline]
pub fn sub(counter: &AtomicU64, n: u64) {
    counter.fetch_sub(n, Ordering::Relaxed);
}

/// The counters the I/O path updates for every page or bio. They live in per-CPU
/// stripes ([`Stats::local`]), so CPUs doing I/O at once do not bounce one cache
/// line between them; a snapshot sums the stripes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hot {
    /// Completed read requests.
    NumReads,
    /// Completed write requests.
    NumWrites,
    /// Reads that failed (corrupt data, allocator errors).
    FailedReads,
    /// Writes that failed (out of memory, over the memory limit).
    FailedWrites,
    /// Slots freed by the swap layer's free notification.
    NotifyFree,
    /// Slots currently holding a same-filled page (no allocation).
    SamePages,
    /// Slots currently holding data (same-filled or object).
    PagesStored,
    /// Slots currently holding an incompressible page stored raw.
    HugePages,
    /// Bytes currently stored in objects after compression.
    ComprDataSize,
}

/// Number of [`Hot`] counters.
const HOT: usize = 9;

/// Number of stripes: CPU `n` uses stripe `n % STRIPES`. More CPUs than this share
/// stripes, which costs some contention but never a lost update.
pub const STRIPES: usize = 32;

/// One stripe of hot counters, on cache lines of its own.
#[derive(Debug)]
#[repr(align(64))]
struct Stripe([AtomicU64; HOT]);

impl Stripe {
    const fn new() -> Self {
        Stripe([const { AtomicU64::new(0) }; HOT])
    }

    #[inline]
    fn get(&self, h: Hot) -> &AtomicU64 {
        // `Hot` has `HOT` variants, numbered from 0: always in range.
        match self.0.get(h as usize) {
            Some(c) => c,
            None => &self.0[0],
        }
    }
}

/// The live counters of one device.
#[derive(Debug)]
pub struct Stats {
    stripes: [Stripe; STRIPES],
    /// Requests rejected as malformed (misaligned, out of range).
    pub invalid_io: AtomicU64,
    /// Unused by the driver (the ABI derives it from the pages stored); kept so a
    /// snapshot has every field of the ABI.
    pub orig_data_size: AtomicU64,
    /// Peak allocator memory use, in pages.
    pub mem_used_max: AtomicU64,
    /// Pages the allocator gave back by compaction (zram's `pages_compacted`).
    pub pages_compacted: AtomicU64,
    /// Pages on the backing device now (zram's `bd_count`).
    pub bd_count: AtomicU64,
    /// Pages read from the backing device (zram's `bd_reads`).
    pub bd_reads: AtomicU64,
    /// Pages written back to the backing device (zram's `bd_writes`).
    pub bd_writes: AtomicU64,
    /// Blocks written to the backing device: fewer than `bd_writes` by packing.
    pub bd_blocks_written: AtomicU64,
    /// Backing-device reads or writes that failed.
    pub bd_failed: AtomicU64,
}

/// The stripe of hot counters of the CPU an I/O runs on (see [`Stats::local`]).
#[derive(Clone, Copy, Debug)]
pub struct Local<'a>(&'a Stripe);

impl Local<'_> {
    /// Adds 1 to `h`.
    #[inline]
    pub fn inc(self, h: Hot) {
        inc(self.0.get(h));
    }

    /// Adds `n` to `h` (wrapping).
    #[inline]
    pub fn add(self, h: Hot, n: u64) {
        add(self.0.get(h), n);
    }

    /// Subtracts `n` from `h` (wrapping: one stripe may go "below zero" when a
    /// page stored on one CPU is freed on another; the sum over stripes is right).
    #[inline]
    pub fn sub(self, h: Hot, n: u64) {
        sub(self.0.get(h), n);
    }
}

impl Stats {
    /// All counters zero.
    pub const fn new() -> Self {
        Stats {
            stripes: [const { Stripe::new() }; STRIPES],
            invalid_io: AtomicU64::new(0),
            orig_data_size: AtomicU64::new(0),
            mem_used_max: AtomicU64::new(0),
            pages_compacted: AtomicU64::new(0),
            bd_count: AtomicU64::new(0),
            bd_reads: AtomicU64::new(0),
            bd_writes: AtomicU64::new(0),
            bd_blocks_written: AtomicU64::new(0),
            bd_failed: AtomicU64::new(0),
        }
    }

    /// The hot counters for an I/O running on CPU `cpu` (any number: a hint, as
    /// the task may migrate; a stale one costs only some sharing).
    #[inline]
    pub fn local(&self, cpu: usize) -> Local<'_> {
        match self.stripes.get(cpu % STRIPES) {
            Some(s) => Local(s),
            None => Local(&self.stripes[0]),
        }
    }

    /// The sum of hot counter `h` over every stripe (wrapping).
    pub fn hot(&self, h: Hot) -> u64 {
        self.stripes.iter().fold(0u64, |sum, s| {
            sum.wrapping_add(s.get(h).load(Ordering::Relaxed))
        })
    }

    /// Raises the peak `mem_used_max` to `current_pages` if that is higher. Reads
    /// before it writes, so the common case (no new peak) dirties no shared line.
    #[inline]
    pub fn update_max(&self, current_pages: u64) {
        if current_pages > self.mem_used_max.load(Ordering::Relaxed) {
            self.mem_used_max
                .fetch_max(current_pages, Ordering::Relaxed);
        }
    }

    /// Restarts peak tracking from `current_pages` (zram's `mem_used_max` reset).
    pub fn reset_max(&self, current_pages: u64) {
        self.mem_used_max.store(current_pages, Ordering::Relaxed);
    }

    /// Sets every counter to zero (device reset). Not atomic as a whole: call it only
    /// while no I/O can run.
    pub fn reset(&self) {
        for s in &self.stripes {
            for c in &s.0 {
                c.store(0, Ordering::Relaxed);
            }
        }
        for c in self.cold() {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Copies the counters (each read on its own; see the module documentation).
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            num_reads: self.hot(Hot::NumReads),
            num_writes: self.hot(Hot::NumWrites),
            failed_reads: self.hot(Hot::FailedReads),
            failed_writes: self.hot(Hot::FailedWrites),
            invalid_io: load(&self.invalid_io),
            notify_free: self.hot(Hot::NotifyFree),
            same_pages: self.hot(Hot::SamePages),
            pages_stored: self.hot(Hot::PagesStored),
            huge_pages: self.hot(Hot::HugePages),
            orig_data_size: load(&self.orig_data_size),
            compr_data_size: self.hot(Hot::ComprDataSize),
            mem_used_max: load(&self.mem_used_max),
            pages_compacted: load(&self.pages_compacted),
            bd_count: load(&self.bd_count),
            bd_reads: load(&self.bd_reads),
            bd_writes: load(&self.bd_writes),
            bd_blocks_written: load(&self.bd_blocks_written),
            bd_failed: load(&self.bd_failed),
        }
    }

    fn cold(&self) -> [&AtomicU64; 9] {
        [
            &self.invalid_io,
            &self.orig_data_size,
            &self.mem_used_max,
            &self.pages_compacted,
            &self.bd_count,
            &self.bd_reads,
            &self.bd_writes,
            &self.bd_blocks_written,
            &self.bd_failed,
        ]
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

/// A copy of [`Stats`] at one moment, as plain numbers (same fields and units).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`Stats::num_reads`].
    pub num_reads: u64,
    /// See [`Stats::num_writes`].
    pub num_writes: u64,
    /// See [`Stats::failed_reads`].
    pub failed_reads: u64,
    /// See [`Stats::failed_writes`].
    pub failed_writes: u64,
    /// See [`Stats::invalid_io`].
    pub invalid_io: u64,
    /// See [`Stats::notify_free`].
    pub notify_free: u64,
    /// See [`Stats::same_pages`].
    pub same_pages: u64,
    /// See [`Stats::pages_stored`].
    pub pages_stored: u64,
    /// See [`Stats::huge_pages`].
    pub huge_pages: u64,
    /// See [`Stats::orig_data_size`] (bytes).
    pub orig_data_size: u64,
    /// See [`Stats::compr_data_size`] (bytes).
    pub compr_data_size: u64,
    /// See [`Stats::mem_used_max`] (pages).
    pub mem_used_max: u64,
    /// See [`Stats::pages_compacted`] (pages).
    pub pages_compacted: u64,
    /// See [`Stats::bd_count`] (pages).
    pub bd_count: u64,
    /// See [`Stats::bd_reads`] (pages).
    pub bd_reads: u64,
    /// See [`Stats::bd_writes`] (pages).
    pub bd_writes: u64,
    /// See [`Stats::bd_blocks_written`] (blocks of 4 KiB).
    pub bd_blocks_written: u64,
    /// See [`Stats::bd_failed`] (I/Os).
    pub bd_failed: u64,
}

impl StatsSnapshot {
    /// `orig_data_size / compr_data_size` in hundredths (250 means 2.50:1), rounded
    /// down (exact below 2^57 bytes, within one hundredth above); `None` when nothing
    /// compressed is stored. Integer-only (no floating point or 128-bit division in
    /// the kernel); saturates at `u64::MAX`.
    pub fn compression_ratio_x100(&self) -> Option<u64> {
        let (orig, compr) = (self.orig_data_size, self.compr_data_size);
        let q = orig.checked_div(compr)?;
        let r = orig.checked_rem(compr)?;
        // r < compr, so r * 100 / compr < 100. When r * 100 overflows, compr is
        // above u64::MAX / 100 and dividing it by 100 first is off by at most one
        // hundredth (only for sizes beyond 2^57 bytes).
        let frac = match r.checked_mul(100) {
            Some(r100) => r100.checked_div(compr)?,
            None => r.checked_div(compr / 100)?.min(99),
        };
        Some(q.saturating_mul(100).saturating_add(frac))
    }

    /// Sets every field to zero.
    pub fn reset(&mut self) {
        *self = StatsSnapshot::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    static GLOBAL: Stats = Stats::new();

    #[test]
    fn new_is_zero_and_const() {
        assert_eq!(GLOBAL.snapshot(), StatsSnapshot::default());
        assert_eq!(Stats::default().snapshot(), StatsSnapshot::default());
    }

    const ALL_HOT: [Hot; HOT] = [
        Hot::NumReads,
        Hot::NumWrites,
        Hot::FailedReads,
        Hot::FailedWrites,
        Hot::NotifyFree,
        Hot::SamePages,
        Hot::PagesStored,
        Hot::HugePages,
        Hot::ComprDataSize,
    ];

    #[test]
    fn every_field_reaches_the_snapshot() {
        let s = Stats::new();
        // Each hot counter on its own stripe and split over two: the sum counts.
        for (i, h) in ALL_HOT.iter().enumerate() {
            s.local(i).add(*h, 100 * (i as u64 + 1));
            s.local(i + 7).add(*h, i as u64 + 1);
        }
        add(&s.invalid_io, 5);
        add(&s.orig_data_size, 10);
        add(&s.mem_used_max, 12);
        add(&s.pages_compacted, 13);
        add(&s.bd_count, 14);
        add(&s.bd_reads, 15);
        add(&s.bd_writes, 16);
        add(&s.bd_blocks_written, 17);
        add(&s.bd_failed, 18);
        let snap = s.snapshot();
        assert_eq!(
            snap,
            StatsSnapshot {
                num_reads: 101,
                num_writes: 202,
                failed_reads: 303,
                failed_writes: 404,
                invalid_io: 5,
                notify_free: 505,
                same_pages: 606,
                pages_stored: 707,
                huge_pages: 808,
                orig_data_size: 10,
                compr_data_size: 909,
                mem_used_max: 12,
                pages_compacted: 13,
                bd_count: 14,
                bd_reads: 15,
                bd_writes: 16,
                bd_blocks_written: 17,
                bd_failed: 18,
            }
        );
        s.reset();
        assert_eq!(s.snapshot(), StatsSnapshot::default());
        let mut snap = snap;
        snap.reset();
        assert_eq!(snap, StatsSnapshot::default());
    }

    #[test]
    fn stripes_sum_across_cpus_and_wrap() {
        let s = Stats::new();
        // Stored on CPU 3, freed on CPU 40: each stripe alone is off, the sum is 0.
        s.local(3).add(Hot::PagesStored, 1);
        s.local(40).sub(Hot::PagesStored, 1);
        assert_eq!(s.snapshot().pages_stored, 0);
        // CPUs beyond the stripe count share stripes; nothing is lost.
        for cpu in 0..4 * STRIPES {
            s.local(cpu).inc(Hot::NumWrites);
        }
        assert_eq!(s.snapshot().num_writes, 4 * STRIPES as u64);
        s.local(usize::MAX).inc(Hot::NumWrites);
        assert_eq!(s.hot(Hot::NumWrites), 4 * STRIPES as u64 + 1);
        // An unbalanced subtraction shows as a huge value.
        s.local(0).sub(Hot::SamePages, 1);
        assert_eq!(s.snapshot().same_pages, u64::MAX, "sub wraps");
    }

    #[test]
    fn stripes_are_cache_line_aligned() {
        assert!(core::mem::align_of::<Stripe>() >= 64);
        let s = Stats::new();
        let a = s.local(0).0 as *const Stripe as usize;
        let b = s.local(1).0 as *const Stripe as usize;
        assert!(b - a >= 64 && b % 64 == 0);
    }

    #[test]
    fn inc_add_sub() {
        let s = Stats::new();
        inc(&s.invalid_io);
        inc(&s.invalid_io);
        add(&s.pages_compacted, 1000);
        sub(&s.pages_compacted, 300);
        let snap = s.snapshot();
        assert_eq!(snap.invalid_io, 2);
        assert_eq!(snap.pages_compacted, 700);
        sub(&s.invalid_io, 3);
        assert_eq!(s.snapshot().invalid_io, u64::MAX, "sub wraps");
    }

    #[test]
    fn max_tracks_peak() {
        let s = Stats::new();
        s.update_max(10);
        s.update_max(5);
        assert_eq!(s.snapshot().mem_used_max, 10);
        s.update_max(11);
        assert_eq!(s.snapshot().mem_used_max, 11);
        s.reset_max(3);
        assert_eq!(s.snapshot().mem_used_max, 3);
        s.update_max(4);
        assert_eq!(s.snapshot().mem_used_max, 4);
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        let s = Stats::new();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4u64)
                .map(|t| {
                    let s = &s;
                    scope.spawn(move || {
                        for i in 0..10_000u64 {
                            // Two threads share a stripe, two have their own.
                            s.local((t % 3) as usize).inc(Hot::NumWrites);
                            s.local(i as usize).add(Hot::ComprDataSize, 4096);
                            s.update_max(t * 10_000 + i);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        });
        let snap = s.snapshot();
        assert_eq!(snap.num_writes, 40_000);
        assert_eq!(snap.compr_data_size, 40_000 * 4096);
        assert_eq!(snap.mem_used_max, 39_999);
    }

    #[test]
    fn compression_ratio() {
        let ratio = |orig, compr| {
            StatsSnapshot {
                orig_data_size: orig,
                compr_data_size: compr,
                ..Default::default()
            }
            .compression_ratio_x100()
        };
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(4096, 0), None);
        assert_eq!(ratio(0, 100), Some(0));
        assert_eq!(ratio(4096, 4096), Some(100));
        assert_eq!(ratio(4096, 1024), Some(400));
        assert_eq!(ratio(10, 4), Some(250));
        assert_eq!(ratio(10, 3), Some(333));
        assert_eq!(ratio(2, 3), Some(66));
        assert_eq!(ratio(u64::MAX, 1), Some(u64::MAX));
        assert_eq!(ratio(u64::MAX, u64::MAX), Some(100));
        assert_eq!(ratio(u64::MAX - 1, u64::MAX), Some(99));
        assert_eq!(ratio(u64::MAX, u64::MAX / 2), Some(200));
        assert_eq!(ratio(1 << 40, 3 << 38), Some(133));
        // Cross-check against 128-bit arithmetic.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let orig = x >> (x % 64);
            let compr = (x.rotate_left(17) >> (x % 61)).max(1);
            let exact = (u128::from(orig) * 100 / u128::from(compr)).min(u128::from(u64::MAX));
            let got = u128::from(ratio(orig, compr).unwrap());
            assert!(got.abs_diff(exact) <= 1, "{orig}/{compr}: {got} vs {exact}");
        }
    }
}
