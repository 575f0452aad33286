// SPDX-License-Identifier: GPL-2.0
//! Finding rzs devices and talking to them: the ioctls of `include/uapi/linux/rzs.h`.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::ioctl::{self, opcode, NoArg, Opcode, Setter, Updater};
use rzs_core::abi::{self, RzsStats, RZS_IOC_MAGIC};
use rzs_core::size::HumanSize;

use crate::error::{Error, Kind, Result};

/// `RZS_IOC_GET_STATS`, `_IOWR(RZS_IOC_MAGIC, 0x00, struct rzs_stats)`.
pub const GET_STATS: Opcode = opcode::read_write::<RzsStats>(RZS_IOC_MAGIC, 0x00);
/// `RZS_IOC_SET_DISKSIZE`, `_IOW(RZS_IOC_MAGIC, 0x01, __u64)`.
pub const SET_DISKSIZE: Opcode = opcode::write::<u64>(RZS_IOC_MAGIC, 0x01);
/// `RZS_IOC_SET_MEM_LIMIT`, `_IOW(RZS_IOC_MAGIC, 0x02, __u64)`.
pub const SET_MEM_LIMIT: Opcode = opcode::write::<u64>(RZS_IOC_MAGIC, 0x02);
/// `RZS_IOC_RESET`, `_IO(RZS_IOC_MAGIC, 0x03)`.
pub const RESET: Opcode = opcode::none(RZS_IOC_MAGIC, 0x03);
/// `RZS_IOC_SET_BACKING`, `_IOW(RZS_IOC_MAGIC, 0x04, struct rzs_backing)`.
pub const SET_BACKING: Opcode = opcode::write::<abi::RzsBacking>(RZS_IOC_MAGIC, 0x04);
/// `RZS_IOC_WRITEBACK`, `_IOWR(RZS_IOC_MAGIC, 0x05, struct rzs_writeback)`.
pub const WRITEBACK: Opcode = opcode::read_write::<abi::RzsWriteback>(RZS_IOC_MAGIC, 0x05);
/// `RZS_IOC_MARK_IDLE`, `_IO(RZS_IOC_MAGIC, 0x06)`.
pub const MARK_IDLE: Opcode = opcode::none(RZS_IOC_MAGIC, 0x06);

/// Where the system shows rzs: the real paths by default; tests point them elsewhere.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Where the device nodes are (`/dev`).
    pub dev: PathBuf,
    /// The block devices in sysfs (`/sys/block`).
    pub sys_block: PathBuf,
    /// Exists iff the module is loaded (`/sys/module/rzs`).
    pub sys_module: PathBuf,
    /// The active swap areas (`/proc/swaps`).
    pub proc_swaps: PathBuf,
    /// The control files, `hot_add` and `hot_remove` (`/sys/class/rzs-control`).
    pub sys_class: PathBuf,
    /// The machine's memory (`/proc/meminfo`), for the config's `ram`.
    pub proc_meminfo: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            dev: "/dev".into(),
            sys_block: "/sys/block".into(),
            sys_module: "/sys/module/rzs".into(),
            proc_swaps: "/proc/swaps".into(),
            sys_class: "/sys/class/rzs-control".into(),
            proc_meminfo: "/proc/meminfo".into(),
        }
    }
}

/// `N` if `name` is `rzsN`.
pub fn rzs_index(name: &str) -> Option<u32> {
    let n = name.strip_prefix("rzs")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok()
}

/// The error for a missing module.
pub fn module_not_loaded() -> Error {
    Error::new(
        Kind::NoModule,
        "module not loaded: no /sys/module/rzs (load it with modprobe rzs or insmod rzs.ko)",
    )
}

impl Paths {
    pub fn module_loaded(&self) -> bool {
        self.sys_module.exists()
    }

