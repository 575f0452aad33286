// SPDX-License-Identifier: GPL-2.0
//! rzs: a compressed-RAM swap block device.
//!
//! `/dev/rzsN` stores every 4 KiB page written to it compressed with lz4_flex in a
//! per-device slot table backed by zsmalloc; same-filled pages take no allocation,
//! incompressible ones are stored raw. The kernel-independent logic lives in the
//! `rzs_core` crate (`core/`); this crate is the driver.
//!
//! Layout: `sys` is the kernel interface, every FFI call and `unsafe` block of the
//! driver in small safe abstractions (block device, zsmalloc and the slot table,
//! per-CPU workspaces, SRCU gate, swap notifiers, module parameters, sysfs). Above
//! it, in safe Rust: `device` (configuration, the bio path) and `store` (what a page
//! becomes), both `#![forbid(unsafe_code)]`, and this file (module load and unload,
//! no `unsafe` block).

use kernel::prelude::*;
use kernel::{c_str, fmt, str::CString};

use rzs_core::codec::{self, Compressor, Encoded};
use rzs_core::PAGE_SIZE;

mod device;
mod store;
mod sys;

use device::Device;
use sys::blk::{self, DiskParams, Fops, GenDisk, Major};
use sys::params::{self as params, module_param, ParamCell};
use sys::swap::{self as swap, events};

module! {
    type: Rzs,
    name: "rzs",
    author: "rzs developers",
    description: "Compressed-RAM swap block device (lz4_flex, Rust)",
    license: "GPL",
}


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

/// A device and its disk: the disk owns the device and frees it after itself.
type DeviceSlot = GenDisk<Device>;

/// The disks' operations: with `swap_slot_free_notify` (swap_notify=bdev) or without.
static FOPS_BDEV_NOTIFY: Fops<Device> = Fops::new(true);
static FOPS: Fops<Device> = Fops::new(false);

/// The global swap event notifiers (swap_notify=events).
static SWAPON_NB: events::GlobalNotifier<Device> = events::GlobalNotifier::new(false);
static SWAPOFF_NB: events::GlobalNotifier<Device> = events::GlobalNotifier::new(true);

struct Rzs {
    // Drop order: swap event notifiers (unregistering waits for callbacks in
    // progress), the devices, the major.
    _events: Option<events::GlobalNotifiers<Device>>,
    devices: KVec<DeviceSlot>,
    _major: Major,
}

/// Compresses and decompresses one page at load time, so a broken codec build fails
/// `insmod` instead of corrupting data. Every buffer is on the heap (two pages and
/// the 16 KiB compressor would not fit the kernel stack).
fn codec_self_test() -> Result {
    let mut state = KBox::<Compressor>::new_uninit(GFP_KERNEL)?;
    let comp = Compressor::init_in_place(&mut state);
    let mut page = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
    for (i, b) in page.iter_mut().enumerate() {
        *b = (i % 251) as u8 ^ (i / 512) as u8;
    }
    let page: &[u8; PAGE_SIZE] = page.as_slice().try_into().map_err(|_| EINVAL)?;
    let mut back = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
    let back: &mut [u8; PAGE_SIZE] = back.as_mut_slice().try_into().map_err(|_| EINVAL)?;
    let len = match comp.compress(page) {
        Encoded::Compressed(data) => {
            let len = data.len();
            codec::decompress(data, back).map_err(|_| EIO)?;
            len
        }
        Encoded::Incompressible => return Err(EIO),
    };
    if back != page {
        pr_err!("codec self-test: page changed in round trip\n");
        return Err(EIO);
    }
    pr_info!("lz4_flex self-test ok: {} -> {} bytes\n", PAGE_SIZE, len);
    Ok(())
}

fn create_device(index: u32, major: &Major, fops: &'static Fops<Device>, notify: swap::Mode) -> Result<DeviceSlot> {
    let dev = KBox::pin_init(Device::new(index, notify), GFP_KERNEL)?;
    let params = DiskParams {
        major: major.number(),
        first_minor: index as i32,
        block_size: PAGE_SIZE as u32,
        features: blk::feat::synchronous() | blk::feat::stable_writes(),
        max_discard_sectors: u32::MAX >> blk::SECTOR_SHIFT,
    };
    let name = CString::try_from_fmt(fmt!("rzs{}", index))?;
    let mut disk = GenDisk::new(&params, &name, dev, fops)?;
    let dev = disk.dev();
    if let Some(b) = disk.bdev() {
        dev.set_bdev(b);
    }
    if MEM_LIMIT.get() != 0 {
        dev.set_mem_limit(MEM_LIMIT.get()).inspect_err(|_| {
            pr_err!("mem_limit={} is out of range (one page to the size of RAM, or 0)\n", MEM_LIMIT.get());
        })?;
    }
    if DISKSIZE.get() != 0 {
        dev.set_disksize(DISKSIZE.get(), |sectors| disk.set_capacity(sectors))?;
    }
    disk.add(&sys::sysfs::GROUPS.0)?;
    Ok(disk)
}

impl kernel::Module for Rzs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
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
        let fops = if notify == swap::Mode::Bdev { &FOPS_BDEV_NOTIFY } else { &FOPS };
        let mut devices = KVec::with_capacity(n as usize, GFP_KERNEL)?;
        for i in 0..n {
            match create_device(i, &major, fops, notify) {
                Ok(d) => devices.push(d, GFP_KERNEL)?,
                Err(e) => {
                    pr_err!("cannot create rzs{}: error {}\n", i, e.to_errno());
                    return Err(e);
                }
            }
        }
        let events = match notify {
            swap::Mode::Events => Some(events::GlobalNotifiers::register(&SWAPON_NB, &SWAPOFF_NB)?),
            _ => None,
        };
        pr_info!("loaded: {} device(s), major {}, swap_notify={}\n", n, major.number(), notify.name());
        Ok(Rzs { _events: events, devices, _major: major })
    }
}

impl Drop for Rzs {
    fn drop(&mut self) {
        // The fields drop after this: notifiers, then disks (del_gendisk waits for
        // I/O in flight), then each device, whose `Gate` frees its store.
        pr_info!("unloading {} device(s)\n", self.devices.len());
    }
}
