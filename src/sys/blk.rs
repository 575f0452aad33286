// SPDX-License-Identifier: GPL-2.0
//! A small safe abstraction over the 6.12 block layer for a bio-based disk.
//!
//! The Rust `GenDiskBuilder` of 6.12 is blk-mq only and cannot set the queue features
//! or `block_device_operations` a zram-class device needs, so this module wraps the C
//! API directly. Every `unsafe` block of the driver's block-layer use lives here.
//!
//! A bio's data pages are, as a rule, never seen as Rust slices: the pages of an
//! O_DIRECT bio are user memory that other threads may write while the I/O runs,
//! and a `&[u8]` or `&mut [u8]` over memory someone else writes is undefined
//! behaviour. [`BioData`] copies between the bio and memory rzs owns, with the
//! kernel's `memcpy` (and `flush_dcache_page` after writing into a bio page). Two
//! exception: a page the read fills that nobody else may touch until the read
//! completes, a swap-in or page-cache folio under read ([`BioData::with_filled_page`]
//! lends it writable, in place). Any other whole page a read fills, user memory
//! included, can be filled in place through volatile accesses only
//! ([`BioData::with_racy_page`]: a `RacyPage`, never a reference), and every whole
//! page a write brings, swap writeout and user memory alike, is read in place through
//! volatile loads only ([`BioData::with_racy_source`]: a `RacySource`).

use core::ptr::NonNull;
use kernel::ffi::c_void;
use rzs_core::racy::{RacyPage, RacySource};

use kernel::bindings;
use kernel::error::{code, from_err_ptr, from_result, to_result, Error, Result};
use kernel::str::CStr;
use kernel::alloc::KBox;
use kernel::types::Opaque;
use core::pin::Pin;

use super::ffi;

/// Sector size the block layer counts in.
pub(crate) const SECTOR_SHIFT: u32 = 9;

const _: () = assert!(SECTOR_SHIFT == bindings::SECTOR_SHIFT);

/// Queue features (include/linux/blkdev.h). Their C definitions are casts, which
/// bindgen skips, so `helpers.c` returns them, compiled against the kernel's header.
pub(crate) mod feat {
    use super::ffi;
    /// `BLK_FEAT_SYNCHRONOUS`: I/O completes in the submitter's context.
    pub(crate) fn synchronous() -> u32 {
        // SAFETY: returns a constant.
        unsafe { ffi::rzs_blk_feat_synchronous() }
    }
    /// `BLK_FEAT_STABLE_WRITES`: pages must not change while being written.
    pub(crate) fn stable_writes() -> u32 {
        // SAFETY: returns a constant.
        unsafe { ffi::rzs_blk_feat_stable_writes() }
    }
}

/// Block status codes a bio is completed with (`BLK_STS_*`; their values come from
/// `helpers.c`, which maps these discriminants).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Status {
    Ok = 0,
    NotSupp = 1,
    NoSpc = 2,
    Resource = 3,
    IoErr = 4,
}

impl Status {
    #[inline]
    fn value(self) -> u8 {
        match self {
            // `BLK_STS_OK` is a plain 0, which bindgen sees: no call for the status
            // of almost every bio.
            Status::Ok => bindings::BLK_STS_OK as u8,
            // SAFETY: maps a discriminant to a constant.
            _ => unsafe { ffi::rzs_blk_sts(self as kernel::ffi::c_int) },
        }
    }
}

const _: () = assert!(bindings::BLK_STS_OK == 0);

/// A registered block major number, released on drop.
pub(crate) struct Major {
    major: u32,
    name: &'static CStr,
}

impl Major {
    /// Registers a dynamically allocated major under `name`.
    pub(crate) fn register(name: &'static CStr) -> Result<Self> {
        // SAFETY: `name` is a valid NUL-terminated string that lives forever; major 0
        // asks for a dynamic major; no probe callback.
        let ret = unsafe { bindings::__register_blkdev(0, name.as_char_ptr(), None) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(Self { major: ret as u32, name })
    }

    pub(crate) fn number(&self) -> u32 {
        self.major
    }
}

impl Drop for Major {
    fn drop(&mut self) {
        // SAFETY: `self.major` was registered under `self.name` in `register`, and
        // every disk using it is gone (disks borrow nothing from `Major`, but the
        // driver drops its disks before its major; see `rzs.rs`).
        unsafe { bindings::unregister_blkdev(self.major, self.name.as_char_ptr()) };
    }
}

/// What a driver implements to serve a disk.
pub(crate) trait Operations: Sync + Sized {
    /// Serves one bio; the bio must be completed (with [`Bio::end`]) before return.
    fn submit_bio(&self, bio: Bio<'_>);

    /// The disk is being opened (called under the disk's open mutex).
    fn open(&self, _disk: DiskRef<'_>) -> Result {
        Ok(())
    }

    /// An ioctl on the disk. `arg` is the raw (user pointer) argument.
    fn ioctl(&self, _disk: DiskRef<'_>, _cmd: u32, _arg: usize) -> Result<i32> {
        Err(code::ENOTTY)
    }

    /// The swap slot at page `offset` was freed (mainline's `swap_slot_free_notify`,
    /// installed when `Fops::new` is asked to). Atomic context: must not sleep or
    /// allocate.
    fn swap_slot_free(&self, _offset: u64) {}
}

/// A counted reference to a request queue: the queue stays allocated while it exists.
///
/// # Invariants
///
/// `q` is a request queue on which this value owns one reference (`blk_get_queue`).
pub(crate) struct QueueRef {
    q: NonNull<bindings::request_queue>,
}

// SAFETY: a queue reference may be dropped from any thread; `&QueueRef` only calls
// thread-safe block-layer functions.
unsafe impl Send for QueueRef {}
// SAFETY: as above.
unsafe impl Sync for QueueRef {}

impl QueueRef {
    /// Gives up ownership of the reference: [`QueueRef::from_raw`] takes it back.
    pub(crate) fn into_raw(self) -> *mut bindings::request_queue {
        core::mem::ManuallyDrop::new(self).q.as_ptr()
    }

