// SPDX-License-Identifier: GPL-2.0
//! One `/dev/rzsN`: configuration, statistics and the bio path. Policy only, in safe
//! Rust over `crate::sys`.

#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};

use kernel::prelude::*;
use kernel::str::{CStr, CString};
use kernel::sync::Mutex;
use kernel::uaccess::UserSlice;
use kernel::{fmt, new_mutex};

use rzs_core::abi::{self, DeviceState, RzsStats};
use rzs_core::codec;
use rzs_core::page::Page;
use rzs_core::stats::{Hot, Stats};
use rzs_core::table::SlotTable;
use rzs_core::PAGE_SIZE;

use crate::store::{Backing, Ctx, PageSink, Select, Store, StoreError, WbReport};
use crate::sys::backing::BackingDev;
use crate::sys::blk::{self, Bdev, BdevCell, Bio, BioData, DiskRef, Op, Status};
use crate::sys::gate::Gate;
use crate::sys::ticker::{Tick, Ticker};
use crate::sys::swap::{events, Mode};

/// Largest disksize accepted: 1 TiB (its slot table alone takes 2.5 GiB).
pub(crate) const MAX_DISKSIZE: u64 = abi::RZS_MAX_DISKSIZE;

/// Configuration changed only under [`Device::ctl`].
struct Ctl {
    disksize: u64,
    mem_limit: u64,
    /// The backing device set for the next disksize (tiering), until then.
    backing: Option<BackingDev>,
}

/// Tiering's automatic writeback, configurable at any time (sysfs).
pub(crate) struct TierCfg {
    /// Write back on its own when the pool passes the high watermark.
    pub auto: AtomicBool,
    /// Watermarks, in percent of `mem_limit` (of RAM without a limit).
    pub high_pct: AtomicU32,
    pub low_pct: AtomicU32,
    /// Length of an access epoch (the unit of page age), in seconds.
    pub epoch_secs: AtomicU32,
    /// zram's `writeback_limit_enable` and `writeback_limit` (pages left).
    pub limit_enable: AtomicBool,
    pub limit: AtomicU64,
    /// When the access clock next advances (ms of `ktime_get`).
    next_epoch_ms: AtomicU64,
    /// A writeback was asked for and not yet run (the write path's kick).
    kicked: AtomicBool,
    /// Automatic writeback failed and said so; quiet until it succeeds again.
    wb_failing: AtomicBool,
}

impl TierCfg {
    /// The defaults: automatic, watermarks 90% and 75%, one-minute epochs, no
    /// writeback limit.
    const fn new() -> Self {
        Self {
            auto: AtomicBool::new(true),
            high_pct: AtomicU32::new(90),
            low_pct: AtomicU32::new(75),
            epoch_secs: AtomicU32::new(60),
            limit_enable: AtomicBool::new(false),
            limit: AtomicU64::new(0),
            next_epoch_ms: AtomicU64::new(0),
            kicked: AtomicBool::new(false),
            wb_failing: AtomicBool::new(false),
        }
    }
}

#[pin_data]
pub(crate) struct Device {
    /// Tiering's periodic job. First: it is dropped (cancelled) before anything
    /// it uses.
    #[pin]
    ticker: Ticker<Device>,
    pub tier: TierCfg,
    pub index: u32,
    pub stats: Stats,
    store: Gate<Store>,
    /// A reset is in progress: refuse opens.
    claimed: AtomicBool,
    /// How slot frees reach this device (resolved `swap_notify`).
    notify: Mode,
    /// The whole-disk block device, set once the disk exists.
    bdev: BdevCell,
    swap_attach: AtomicU64,
    swap_detach: AtomicU64,
    /// The per-device SLOT_FREE notifier (events mode), registered while swapped on.
    #[pin]
    slot_free_nb: events::SlotFreeNotifier<Device>,
    #[pin]
    ctl: Mutex<Ctl>,
}

/// Rounds a requested size to whole pages and checks it (documented in the README).
pub(crate) fn check_disksize(bytes: u64) -> Result<u64> {
    let rounded = bytes.checked_add(PAGE_SIZE as u64 - 1).ok_or(EINVAL)? & !(PAGE_SIZE as u64 - 1);
    if rounded == 0 || rounded > MAX_DISKSIZE {
        return Err(EINVAL);
    }
    Ok(rounded)
}