    /// The names (`rzsN`) of every rzs device, by index.
    pub fn device_names(&self) -> Result<Vec<String>> {
        if !self.module_loaded() {
            return Err(module_not_loaded());
        }
        let dir = std::fs::read_dir(&self.sys_block).map_err(|e| {
            Error::new(Kind::Other, format!("cannot list devices: {e}"))
                .on(self.sys_block.display().to_string())
        })?;
        let mut found: Vec<(u32, String)> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| rzs_index(&n).map(|i| (i, n)))
            .collect();
        found.sort();
        Ok(found.into_iter().map(|(_, n)| n).collect())
    }

    /// The path a DEVICE argument names: `rzs0` is `/dev/rzs0`, anything with a `/`
    /// is a path.
    pub fn resolve(&self, arg: &str) -> PathBuf {
        if arg.contains('/') {
            PathBuf::from(arg)
        } else {
            self.dev.join(arg)
        }
    }

    /// The device names (last path component) of the active swap areas.
    pub fn swap_names(&self) -> Vec<String> {
        std::fs::read_to_string(&self.proc_swaps)
            .map(|t| parse_proc_swaps(&t))
            .unwrap_or_default()
    }
}

/// The last path component of every swap area `/proc/swaps` lists (octal escapes such
/// as `\040` undone).
pub fn parse_proc_swaps(text: &str) -> Vec<String> {
    text.lines()
        .skip(1) // "Filename Type Size Used Priority"
        .filter_map(|l| l.split_whitespace().next())
        .map(unescape_octal)
        .map(|p| match p.rsplit_once('/') {
            Some((_, name)) => name.to_string(),
            None => p,
        })
        .collect()
}

/// Undoes the `\ooo` escapes the kernel uses for spaces and such in paths.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let esc = b.get(i + 1..i + 4).filter(|d| {
            b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) && d[0] <= b'3'
        });
        match esc {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the listing shows about one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `rzsN`.
    pub name: String,
    /// The device node, `/dev/rzsN`.
    pub path: String,
    pub stats: RzsStats,
    /// Swap is on on the device (the flag, or `/proc/swaps` lists it).
    pub swap: bool,
}

impl DeviceInfo {
    pub fn new(stats: RzsStats, path: String, swaps: &[String]) -> Self {
        let name = format!("rzs{}", stats.index);
        let swap = stats.flags & abi::RZS_FLAG_SWAP != 0 || swaps.contains(&name);
        DeviceInfo {
            name,
            path,
            stats,
            swap,
        }
    }
}

/// How a device is reached: its node, or (for a user who may not open the node)
/// its statistics in sysfs.
#[derive(Debug)]
enum Access {
    Node(File),
    /// `/sys/block/rzsN/rzs_stat`: statistics only.
    Sysfs(PathBuf),
}

/// An open rzs device.
#[derive(Debug)]
pub struct Device {
    access: Access,
    /// The path as the user named it (for messages).
    path: String,
}

