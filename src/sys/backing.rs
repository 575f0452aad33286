// SPDX-License-Identifier: GPL-2.0
//! The backing device of a tiered rzs device, and the page buffers its I/O uses.
//!
//! [`BackingDev`] is a block device opened read-write and exclusively (so nothing
//! mounts it or makes it another device's backing device meanwhile), closed on
//! drop. [`IoBuf`] is a few pages of our own that its reads and writes go through:
//! compressed objects are copied in and out of them, never mapped anywhere else.
//! A regular file serves through a loop device (`losetup`), as the README says.

use core::pin::Pin;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::new_mutex;
use kernel::sync::Mutex;
use kernel::error::from_err_ptr;
use kernel::page::Page;
use kernel::prelude::*;
use kernel::str::{CStr, CString};

use super::ffi;

/// Bytes in a sector, as the block layer counts.
const SECTOR_SHIFT: u32 = 9;
const PAGE_SHIFT: u32 = 12;
const _: () = assert!(1 << PAGE_SHIFT == rzs_core::PAGE_SIZE);

/// The module's queue for backing-device bios submitted inside a `submit_bio`
/// (`helpers.c`: `rzs_io_wq`, with a rescuer for progress under memory pressure).
/// Exists while the module is loaded: created first, destroyed after every device.
///
/// # Invariants
///
/// While a value exists, `rzs_io_wq` is a live workqueue; at most one value exists
/// (only module init makes one).
pub(crate) struct IoQueue(());

impl IoQueue {
    /// Creates the queue. Module init only. May sleep.
    pub(crate) fn create() -> Result<Self> {
        // SAFETY: called once, from module init, before any device exists.
        let r = unsafe { ffi::rzs_io_wq_create() };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(Self(()))
    }
}

impl Drop for IoQueue {
    fn drop(&mut self) {
        // SAFETY: the queue is live (invariant); the module drops it after every
        // device, so no backing I/O can still queue work on it (destroy_workqueue
        // drains what is left anyway).
        unsafe { ffi::rzs_io_wq_destroy() };
    }
}

/// A block device opened for a device's writeback.
///
/// # Invariants
///
/// `file` is a block device file opened by `rzs_backing_open` and not yet closed;
/// it is closed exactly once, on drop.
pub(crate) struct BackingDev {
    file: NonNull<bindings::file>,
    /// Whole pages the device holds.
    pages: u64,
    path: CString,
}

// SAFETY: the file is only used through block-layer calls that may come from any
// task (open, I/O, close); the struct holds no thread-bound state.
unsafe impl Send for BackingDev {}
// SAFETY: concurrent I/O to one block device is what the block layer is for.
unsafe impl Sync for BackingDev {}

impl BackingDev {
    /// Opens the block device at `path`, exclusively for `holder` (any address
    /// unique to the device that uses it). `ENOTBLK` and the like from the open;
    /// `EINVAL` for a device holding no whole page. May sleep.
    pub(crate) fn open(path: &CStr, holder: *const core::ffi::c_void) -> Result<Self> {
        let owned = CString::try_from_fmt(kernel::fmt!("{}", path))?;
        // SAFETY: `path` is a NUL-terminated string that outlives the call; the
        // holder is only compared by address, never dereferenced.
        let f = from_err_ptr(unsafe { ffi::rzs_backing_open(path.as_char_ptr(), holder.cast_mut()) })?;
        let file = NonNull::new(f).ok_or(EINVAL)?;
        // Closed on drop from here on (type invariant).
        let mut dev = Self { file, pages: 0, path: owned };
        // SAFETY: `file` is an open block device file (invariant).
        dev.pages = unsafe { ffi::rzs_backing_bytes(dev.file.as_ptr()) } >> PAGE_SHIFT;
        if dev.pages == 0 {
            return Err(EINVAL);
        }
        Ok(dev)
    }

    /// Whole pages the device holds.
    pub(crate) fn pages(&self) -> u64 {
        self.pages
    }

    /// The path it was opened by.
    pub(crate) fn path(&self) -> &CStr {
        &self.path
    }

    /// Reads `n` pages from page `at` of the device into `buf`'s first `n` pages and
    /// waits. May sleep; callable from a `submit_bio` (the I/O then goes through a
    /// worker, see `helpers.c`).
    pub(crate) fn read(&self, at: u64, buf: &mut IoBuf, n: usize) -> Result {
        self.rw(at, buf, n, false)
    }