impl Device {
    pub(crate) fn new(index: u32, notify: Mode) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            ticker <- Ticker::new(),
            tier: TierCfg::new(),
            index,
            stats: Stats::new(),
            store: Gate::new()?,
            claimed: AtomicBool::new(false),
            notify,
            bdev: BdevCell::new(),
            swap_attach: AtomicU64::new(0),
            swap_detach: AtomicU64::new(0),
            slot_free_nb <- events::SlotFreeNotifier::new(),
            ctl <- new_mutex!(Ctl { disksize: 0, mem_limit: 0, backing: None }, "rzs::Device::ctl"),
        })
    }

    /// Gives the device a size: allocates its slot table and pool, then sets the
    /// capacity of `disk` (this device's), still under the control mutex, so a
    /// concurrent reset cannot slip in between and leave a capacity without a store.
    /// `EBUSY` if it has a size already.
    pub(crate) fn set_disksize(&self, bytes: u64, disk: DiskRef<'_>) -> Result {
        let size = check_disksize(bytes)?;
        let mut ctl = self.ctl.lock();
        if ctl.disksize != 0 {
            return Err(EBUSY);
        }
        let pages = usize::try_from(size / PAGE_SIZE as u64).map_err(|_| EINVAL)?;
        let name = CString::try_from_fmt(fmt!("rzs{}", self.index))?;
        // The backing device goes into the store. If this fails from here on, it is
        // closed and the device has none (set it again before the size).
        let backing = match ctl.backing.take() {
            Some(dev) => match Backing::new(dev) {
                Ok(b) => Some(b),
                Err(e) => return Err(e),
            },
            None => None,
        };
        let store = Store::new(pages, &name, backing)?;
        store.mem_limit_pages.store(ctl.mem_limit.div_ceil(PAGE_SIZE as u64), Relaxed);
        let tiered = store.backing().is_some();
        // Empty: `ctl.disksize` is 0 only while the gate holds no store.
        if self.store.install(KBox::new(store, GFP_KERNEL)?, disk).is_err() {
            return Err(EBUSY);
        }
        ctl.disksize = size;
        self.update_watermark(ctl.mem_limit);
        disk.set_capacity(size >> blk::SECTOR_SHIFT);
        if tiered {
            // The first epoch starts now; the ticker runs at each epoch's end.
            self.tier.next_epoch_ms.store(now_ms().saturating_add(self.epoch_ms()), Relaxed);
            self.ticker.schedule(self, self.epoch_ms() as u32);
        }
        Ok(())
    }

    /// Sets the memory limit in bytes (0: none), effective immediately. `EINVAL`
    /// for a limit below one page or above the machine's RAM: the first would
    /// refuse every write, the second can never bind (a unit mistake, most likely).
    pub(crate) fn set_mem_limit(&self, bytes: u64) -> Result {
        let ram = crate::sys::totalram_pages().saturating_mul(PAGE_SIZE as u64);
        if bytes != 0 && (bytes < PAGE_SIZE as u64 || bytes > ram) {
            return Err(EINVAL);
        }
        let mut ctl = self.ctl.lock();
        ctl.mem_limit = bytes;
        if let Some(s) = self.store.enter() {
            s.mem_limit_pages.store(bytes.div_ceil(PAGE_SIZE as u64), Relaxed);
        }
        self.update_watermark(bytes);
        Ok(())
    }

    /// The pool size the watermarks are percentages of: `mem_limit`, else RAM.
    fn watermark_base(mem_limit: u64) -> u64 {
        Self::watermark_base_pages(mem_limit.div_ceil(PAGE_SIZE as u64))
    }

    /// `watermark_base` of a limit in pages (0: none).
    fn watermark_base_pages(limit_pages: u64) -> u64 {
        match limit_pages {
            0 => crate::sys::totalram_pages(),
            p => p,
        }
    }

    /// Tells the store where the write path should ask for writeback (the high
    /// watermark; never with automatic writeback off).
    pub(crate) fn update_watermark(&self, mem_limit: u64) {
        if let Some(s) = self.store.enter() {
            let high = if self.tier.auto.load(Relaxed) && s.backing().is_some() {
                Self::watermark_base(mem_limit).saturating_mul(u64::from(self.tier.high_pct.load(Relaxed))) / 100
            } else {
                0
            };
            s.set_writeback_trigger(high);
        }
    }

    /// Sets the watermarks (percent). `EINVAL` unless `0 < low < high <= 100`.
    pub(crate) fn set_watermarks(&self, high: u32, low: u32) -> Result {
        if low == 0 || low >= high || high > 100 {
            return Err(EINVAL);
        }
        let ctl = self.ctl.lock();
        self.tier.high_pct.store(high, Relaxed);
        self.tier.low_pct.store(low, Relaxed);
        self.update_watermark(ctl.mem_limit);
        Ok(())
    }

    /// Turns automatic writeback on or off.
    pub(crate) fn set_auto_writeback(&self, on: bool) {
        let ctl = self.ctl.lock();
        self.tier.auto.store(on, Relaxed);
        self.update_watermark(ctl.mem_limit);
    }

    /// Sets the epoch length (1..=86400 s), from the next epoch on.
    pub(crate) fn set_epoch_secs(&self, secs: u32) -> Result {
        if secs == 0 || secs > 86400 {
            return Err(EINVAL);
        }
        self.tier.epoch_secs.store(secs, Relaxed);
        Ok(())
    }

    fn epoch_ms(&self) -> u64 {
        u64::from(self.tier.epoch_secs.load(Relaxed)).saturating_mul(1000)
    }

    /// Asks for a writeback run now (the write path, over the high watermark).
    fn kick(&self) {
        if !self.tier.kicked.swap(true, Relaxed) {
            self.ticker.schedule(self, 0);
        }
    }

    /// The pages writeback may still write: `writeback_limit` when enabled.
    fn wb_budget(&self) -> u64 {
        if self.tier.limit_enable.load(Relaxed) {
            self.tier.limit.load(Relaxed)
        } else {
            u64::MAX
        }
    }

    /// Charges `pages` written to the `writeback_limit` budget.
    fn wb_charge(&self, pages: u64) {
        if self.tier.limit_enable.load(Relaxed) {
            let _ = self.tier.limit.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(pages)));
        }
    }

    /// Automatic writeback: while the pool is above the high watermark, write back
    /// the coldest pages until it is at the low one. The caller is inside the
    /// store's gate: the control mutex must not be taken here, since a reset holds
    /// it while it waits for every reader of the gate to leave.
    fn auto_writeback(&self, store: &Store) {
        let base = Self::watermark_base_pages(store.mem_limit_pages.load(Relaxed));
        let high = base.saturating_mul(u64::from(self.tier.high_pct.load(Relaxed))) / 100;
        let low = base.saturating_mul(u64::from(self.tier.low_pct.load(Relaxed))) / 100;
        let used = store.mem_used_pages();
        if !self.tier.auto.load(Relaxed) || used <= high {
            return;
        }
        let budget = self.wb_budget();
        if budget == 0 {
            return;
        }
        let ctx = Ctx::new(&self.stats, crate::sys::cpu_hint());
        let want = used.saturating_sub(low);
        let min_age = store.cold_threshold(want).unwrap_or(0);
        let sel = Select { min_age, huge: false, incompressible: false };
        match store.writeback(sel, budget, ctx) {
            Ok(r) => {
                self.wb_charge(r.pages);
                self.tier.wb_failing.store(false, Relaxed);
                // Give back the zspages the freed objects left sparse.
                store.compact(&self.stats);
            }
            Err(e) if e == EBUSY => {}
            // Said once until a run succeeds again (the failures are counted).
            Err(e) if !self.tier.wb_failing.swap(true, Relaxed) => pr_warn!(
                "rzs{}: automatic writeback failed (error {}); the pool is over its high watermark\n",
                self.index,
                e.to_errno()
            ),
            Err(_) => {}
        }
    }

    /// Sets the backing device pages are written back to (tiering): the block
    /// device at `path`, opened exclusively. Only before the device has a size
    /// (`EBUSY` after, as zram's `backing_dev`); a reset releases it. `None` drops
    /// one that is set. `EINVAL` for an empty device (this one, unsized, too).
    pub(crate) fn set_backing(&self, path: Option<&CStr>) -> Result {
        let mut ctl = self.ctl.lock();
        if ctl.disksize != 0 {
            return Err(EBUSY);
        }
        let dev = match path {
            Some(p) => Some(BackingDev::open(p, (self as *const Self).cast())?),
            None => None,
        };
        if let Some(d) = &dev {
            pr_info!("rzs{}: backing device {} ({} pages)\n", self.index, d.path(), d.pages());
        }
        ctl.backing = dev;
        Ok(())
    }

    /// The backing device's path, if one is set (pending or in use).
    pub(crate) fn backing_path(&self, f: &mut dyn FnMut(&CStr)) {
        let ctl = self.ctl.lock();
        if let Some(d) = &ctl.backing {
            f(d.path());
        } else if let Some(s) = self.store.enter() {
            if let Some(b) = s.backing() {
                f(b.dev().path());
            }
        }
    }

    /// Writes back pages as `sel` picks them, up to `max_pages` (see
    /// `Store::writeback`). `ENODEV` without a backing device or size.
    pub(crate) fn writeback(&self, sel: Select, max_pages: u64) -> Result<WbReport> {
        let store = self.store.enter().ok_or(ENODEV)?;
        let ctx = Ctx::new(&self.stats, crate::sys::cpu_hint());
        let budget = self.wb_budget();
        if budget == 0 {
            // As zram: the writeback_limit budget is spent.
            return Err(EIO);
        }
        let r = store.writeback(sel, max_pages.min(budget), ctx)?;
        self.wb_charge(r.pages);
        Ok(r)
    }

    /// Starts a new access epoch (`Store::mark_idle`).
    pub(crate) fn mark_idle(&self) -> Result {
        self.store.enter().ok_or(ENODEV)?.mark_idle()
    }

    /// Frees everything and returns to size 0: under the control mutex, `unpublish`
    /// (capacity 0, page cache dropped) runs first, then the store goes. The caller
    /// checks the device is not in use.
    fn reset(&self, unpublish: impl FnOnce()) {
        let mut ctl = self.ctl.lock();
        unpublish();
        // Dropping the store frees every object, then the table and the pool.
        drop(self.store.take());
        ctl.disksize = 0;
        // As zram does: a reset device has no memory limit either, and no backing
        // device (the store closed it).
        ctl.mem_limit = 0;
        ctl.backing = None;
        self.stats.reset();
        self.swap_attach.store(0, Relaxed);
        self.swap_detach.store(0, Relaxed);
    }

    /// Records the disk's block device (once, right after the disk is created).
    pub(crate) fn set_bdev(&self, bdev: Bdev) {
        self.bdev.set(bdev);
    }

    /// Whether the device is in use as swap right now.
    fn is_swap(&self) -> bool {
        self.bdev.get().is_some_and(|b| b.is_swap())
    }

    /// Frees one slot (swap slot-free notification). Atomic context: never sleeps,
    /// never allocates, never skips the free (the slot lock is waited for).
    pub(crate) fn slot_free(&self, index: usize) {
        let ctx = Ctx::new(&self.stats, crate::sys::cpu_hint());
        ctx.stats.inc(Hot::NotifyFree);
        if let Some(s) = self.store.enter() {
            s.free(index, ctx);
        }
    }

    /// Test only: corrupts the stored object of page `index` (see `Store::corrupt`).
    /// `EPERM` unless the module was loaded with `debug_corrupt=Y`.
    pub(crate) fn debug_corrupt(&self, index: u64) -> Result<usize> {
        if !crate::debug_corrupt_allowed() {
            return Err(EPERM);
        }
        let store = self.store.enter().ok_or(ENXIO)?;
        let index = usize::try_from(index).map_err(|_| EINVAL)?;
        if index >= store.pages() {
            return Err(EINVAL);
        }
        // Allocated before the slot lock is taken (a spinlock).
        let junk = KVec::from_elem(0xffu8, store.max_compressed(), GFP_KERNEL)?;
        let len = store.corrupt(index, &junk)?;
        pr_warn!("rzs{}: debug_corrupt: page {} ({} bytes compressed) overwritten\n", self.index, index, len);
        Ok(len)
    }

    /// Compacts the pool (sysfs `compact`, `rzsctl --compact`); the pages given
    /// back. With a backing device, compacts it too when that frees blocks. May
    /// sleep.
    pub(crate) fn compact(&self) -> u64 {
        let Some(s) = self.store.enter() else { return 0 };
        if s.backing().is_some() {
            self.compact_backing(&s, 1);
        }
        s.compact(&self.stats)
    }

    /// Compacts the backing device if that frees at least `min_gain` blocks (net)
    /// and twice what it writes; says what it did.
    fn compact_backing(&self, store: &Store, min_gain: u64) {
        let ctx = Ctx::new(&self.stats, crate::sys::cpu_hint());
        match store.compact_backing(min_gain, ctx) {
            Ok(r) if r.objects > 0 => pr_info!(
                "rzs{}: backing device compacted: {} objects moved, {} blocks written, {} freed\n",
                self.index,
                r.objects,
                r.blocks_written,
                r.blocks_freed
            ),
            Ok(_) | Err(_) => {}
        }
    }

    /// Restarts `mem_used_max` from the current use (sysfs `mem_used_max`, 0 written).
    pub(crate) fn reset_mem_used_max(&self) {
        self.stats.reset_max(self.mem_used_pages());
    }

    /// Pages compaction gave back since the device was sized (zram's `pages_compacted`).
    pub(crate) fn pages_compacted(&self) -> u64 {
        self.stats.pages_compacted.load(Relaxed)
    }

    /// Whether the device has a size (zram's `initstate`).
    pub(crate) fn initialized(&self) -> bool {
        self.ctl.lock().disksize != 0
    }

    /// Pages the device's pool holds now.
    pub(crate) fn mem_used_pages(&self) -> u64 {
        self.store.enter().map_or(0, |s| s.mem_used_pages())
    }

    /// The statistics as the ABI reports them.
    pub(crate) fn stats(&self) -> RzsStats {
        let (disksize, mem_limit) = {
            let c = self.ctl.lock();
            (c.disksize, c.mem_limit)
        };
        let mut flags = 0;
        if disksize != 0 {
            flags |= abi::RZS_FLAG_INITIALIZED;
        }
        if self.is_swap() {
            flags |= abi::RZS_FLAG_SWAP;
        }
        flags |= match self.notify {
            Mode::Events => abi::RZS_FLAG_NOTIFY_EVENTS,
            Mode::Bdev => abi::RZS_FLAG_NOTIFY_BDEV,
            _ => 0,
        };
        let mut has_backing = false;
        self.backing_path(&mut |_| has_backing = true);
        if has_backing {
            flags |= abi::RZS_FLAG_BACKING;
        }
        let (bd_blocks_used, bd_blocks, tier_bytes) = self.store.enter().map_or((0, 0, 0), |s| {
            let (used, blocks) = s.backing_blocks();
            (used, blocks, s.tier_bytes())
        });
        let d = DeviceState {
            flags,
            index: self.index,
            disksize,
            mem_limit,
            mem_used_pages: self.mem_used_pages(),
            table_bytes_per_page: SlotTable::BYTES_PER_SLOT as u64,
            tier_bytes,
            swap_attach: self.swap_attach.load(Relaxed),
            swap_detach: self.swap_detach.load(Relaxed),
            bd_blocks_used,
            bd_blocks,
        };
        RzsStats::build(&self.stats.snapshot(), &d)
    }

    fn ioctl_stats(&self, cmd: u32, arg: usize) -> Result<i32> {
        let room = UserSlice::new(arg, 4).reader().read::<u32>()?;
        let n = abi::stats_copy_len(cmd, room).ok_or(EINVAL)?;
        let mut st = self.stats();
        st.size = n as u32;
        let bytes = st.as_bytes().get(..n).ok_or(EINVAL)?;
        UserSlice::new(arg, n).writer().write_slice(bytes)?;
        Ok(0)
    }

    fn ioctl_set_backing(&self, arg: usize) -> Result<i32> {
        let mut raw = [0u8; core::mem::size_of::<abi::RzsBacking>()];
        UserSlice::new(arg, raw.len()).reader().read_slice(&mut raw)?;
        let b = abi::RzsBacking::from_bytes(&raw).ok_or(EINVAL)?;
        if b.flags != 0 {
            return Err(EINVAL);
        }
        if b.path == 0 && b.path_len == 0 {
            self.set_backing(None)?;
            return Ok(0);
        }
        if b.path_len < 2 || b.path_len > abi::RZS_PATH_MAX {
            return Err(EINVAL);
        }
        let len = b.path_len as usize;
        let mut buf = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        let addr = usize::try_from(b.path).map_err(|_| EFAULT)?;
        UserSlice::new(addr, len).reader().read_slice(&mut buf)?;
        let path = CStr::from_bytes_with_nul(&buf).map_err(|_| EINVAL)?;
        self.set_backing(Some(path))?;
        Ok(0)
    }

    fn ioctl_writeback(&self, arg: usize) -> Result<i32> {
        let mut raw = [0u8; core::mem::size_of::<abi::RzsWriteback>()];
        UserSlice::new(arg, raw.len()).reader().read_slice(&mut raw)?;
        let mut w = abi::RzsWriteback::from_bytes(&raw).ok_or(EINVAL)?;
        if w.flags & !abi::RZS_WB_ALL != 0 || w.min_age > u32::from(rzs_core::tier::MAX_AGE) {
            return Err(EINVAL);
        }
        let mut min_age = w.min_age as u8;
        if w.flags & abi::RZS_WB_IDLE != 0 {
            min_age = min_age.max(1);
        }
        let sel = Select {
            min_age,
            huge: w.flags & abi::RZS_WB_HUGE != 0,
            incompressible: w.flags & abi::RZS_WB_INCOMPRESSIBLE != 0,
        };
        let max = if w.max_pages == 0 { u64::MAX } else { w.max_pages };
        let r = self.writeback(sel, max)?;
        w.pages = r.pages;
        w.blocks = r.blocks;
        UserSlice::new(arg, raw.len()).writer().write_slice(&w.to_bytes())?;
        Ok(0)
    }

    fn ioctl_reset(&self, disk: DiskRef<'_>) -> Result<i32> {
        // The caller has the device open once itself.
        self.reset_disk(disk, 1)?;
        Ok(0)
    }

    /// Resets the device if it is open no more than `own_opens` times (the ioctl's
    /// caller holds one; sysfs `reset` none). `EBUSY` otherwise.
    pub(crate) fn reset_disk(&self, disk: DiskRef<'_>, own_opens: i32) -> Result {
        // Claim the device under the open mutex: only the caller may have it open
        // (not mounted, not swapped on, not open elsewhere), and no one may open it
        // until the reset is done.
        let busy = disk.with_open_mutex(|| disk.openers() > own_opens || self.claimed.swap(true, Relaxed));
        if busy {
            return Err(EBUSY);
        }
        disk.sync();
        self.reset(|| {
            disk.set_capacity(0);
            disk.invalidate();
        });
        self.claimed.store(false, Relaxed);
        Ok(())
    }

    /// Claims the device for removal (hot_remove): `EBUSY` if it is open (mounted,
    /// swapped on, open elsewhere) or being reset. Once claimed, no one can open it
    /// again; the caller removes the disk.
    pub(crate) fn claim_for_removal(&self, disk: DiskRef<'_>) -> Result {
        let busy = disk.with_open_mutex(|| disk.openers() > 0 || self.claimed.swap(true, Relaxed));
        if busy {
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Reads or writes every page of a page-aligned bio. Writes compress each whole
    /// page in place, through volatile loads (user memory of an O_DIRECT write may
    /// change meanwhile); a page that comes in pieces is copied to this CPU's
    /// workspace and compressed there. Reads, see `Store::read`.
    fn do_rw(&self, store: &Store, bio: &Bio<'_>, write: bool, ctx: Ctx<'_>) -> core::result::Result<(), StoreError> {
        let first = (bio.sector() << blk::SECTOR_SHIFT) / PAGE_SIZE as u64;
        let mut data: BioData<'_> = bio.data();
        let mut index = usize::try_from(first).map_err(|_| StoreError::OutOfRange)?;
        while data.remaining() > 0 {
            if write {
                match data.with_racy_source(|src| store.write_in_place(index, src, ctx)) {
                    Some(r) => r?,
                    None => store.write(index, |_, page| data.copy_out(page).map_err(|_| StoreError::Io), ctx)?,
                }
            } else {
                store.read(index, &mut data, ctx)?;
            }
            index = index.checked_add(1).ok_or(StoreError::OutOfRange)?;
        }
        Ok(())
    }

    /// Discard and write-zeroes: free every page the range fully covers; write-zeroes
    /// also zeroes the partial pages at its ends.
    fn do_discard(&self, store: &Store, bio: &Bio<'_>, zeroes: bool, ctx: Ctx<'_>) -> core::result::Result<(), StoreError> {
        let start = bio.sector() << blk::SECTOR_SHIFT;
        let end = start.checked_add(u64::from(bio.len())).ok_or(StoreError::OutOfRange)?;
        let ps = PAGE_SIZE as u64;
        let first_full = start.div_ceil(ps);
        let last_full = end / ps; // exclusive
        for i in first_full..last_full.max(first_full) {
            store.free(i as usize, ctx);
        }
        if zeroes {
            let zero_part = |from: u64, to: u64| -> core::result::Result<(), StoreError> {
                if from >= to {
                    return Ok(());
                }
                let index = (from / ps) as usize;
                let a = (from % ps) as usize;
                let b = a + (to - from) as usize;
                store.write(
                    index,
                    |st, page| {
                        st.load(index, page, ctx)?;
                        page.get_mut(a..b).ok_or(StoreError::OutOfRange)?.fill(0);
                        Ok(())
                    },
                    ctx,
                )
            };
            if first_full > last_full {
                // Within one page.
                zero_part(start, end)?;
            } else {
                zero_part(start, (first_full * ps).min(end))?;
                zero_part((last_full * ps).max(start), end)?;
            }
        }
        Ok(())
    }
}

/// A read's pages go into the bio: same-filled and raw pages straight in, decoded
/// pages in place (as a `&mut Page` where only the read may touch the page, else
/// through volatile accesses), and pieces smaller than a page by a copy from the
/// workspace.
impl PageSink for BioData<'_> {
    fn fill(&mut self, word: usize) -> core::result::Result<(), StoreError> {
        BioData::fill(self, word, PAGE_SIZE).map_err(|_| StoreError::Io)
    }

    fn copy(&mut self, page: &[u8]) -> core::result::Result<(), StoreError> {
        self.copy_in(page).map_err(|_| StoreError::Io)
    }

    fn with_own_page<R>(&mut self, f: impl FnOnce(&mut Page) -> R) -> Option<R> {
        self.with_filled_page(f)
    }

    fn decode(&mut self, src: &[u8]) -> Option<core::result::Result<(), StoreError>> {
        self.with_racy_page(|page| codec::decompress_racy(src, page).map_err(|_| StoreError::Corrupt))
    }
}