impl Device {
    /// Opens DEVICE (`rzs0` or a path) read-only and checks it is an rzs device.
    /// When the node may not be opened (a user outside the `disk` group), the
    /// device's statistics are read from sysfs instead; changing it then fails
    /// with "permission denied", as it would with the node.
    pub fn open(paths: &Paths, arg: &str) -> Result<Device> {
        let p = paths.resolve(arg);
        let path = p.display().to_string();
        let access = match File::open(&p) {
            Ok(f) => Access::Node(f),
            Err(e) => {
                let err = open_error(paths, &p, &e).on(&path);
                match (err.kind, sysfs_stats_of(paths, &p)) {
                    (Kind::PermissionDenied, Some(stat)) => Access::Sysfs(stat),
                    _ => return Err(err),
                }
            }
        };
        let dev = Device { access, path };
        dev.stats()?; // ENOTTY and such: not an rzs device
        Ok(dev)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The open node, or the error for a change that needs one.
    fn node(&self, what: &str) -> Result<&File> {
        match &self.access {
            Access::Node(f) => Ok(f),
            Access::Sysfs(_) => Err(Error::new(
                Kind::PermissionDenied,
                format!("permission denied: {what} needs CAP_SYS_ADMIN (run as root)"),
            )
            .on(&self.path)),
        }
    }

    /// Locks the device for this process (`flock`, as zramctl does), so that two
    /// `rzsctl --find` never pick the same device. `false` if another holds it.
    pub fn try_lock(&self) -> Result<bool> {
        let f = self.node("locking")?;
        match rustix::fs::flock(f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(true),
            Err(Errno::WOULDBLOCK) => Ok(false),
            Err(e) => Err(errno_error(e, "locking").on(&self.path)),
        }
    }

    /// The statistics: `RZS_IOC_GET_STATS`, or sysfs's text form. Fields a kernel
    /// does not know stay 0.
    pub fn stats(&self) -> Result<RzsStats> {
        let file = match &self.access {
            Access::Node(f) => f,
            Access::Sysfs(stat) => {
                let text = std::fs::read_to_string(stat).map_err(|e| {
                    Error::new(Kind::Other, format!("cannot read {}: {e}", stat.display()))
                        .on(&self.path)
                })?;
                return Ok(RzsStats::parse_text(&text));
            }
        };
        let mut st = RzsStats {
            size: core::mem::size_of::<RzsStats>() as u32,
            ..RzsStats::default()
        };
        // SAFETY: GET_STATS takes a pointer to a `struct rzs_stats`, which `RzsStats`
        // is (repr(C), checked against the C header by rzs-core's tests); the kernel
        // writes at most `size` bytes.
        let r = unsafe { ioctl::ioctl(file.as_fd(), Updater::<GET_STATS, _>::new(&mut st)) };
        r.map_err(|e| match e {
            Errno::NOTTY | Errno::INVAL => {
                Error::new(Kind::NoDevice, "no such device: not an rzs device")
            }
            e => errno_error(e, "getting the statistics"),
        })
        .map_err(|e| e.on(&self.path))?;
        if (st.size as usize) < 8 || st.size as usize > core::mem::size_of::<RzsStats>() {
            return Err(Error::new(
                Kind::Other,
                format!("the kernel filled {} bytes of statistics", st.size),
            )
            .on(&self.path));
        }
        Ok(st)
    }

    /// `RZS_IOC_SET_DISKSIZE`. When the device already has a size, the message says
    /// which.
    pub fn set_disksize(&self, bytes: u64) -> Result<()> {
        let file = self.node("setting the size")?;
        // SAFETY: SET_DISKSIZE takes a pointer to a __u64.
        let r = unsafe { ioctl::ioctl(file.as_fd(), Setter::<SET_DISKSIZE, u64>::new(bytes)) };
        r.map_err(|e| {
            match e {
                Errno::BUSY => {
                    let has = self
                        .stats()
                        .map(|s| format!(" of {}", HumanSize(s.disksize)))
                        .unwrap_or_default();
                    Error::new(
                        Kind::Busy,
                        format!("busy: already has a size{has} (reset it first)"),
                    )
                }
                Errno::INVAL => Error::new(
                    Kind::InvalidArgument,
                    format!(
                        "invalid argument: size {} ({bytes} bytes) is out of range: \
                         it must be 1 byte to {} (rounded up to 4K pages)",
                        HumanSize(bytes),
                        HumanSize(abi::RZS_MAX_DISKSIZE)
                    ),
                ),
                Errno::PERM => permission_denied("setting the size"),
                e => errno_error(e, "setting the size"),
            }
            .on(&self.path)
        })
    }

    /// `RZS_IOC_SET_MEM_LIMIT` (0: no limit).
    pub fn set_mem_limit(&self, bytes: u64) -> Result<()> {
        let file = self.node("setting the memory limit")?;
        // SAFETY: SET_MEM_LIMIT takes a pointer to a __u64.
        let r = unsafe { ioctl::ioctl(file.as_fd(), Setter::<SET_MEM_LIMIT, u64>::new(bytes)) };
        r.map_err(|e| {
            match e {
                Errno::INVAL => Error::new(
                    Kind::InvalidArgument,
                    format!(
                        "invalid argument: memory limit {} rejected: it must be 0 (none) \
                         or one page to the size of RAM",
                        HumanSize(bytes)
                    ),
                ),
                Errno::PERM => permission_denied("setting the memory limit"),
                e => errno_error(e, "setting the memory limit"),
            }
            .on(&self.path)
        })
    }

    /// `RZS_IOC_RESET`: frees everything, back to size 0.
    pub fn reset(&self) -> Result<()> {
        let file = self.node("resetting")?;
        // SAFETY: RESET takes no argument.
        let r = unsafe { ioctl::ioctl(file.as_fd(), NoArg::<RESET>::new()) };
        r.map_err(|e| {
            match e {
                Errno::BUSY => Error::new(
                    Kind::Busy,
                    "busy: the device is in use (mounted, swapped on or open)",
                ),
                Errno::PERM => permission_denied("resetting"),
                e => errno_error(e, "resetting"),
            }
            .on(&self.path)
        })
    }

    /// `RZS_IOC_SET_BACKING`: the block device pages are written back to (`None`:
    /// unset).
    pub fn set_backing(&self, path: Option<&str>) -> Result<()> {
        let what = "setting the backing device";
        let file = self.node(what)?;
        let c = match path {
            Some(p) => Some(std::ffi::CString::new(p).map_err(|_| {
                Error::new(
                    Kind::InvalidArgument,
                    "invalid argument: the path holds a NUL byte",
                )
            })?),
            None => None,
        };
        let arg = match &c {
            Some(c) => abi::RzsBacking {
                path: c.as_ptr() as u64,
                path_len: u32::try_from(c.as_bytes_with_nul().len()).unwrap_or(u32::MAX),
                flags: 0,
            },
            None => abi::RzsBacking::default(),
        };
        // SAFETY: SET_BACKING reads a `struct rzs_backing` (`RzsBacking`, checked
        // against the header) and then `path_len` bytes at `path`, which `c` holds
        // until after the call.
        let r = unsafe { ioctl::ioctl(file.as_fd(), Setter::<SET_BACKING, _>::new(arg)) };
        r.map_err(|e| {
            let p = path.unwrap_or("none");
            match e {
                Errno::BUSY => Error::new(
                    Kind::Busy,
                    format!(
                        "busy: cannot set backing device {p}: the device has a size (reset it \
                         first), or {p} is in use (mounted, swapped on, or another device's)"
                    ),
                ),
                Errno::NOTBLK => Error::new(
                    Kind::InvalidArgument,
                    format!("invalid argument: {p} is not a block device (for a file, use losetup)"),
                ),
                Errno::INVAL => Error::new(
                    Kind::InvalidArgument,
                    format!("invalid argument: {p} cannot be a backing device (empty, or the path is too long)"),
                ),
                Errno::NOENT => Error::new(Kind::NoDevice, format!("no such device: {p}")),
                Errno::PERM => permission_denied(what),
                e => errno_error(e, what),
            }
            .on(&self.path)
        })
    }

    /// `RZS_IOC_WRITEBACK`: pages and blocks written.
    pub fn writeback(&self, flags: u32, min_age: u32, max_pages: u64) -> Result<(u64, u64)> {
        let what = "writing back";
        let file = self.node(what)?;
        let mut w = abi::RzsWriteback {
            flags,
            min_age,
            max_pages,
            pages: 0,
            blocks: 0,
        };
        // SAFETY: WRITEBACK takes a pointer to a `struct rzs_writeback`
        // (`RzsWriteback`, checked against the header) and fills its outputs.
        let r = unsafe { ioctl::ioctl(file.as_fd(), Updater::<WRITEBACK, _>::new(&mut w)) };
        r.map_err(|e| {
            match e {
                Errno::NODEV => Error::new(
                    Kind::NoDevice,
                    "no backing device: set one with --backing-dev before --size",
                ),
                Errno::BUSY => Error::new(Kind::Busy, "busy: a writeback is already running"),
                Errno::NOSPC => Error::new(Kind::Other, "the backing device is full"),
                Errno::PERM => permission_denied(what),
                e => errno_error(e, what),
            }
            .on(&self.path)
        })?;
        Ok((w.pages, w.blocks))
    }

    /// `RZS_IOC_MARK_IDLE`.
    pub fn mark_idle(&self) -> Result<()> {
        let what = "marking pages idle";
        let file = self.node(what)?;
        // SAFETY: MARK_IDLE takes no argument.
        let r = unsafe { ioctl::ioctl(file.as_fd(), NoArg::<MARK_IDLE>::new()) };
        r.map_err(|e| {
            match e {
                Errno::NODEV => Error::new(
                    Kind::NoDevice,
                    "no backing device (or no size): idle marking is for writeback",
                ),
                Errno::PERM => permission_denied(what),
                e => errno_error(e, what),
            }
            .on(&self.path)
        })
    }

    /// Compacts the device's pool through sysfs (`/sys/block/rzsN/compact`, as
    /// zram's): the pages given back show in `pages_compacted`.
    pub fn compact(&self, paths: &Paths) -> Result<()> {
        let name = format!("rzs{}", self.stats()?.index);
        let file = paths.sys_block.join(&name).join("compact");
        std::fs::write(&file, "1\n").map_err(|e| {
            match e.kind() {
                std::io::ErrorKind::PermissionDenied => permission_denied("compacting"),
                std::io::ErrorKind::NotFound => Error::new(
                    Kind::Other,
                    format!("{} missing: this rzs module cannot compact", file.display()),
                ),
                _ => Error::new(Kind::Other, format!("compacting: {e}")),
            }
            .on(&self.path)
        })
    }

    /// The statistics with the name and swap state, for the views.
    pub fn info(&self, swaps: &[String]) -> Result<DeviceInfo> {
        Ok(DeviceInfo::new(self.stats()?, self.path.clone(), swaps))
    }
}

/// `/sys/block/rzsN/rzs_stat` for the device node `node`, if it names an rzs
/// device whose file exists (the node's name, or where a symlink leads).
fn sysfs_stats_of(paths: &Paths, node: &Path) -> Option<PathBuf> {
    let real = std::fs::canonicalize(node).unwrap_or_else(|_| node.to_path_buf());
    let name = real.file_name()?.to_str()?;
    rzs_index(name)?;
    let stat = paths.sys_block.join(name).join("rzs_stat");
    stat.exists().then_some(stat)
}

/// The first free device (no size, not locked by another `rzsctl --find`), locked
/// for this process; else a new one from `hot_add`, as `zramctl --find` does.
pub fn find_free(paths: &Paths) -> Result<Device> {
    for name in paths.device_names()? {
        let disksize = std::fs::read_to_string(paths.sys_block.join(&name).join("disksize"));
        if disksize.map_or(true, |s| s.trim() != "0") {
            continue;
        }
        let Ok(dev) = Device::open(paths, &name) else {
            continue; // removed meanwhile, or being reset
        };
        // Locked, then checked again: another process may have sized it meanwhile.
        if dev.try_lock()? && dev.stats()?.disksize == 0 {
            return Ok(dev);
        }
    }
    let index = hot_add(paths)?;
    let name = format!("rzs{index}");
    // devtmpfs creates the node as the disk is added; udev may still be moving it.
    let mut tries = 0;
    let dev = loop {
        match Device::open(paths, &name) {
            Ok(d) => break d,
            Err(e) if e.kind == Kind::NoDevice && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    };
    dev.try_lock()?;
    Ok(dev)
}

/// Creates a device (`hot_add`); its index.
pub fn hot_add(paths: &Paths) -> Result<u32> {
    let file = paths.sys_class.join("hot_add");
    let text = std::fs::read_to_string(&file)
        .map_err(|e| control_error(paths, &file, &e, "adding a device"))?;
    text.trim().parse().map_err(|_| {
        Error::new(
            Kind::Other,
            format!("{} answered {:?}, not an index", file.display(), text),
        )
    })
}

/// Removes device DEVICE (`hot_remove`).
pub fn hot_remove(paths: &Paths, arg: &str) -> Result<()> {
    let p = paths.resolve(arg);
    let path = p.display().to_string();
    let real = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
    let Some(index) = real
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(rzs_index)
    else {
        return Err(Error::new(Kind::NoDevice, "no such device: not an rzs device").on(path));
    };
    let file = paths.sys_class.join("hot_remove");
    std::fs::write(&file, format!("{index}\n")).map_err(|e| {
        match Errno::from_io_error(&e) {
            Some(Errno::BUSY) => Error::new(
                Kind::Busy,
                "busy: the device is in use (mounted, swapped on, open or being reset)",
            ),
            Some(Errno::NODEV) => {
                let have = paths.device_names().unwrap_or_default();
                let list = if have.is_empty() {
                    String::new()
                } else {
                    format!(" (rzs devices: {})", have.join(" "))
                };
                Error::new(Kind::NoDevice, format!("no such device{list}"))
            }
            _ => control_error(paths, &file, &e, "removing a device"),
        }
        .on(&path)
    })
}

/// Why using a control file failed.
fn control_error(paths: &Paths, file: &Path, e: &io::Error, what: &str) -> Error {
    match Errno::from_io_error(e) {
        Some(Errno::NOENT) if !paths.module_loaded() => module_not_loaded(),
        Some(Errno::NOENT) => Error::new(
            Kind::Other,
            format!(
                "{} missing: this rzs module cannot add or remove devices",
                file.display()
            ),
        ),
        Some(Errno::ACCESS | Errno::PERM) => permission_denied(what),
        Some(Errno::NOSPC) => Error::new(
            Kind::Other,
            format!("{what}: every device index (0-255) is taken"),
        ),
        Some(err) => errno_error(err, what),
        None => Error::new(Kind::Other, format!("{what}: {e}")),
    }
}

fn permission_denied(what: &str) -> Error {
    Error::new(
        Kind::PermissionDenied,
        format!("permission denied: {what} needs CAP_SYS_ADMIN (run as root)"),
    )
}

/// An errno with no more specific meaning: classified by the errno alone.
fn errno_error(e: Errno, what: &str) -> Error {
    let msg = io::Error::from(e).to_string();
    let msg = msg
        .split(" (os error")
        .next()
        .unwrap_or(&msg)
        .to_lowercase();
    let kind = match e {
        Errno::PERM | Errno::ACCESS => Kind::PermissionDenied,
        Errno::BUSY => Kind::Busy,
        Errno::INVAL => Kind::InvalidArgument,
        Errno::NODEV | Errno::NXIO | Errno::NOENT => Kind::NoDevice,
        _ => Kind::Other,
    };
    Error::new(kind, format!("{what}: {msg}"))
}

/// Why opening `path` failed, in words that name the cause.
fn open_error(paths: &Paths, path: &Path, e: &io::Error) -> Error {
    let errno = Errno::from_io_error(e);
    match errno {
        Some(Errno::NOENT | Errno::NXIO | Errno::NODEV) => {
            if !paths.module_loaded() {
                return module_not_loaded();
            }
            let have = paths.device_names().unwrap_or_default();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if errno == Some(Errno::NOENT)
                && rzs_index(name).is_some()
                && have.iter().any(|h| h == name)
            {
                // In sysfs but no node: /dev is not devtmpfs, or udev is slow.
                return Error::new(
                    Kind::NoDevice,
                    format!("no such device: /sys/block/{name} exists but there is no device node"),
                );
            }
            let list = if have.is_empty() {
                String::new()
            } else {
                format!(" (rzs devices: {})", have.join(" "))
            };
            Error::new(Kind::NoDevice, format!("no such device{list}"))
        }
        Some(Errno::ACCESS | Errno::PERM) => Error::new(
            Kind::PermissionDenied,
            "permission denied: cannot open the device for reading (run as root)",
        ),
        Some(Errno::BUSY) => Error::new(Kind::Busy, "busy: a reset of the device is in progress"),
        Some(e) => errno_error(e, "cannot open"),
        None => Error::new(Kind::Other, format!("cannot open: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A scratch directory laid out like /dev, /sys and /proc.
    struct Fake {
        root: PathBuf,
        paths: Paths,
    }

    impl Fake {
        fn new(module: bool, devices: &[&str]) -> Fake {
            static N: AtomicU32 = AtomicU32::new(0);
            let root = std::env::temp_dir().join(format!(
                "rzsctl-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let paths = Paths {
                dev: root.join("dev"),
                sys_block: root.join("sys/block"),
                sys_module: root.join("sys/module/rzs"),
                proc_swaps: root.join("proc/swaps"),
                sys_class: root.join("sys/class/rzs-control"),
                proc_meminfo: root.join("proc/meminfo"),
            };
            std::fs::create_dir_all(&paths.dev).unwrap();
            std::fs::create_dir_all(&paths.sys_block).unwrap();
            std::fs::create_dir_all(root.join("proc")).unwrap();
            if module {
                std::fs::create_dir_all(&paths.sys_module).unwrap();
            }
            for d in devices {
                std::fs::create_dir_all(paths.sys_block.join(d)).unwrap();
                // A regular file: opens, but does not answer the rzs ioctls.
                std::fs::write(paths.dev.join(d), b"").unwrap();
            }
            Fake { root, paths }
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    #[test]
    fn opcodes_match_rzs_core() {
        assert_eq!(i128::from(GET_STATS), i128::from(abi::RZS_IOC_GET_STATS));
        assert_eq!(
            i128::from(SET_DISKSIZE),
            i128::from(abi::RZS_IOC_SET_DISKSIZE)
        );
        assert_eq!(
            i128::from(SET_MEM_LIMIT),
            i128::from(abi::RZS_IOC_SET_MEM_LIMIT)
        );
        assert_eq!(i128::from(RESET), i128::from(abi::RZS_IOC_RESET));
        assert_eq!(
            i128::from(SET_BACKING),
            i128::from(abi::RZS_IOC_SET_BACKING)
        );
        assert_eq!(i128::from(WRITEBACK), i128::from(abi::RZS_IOC_WRITEBACK));
        assert_eq!(i128::from(MARK_IDLE), i128::from(abi::RZS_IOC_MARK_IDLE));
    }

    #[test]
    fn get_stats_encodes_the_struct_size() {
        // _IOC: dir (2 bits) | size (14 bits) | type (8 bits) | nr (8 bits).
        let size = (abi::RZS_IOC_GET_STATS >> 16) & 0x3fff;
        assert_eq!(size as usize, core::mem::size_of::<RzsStats>());
        assert_eq!(size, 216, "struct rzs_stats version 2 is 216 bytes");
        assert_eq!(abi::RZS_IOC_GET_STATS >> 30, 3, "_IOWR");
        assert_eq!(
            (abi::RZS_IOC_GET_STATS >> 8) & 0xff,
            u32::from(RZS_IOC_MAGIC)
        );
        for (cmd, dir, size, nr) in [
            (abi::RZS_IOC_SET_DISKSIZE, 1, 8, 1),
            (abi::RZS_IOC_SET_MEM_LIMIT, 1, 8, 2),
            (abi::RZS_IOC_RESET, 0, 0, 3),
        ] {
            assert_eq!(
                (cmd >> 30, (cmd >> 16) & 0x3fff, cmd & 0xff),
                (dir, size, nr)
            );
        }
    }

    #[test]
    fn rzs_names() {
        assert_eq!(rzs_index("rzs0"), Some(0));
        assert_eq!(rzs_index("rzs17"), Some(17));
        for n in [
            "rzs",
            "rzs01",
            "rzs-1",
            "rzs1p1",
            "zram0",
            "sda",
            "rzs 1",
            "rzs99999999999",
        ] {
            assert_eq!(rzs_index(n), None, "{n}");
        }
    }

    #[test]
    fn resolves_names_and_paths() {
        let p = Paths::default();
        assert_eq!(p.resolve("rzs0"), Path::new("/dev/rzs0"));
        assert_eq!(p.resolve("/dev/rzs3"), Path::new("/dev/rzs3"));
        assert_eq!(p.resolve("./rzs3"), Path::new("./rzs3"));
    }

    #[test]
    fn lists_rzs_devices_by_index() {
        let f = Fake::new(true, &["rzs10", "rzs2", "sda", "rzs0", "zram0", "rzs1p1"]);
        assert_eq!(f.paths.device_names().unwrap(), ["rzs0", "rzs2", "rzs10"]);
    }

    #[test]
    fn no_module() {
        let f = Fake::new(false, &[]);
        let e = f.paths.device_names().unwrap_err();
        assert_eq!(e.kind, Kind::NoModule);
        let e = Device::open(&f.paths, "rzs0").unwrap_err();
        assert_eq!(e.kind, Kind::NoModule);
        assert_eq!(e.exit_code(), 4);
        assert!(e.message.starts_with("module not loaded: "), "{e}");
    }

    #[test]
    fn no_such_device() {
        let f = Fake::new(true, &["rzs0"]);
        std::fs::remove_file(f.paths.dev.join("rzs0")).unwrap();
        std::fs::create_dir_all(f.paths.sys_block.join("rzs1")).unwrap();
        std::fs::write(f.paths.dev.join("rzs1"), b"").unwrap();
        let e = Device::open(&f.paths, "rzs7").unwrap_err();
        assert_eq!(e.kind, Kind::NoDevice);
        let dev = f.paths.dev.join("rzs7").display().to_string();
        assert_eq!(
            e.to_string(),
            format!("{dev}: no such device (rzs devices: rzs0 rzs1)")
        );
        let e = Device::open(&f.paths, "rzs0").unwrap_err();
        assert_eq!(e.kind, Kind::NoDevice);
        assert!(e.message.contains("no device node"), "{e}");
    }

    #[test]
    fn not_an_rzs_device() {
        let f = Fake::new(true, &["rzs0"]);
        // A regular file answers ENOTTY to the ioctl.
        let e = Device::open(&f.paths, "rzs0").unwrap_err();
        assert_eq!(e.kind, Kind::NoDevice);
        assert!(
            e.to_string()
                .ends_with(": no such device: not an rzs device"),
            "{e}"
        );
    }

    #[test]
    fn hot_remove_writes_the_index() {
        let f = Fake::new(true, &["rzs0"]);
        std::fs::create_dir_all(&f.paths.sys_class).unwrap();
        let file = f.paths.sys_class.join("hot_remove");
        std::fs::write(&file, b"").unwrap();
        hot_remove(&f.paths, "/dev/rzs12").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "12\n");
        hot_remove(&f.paths, "rzs3").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "3\n");
        let e = hot_remove(&f.paths, "sda").unwrap_err();
        assert_eq!(e.kind, Kind::NoDevice);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "3\n");
    }

    #[test]
    fn control_files_missing() {
        let f = Fake::new(false, &[]);
        assert_eq!(hot_add(&f.paths).unwrap_err().kind, Kind::NoModule);
        let f = Fake::new(true, &[]);
        let e = hot_add(&f.paths).unwrap_err();
        assert!(e.message.contains("cannot add or remove devices"), "{e}");
        std::fs::create_dir_all(&f.paths.sys_class).unwrap();
        std::fs::write(f.paths.sys_class.join("hot_add"), b"7\n").unwrap();
        assert_eq!(hot_add(&f.paths).unwrap(), 7);
        std::fs::write(f.paths.sys_class.join("hot_add"), b"x\n").unwrap();
        assert_eq!(hot_add(&f.paths).unwrap_err().kind, Kind::Other);
    }

    #[test]
    fn sysfs_stats_file_of_a_node() {
        let f = Fake::new(true, &["rzs0", "rzs1"]);
        std::fs::write(f.paths.sys_block.join("rzs0/rzs_stat"), b"disksize 8192\n").unwrap();
        let p = sysfs_stats_of(&f.paths, &f.paths.dev.join("rzs0")).unwrap();
        assert_eq!(p, f.paths.sys_block.join("rzs0/rzs_stat"));
        // No rzs_stat (an older module), or not an rzs name: no fallback.
        assert_eq!(sysfs_stats_of(&f.paths, &f.paths.dev.join("rzs1")), None);
        assert_eq!(sysfs_stats_of(&f.paths, Path::new("/dev/null")), None);
        let d = Device {
            access: Access::Sysfs(p),
            path: "/dev/rzs0".into(),
        };
        assert_eq!(d.stats().unwrap().disksize, 8192);
        let e = d.set_disksize(4096).unwrap_err();
        assert_eq!(e.kind, Kind::PermissionDenied);
        assert_eq!(
            e.to_string(),
            "/dev/rzs0: permission denied: setting the size needs CAP_SYS_ADMIN (run as root)"
        );
    }

    #[test]
    fn proc_swaps() {
        let t = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                 /dev/rzs0                               partition\t262140\t\t0\t\t-2\n\
                 /swap\\040file                          file\t\t1024\t\t0\t\t-3\n";
        assert_eq!(parse_proc_swaps(t), ["rzs0", "swap file"]);
        assert_eq!(parse_proc_swaps(""), Vec::<String>::new());
        assert_eq!(unescape_octal("a\\134b\\9"), "a\\b\\9");
    }

    #[test]
    fn swap_from_flag_or_proc_swaps() {
        let st = RzsStats {
            index: 1,
            ..RzsStats::default()
        };
        let d = DeviceInfo::new(st, "/dev/rzs1".into(), &["rzs0".into()]);
        assert_eq!((d.name.as_str(), d.swap), ("rzs1", false));
        let d = DeviceInfo::new(st, "/dev/rzs1".into(), &["rzs1".into()]);
        assert!(d.swap);
        let st = RzsStats {
            flags: abi::RZS_FLAG_SWAP,
            ..st
        };
        assert!(DeviceInfo::new(st, "/dev/rzs1".into(), &[]).swap);
    }
}
