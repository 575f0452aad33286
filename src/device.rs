// SPDX-License-Identifier: GPL-2.0
//! One `/dev/rzsN`: configuration, statistics and the bio path.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};

use kernel::{fmt, new_mutex};
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Mutex;
use kernel::uaccess::UserSlice;

use rzs_core::abi::{self, RzsStats};
use rzs_core::table::SlotTable;

use rzs_core::stats::Stats;
use rzs_core::PAGE_SIZE;

use crate::blk::{self, Bio, DiskRef, Op, Status};
use crate::swap::{self, Mode};
use crate::gate::Gate;
use crate::store::{Scratch, Store, StoreError};

/// Largest disksize accepted: 1 TiB (its slot table alone takes 2.25 GiB).
pub(crate) const MAX_DISKSIZE: u64 = abi::RZS_MAX_DISKSIZE;

/// Configuration changed only under [`Device::ctl`].
struct Ctl {
    disksize: u64,
    mem_limit: u64,
}

#[pin_data]
pub(crate) struct Device {
    pub index: u32,
    pub stats: Stats,
    store: Gate<Store>,
    /// A reset is in progress: refuse opens.
    claimed: AtomicBool,
    /// How slot frees reach this device (resolved `swap_notify`).
    notify: Mode,
    /// The whole-disk block device, set once the disk exists.
    bdev: AtomicPtr<kernel::bindings::block_device>,
    /// Attached to a swap area by a SWAPON event (events mode).
    attached: AtomicBool,
    swap_attach: AtomicU64,
    swap_detach: AtomicU64,
    /// The per-device SLOT_FREE notifier (events mode).
    slot_free_nb: swap::events::Notifier,
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
            index,
            stats: Stats::new(),
            store: Gate::new(),
            claimed: AtomicBool::new(false),
            notify,
            bdev: AtomicPtr::new(core::ptr::null_mut()),
            attached: AtomicBool::new(false),
            swap_attach: AtomicU64::new(0),
            swap_detach: AtomicU64::new(0),
            slot_free_nb: swap::events::Notifier::new(slot_free_cb),
            ctl <- new_mutex!(Ctl { disksize: 0, mem_limit: 0 }, "rzs::Device::ctl"),
        })
    }

    /// Gives the device a size: allocates its slot table and pool. `-EBUSY` if it has
    /// one already. Returns the capacity in sectors for the caller to publish.
    pub(crate) fn set_disksize(&self, bytes: u64) -> Result<u64> {
        let size = check_disksize(bytes)?;
        let mut ctl = self.ctl.lock();
        if ctl.disksize != 0 {
            return Err(EBUSY);
        }
        let pages = usize::try_from(size / PAGE_SIZE as u64).map_err(|_| EINVAL)?;
        let name = CString::try_from_fmt(fmt!("rzs{}", self.index))?;
        let store = Store::new(pages, &name)?;
        store.mem_limit_pages.store(ctl.mem_limit.div_ceil(PAGE_SIZE as u64), Relaxed);
        self.store.replace(Some(KBox::new(store, GFP_KERNEL)?));
        ctl.disksize = size;
        Ok(size >> blk::SECTOR_SHIFT)
    }

    /// Sets the memory limit in bytes (0: none), effective immediately.
    pub(crate) fn set_mem_limit(&self, bytes: u64) -> Result {
        let mut ctl = self.ctl.lock();
        ctl.mem_limit = bytes;
        if let Some(s) = self.store.enter() {
            s.mem_limit_pages.store(bytes.div_ceil(PAGE_SIZE as u64), Relaxed);
        }
        Ok(())
    }

    /// Frees everything and returns to size 0. The caller checks the device is not
    /// in use and sets the capacity to 0 first.
    pub(crate) fn reset(&self) {
        let mut ctl = self.ctl.lock();
        // Dropping the store frees every object, then the table and the pool.
        drop(self.store.replace(None));
        ctl.disksize = 0;
        self.stats.reset();
        self.swap_attach.store(0, Relaxed);
        self.swap_detach.store(0, Relaxed);
    }

    /// Records the disk's block device (once, right after the disk is created).
    pub(crate) fn set_bdev(&self, bdev: *mut kernel::bindings::block_device) {
        self.bdev.store(bdev, SeqCst);
    }

    /// Whether the device is in use as swap right now.
    fn is_swap(&self) -> bool {
        let b = self.bdev.load(SeqCst);
        // SAFETY: the disk (and so its bdev) lives as long as `self` can be reached.
        !b.is_null() && unsafe { swap::bdev_is_swap(b) }
    }

    /// Frees one slot (swap slot-free notification). Atomic context: never sleeps,
    /// never allocates, never skips the free (the slot lock is waited for).
    pub(crate) fn slot_free(&self, index: usize) {
        self.stats.notify_free.fetch_add(1, Relaxed);
        if let Some(s) = self.store.enter() {
            s.free(index, &self.stats);
        }
    }

    /// SWAPON of this device (events mode): attach, i.e. ask for SLOT_FREE events.
    pub(crate) fn swap_attach(&self, bdev: *mut kernel::bindings::block_device, pages: u64) {
        if self.attached.load(SeqCst) {
            return;
        }
        match self.slot_free_nb.register(swap::events::SWAP_EVENT_SLOT_FREE, bdev) {
            Ok(()) => {
                self.attached.store(true, SeqCst);
                self.swap_attach.fetch_add(1, Relaxed);
                pr_info!("rzs{}: swap on ({} pages): attached, slot frees by swap event notifier\n", self.index, pages);
            }
            Err(e) => pr_err!("rzs{}: swap on: cannot register the slot-free notifier (error {})\n", self.index, e.to_errno()),
        }
    }

    /// SWAPOFF of this device (events mode): detach, and release anything still
    /// stored but the swap header (swapoff freed every slot, so normally nothing).
    pub(crate) fn swap_detach(&self, bdev: *mut kernel::bindings::block_device) {
        if !self.attached.swap(false, SeqCst) {
            return;
        }
        self.slot_free_nb.unregister(swap::events::SWAP_EVENT_SLOT_FREE, bdev);
        self.swap_detach.fetch_add(1, Relaxed);
        let mut released = 0u64;
        if let Some(s) = self.store.enter() {
            for i in 1..s.pages() {
                if s.free(i, &self.stats) {
                    released += 1;
                }
            }
        }
        pr_info!("rzs{}: swap off: detached ({} leftover pages released)\n", self.index, released);
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
        // Allocated before the slot lock is taken (it disables preemption).
        let junk = KVec::from_elem(0xffu8, store.max_compressed(), GFP_KERNEL)?;
        let len = store.corrupt(index, &junk)?;
        pr_warn!("rzs{}: debug_corrupt: page {} ({} bytes compressed) overwritten\n", self.index, index, len);
        Ok(len)
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
        let s = self.stats.snapshot();
        let pages = disksize / PAGE_SIZE as u64;
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
        RzsStats {
            size: core::mem::size_of::<RzsStats>() as u32,
            version: abi::RZS_STATS_VERSION,
            flags,
            index: self.index,
            disksize,
            mem_limit,
            num_reads: s.num_reads,
            num_writes: s.num_writes,
            failed_reads: s.failed_reads,
            failed_writes: s.failed_writes,
            invalid_io: s.invalid_io,
            notify_free: s.notify_free,
            pages_stored: s.pages_stored,
            same_pages: s.same_pages,
            huge_pages: s.huge_pages,
            orig_data_size: s.pages_stored * PAGE_SIZE as u64,
            compr_data_size: s.compr_data_size,
            mem_used_total: self.mem_used_pages() * PAGE_SIZE as u64,
            mem_used_max: s.mem_used_max * PAGE_SIZE as u64,
            table_bytes: pages * SlotTable::BYTES_PER_SLOT as u64,
            swap_attach: self.swap_attach.load(Relaxed),
            swap_detach: self.swap_detach.load(Relaxed),
        }
    }

    fn ioctl_stats(&self, arg: usize) -> Result<i32> {
        let room = UserSlice::new(arg, 4).reader().read::<u32>()? as usize;
        let n = room.min(core::mem::size_of::<RzsStats>());
        if n < 8 {
            return Err(EINVAL);
        }
        let mut st = self.stats();
        st.size = n as u32;
        let bytes = st.as_bytes().get(..n).ok_or(EINVAL)?;
        UserSlice::new(arg, n).writer().write_slice(bytes)?;
        Ok(0)
    }

    fn ioctl_reset(&self, disk: DiskRef<'_>) -> Result<i32> {
        // Claim the device under the open mutex: only the caller may have it open
        // (not mounted, not swapped on, not open elsewhere), and no one may open it
        // until the reset is done.
        let busy = disk.with_open_mutex(|| {
            if disk.openers() > 1 || self.claimed.swap(true, Relaxed) {
                return true;
            }
            false
        });
        if busy {
            return Err(EBUSY);
        }
        disk.sync();
        disk.set_capacity(0);
        disk.invalidate();
        self.reset();
        self.claimed.store(false, Relaxed);
        Ok(0)
    }

    fn do_rw(&self, store: &Store, bio: &Bio<'_>, write: bool) -> core::result::Result<(), StoreError> {
        let mut pos = bio.sector() << blk::SECTOR_SHIFT;
        let mut scratch: Option<Scratch> = None;
        for seg in bio.segments() {
            let mut done = 0u32;
            while done < seg.len {
                let index = (pos / PAGE_SIZE as u64) as usize;
                let off = (pos % PAGE_SIZE as u64) as usize;
                let n = (seg.len - done).min((PAGE_SIZE - off) as u32);
                let full = off == 0 && n as usize == PAGE_SIZE;
                let r = seg.with_mapped(|buf| -> core::result::Result<(), StoreError> {
                    let piece = buf.get_mut(done as usize..(done + n) as usize).ok_or(StoreError::OutOfRange)?;
                    if full {
                        let page: &mut [u8; PAGE_SIZE] = piece.try_into().map_err(|_| StoreError::OutOfRange)?;
                        return if write { store.write(index, page, &self.stats) } else { store.read(index, page) };
                    }
                    // Partial page: read-modify-write through a scratch page.
                    if scratch.is_none() {
                        scratch = Some(Scratch::new().map_err(|_| StoreError::NoMem)?);
                    }
                    let tmp = scratch.as_mut().ok_or(StoreError::NoMem)?.page();
                    store.read(index, tmp)?;
                    let part = tmp.get_mut(off..off + n as usize).ok_or(StoreError::OutOfRange)?;
                    if write {
                        part.copy_from_slice(piece);
                        store.write(index, tmp, &self.stats)
                    } else {
                        piece.copy_from_slice(part);
                        Ok(())
                    }
                });
                r?;
                done += n;
                pos += n as u64;
            }
        }
        Ok(())
    }

    /// Discard and write-zeroes: free every page the range fully covers; write-zeroes
    /// also zeroes the partial pages at its ends.
    fn do_discard(&self, store: &Store, bio: &Bio<'_>, zeroes: bool) -> core::result::Result<(), StoreError> {
        let start = bio.sector() << blk::SECTOR_SHIFT;
        let end = start + bio.len() as u64;
        let ps = PAGE_SIZE as u64;
        let first_full = start.div_ceil(ps);
        let last_full = end / ps; // exclusive
        for i in first_full..last_full.max(first_full) {
            store.free(i as usize, &self.stats);
        }
        if zeroes {
            let zero_part = |from: u64, to: u64| -> core::result::Result<(), StoreError> {
                if from >= to {
                    return Ok(());
                }
                let mut s = Scratch::new().map_err(|_| StoreError::NoMem)?;
                let tmp = s.page();
                let index = (from / ps) as usize;
                store.read(index, tmp)?;
                let a = (from % ps) as usize;
                let b = a + (to - from) as usize;
                tmp.get_mut(a..b).ok_or(StoreError::OutOfRange)?.fill(0);
                store.write(index, tmp, &self.stats)
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

/// SLOT_FREE notifier callback (events mode): atomic context.
unsafe extern "C" fn slot_free_cb(
    nb: *mut kernel::bindings::notifier_block,
    offset: kernel::ffi::c_ulong,
    _bdev: *mut core::ffi::c_void,
) -> kernel::ffi::c_int {
    let off = core::mem::offset_of!(Device, slot_free_nb);
    // SAFETY: this callback is only registered through `Device::slot_free_nb`, whose
    // block is at offset 0 of the `Notifier` (`repr(C)`), so `nb` points `off` bytes
    // into a live, pinned `Device` (it unregisters before it can go away).
    let dev = unsafe { &*((nb as *mut u8).sub(off) as *const Device) };
    dev.slot_free(offset);
    swap::NOTIFY_OK
}

impl blk::Operations for Device {
    fn swap_slot_free(&self, offset: u64) {
        self.slot_free(offset as usize);
    }

    fn open(&self, _disk: DiskRef<'_>) -> Result {
        if self.claimed.load(Relaxed) {
            return Err(EBUSY);
        }
        Ok(())
    }

    fn ioctl(&self, disk: DiskRef<'_>, cmd: u32, arg: usize) -> Result<i32> {
        let admin = || if blk::capable_sys_admin() { Ok(()) } else { Err(EPERM) };
        match cmd {
            abi::RZS_IOC_GET_STATS => self.ioctl_stats(arg),
            abi::RZS_IOC_SET_DISKSIZE => {
                admin()?;
                let bytes = UserSlice::new(arg, 8).reader().read::<u64>()?;
                disk.set_capacity(self.set_disksize(bytes)?);
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
            _ => Err(ENOTTY),
        }
    }

    fn submit_bio(&self, bio: Bio<'_>) {
        let op = bio.op();
        let Some(store) = self.store.enter() else {
            self.stats.invalid_io.fetch_add(1, Relaxed);
            bio.end(Status::IoErr);
            return;
        };
        let end = (bio.sector() << blk::SECTOR_SHIFT).checked_add(bio.len() as u64);
        if end.map_or(true, |e| e > (store.pages() * PAGE_SIZE) as u64) {
            self.stats.invalid_io.fetch_add(1, Relaxed);
            bio.end(Status::IoErr);
            return;
        }
        let r = match op {
            Op::Read => {
                self.stats.num_reads.fetch_add(1, Relaxed);
                self.do_rw(&store, &bio, false).inspect_err(|_| {
                    self.stats.failed_reads.fetch_add(1, Relaxed);
                })
            }
            Op::Write => {
                self.stats.num_writes.fetch_add(1, Relaxed);
                let r = self.do_rw(&store, &bio, true);
                match r {
                    Ok(()) => {}
                    Err(_) => {
                        self.stats.failed_writes.fetch_add(1, Relaxed);
                    }
                }
                r
            }
            Op::Discard => self.do_discard(&store, &bio, false),
            Op::WriteZeroes => self.do_discard(&store, &bio, true),
            Op::Flush => Ok(()),
            Op::Other(_) => {
                drop(store);
                bio.end(Status::NotSupp);
                return;
            }
        };
        drop(store);
        bio.end(match r {
            Ok(()) => Status::Ok,
            Err(StoreError::Limit) => Status::NoSpc,
            Err(StoreError::NoMem) => Status::Resource,
            Err(_) => Status::IoErr,
        });
    }
}