/// Blocks the automatic compaction of the backing device must free at least (a
/// writeback batch).
const BACKING_COMPACT_MIN_GAIN: u64 = 32;

/// Milliseconds of the monotonic clock.
fn now_ms() -> u64 {
    u64::try_from(kernel::time::Ktime::ktime_get().to_ms()).unwrap_or(0)
}

impl Tick for Device {
    /// Tiering's periodic job: at each epoch's end the access clock advances; over
    /// the high watermark, the coldest pages are written back. Re-arms itself while
    /// the device has a size and a backing device.
    fn tick(&self) {
        self.tier.kicked.store(false, Relaxed);
        let Some(store) = self.store.enter() else { return };
        if store.backing().is_none() {
            return;
        }
        let now = now_ms();
        let next = self.tier.next_epoch_ms.load(Relaxed);
        if now >= next {
            let _ = store.mark_idle();
            self.tier.next_epoch_ms.store(now.saturating_add(self.epoch_ms()), Relaxed);
        }
        self.auto_writeback(&store);
        // Frees (swap slots, rewrites) leave backing blocks part empty: pack them
        // again once that gives back at least a batch of blocks.
        if self.tier.auto.load(Relaxed) {
            self.compact_backing(&store, BACKING_COMPACT_MIN_GAIN);
        }
        let wait = self.tier.next_epoch_ms.load(Relaxed).saturating_sub(now_ms()).clamp(1, u64::from(u32::MAX));
        self.ticker.schedule(self, wait as u32);
    }
}