    /// Takes back a reference given up by [`QueueRef::into_raw`] (`None` for null).
    ///
    /// # Safety
    ///
    /// `q` is null or came from `into_raw`, and is taken back once.
    pub(crate) unsafe fn from_raw(q: *mut bindings::request_queue) -> Option<Self> {
        // INVARIANT: the reference `into_raw` gave up (the caller's contract).
        NonNull::new(q).map(|q| Self { q })
    }

    /// [`QueueRef::drain_submitters`] on a reference given up by `into_raw`, which
    /// stays given up (the caller keeps owning it). Nothing for null.
    ///
    /// # Safety
    ///
    /// `q` is null or came from `into_raw` and has not been taken back yet.
    pub(crate) unsafe fn drain_raw(q: *mut bindings::request_queue) {
        // SAFETY: the caller's contract: a reference exists for `q` while this runs;
        // `ManuallyDrop` keeps this borrowed one from being given back.
        if let Some(q) = unsafe { Self::from_raw(q) }.map(core::mem::ManuallyDrop::new) {
            q.drain_submitters();
        }
    }

    /// Waits until no call of `submit_bio` on this queue's disk is running. Calls
    /// that start meanwhile wait, and run after it returns (a `REQ_NOWAIT` bio
    /// fails with `EAGAIN` instead, as during any freeze). Sleeps: process context
    /// only.
    ///
    /// The block layer holds the queue's usage counter around every call of a
    /// bio-based disk's `submit_bio` (`__submit_bio`: `bio_queue_enter` ...
    /// `blk_queue_exit`); freezing the queue waits for that counter to drop to zero
    /// with new entries held back, and unfreezing lets them in.
    pub(crate) fn drain_submitters(&self) {
        // SAFETY: the queue is allocated (we own a reference); freeze and unfreeze
        // pair up here, and work on a dying queue too.
        unsafe {
            bindings::blk_mq_freeze_queue(self.q.as_ptr());
            bindings::blk_mq_unfreeze_queue(self.q.as_ptr());
        }
    }
}

impl Drop for QueueRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference (invariant), given back once.
        unsafe { bindings::blk_put_queue(self.q.as_ptr()) };
    }
}

/// A borrowed gendisk, as callbacks see it.
#[derive(Clone, Copy)]
pub(crate) struct DiskRef<'a> {
    disk: &'a Opaque<bindings::gendisk>,
}

impl DiskRef<'_> {
    fn ptr(&self) -> *mut bindings::gendisk {
        self.disk.get()
    }

    /// A counted reference to the disk's request queue; `None` if the queue is
    /// dying (the disk is being deleted).
    pub(crate) fn queue(&self) -> Option<QueueRef> {
        // SAFETY: a live disk's queue is valid.
        let q = unsafe { (*self.ptr()).queue };
        // SAFETY: `q` is a valid queue; `blk_get_queue` takes a reference unless it is
        // dying.
        if !unsafe { bindings::blk_get_queue(q) } {
            return None;
        }
        // INVARIANT: the reference just taken is the one the `QueueRef` owns.
        NonNull::new(q).map(|q| QueueRef { q })
    }

    /// Sets the capacity in 512-byte sectors and tells userspace.
    pub(crate) fn set_capacity(&self, sectors: u64) {
        // SAFETY: the disk is live while a callback has it.
        unsafe { bindings::set_capacity_and_notify(self.ptr(), sectors) };
    }

    /// How many times the disk is open (`disk_openers`). Stable only under the open
    /// mutex (see [`DiskRef::with_open_mutex`]).
    pub(crate) fn openers(&self) -> i32 {
        // SAFETY: `part0` of a live disk is valid; atomic_t is read with a volatile
        // load, as `atomic_read` does.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*(*self.ptr()).part0).bd_openers.counter)) }
    }

    /// Runs `f` with the disk's `open_mutex` held, so no open or close can race it.
    /// Must not be called from `open` (which already holds it).
    pub(crate) fn with_open_mutex<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: the mutex is part of the live disk; locked and unlocked here, once.
        unsafe {
            let m = core::ptr::addr_of_mut!((*self.ptr()).open_mutex);
            bindings::mutex_lock(m);
            let r = f();
            bindings::mutex_unlock(m);
            r
        }
    }

    /// Drops the disk's page cache (after a reset, so no stale page is read back).
    pub(crate) fn invalidate(&self) {
        // SAFETY: `part0` of a live disk is a valid block device.
        unsafe { bindings::invalidate_bdev((*self.ptr()).part0) };
    }

    /// Writes back dirty pages of the disk's page cache.
    pub(crate) fn sync(&self) {
        // SAFETY: `part0` of a live disk is a valid block device.
        unsafe { bindings::sync_blockdev((*self.ptr()).part0) };
    }
}