    /// Writes `buf`'s first `n` pages to page `at` of the device and waits. May sleep.
    pub(crate) fn write(&self, at: u64, buf: &IoBuf, n: usize) -> Result {
        self.rw(at, buf, n, true)
    }

    fn rw(&self, at: u64, buf: &IoBuf, n: usize, write: bool) -> Result {
        let end = at.checked_add(n as u64).ok_or(EINVAL)?;
        if n == 0 || n > buf.ptrs.len() || end > self.pages {
            return Err(EINVAL);
        }
        let sector = at << (PAGE_SHIFT - SECTOR_SHIFT);
        let nr = u32::try_from(n).map_err(|_| EINVAL)?;
        // SAFETY: the file is open (invariant); `buf.ptrs` holds `n` or more pointers
        // to pages `buf` owns, which stay allocated for the call. For a read the
        // caller holds `&mut IoBuf` (through `read`), so nothing else reads or writes
        // those pages while the device writes them; for a write, `&IoBuf` keeps
        // every writer (`IoBuf::put` needs `&mut`) out while the device reads them.
        let r = unsafe { ffi::rzs_backing_rw(self.file.as_ptr(), sector, buf.ptrs.as_ptr().cast_mut(), nr, write) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(())
    }
}

impl Drop for BackingDev {
    fn drop(&mut self) {
        // SAFETY: opened by `rzs_backing_open`, closed only here (invariant).
        unsafe { ffi::rzs_backing_close(self.file.as_ptr()) };
    }
}

/// Pages of our own for backing-device I/O, copied into and out of by byte offset
/// as if they were one buffer.
///
/// # Invariants
///
/// `ptrs[i] == pages[i].as_ptr()` for every page.
pub(crate) struct IoBuf {
    pages: KVec<Page>,
    ptrs: KVec<*mut bindings::page>,
}

// SAFETY: the pages are owned (`Page` is Send/Sync); the pointer array only names
// them.
unsafe impl Send for IoBuf {}
// SAFETY: as above; `&IoBuf` only allows reading the pages (`get`).
unsafe impl Sync for IoBuf {}

impl IoBuf {
    /// A buffer of `n` pages. May sleep.
    pub(crate) fn new(n: usize) -> Result<Self> {
        let mut pages = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut ptrs = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            let p = Page::alloc_page(GFP_KERNEL)?;
            ptrs.push(p.as_ptr(), GFP_KERNEL)?;
            pages.push(p, GFP_KERNEL)?;
        }
        Ok(Self { pages, ptrs })
    }

    /// Copies `src` in at byte offset `at`, across page boundaries. `EINVAL` if it
    /// does not fit.
    pub(crate) fn put(&mut self, at: usize, src: &[u8]) -> Result {
        self.each_piece(at, src.len(), |page, off, range| {
            let piece = src.get(range).ok_or(EINVAL)?;
            // SAFETY: `piece` is valid for reading its length; `&mut self` means no
            // I/O or copy touches the page meanwhile.
            unsafe { page.write_raw(piece.as_ptr(), off, piece.len()) }
        })
    }

    /// Copies `dst.len()` bytes out from byte offset `at`. `EINVAL` if out of range.
    pub(crate) fn get(&self, at: usize, dst: &mut [u8]) -> Result {
        let len = dst.len();
        let dst_ptr = dst.as_mut_ptr();
        self.each_piece(at, len, |page, off, range| {
            // `range` lies within `0..len` (each_piece), so the pointer stays in `dst`.
            let piece = dst_ptr.wrapping_add(range.start);
            // SAFETY: `piece` is valid for writing `range.len()` bytes of `dst`, which
            // we borrow mutably; nothing writes the page while we hold `&self` (writers
            // need `&mut`).
            unsafe { page.read_raw(piece, off, range.len()) }
        })
    }