impl events::Handler for Device {
    /// SWAPON of this device (events mode): attach, i.e. ask for SLOT_FREE events.
    fn swap_on(&self, bdev: Bdev, pages: u64) {
        if self.notify != Mode::Events {
            return;
        }
        match self.slot_free_nb.register(bdev) {
            Ok(()) => {
                self.swap_attach.fetch_add(1, Relaxed);
                pr_info!("rzs{}: swap on ({} pages): attached, slot frees by swap event notifier\n", self.index, pages);
            }
            Err(e) if e == EBUSY => {}
            Err(e) => pr_err!("rzs{}: swap on: cannot register the slot-free notifier (error {})\n", self.index, e.to_errno()),
        }
    }

    /// SWAPOFF of this device (events mode): detach, and release anything still
    /// stored but the swap header (swapoff freed every slot, so normally nothing).
    fn swap_off(&self, _bdev: Bdev) {
        if !self.slot_free_nb.unregister() {
            return;
        }
        self.swap_detach.fetch_add(1, Relaxed);
        let ctx = Ctx::new(&self.stats, crate::sys::cpu_hint());
        let released = self.store.enter().map_or(0, |s| s.clear_after_header(ctx));
        pr_info!("rzs{}: swap off: detached ({} leftover pages released)\n", self.index, released);
    }
}