/// The driver object of a disk.
///
/// # Safety
///
/// `disk` must be one of ours: its `private_data` is the `T` `GenDisk::new` stored.
unsafe fn driver_of<'a, T>(disk: *mut bindings::gendisk) -> (&'a T, DiskRef<'a>) {
    // SAFETY: per the contract, `private_data` points to a live `T` that outlives the
    // disk, and the disk is live during the callback.
    unsafe { (&*((*disk).private_data as *const T), DiskRef { disk: &*(disk as *const Opaque<bindings::gendisk>) }) }
}

/// A static `block_device_operations` table for driver `T`, owned by this module.
///
/// # Invariants
///
/// The table is never written after its constant initialisation; every callback
/// is one of the trampolines below for the same `T`.
#[repr(transparent)]
pub(crate) struct Fops<T: Operations> {
    ops: Opaque<bindings::block_device_operations>,
    _p: core::marker::PhantomData<T>,
}

// SAFETY: the table is immutable (invariant); the block layer only reads it.
unsafe impl<T: Operations> Sync for Fops<T> {}

impl<T: Operations> Fops<T> {
    /// The table for driver `T`, for a `static`; `slot_free_hook` installs
    /// `swap_slot_free_notify`. `owner` is this module, so an open disk pins it.
    pub(crate) const fn new(slot_free_hook: bool) -> Self {
        // SAFETY: all-zero is a valid `block_device_operations` (every callback
        // `None`, null pointers).
        let mut ops: bindings::block_device_operations = unsafe { core::mem::zeroed() };
        ops.owner = super::params::this_module();
        ops.submit_bio = Some(submit_bio_trampoline::<T>);
        ops.open = Some(open_trampoline::<T>);
        ops.ioctl = Some(ioctl_trampoline::<T>);
        // 32-bit callers: the kernel's helper turns their argument into a native
        // pointer (`compat_ptr`) before calling `ioctl`. rzs's ioctl structs have
        // the same layout on both ABIs (fixed-size fields, no padding).
        #[cfg(CONFIG_COMPAT)]
        {
            ops.compat_ioctl = Some(bindings::blkdev_compat_ptr_ioctl);
        }
        if slot_free_hook {
            ops.swap_slot_free_notify = Some(slot_free_trampoline::<T>);
        }
        Self { ops: Opaque::new(ops), _p: core::marker::PhantomData }
    }
}

unsafe extern "C" fn submit_bio_trampoline<T: Operations>(bio: *mut bindings::bio) {
    // SAFETY: the block layer hands us a valid bio that we own until `bio_endio`; its
    // `bi_bdev` belongs to one of our disks (see `driver_of`).
    unsafe {
        let (dev, _) = driver_of::<T>((*(*bio).bi_bdev).bd_disk);
        dev.submit_bio(Bio { bio: &mut *bio });
    }
}

unsafe extern "C" fn open_trampoline<T: Operations>(disk: *mut bindings::gendisk, _mode: bindings::blk_mode_t) -> kernel::ffi::c_int {
    // SAFETY: the block layer opens only live disks, ours since `fops` is ours.
    let (dev, d) = unsafe { driver_of::<T>(disk) };
    from_result(|| dev.open(d).map(|()| 0))
}

unsafe extern "C" fn ioctl_trampoline<T: Operations>(
    bdev: *mut bindings::block_device,
    _mode: bindings::blk_mode_t,
    cmd: kernel::ffi::c_uint,
    arg: kernel::ffi::c_ulong,
) -> kernel::ffi::c_int {
    // SAFETY: `bdev` is an open block device of one of our disks.
    let (dev, d) = unsafe { driver_of::<T>((*bdev).bd_disk) };
    from_result(|| dev.ioctl(d, cmd, arg as usize))
}

unsafe extern "C" fn slot_free_trampoline<T: Operations>(bdev: *mut bindings::block_device, offset: kernel::ffi::c_ulong) {
    // SAFETY: swap calls this for an open (swapped-on) block device of one of ours.
    let (dev, _) = unsafe { driver_of::<T>((*bdev).bd_disk) };
    dev.swap_slot_free(offset as u64);
}

/// Static parameters of a disk.
pub(crate) struct DiskParams {
    pub major: u32,
    pub first_minor: i32,
    pub block_size: u32,
    pub features: u32,
    /// Largest discard / write-zeroes in sectors (0: not supported).
    pub max_discard_sectors: u32,
}

/// A lock class for the disks' queue locks (lockdep wants a static key).
struct LockKey(Opaque<bindings::lock_class_key>);
// SAFETY: lockdep synchronises access to a class key itself.
unsafe impl Sync for LockKey {}
static DISK_KEY: LockKey = LockKey(Opaque::uninit());