    /// Calls `f(page, offset in page, range of the caller's bytes)` for each page
    /// that bytes `at..at + len` of the buffer touch.
    fn each_piece(&self, at: usize, len: usize, mut f: impl FnMut(&Page, usize, core::ops::Range<usize>) -> Result) -> Result {
        let end = at.checked_add(len).ok_or(EINVAL)?;
        if end > self.pages.len().checked_mul(rzs_core::PAGE_SIZE).ok_or(EINVAL)? {
            return Err(EINVAL);
        }
        let mut done = 0;
        while done < len {
            let pos = at + done;
            let page = self.pages.get(pos >> PAGE_SHIFT).ok_or(EINVAL)?;
            let off = pos & (rzs_core::PAGE_SIZE - 1);
            let n = (rzs_core::PAGE_SIZE - off).min(len - done);
            f(page, off, done..done + n)?;
            done += n;
        }
        Ok(())
    }
}

/// What a read of a written-back page needs: the two pages an object may straddle,
/// and the object's bytes in one piece for the decoder.
pub(crate) struct ReadBuf {
    pub(crate) io: IoBuf,
    /// `PAGE_SIZE` bytes.
    pub(crate) bytes: KVec<u8>,
}

type ReadEntry = Pin<KBox<Mutex<ReadBuf>>>;

/// One [`ReadBuf`] per possible CPU, each under its own mutex (preallocated: a
/// swap-in must not fail for want of memory).
pub(crate) struct ReadBufs {
    all: KVec<ReadEntry>,
}

/// Exclusive use of one read buffer until dropped.
pub(crate) type ReadGuard<'a> = kernel::sync::lock::Guard<'a, ReadBuf, kernel::sync::lock::mutex::MutexBackend>;

impl ReadBufs {
    /// A buffer for every possible CPU. May sleep.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: reads a variable fixed at boot.
        let n = (unsafe { ffi::rzs_nr_cpu_ids() } as usize).max(1);
        let mut all = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            let rb = ReadBuf { io: IoBuf::new(2)?, bytes: KVec::from_elem(0u8, rzs_core::PAGE_SIZE, GFP_KERNEL)? };
            all.push(KBox::pin_init(new_mutex!(rb, "rzs::ReadBuf"), GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(Self { all })
    }

    /// Takes CPU `cpu`'s buffer (a hint; any CPU number works), waiting for it if
    /// another task holds it. May sleep.
    pub(crate) fn get(&self, cpu: usize) -> Option<ReadGuard<'_>> {
        let n = self.all.len();
        Some(self.all.get(cpu.checked_rem(n)?)?.lock())
    }
}

/// Writeback's working memory, allocated once with the backing device: a batch's
/// buffer and which slots and locations it holds. Nothing is allocated while
/// writing back, which may run under memory pressure inside a write.
pub(crate) struct WbState {
    pub(crate) buf: IoBuf,
    idx: KVec<usize>,
    locs: KVec<rzs_core::tier::BackRef>,
}

impl WbState {
    /// Room for batches of `blocks` blocks holding up to `objects` objects. May
    /// sleep.
    pub(crate) fn new(blocks: usize, objects: usize) -> Result<Self> {
        Ok(Self {
            buf: IoBuf::new(blocks)?,
            idx: KVec::with_capacity(objects, GFP_KERNEL)?,
            locs: KVec::with_capacity(objects, GFP_KERNEL)?,
        })
    }

    /// Empties the lists for the next batch.
    pub(crate) fn clear(&mut self) {
        // SAFETY: both hold `Copy` values (nothing to drop), and 0 is within capacity.
        unsafe {
            self.idx.set_len(0);
            self.locs.set_len(0);
        }
    }

    /// Records that slot `index`'s object is at `r`. `false` (nothing recorded) if
    /// the batch is full: this never allocates.
    pub(crate) fn push(&mut self, index: usize, r: rzs_core::tier::BackRef) -> bool {
        if self.idx.len() >= self.idx.capacity() || self.locs.len() >= self.locs.capacity() {
            return false;
        }
        // Within capacity (checked): `push` does not allocate.
        self.idx.push(index, GFP_KERNEL).is_ok() && self.locs.push(r, GFP_KERNEL).is_ok()
    }

    /// The objects recorded.
    pub(crate) fn len(&self) -> usize {
        self.locs.len()
    }

    /// The slots recorded, in order.
    pub(crate) fn indices(&self) -> &[usize] {
        &self.idx
    }

    /// Their locations, in the same order.
    pub(crate) fn locations(&self) -> &[rzs_core::tier::BackRef] {
        &self.locs
    }
}