impl blk::Operations for Device {
    fn swap_slot_free(&self, offset: u64) {
        if let Ok(i) = usize::try_from(offset) {
            self.slot_free(i);
        }
    }

    fn open(&self, _disk: DiskRef<'_>) -> Result {
        if self.claimed.load(Relaxed) {
            return Err(EBUSY);
        }
        Ok(())
    }

    fn ioctl(&self, disk: DiskRef<'_>, cmd: u32, arg: usize) -> Result<i32> {
        let admin = || if crate::sys::capable_sys_admin() { Ok(()) } else { Err(EPERM) };
        if abi::is_get_stats(cmd) {
            return self.ioctl_stats(cmd, arg);
        }
        match cmd {
            abi::RZS_IOC_SET_DISKSIZE => {
                admin()?;
                let bytes = UserSlice::new(arg, 8).reader().read::<u64>()?;
                self.set_disksize(bytes, disk)?;
                Ok(0)
            }
            abi::RZS_IOC_SET_MEM_LIMIT => {
                admin()?;
                let bytes = UserSlice::new(arg, 8).reader().read::<u64>()?;
                self.set_mem_limit(bytes)?;
                Ok(0)
            }
            abi::RZS_IOC_RESET => {
                admin()?;
                self.ioctl_reset(disk)
            }
            abi::RZS_IOC_SET_BACKING => {
                admin()?;
                self.ioctl_set_backing(arg)
            }
            abi::RZS_IOC_WRITEBACK => {
                admin()?;
                self.ioctl_writeback(arg)
            }
            abi::RZS_IOC_MARK_IDLE => {
                admin()?;
                self.mark_idle()?;
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }

    fn submit_bio(&self, bio: Bio<'_>) {
        let op = bio.op();
        // No read-side section: `reset` drains this disk's submitters (`Gate::take`).
        let Some(store) = self.store.enter_submit(&bio) else {
            self.stats.invalid_io.fetch_add(1, Relaxed);
            bio.end(Status::IoErr);
            return;
        };
        let start = bio.sector() << blk::SECTOR_SHIFT;
        let end = start.checked_add(u64::from(bio.len()));
        // Reads and writes come in whole logical blocks (a page); the block layer
        // checks that for I/O from userspace, and a stacked driver sending less is
        // refused here rather than half-served.
        let misaligned = matches!(op, Op::Read | Op::Write) && (start % PAGE_SIZE as u64 != 0 || bio.len() as usize % PAGE_SIZE != 0);
        if misaligned || end.map_or(true, |e| e > (store.pages() * PAGE_SIZE) as u64) {
            self.stats.invalid_io.fetch_add(1, Relaxed);
            bio.end(Status::IoErr);
            return;
        }
        let ctx = Ctx::new(&self.stats, crate::sys::cpu_hint());
        let r = match op {
            Op::Read => {
                ctx.stats.inc(Hot::NumReads);
                self.do_rw(store, &bio, false, ctx).inspect_err(|_| ctx.stats.inc(Hot::FailedReads))
            }
            Op::Write => {
                ctx.stats.inc(Hot::NumWrites);
                let r = self.do_rw(store, &bio, true, ctx).inspect_err(|_| ctx.stats.inc(Hot::FailedWrites));
                if store.writeback_wanted() {
                    self.kick();
                }
                r
            }
            Op::Discard => self.do_discard(store, &bio, false, ctx),
            Op::WriteZeroes => self.do_discard(store, &bio, true, ctx),
            Op::Flush => Ok(()),
            Op::Other(_) => {
                bio.end(Status::NotSupp);
                return;
            }
        };
        bio.end(match r {
            Ok(()) => Status::Ok,
            Err(StoreError::Limit) => Status::NoSpc,
            Err(StoreError::NoMem) => Status::Resource,
            Err(_) => Status::IoErr,
        });
    }
}