/// A gendisk serving requests with `T`. The disk is visible (`/dev/<name>`) from `add`
/// until drop.
///
/// The `T` at `dev` must outlive the `GenDisk` and must not move: the owner keeps both
/// in one pinned heap allocation and drops the disk first.
///
/// # Invariants
///
/// `disk` is a live gendisk whose `private_data` is `dev` and whose fops are a
/// `Fops<T>`; `dev` is freed only after the disk (see `Drop`).
pub(crate) struct GenDisk<T: Operations> {
    disk: NonNull<bindings::gendisk>,
    added: bool,
    dev: core::mem::ManuallyDrop<Pin<KBox<T>>>,
}

// SAFETY: a gendisk may be used from any thread; the block layer does its own locking.
unsafe impl<T: Operations> Send for GenDisk<T> {}
// SAFETY: as above; `&GenDisk` only calls thread-safe block-layer functions.
unsafe impl<T: Operations> Sync for GenDisk<T> {}

impl<T: Operations> GenDisk<T> {
    /// Allocates a disk named `name` (e.g. "rzs0") served by `dev` through `fops`.
    /// The disk owns `dev` and frees it after itself.
    pub(crate) fn new(p: &DiskParams, name: &CStr, dev: Pin<KBox<T>>, fops: &'static Fops<T>) -> Result<Self> {
        // SAFETY: all-zero `queue_limits` means "defaults" to `blk_alloc_disk`.
        let mut lim: bindings::queue_limits = unsafe { core::mem::zeroed() };
        lim.logical_block_size = p.block_size;
        lim.physical_block_size = p.block_size;
        lim.io_min = p.block_size;
        lim.io_opt = p.block_size;
        lim.features = p.features;
        if p.max_discard_sectors > 0 {
            lim.max_hw_discard_sectors = p.max_discard_sectors;
            lim.max_write_zeroes_sectors = p.max_discard_sectors;
            lim.discard_granularity = p.block_size;
        }
        // SAFETY: `lim` is a valid limits struct, the key is static as lockdep requires.
        let disk = unsafe { bindings::__blk_alloc_disk(&mut lim, bindings::NUMA_NO_NODE, DISK_KEY.0.get()) };
        // `__blk_alloc_disk` returns a valid pointer or an ERR_PTR.
        let disk = from_err_ptr(disk)?;
        let nn = NonNull::new(disk).ok_or(code::ENOMEM)?;
        // SAFETY: `disk` is a freshly allocated gendisk that nobody else sees yet.
        unsafe {
            let d = &mut *disk;
            d.major = p.major as i32;
            d.first_minor = p.first_minor;
            d.minors = 1;
            d.fops = fops.ops.get();
            d.private_data = &*dev as *const T as *mut c_void;
            d.flags |= bindings::GENHD_FL_NO_PART as i32;
            let n = name.as_bytes_with_nul();
            let len = n.len().min(d.disk_name.len());
            for (dst, src) in d.disk_name.iter_mut().zip(n[..len].iter()) {
                *dst = *src;
            }
            if let Some(last) = d.disk_name.last_mut() {
                *last = 0;
            }
        }
        Ok(Self { disk: nn, added: false, dev: core::mem::ManuallyDrop::new(dev) })
    }

    /// Makes the disk visible to userspace, with sysfs attribute `groups` (a
    /// null-terminated table of static groups).
    pub(crate) fn add(&mut self, groups: &'static [*const bindings::attribute_group]) -> Result {
        if groups.last().map_or(true, |g| !g.is_null()) {
            return Err(code::EINVAL);
        }
        // SAFETY: `self.disk` is a valid, not yet added gendisk; `groups` is a
        // null-terminated table of groups that live as long as the module.
        to_result(unsafe {
            bindings::device_add_disk(core::ptr::null_mut(), self.disk.as_ptr(), groups.as_ptr() as *mut *const bindings::attribute_group)
        })?;
        self.added = true;
        Ok(())
    }


    /// The disk, as callbacks see it.
    pub(crate) fn disk_ref(&self) -> DiskRef<'_> {
        // SAFETY: `self.disk` is a live gendisk for as long as `self` is borrowed;
        // `Opaque` is transparent over it.
        DiskRef { disk: unsafe { &*(self.disk.as_ptr() as *const Opaque<bindings::gendisk>) } }
    }

    /// The driver object serving the disk.
    pub(crate) fn dev(&self) -> &T {
        &self.dev
    }

    /// The whole-disk block device (valid as long as the disk).
    pub(crate) fn bdev(&self) -> Option<Bdev> {
        // SAFETY: `self.disk` is a valid gendisk; `part0` is set by blk_alloc_disk and
        // lives as long as the disk.
        unsafe { Bdev::from_live((*self.disk.as_ptr()).part0) }
    }
}

/// The driver object behind a disk's `struct device` (`dev_to_disk`), if the disk
/// is one of this module's.
///
/// # Safety
///
/// `dev` must be the device of a live block device (as sysfs gives a disk's
/// attributes), and rzs has one driver type `T` (see `driver_of_bdev`).
pub(crate) unsafe fn driver_of_device<'a, T>(dev: *mut bindings::device) -> Option<&'a T> {
    // SAFETY: per the contract.
    unsafe { disk_of_device::<T>(dev) }.map(|(d, _)| d)
}

