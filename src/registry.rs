// SPDX-License-Identifier: GPL-2.0
//! The devices of one module load, by index: those created at load and those added
//! and removed at run time through `/sys/class/rzs-control/` (`crate::sys::control`).
//! Policy only, in safe Rust over `crate::sys`.

#![forbid(unsafe_code)]

use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::{fmt, new_mutex, str::CString};

use rzs_core::PAGE_SIZE;

use crate::device::Device;
use crate::sys::blk::{self, DiskParams, Fops, GenDisk, Major};
use crate::sys::control::HotPlug;
use crate::sys::swap;

/// Most devices at once (indices 0-255: one minor each).
pub(crate) const MAX_DEVICES: u32 = 256;

/// A device and its disk: the disk owns the device and frees it after itself.
type DeviceSlot = GenDisk<Device>;

/// What a device is given when it is created (the load-time module parameters;
/// nothing for a hot-added one, as zram).
#[derive(Clone, Copy, Default)]
pub(crate) struct Initial {
    pub disksize: u64,
    pub mem_limit: u64,
    /// `backing_dev=`: backing device paths separated by commas, by index.
    pub backing: Option<&'static str>,
}

#[pin_data]
pub(crate) struct Registry {
    /// Index `i` holds `/dev/rzs<i>`, or `None` after a hot remove. Dropped first:
    /// every disk goes before the major.
    #[pin]
    devices: Mutex<KVec<Option<DeviceSlot>>>,
    fops: &'static Fops<Device>,
    notify: swap::Mode,
    major: Major,
}

impl Registry {
    pub(crate) fn new(major: Major, fops: &'static Fops<Device>, notify: swap::Mode) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            devices <- new_mutex!(KVec::new(), "rzs::Registry::devices"),
            fops,
            notify,
            major,
        })
    }

    pub(crate) fn major(&self) -> u32 {
        self.major.number()
    }

    /// How many devices exist.
    pub(crate) fn count(&self) -> usize {
        self.devices.lock().iter().filter(|d| d.is_some()).count()
    }

    /// Creates a device at the lowest free index with `init`; its index.
    /// `ENOSPC` when all `MAX_DEVICES` exist.
    pub(crate) fn add(&self, init: Initial) -> Result<u32> {
        let mut devs = self.devices.lock();
        let index = devs.iter().position(|d| d.is_none()).unwrap_or(devs.len());
        let index = u32::try_from(index).map_err(|_| ENOSPC)?;
        if index >= MAX_DEVICES {
            return Err(ENOSPC);
        }
        let disk = self.create(index, init).inspect_err(|e| {
            pr_err!("cannot create rzs{}: error {}\n", index, e.to_errno());
        })?;
        match devs.get_mut(index as usize) {
            Some(slot) => *slot = Some(disk),
            None => devs.push(Some(disk), GFP_KERNEL)?,
        }
        Ok(index)
    }

    fn create(&self, index: u32, init: Initial) -> Result<DeviceSlot> {
        let dev = KBox::pin_init(Device::new(index, self.notify), GFP_KERNEL)?;
        let params = DiskParams {
            major: self.major.number(),
            first_minor: i32::try_from(index).map_err(|_| EINVAL)?,
            block_size: PAGE_SIZE as u32,
            features: blk::feat::synchronous() | blk::feat::stable_writes(),
            max_discard_sectors: u32::MAX >> blk::SECTOR_SHIFT,
        };
        let name = CString::try_from_fmt(fmt!("rzs{}", index))?;
        let mut disk = GenDisk::new(&params, &name, dev, self.fops)?;
        let dev = disk.dev();
        if let Some(b) = disk.bdev() {
            dev.set_bdev(b);
        }
        if init.mem_limit != 0 {
            dev.set_mem_limit(init.mem_limit).inspect_err(|_| {
                pr_err!("mem_limit={} is out of range (one page to the size of RAM, or 0)\n", init.mem_limit);
            })?;
        }
        // The backing device goes before the size (as with rzsctl and sysfs).
        if let Some(path) = init.backing.and_then(|list| list.split(',').nth(index as usize)).filter(|p| !p.is_empty()) {
            let path = CString::try_from_fmt(fmt!("{}", path))?;
            dev.set_backing(Some(&path)).inspect_err(|e| {
                pr_err!("rzs{}: backing_dev={}: cannot open it (error {})\n", index, &*path, e.to_errno());
            })?;
        }
        if init.disksize != 0 {
            dev.set_disksize(init.disksize, disk.disk_ref())?;
        }
        disk.add(&crate::sys::sysfs::GROUPS.0)?;
        Ok(disk)
    }

    /// Removes device `index`: `ENODEV` if there is none, `EBUSY` if it is in use.
    /// The disk is deleted under the lock, so its index (and name) is free again
    /// only once it is gone.
    pub(crate) fn remove(&self, index: u32) -> Result {
        let mut devs = self.devices.lock();
        let slot = devs.get_mut(index as usize).ok_or(ENODEV)?;
        let disk = slot.as_ref().ok_or(ENODEV)?;
        disk.dev().claim_for_removal(disk.disk_ref())?;
        // Deleting the disk waits for I/O in flight; then the device and its store go.
        drop(slot.take());
        pr_info!("rzs{}: removed\n", index);
        Ok(())
    }
}

impl HotPlug for Registry {
    fn hot_add(&self) -> Result<u32> {
        let index = self.add(Initial::default())?;
        pr_info!("rzs{}: added\n", index);
        Ok(index)
    }

    fn hot_remove(&self, index: u32) -> Result {
        self.remove(index)
    }
}
