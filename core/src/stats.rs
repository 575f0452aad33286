// SPDX-License-Identifier: GPL-2.0
//! Device statistics.
//!
//! [`Stats`] is a set of independent `AtomicU64` counters that the I/O paths update
//! concurrently; [`Stats::snapshot`] copies them into a plain [`StatsSnapshot`] for
//! reporting (sysfs, the userspace tool).
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

/// The live counters of one device.
#[derive(Debug)]
pub struct Stats {
    /// Completed read requests (pages read).
    pub num_reads: AtomicU64,
    /// Completed write requests (pages written).
    pub num_writes: AtomicU64,
    /// Reads that failed (corrupt data, allocator errors).
    pub failed_reads: AtomicU64,
    /// Writes that failed (out of memory, over the memory limit).
    pub failed_writes: AtomicU64,
    /// Requests rejected as malformed (misaligned, out of range).
    pub invalid_io: AtomicU64,
    /// Slots freed by the swap layer's free notification or by discard.
    pub notify_free: AtomicU64,
    /// Slots currently holding a same-filled page (no allocation).
    pub same_pages: AtomicU64,
    /// Slots currently holding data (same-filled or object).
    pub pages_stored: AtomicU64,
    /// Slots currently holding an incompressible page stored raw.
    pub huge_pages: AtomicU64,
    /// Bytes of original data currently stored in objects (a page per object).
    pub orig_data_size: AtomicU64,
    /// Bytes currently stored in objects after compression.
    pub compr_data_size: AtomicU64,
    /// Peak allocator memory use, in pages.
    pub mem_used_max: AtomicU64,
    /// Pages the allocator gave back by compaction (zram's `pages_compacted`).
    pub pages_compacted: AtomicU64,
}

impl Stats {
    /// All counters zero.
    pub const fn new() -> Self {
        Stats {
            num_reads: AtomicU64::new(0),
            num_writes: AtomicU64::new(0),
            failed_reads: AtomicU64::new(0),
            failed_writes: AtomicU64::new(0),
            invalid_io: AtomicU64::new(0),
            notify_free: AtomicU64::new(0),
            same_pages: AtomicU64::new(0),
            pages_stored: AtomicU64::new(0),
            huge_pages: AtomicU64::new(0),
            orig_data_size: AtomicU64::new(0),
            compr_data_size: AtomicU64::new(0),
            mem_used_max: AtomicU64::new(0),
            pages_compacted: AtomicU64::new(0),
        }
    }

    /// Raises the peak `mem_used_max` to `current_pages` if that is higher.
    pub fn update_max(&self, current_pages: u64) {
        self.mem_used_max
            .fetch_max(current_pages, Ordering::Relaxed);
    }

    /// Restarts peak tracking from `current_pages` (zram's `mem_used_max` reset).
    pub fn reset_max(&self, current_pages: u64) {
        self.mem_used_max.store(current_pages, Ordering::Relaxed);
    }

    /// Sets every counter to zero (device reset). Not atomic as a whole: call it only
    /// while no I/O can run.
    pub fn reset(&self) {
        for c in self.counters() {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Copies the counters (each read on its own; see the module documentation).
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            num_reads: load(&self.num_reads),
            num_writes: load(&self.num_writes),
            failed_reads: load(&self.failed_reads),
            failed_writes: load(&self.failed_writes),
            invalid_io: load(&self.invalid_io),
            notify_free: load(&self.notify_free),
            same_pages: load(&self.same_pages),
            pages_stored: load(&self.pages_stored),
            huge_pages: load(&self.huge_pages),
            orig_data_size: load(&self.orig_data_size),
            compr_data_size: load(&self.compr_data_size),
            mem_used_max: load(&self.mem_used_max),
            pages_compacted: load(&self.pages_compacted),
        }
    }

    fn counters(&self) -> [&AtomicU64; 13] {
        [
            &self.num_reads,
            &self.num_writes,
            &self.failed_reads,
            &self.failed_writes,
            &self.invalid_io,
            &self.notify_free,
            &self.same_pages,
            &self.pages_stored,
            &self.huge_pages,
            &self.orig_data_size,
            &self.compr_data_size,
            &self.mem_used_max,
            &self.pages_compacted,
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

    #[test]
    fn every_field_reaches_the_snapshot() {
        let s = Stats::new();
        for (i, c) in s.counters().iter().enumerate() {
            add(c, i as u64 + 1);
        }
        let snap = s.snapshot();
        assert_eq!(
            snap,
            StatsSnapshot {
                num_reads: 1,
                num_writes: 2,
                failed_reads: 3,
                failed_writes: 4,
                invalid_io: 5,
                notify_free: 6,
                same_pages: 7,
                pages_stored: 8,
                huge_pages: 9,
                orig_data_size: 10,
                compr_data_size: 11,
                mem_used_max: 12,
                pages_compacted: 13,
            }
        );
        s.reset();
        assert_eq!(s.snapshot(), StatsSnapshot::default());
        let mut snap = snap;
        snap.reset();
        assert_eq!(snap, StatsSnapshot::default());
    }

    #[test]
    fn inc_add_sub() {
        let s = Stats::new();
        inc(&s.num_reads);
        inc(&s.num_reads);
        add(&s.compr_data_size, 1000);
        sub(&s.compr_data_size, 300);
        let snap = s.snapshot();
        assert_eq!(snap.num_reads, 2);
        assert_eq!(snap.compr_data_size, 700);
        sub(&s.same_pages, 1);
        assert_eq!(s.snapshot().same_pages, u64::MAX, "sub wraps");
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
                            inc(&s.num_writes);
                            add(&s.orig_data_size, 4096);
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
        assert_eq!(snap.orig_data_size, 40_000 * 4096);
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
