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
use kernel::c_str;

use rzs_core::codec::{self, Compressor, Encoded};
use rzs_core::PAGE_SIZE;

mod device;
mod registry;
mod store;
mod sys;

use device::Device;
use registry::{Initial, Registry, MAX_DEVICES};
use sys::blk::{Fops, Major};
use sys::control::Control;
use sys::params::{self as params, module_param, ParamCell};
use sys::swap::{self as swap, events};

module! {
    type: Rzs,
    name: "rzs",
    author: "rzs developers",
    description: "Compressed-RAM swap block device (lz4_flex, Rust)",
    license: "GPL",
}


static NUM_DEVICES: ParamCell<u32> = ParamCell::new(1);
module_param!(NUM_DEVICES, "num_devices", params::uint_ops(), "uint", "Number of /dev/rzsN devices to create at load (0-256, default 1; more with /sys/class/rzs-control/hot_add)");
static DISKSIZE: ParamCell<u64> = ParamCell::new(0);
module_param!(DISKSIZE, "disksize", &params::SIZE_OPS, "size", "Initial size of the devices created at load, e.g. 1G (default 0: set later with rzsctl)");
static SWAP_NOTIFY: ParamCell<u32> = ParamCell::new(swap::Mode::Auto as u32);
module_param!(SWAP_NOTIFY, "swap_notify", &swap::MODE_OPS, "string", "How freed swap slots are reported: auto (default: events if the kernel has the swap event notifier patch, else bdev), events, bdev (swap_slot_free_notify) or off");
static MEM_LIMIT: ParamCell<u64> = ParamCell::new(0);
module_param!(MEM_LIMIT, "mem_limit", &params::SIZE_OPS, "size", "Initial limit on the memory each device created at load may use, e.g. 256M (default 0: none)");
static BACKING_DEV: ParamCell<params::CharP> = ParamCell::new(params::CharP::NONE);
module_param!(BACKING_DEV, "backing_dev", params::charp_ops(), "charp", "Backing devices of the devices created at load, for tiering: block device paths separated by commas, the first for rzs0 (an empty entry: none). A regular file goes through a loop device (losetup)");
static DEBUG_CORRUPT: ParamCell<bool> = ParamCell::new(false);
module_param!(DEBUG_CORRUPT, "debug_corrupt", params::bool_ops(), "bool", "Test only: let root corrupt a stored page by writing its index to /sys/block/rzsN/debug_corrupt, to test the -EIO path (default N: the file refuses writes)");

static DEBUG_WB_DELAY_MS: ParamCell<u32> = ParamCell::new(0);
module_param!(DEBUG_WB_DELAY_MS, "debug_wb_delay_ms", params::uint_ops(), "uint", "Test only: writeback sleeps this long (at most 5000 ms) between writing a batch and installing it, so tests can race writes against it (default 0)");

/// The writeback delay of `debug_wb_delay_ms` (test only), capped at 5 s.
pub(crate) fn debug_wb_delay_ms() -> u32 {
    DEBUG_WB_DELAY_MS.get().min(5000)
}

/// Whether `debug_corrupt=Y` was given at load time.
pub(crate) fn debug_corrupt_allowed() -> bool {
    DEBUG_CORRUPT.get()
}

/// The disks' operations: with `swap_slot_free_notify` (swap_notify=bdev) or without.
static FOPS_BDEV_NOTIFY: Fops<Device> = Fops::new(true);
static FOPS: Fops<Device> = Fops::new(false);

/// The global swap event notifiers (swap_notify=events).
static SWAPON_NB: events::GlobalNotifier<Device> = events::GlobalNotifier::new(false);
static SWAPOFF_NB: events::GlobalNotifier<Device> = events::GlobalNotifier::new(true);

struct Rzs {
    // Drop order: swap event notifiers (unregistering waits for callbacks in
    // progress), then the control files (removing them waits for hot_add and
    // hot_remove in progress) and the devices, then the major, then the queue of
    // backing-device I/O.
    _events: Option<events::GlobalNotifiers<Device>>,
    control: Pin<KBox<Control<Registry>>>,
    // Last: the devices, which may do backing I/O through it, go first.
    _io: sys::backing::IoQueue,
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

impl kernel::Module for Rzs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let n = NUM_DEVICES.get();
        if n > MAX_DEVICES {
            pr_err!("num_devices={} is out of range (0-{})\n", n, MAX_DEVICES);
            return Err(EINVAL);
        }
        if DISKSIZE.get() != 0 && device::check_disksize(DISKSIZE.get()).is_err() {
            pr_err!("disksize={} is out of range (1 byte to {} bytes)\n", DISKSIZE.get(), device::MAX_DISKSIZE);
            return Err(EINVAL);
        }
        let notify = swap::param(&SWAP_NOTIFY).resolve()?;
        codec_self_test()?;
        let io = sys::backing::IoQueue::create()?;
        let major = Major::register(c_str!("rzs"))?;
        let fops = if notify == swap::Mode::Bdev { &FOPS_BDEV_NOTIFY } else { &FOPS };
        let control = KBox::pin_init(Control::new(Registry::new(major, fops, notify)), GFP_KERNEL)?;
        let backing = params::charp(&BACKING_DEV).and_then(|s| s.to_str().ok());
        let init = Initial { disksize: DISKSIZE.get(), mem_limit: MEM_LIMIT.get(), backing };
        for _ in 0..n {
            control.owner().add(init)?;
        }
        let events = match notify {
            swap::Mode::Events => Some(events::GlobalNotifiers::register(&SWAPON_NB, &SWAPOFF_NB)?),
            _ => None,
        };
        control.as_ref().register()?;
        pr_info!("loaded: {} device(s), major {}, swap_notify={}\n", n, control.owner().major(), notify.name());
        Ok(Rzs { _events: events, control, _io: io })
    }
}

impl Drop for Rzs {
    fn drop(&mut self) {
        // The fields drop after this: notifiers, then the control files, then the
        // disks (del_gendisk waits for I/O in flight), each device (whose `Gate`
        // frees its store), the major.
        pr_info!("unloading {} device(s)\n", self.control.owner().count());
    }
}