/// The driver object and the disk behind a disk's `struct device`, if the disk is
/// one of this module's.
///
/// # Safety
///
/// As for [`driver_of_device`]; the disk is borrowed for as long as the caller (a
/// sysfs callback) runs, which removal of the disk waits for.
pub(crate) unsafe fn disk_of_device<'a, T>(dev: *mut bindings::device) -> Option<(&'a T, DiskRef<'a>)> {
    let off = core::mem::offset_of!(bindings::block_device, bd_device);
    // SAFETY: a disk's device is the `bd_device` of its whole-disk block device.
    unsafe { driver_and_disk_of_bdev::<T>((dev as *mut u8).sub(off) as *mut bindings::block_device) }
}

/// The driver object behind `bdev` if `bdev` is one of this module's disks.
///
/// # Safety
///
/// `bdev` must be a live block device, and every disk whose fops are owned by this
/// module must be a `GenDisk<T>` (rzs has one driver type).
unsafe fn driver_of_bdev<'a, T>(bdev: *mut bindings::block_device) -> Option<&'a T> {
    // SAFETY: per the contract.
    unsafe { driver_and_disk_of_bdev::<T>(bdev) }.map(|(d, _)| d)
}

/// [`driver_of_bdev`], with the disk.
///
/// # Safety
///
/// As for [`driver_of_bdev`].
unsafe fn driver_and_disk_of_bdev<'a, T>(bdev: *mut bindings::block_device) -> Option<(&'a T, DiskRef<'a>)> {
    // SAFETY: a live bdev has a live disk and fops.
    unsafe {
        let disk = (*bdev).bd_disk;
        if disk.is_null() || (*disk).fops.is_null() || (*(*disk).fops).owner != super::params::this_module() {
            return None;
        }
        Some(driver_of::<T>(disk))
    }
}

/// A block device.
///
/// # Invariants
///
/// The pointer is a live `struct block_device`. A `Bdev` is made from a live disk
/// (`GenDisk::bdev`) or in a kernel callback that passes one; rzs keeps its disks'
/// `Bdev`s only in the device they serve, which the disk's removal makes
/// unreachable before the device is freed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bdev(NonNull<bindings::block_device>);

// SAFETY: a block device may be used from any thread.
unsafe impl Send for Bdev {}
// SAFETY: as above.
unsafe impl Sync for Bdev {}

impl Bdev {
    /// # Safety
    ///
    /// `p` is null or a live block device (for as long as the `Bdev` is used).
    pub(crate) unsafe fn from_live(p: *mut bindings::block_device) -> Option<Self> {
        NonNull::new(p).map(Bdev)
    }

    pub(crate) fn as_ptr(self) -> *mut bindings::block_device {
        self.0.as_ptr()
    }

    /// Our driver object behind this block device, if it is one of our disks.
    pub(crate) fn driver<T: Operations>(&self) -> Option<&T> {
        // SAFETY: the bdev is live (invariant); rzs has one driver type.
        unsafe { driver_of_bdev::<T>(self.as_ptr()) }
    }

    /// Whether the block device is in use as swap (swapon marks its inode).
    pub(crate) fn is_swap(self) -> bool {
        // SAFETY: a live block device has a valid mapping whose host is its inode;
        // `i_flags` is read racily, as the kernel's own IS_SWAPFILE does.
        unsafe {
            let m = (*self.as_ptr()).bd_mapping;
            !m.is_null() && !(*m).host.is_null() && (*(*m).host).i_flags & bindings::S_SWAPFILE != 0
        }
    }
}

/// A device's own block device, set once after its disk is created.
pub(crate) struct BdevCell(core::sync::atomic::AtomicPtr<bindings::block_device>);

impl BdevCell {
    pub(crate) const fn new() -> Self {
        Self(core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()))
    }
    pub(crate) fn set(&self, b: Bdev) {
        self.0.store(b.as_ptr(), core::sync::atomic::Ordering::Release);
    }
    pub(crate) fn get(&self) -> Option<Bdev> {
        // SAFETY: only `set` stores here, with a live `Bdev` (see its invariants).
        unsafe { Bdev::from_live(self.0.load(core::sync::atomic::Ordering::Acquire)) }
    }
}

impl<T: Operations> Drop for GenDisk<T> {
    fn drop(&mut self) {
        // SAFETY: `self.disk` is valid; `del_gendisk` only after a successful add; after
        // `put_disk` we never touch it again. `del_gendisk` waits for bios in flight.
        unsafe {
            if self.added {
                bindings::del_gendisk(self.disk.as_ptr());
            }
            bindings::put_disk(self.disk.as_ptr());
        }
        // SAFETY: the disk is gone (no callback can reach `dev` any more) and `dev`
        // is dropped once, here.
        unsafe { core::mem::ManuallyDrop::drop(&mut self.dev) };
    }
}

/// The operation a bio asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Read,
    Write,
    Flush,
    Discard,
    WriteZeroes,
    Other(u32),
}

