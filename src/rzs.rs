// SPDX-License-Identifier: GPL-2.0
//! rzs: a compressed-RAM swap block device.
//!
//! `/dev/rzsN` stores every 4 KiB page written to it compressed with lz4_flex in a
//! per-device slot table backed by zsmalloc; same-filled pages take no allocation,
//! incompressible ones are stored raw. The kernel-independent logic lives in the
//! `rzs_core` crate (`core/`); this crate is the driver.
//!
//! Layout: `blk` (block-layer wrapper), `zs` (zsmalloc), `cpu` (per-CPU workspaces),
//! `store` (slot table + pool), `gate` (value swap vs. I/O), `device` (bio path and
//! configuration), `params` (module parameters).

use kernel::prelude::*;
use kernel::{c_str, fmt, str::CString};

use rzs_core::codec::{self, Compressor, Encoded};
use rzs_core::PAGE_SIZE;

mod blk;
mod cpu;
mod device;
mod gate;
mod params;
mod store;
mod swap;
mod sysfs;
mod zs;

use blk::{DiskParams, Fops, GenDisk, Major};
use device::Device;
use params::{module_param, ParamCell};

module! {
    type: Rzs,
    name: "rzs",
    author: "rzs developers",
    description: "Compressed-RAM swap block device (lz4_flex, Rust)",
    license: "GPL",
}

kernel::static_assert!(PAGE_SIZE == kernel::bindings::PAGE_SIZE);

/// Most devices one load may create.
const MAX_DEVICES: u32 = 256;

static NUM_DEVICES: ParamCell<u32> = ParamCell::new(1);
module_param!(NUM_DEVICES, "num_devices", params::uint_ops(), "uint", "Number of /dev/rzsN devices to create (1-256, default 1)");
static DISKSIZE: ParamCell<u64> = ParamCell::new(0);
module_param!(DISKSIZE, "disksize", &params::SIZE_OPS, "size", "Initial size of every device, e.g. 1G (default 0: set later with rzsctl)");
static SWAP_NOTIFY: ParamCell<u32> = ParamCell::new(swap::Mode::Auto as u32);
module_param!(SWAP_NOTIFY, "swap_notify", &swap::MODE_OPS, "string", "How freed swap slots are reported: auto (default: events if the kernel has the swap event notifier patch, else bdev), events, bdev (swap_slot_free_notify) or off");
static MEM_LIMIT: ParamCell<u64> = ParamCell::new(0);
module_param!(MEM_LIMIT, "mem_limit", &params::SIZE_OPS, "size", "Initial limit on the memory each device may use, e.g. 256M (default 0: none)");
static DEBUG_CORRUPT: ParamCell<bool> = ParamCell::new(false);
module_param!(DEBUG_CORRUPT, "debug_corrupt", params::bool_ops(), "bool", "Test only: let root corrupt a stored page by writing its index to /sys/block/rzsN/debug_corrupt, to test the -EIO path (default N: the file refuses writes)");

/// Whether `debug_corrupt=Y` was given at load time.
pub(crate) fn debug_corrupt_allowed() -> bool {
    DEBUG_CORRUPT.get()
}

/// A device together with its disk. Field order is drop order: the disk goes first,
/// so no bio can reach `dev` after it is freed.
struct DeviceSlot {
    _disk: GenDisk<Device>,
    _dev: Pin<KBox<Device>>,
}

struct Rzs {
    // Drop order: swap event notifiers, devices, the fops they point to, the major.
    _events: SwapEvents,
    devices: KVec<DeviceSlot>,
    _fops: Pin<KBox<Fops<Device>>>,
    _major: Major,
}

/// Compresses and decompresses one page at load time, so a broken codec build fails
/// `insmod` instead of corrupting data.
fn codec_self_test() -> Result {
    let mut state = KBox::<Compressor>::new_uninit(GFP_KERNEL)?;
    let comp = Compressor::init_in_place(&mut state);
    let mut page = KBox::new([0u8; PAGE_SIZE], GFP_KERNEL)?;
    for (i, b) in page.iter_mut().enumerate() {
        *b = (i % 251) as u8 ^ (i / 512) as u8;
    }
    let mut back = KBox::new([0u8; PAGE_SIZE], GFP_KERNEL)?;
    let len = match comp.compress(&page) {
        Encoded::Compressed(data) => {
            let len = data.len();
            codec::decompress(data, &mut back).map_err(|_| EIO)?;
            len
        }
        Encoded::Incompressible => return Err(EIO),
    };
    if *back != *page {
        pr_err!("codec self-test: page changed in round trip\n");
        return Err(EIO);
    }
    pr_info!("lz4_flex self-test ok: {} -> {} bytes\n", PAGE_SIZE, len);
    Ok(())
}

fn create_device(index: u32, major: &Major, fops: &Fops<Device>, notify: swap::Mode) -> Result<DeviceSlot> {
    let dev = KBox::pin_init(Device::new(index, notify), GFP_KERNEL)?;
    let params = DiskParams {
        major: major.number(),
        first_minor: index as i32,
        block_size: PAGE_SIZE as u32,
        features: blk::feat::SYNCHRONOUS | blk::feat::STABLE_WRITES,
        max_discard_sectors: u32::MAX >> blk::SECTOR_SHIFT,
    };
    let name = CString::try_from_fmt(fmt!("rzs{}", index))?;
    // SAFETY: `dev` and `fops` are pinned heap allocations that `DeviceSlot` and `Rzs`
    // keep alive until after the disk is dropped (see their field order).
    let mut disk = unsafe { GenDisk::new(&params, &name, &*dev as *const Device, fops)? };
    dev.set_bdev(disk.bdev());
    if MEM_LIMIT.get() != 0 {
        dev.set_mem_limit(MEM_LIMIT.get())?;
    }
    if DISKSIZE.get() != 0 {
        disk.set_capacity(dev.set_disksize(DISKSIZE.get())?);
    }
    disk.add(&sysfs::GROUPS.0)?;
    Ok(DeviceSlot { _disk: disk, _dev: dev })
}