/// A bio handed to [`Operations::submit_bio`]. Dropping it without [`Bio::end`] is a
/// bug; the type ends it with an I/O error in that case, so no bio is ever lost.
pub(crate) struct Bio<'a> {
    bio: &'a mut bindings::bio,
}

impl Bio<'_> {
    pub(crate) fn op(&self) -> Op {
        match self.bio.bi_opf & ((1 << bindings::REQ_OP_BITS) - 1) {
            bindings::req_op_REQ_OP_READ => Op::Read,
            bindings::req_op_REQ_OP_WRITE => Op::Write,
            bindings::req_op_REQ_OP_FLUSH => Op::Flush,
            bindings::req_op_REQ_OP_DISCARD => Op::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => Op::WriteZeroes,
            o => Op::Other(o),
        }
    }

    /// The address of the request queue the bio was submitted to, whose usage
    /// counter the block layer holds while `submit_bio` runs. Not to dereference.
    #[inline]
    pub(crate) fn queue(&self) -> *const bindings::request_queue {
        // SAFETY: a bio in `submit_bio` has a live `bi_bdev` (the block layer's own
        // invariant: `bio_queue_enter` used it), whose `bd_queue` is its queue.
        unsafe { (*self.bio.bi_bdev).bd_queue }
    }

    /// First sector.
    pub(crate) fn sector(&self) -> u64 {
        self.bio.bi_iter.bi_sector
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> u32 {
        self.bio.bi_iter.bi_size
    }

    /// Completes the bio with `status`.
    pub(crate) fn end(self, status: Status) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: we own the bio until `bio_endio`, which we call exactly once
        // (`ManuallyDrop` keeps `Drop` from ending it again).
        unsafe {
            let bio = this.bio as *const bindings::bio as *mut bindings::bio;
            (*bio).bi_status = status.value();
            bindings::bio_endio(bio);
        }
    }

    /// The bio's data, as a cursor from its start.
    pub(crate) fn data(&self) -> BioData<'_> {
        BioData { bio: self.bio, iter: self.bio.bi_iter }
    }
}

impl Drop for Bio<'_> {
    fn drop(&mut self) {
        // SAFETY: see `end`; reached only if `end` was not called.
        unsafe {
            let bio = self.bio as *mut bindings::bio;
            (*bio).bi_status = Status::IoErr.value();
            bindings::bio_endio(bio);
        }
    }
}

/// A cursor over a bio's data that copies it to or from memory rzs owns. Walks a
/// copy of `bi_iter`, so the bio itself is unchanged.
pub(crate) struct BioData<'a> {
    bio: &'a bindings::bio,
    iter: bindings::bvec_iter,
}

const PAGE_SIZE: u32 = bindings::PAGE_SIZE as u32;

/// One piece of the bio within a single page.
struct Piece {
    page: *mut bindings::page,
    offset: u32,
    len: u32,
}