impl kernel::Module for Rzs {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let n = NUM_DEVICES.get();
        if n == 0 || n > MAX_DEVICES {
            pr_err!("num_devices={} is out of range (1-{})\n", n, MAX_DEVICES);
            return Err(EINVAL);
        }
        if DISKSIZE.get() != 0 && device::check_disksize(DISKSIZE.get()).is_err() {
            pr_err!("disksize={} is out of range (1 byte to {} bytes)\n", DISKSIZE.get(), device::MAX_DISKSIZE);
            return Err(EINVAL);
        }
        let notify = swap::param(&SWAP_NOTIFY).resolve()?;
        codec_self_test()?;
        let major = Major::register(c_str!("rzs"))?;
        let fops = KBox::pin(Fops::<Device>::new(module, notify == swap::Mode::Bdev), GFP_KERNEL)?;
        let mut devices = KVec::with_capacity(n as usize, GFP_KERNEL)?;
        for i in 0..n {
            match create_device(i, &major, &fops, notify) {
                Ok(d) => devices.push(d, GFP_KERNEL)?,
                Err(e) => {
                    pr_err!("cannot create rzs{}: error {}\n", i, e.to_errno());
                    return Err(e);
                }
            }
        }
        let events = SwapEvents::register(notify)?;
        pr_info!("loaded: {} device(s), major {}, swap_notify={}\n", n, major.number(), notify.name());
        Ok(Rzs { _events: events, devices, _fops: fops, _major: major })
    }
}

impl Drop for Rzs {
    fn drop(&mut self) {
        // The fields drop after this: disks first (del_gendisk waits for I/O in
        // flight), then each device, whose `Gate` frees its store.
        pr_info!("unloading {} device(s)\n", self.devices.len());
    }
}

/// The global SWAPON/SWAPOFF notifiers (events mode): they attach and detach our
/// devices. Unregistered on drop, before the devices go; unregistering waits for
/// callbacks in progress.
struct SwapEvents {
    active: bool,
}

mod events_glue {
    use super::*;
    use swap::events::{Notifier, SwapEventInfo, SWAP_EVENT_SWAPOFF, SWAP_EVENT_SWAPON};

    pub(super) static SWAPON_NB: Notifier = Notifier::new(swapon_cb);
    pub(super) static SWAPOFF_NB: Notifier = Notifier::new(swapoff_cb);

    /// Our device behind a SWAPON/SWAPOFF event, if it is one of ours.
    ///
    /// # Safety
    ///
    /// `data` is the `struct swap_event_info` the kernel passes to these chains.
    unsafe fn ours<'a>(data: *mut core::ffi::c_void) -> Option<(&'a Device, &'a SwapEventInfo)> {
        // SAFETY: per the contract; `bdev` is null or the swap area's live bdev.
        unsafe {
            let info = (data as *const SwapEventInfo).as_ref()?;
            if info.bdev.is_null() {
                return None;
            }
            Some((blk::driver_of_bdev::<Device>(info.bdev)?, info))
        }
    }

    unsafe extern "C" fn swapon_cb(_nb: *mut kernel::bindings::notifier_block, _ev: kernel::ffi::c_ulong, data: *mut core::ffi::c_void) -> kernel::ffi::c_int {
        // SAFETY: registered only on the SWAPON chain.
        match unsafe { ours(data) } {
            Some((dev, info)) => {
                dev.swap_attach(info.bdev, info.pages as u64);
                swap::NOTIFY_OK
            }
            None => swap::NOTIFY_DONE,
        }
    }

    unsafe extern "C" fn swapoff_cb(_nb: *mut kernel::bindings::notifier_block, _ev: kernel::ffi::c_ulong, data: *mut core::ffi::c_void) -> kernel::ffi::c_int {
        // SAFETY: registered only on the SWAPOFF chain.
        match unsafe { ours(data) } {
            Some((dev, info)) => {
                dev.swap_detach(info.bdev);
                swap::NOTIFY_OK
            }
            None => swap::NOTIFY_DONE,
        }
    }

    pub(super) fn register() -> Result {
        SWAPOFF_NB.register(SWAP_EVENT_SWAPOFF, core::ptr::null_mut())?;
        // Registering for SWAPON replays it for areas already on (other devices'
        // included: they are ignored), so the order of load and swapon is free.
        if let Err(e) = SWAPON_NB.register(SWAP_EVENT_SWAPON, core::ptr::null_mut()) {
            SWAPOFF_NB.unregister(SWAP_EVENT_SWAPOFF, core::ptr::null_mut());
            return Err(e);
        }
        Ok(())
    }

    pub(super) fn unregister() {
        SWAPON_NB.unregister(SWAP_EVENT_SWAPON, core::ptr::null_mut());
        SWAPOFF_NB.unregister(SWAP_EVENT_SWAPOFF, core::ptr::null_mut());
    }
}

impl SwapEvents {
    fn register(mode: swap::Mode) -> Result<Self> {
        if mode != swap::Mode::Events {
            return Ok(Self { active: false });
        }
        events_glue::register()?;
        Ok(Self { active: true })
    }
}

impl Drop for SwapEvents {
    fn drop(&mut self) {
        if self.active {
            events_glue::unregister();
        }
    }
}