impl BioData<'_> {
    /// Bytes left.
    pub(crate) fn remaining(&self) -> u32 {
        self.iter.bi_size
    }

    /// The next piece of at most `max` bytes within one page, advancing past it.
    fn next_piece(&mut self, max: u32) -> Option<Piece> {
        if self.iter.bi_size == 0 || max == 0 || self.bio.bi_io_vec.is_null() {
            return None;
        }
        let idx = self.iter.bi_idx as usize;
        // SAFETY: while `bi_size > 0`, `bi_idx` indexes a valid entry of `bi_io_vec`
        // (the block layer's own invariant that `bio_for_each_segment` relies on).
        let bv = unsafe { &*self.bio.bi_io_vec.add(idx) };
        let done = self.iter.bi_bvec_done;
        let in_bv = bv.bv_offset.checked_add(done)?;
        let offset = in_bv % PAGE_SIZE;
        let len = bv.bv_len.checked_sub(done)?.min(self.iter.bi_size).min(PAGE_SIZE - offset).min(max);
        if len == 0 {
            return None;
        }
        let page = match in_bv / PAGE_SIZE {
            // The bvec's first page (every bvec of a single-page bio): no call.
            0 => bv.bv_page,
            // SAFETY: a multi-page bvec covers physically contiguous pages; `nth_page`
            // finds the `struct page` of the one `in_bv` falls in, on any memory model.
            n => unsafe { ffi::rzs_nth_page(bv.bv_page, n as kernel::ffi::c_ulong) },
        };
        self.iter.bi_size -= len;
        self.iter.bi_bvec_done += len;
        if self.iter.bi_bvec_done == bv.bv_len {
            self.iter.bi_idx += 1;
            self.iter.bi_bvec_done = 0;
        }
        Some(Piece { page, offset, len })
    }

    /// Takes the next piece if it is a whole page; `None`, with nothing consumed,
    /// otherwise.
    fn next_whole_page(&mut self) -> Option<Piece> {
        let saved = self.iter;
        match self.next_piece(PAGE_SIZE) {
            Some(p) if p.offset == 0 && p.len == PAGE_SIZE => Some(p),
            _ => {
                self.iter = saved;
                None
            }
        }
    }

    /// Hands the next page of a read bio to `f` to fill in place, without a bounce
    /// copy, if the next piece is a whole page that only this read may touch; then
    /// advances past it. `None`, with nothing consumed, otherwise.
    ///
    /// Which pages those are (`rzs_kmap_page_being_filled`): the page's folio is
    /// locked, not uptodate, mapped into no process, without private data and not a
    /// slab page (SLUB uses the lock bit of its pages as `slab_lock`). This relies
    /// on a rule of the kernel's, not on a check: whoever holds the lock of a folio
    /// that is not uptodate and sends a read into it is the read's issuer, and
    /// unlocks it only after the bio completes, which is after `f`; meanwhile every
    /// reader, `mmap` fault and buffered writer waits for the lock or for uptodate.
    /// A swap-in folio (`swap_read_folio`, on the swap cache or not) is locked and
    /// unmapped until `do_swap_page` maps it after the read; a page-cache folio read
    /// by `mpage_readahead`, iomap or `read_cache_folio` is locked by the reader. The
    /// rule fails for buffer_heads: `sb_bread`/`bh_read` lock only the buffer, so the
    /// folio's lock may be a writer's (`block_write_begin` of a buffered write to the
    /// block device, copying into the page); those folios have private data and are
    /// refused. User memory of an O_DIRECT read is never in the state: it is
    /// uptodate (anonymous and shmem folios from allocation, file folios before they
    /// can be mapped or pinned); a bio of pages pinned from user memory
    /// (`BIO_PAGE_PINNED`, set by `bio_iov_iter_get_pages`) is refused before any
    /// page is looked at, which spares O_DIRECT reads the walk and the folio test.
    /// Refused pages go through [`BioData::copy_in`]. If `f` fails half-way the page
    /// holds a partial fill; the caller then fails the bio, so it is never marked
    /// uptodate.
    pub(crate) fn with_filled_page<R>(&mut self, f: impl FnOnce(&mut [u8; PAGE_SIZE as usize]) -> R) -> Option<R> {
        if self.bio.bi_flags & (1 << bindings::BIO_PAGE_PINNED) != 0 {
            return None;
        }
        let saved = self.iter;
        let p = self.next_whole_page()?;
        // SAFETY: `p.page` is a page of the bio, which stays allocated while we own
        // it; the helper only reads its folio's flags and map count, and maps all of
        // the page until the matching unmap below when it returns non-null.
        let addr = unsafe { ffi::rzs_kmap_page_being_filled(p.page) };
        if addr.is_null() {
            self.iter = saved;
            return None;
        }
        // SAFETY: `addr` maps `PAGE_SIZE` writable bytes, aligned, for as long as `f`
        // runs, and no one else reads or writes them before the bio completes (the
        // folio state checked above, argued in this method's documentation), so
        // this is the only reference to them. It cannot outlive `f` (`R` does not
        // borrow it) and is dropped before the unmap.
        let r = f(unsafe { &mut *(addr as *mut [u8; PAGE_SIZE as usize]) });
        // SAFETY: `addr` came from `rzs_kmap_page_being_filled(p.page)` in this
        // context and is unmapped once; the helper also flushes the data cache.
        unsafe { ffi::rzs_kunmap_filled(p.page, addr) };
        Some(r)
    }

    /// Takes the next piece if it is a whole page and maps it with `kmap_local_page`;
    /// `None`, with nothing consumed, otherwise. The caller unmaps the address
    /// (`rzs_kunmap_local` or `rzs_kunmap_filled`) in the same context, once.
    fn map_next_whole_page(&mut self) -> Option<(Piece, NonNull<u8>)> {
        let saved = self.iter;
        let p = self.next_whole_page()?;
        // SAFETY: `p.page` is a page of the bio, which stays allocated while we own
        // it; `kmap_local_page` maps all of it until the caller's unmap.
        let addr = unsafe { ffi::rzs_kmap_local_page(p.page) };
        let Some(base) = NonNull::new(addr.cast::<u8>()) else {
            // Not a mapping (kmap_local_page does not fail): nothing to unmap.
            self.iter = saved;
            return None;
        };
        Some((p, base))
    }

    /// Hands the next page of a read bio to `f` to fill in place as a [`RacyPage`],
    /// which others may read or write meanwhile (user memory of an O_DIRECT read), if
    /// the next piece is a whole page; then advances past it. `None`, with nothing
    /// consumed, otherwise. Never sleeps: callable under a slot's lock. As in
    /// [`BioData::with_filled_page`], a failed `f` leaves a partial fill, and the
    /// caller then fails the bio.
    pub(crate) fn with_racy_page<R>(&mut self, f: impl FnOnce(&mut RacyPage<'_>) -> R) -> Option<R> {
        let (p, base) = self.map_next_whole_page()?;
        let addr = base.as_ptr().cast::<c_void>();
        // SAFETY: `base` maps `PAGE_SIZE` readable and writable bytes until the unmap
        // below, after `f` returns; `racy` cannot outlive `f`'s call (`R` does not
        // borrow it). No Rust reference to the page exists: the only references this
        // type makes to bio pages are `with_filled_page`'s, to pages only that read
        // may touch, and they live only during its call; whoever else uses this page
        // (the user, C code) does so outside Rust.
        let mut racy = unsafe { RacyPage::new(base) };
        let r = f(&mut racy);
        // SAFETY: `addr` came from `rzs_kmap_local_page(p.page)` in this context
        // (`map_next_whole_page`) and is unmapped once; the helper also flushes the
        // data cache of the page.
        unsafe { ffi::rzs_kunmap_filled(p.page, addr) };
        Some(r)
    }

    /// Hands the next page of a write bio to `f` to read in place as a
    /// [`RacySource`], if the next piece is a whole page; then advances past it.
    /// `None`, with nothing consumed, otherwise. Others may write the page meanwhile:
    /// user memory of an O_DIRECT write may change at any time, and even a swap
    /// writeout's page, which the kernel keeps unchanged while the disk has stable
    /// writes, would change if root cleared `queue/stable_writes` before swapon; the
    /// compressor reads it through volatile loads and survives that (garbage in,
    /// garbage out: lz4_flex patch 0010). `f` may sleep: a `kmap_local_page` mapping
    /// stays valid across preemption (it pins the task to its CPU on highmem kernels).
    pub(crate) fn with_racy_source<R>(&mut self, f: impl FnOnce(&RacySource<'_>) -> R) -> Option<R> {
        let (_, base) = self.map_next_whole_page()?;
        let addr = base.as_ptr().cast::<c_void>();
        // SAFETY: `base` maps `PAGE_SIZE` readable bytes until the unmap below, after
        // `f` returns; `src` cannot outlive `f`'s call (`R` does not borrow it). No
        // Rust reference to the page exists: the only references this type makes to
        // bio pages are `with_filled_page`'s, to pages of a read that only that read
        // may touch, never to a write bio's; whoever else may write the page (the
        // user, the kernel's C code) does so outside Rust.
        let src = unsafe { RacySource::new(base) };
        let r = f(&src);
        // SAFETY: `addr` came from `rzs_kmap_local_page(p.page)` in this context
        // (`map_next_whole_page`) and is unmapped once.
        unsafe { ffi::rzs_kunmap_local(addr) };
        Some(r)
    }

    /// Copies the next `dst.len()` bytes of the bio into `dst`. `EIO` if the bio has
    /// fewer left (what was copied stays copied).
    pub(crate) fn copy_out(&mut self, dst: &mut [u8]) -> Result {
        let mut done = 0usize;
        while done < dst.len() {
            let want = u32::try_from(dst.len() - done).unwrap_or(u32::MAX);
            let p = self.next_piece(want).ok_or(code::EIO)?;
            let d = dst.get_mut(done..done + p.len as usize).ok_or(code::EIO)?;
            // SAFETY: `p` lies within one page of the bio (`offset + len <= PAGE_SIZE`),
            // which stays allocated while we own the bio; `d` is `p.len` bytes of
            // ours. The page may be written concurrently (user memory): the kernel's
            // memcpy reads it without any Rust reference to it.
            unsafe { ffi::rzs_copy_from_page(d.as_mut_ptr().cast(), p.page, p.offset, p.len as usize) };
            done += p.len as usize;
        }
        Ok(())
    }

    /// Copies `src` into the next `src.len()` bytes of the bio. `EIO` if the bio has
    /// fewer left.
    pub(crate) fn copy_in(&mut self, src: &[u8]) -> Result {
        let mut done = 0usize;
        while done < src.len() {
            let want = u32::try_from(src.len() - done).unwrap_or(u32::MAX);
            let p = self.next_piece(want).ok_or(code::EIO)?;
            let s = src.get(done..done + p.len as usize).ok_or(code::EIO)?;
            // SAFETY: as in `copy_out`; the write goes through memcpy (or copy_page)
            // into the kmapped page, followed by `flush_dcache_page`.
            unsafe { ffi::rzs_copy_to_page(p.page, p.offset, s.as_ptr().cast(), p.len as usize) };
            done += p.len as usize;
        }
        Ok(())
    }

    /// Fills the next `len` bytes of the bio with `word` repeated, in native byte
    /// order: byte `k` of them is `word.to_ne_bytes()[k % size_of::<usize>()]`, as
    /// `rzs_core::page::fill` lays out a same-filled page. `EIO` if the bio has
    /// fewer left.
    pub(crate) fn fill(&mut self, word: usize, len: usize) -> Result {
        const W: usize = core::mem::size_of::<usize>();
        let mut done = 0usize;
        while done < len {
            let want = u32::try_from(len - done).unwrap_or(u32::MAX);
            let p = self.next_piece(want).ok_or(code::EIO)?;
            // The pattern goes on where the previous piece left it: the piece's byte
            // 0 is the word's byte `done % W` (in memory order).
            let shift = ((done % W) * 8) as u32;
            let rotated = if cfg!(target_endian = "little") { word.rotate_right(shift) } else { word.rotate_left(shift) };
            // SAFETY: as in `copy_in`: `p` lies within one page of the bio, written
            // through the kernel's memset_l into the kmapped page, with no Rust
            // reference to it, then `flush_dcache_page`.
            unsafe { ffi::rzs_fill_page(p.page, p.offset, p.len as usize, rotated as kernel::ffi::c_ulong) };
            done += p.len as usize;
        }
        Ok(())
    }
}
