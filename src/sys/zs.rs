// SPDX-License-Identifier: GPL-2.0
//! zsmalloc, the kernel's allocator for compressed pages (mm/zsmalloc.c).
//!
//! Not in 6.12's Rust bindings, so the few exported functions rzs uses are declared
//! here. [`Pool`] is safe to use for allocation and accounting; touching an object
//! through a handle is `unsafe` because only the caller knows a handle is live: the
//! slot table ([`crate::store`]) is what guarantees it.

use kernel::ffi::{c_char, c_ulong, c_void};
use core::ptr::NonNull;

use kernel::bindings;
use kernel::error::{code, Result};
use kernel::str::CStr;

#[repr(C)]
struct ZsPool {
    _opaque: [u8; 0],
}

/// `enum zs_mapmode` (include/linux/zsmalloc.h).
const ZS_MM_RO: u32 = 1;
const ZS_MM_WO: u32 = 2;

extern "C" {
    fn zs_create_pool(name: *const c_char) -> *mut ZsPool;
    fn zs_destroy_pool(pool: *mut ZsPool);
    fn zs_malloc(pool: *mut ZsPool, size: usize, gfp: bindings::gfp_t) -> c_ulong;
    fn zs_free(pool: *mut ZsPool, handle: c_ulong);
    fn zs_map_object(pool: *mut ZsPool, handle: c_ulong, mm: u32) -> *mut c_void;
    fn zs_unmap_object(pool: *mut ZsPool, handle: c_ulong);
    fn zs_get_total_pages(pool: *mut ZsPool) -> c_ulong;
    fn zs_huge_class_size(pool: *mut ZsPool) -> usize;
}

/// Allocation flags for objects (include/linux/gfp_types.h).
pub(crate) mod gfp {
    use kernel::bindings::{self, gfp_t};
    const fn bit(b: u32) -> gfp_t {
        1 << b
    }
    const HIGHMEM: gfp_t = bit(bindings::___GFP_HIGHMEM_BIT);
    const MOVABLE: gfp_t = bit(bindings::___GFP_MOVABLE_BIT);
    const NOWARN: gfp_t = bit(bindings::___GFP_NOWARN_BIT);
    const KSWAPD_RECLAIM: gfp_t = bit(bindings::___GFP_KSWAPD_RECLAIM_BIT);
    const DIRECT_RECLAIM: gfp_t = bit(bindings::___GFP_DIRECT_RECLAIM_BIT);
    /// First try, with preemption disabled: no direct reclaim, may wake kswapd.
    pub(crate) const ATOMIC_TRY: gfp_t = KSWAPD_RECLAIM | NOWARN | HIGHMEM | MOVABLE;
    /// Fallback that may sleep but must not recurse into I/O (we are the I/O path).
    pub(crate) const NOIO: gfp_t = KSWAPD_RECLAIM | DIRECT_RECLAIM | NOWARN | HIGHMEM | MOVABLE;
    /// Like `NOIO`, for memory the kernel addresses directly (scratch pages).
    pub(crate) const NOIO_LOWMEM: gfp_t = KSWAPD_RECLAIM | DIRECT_RECLAIM | NOWARN;
}

/// A zsmalloc pool. Destroying it frees every object still in it.
pub(crate) struct Pool {
    pool: NonNull<ZsPool>,
}

// SAFETY: zsmalloc pools are designed for concurrent use from any CPU.
unsafe impl Send for Pool {}
// SAFETY: as above: every zs_* function takes its own locks.
unsafe impl Sync for Pool {}

/// An object handle as zsmalloc returns it.
pub(crate) type Handle = u64;

impl Pool {
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is a NUL-terminated string; zsmalloc copies it.
        let p = unsafe { zs_create_pool(name.as_char_ptr()) };
        Ok(Self { pool: NonNull::new(p).ok_or(code::ENOMEM)? })
    }

    /// Allocates an object of `size` bytes (1..=PAGE_SIZE). With `gfp::NOIO` this may
    /// sleep; with `gfp::ATOMIC_TRY` it does not.
    pub(crate) fn alloc(&self, size: usize, gfp: bindings::gfp_t) -> Result<Handle> {
        // SAFETY: `self.pool` is a live pool.
        let h = unsafe { zs_malloc(self.pool.as_ptr(), size, gfp) };
        // zs_malloc returns an ERR_PTR-encoded errno on failure (IS_ERR_VALUE).
        if h == 0 || h >= (-4095isize) as c_ulong {
            return Err(code::ENOMEM);
        }
        Ok(h as Handle)
    }

    /// Frees an object. Callable in atomic context (it only takes spinlocks).
    ///
    /// # Safety
    ///
    /// `h` must be a live handle of this pool, not used again afterwards.
    pub(crate) unsafe fn free(&self, h: Handle) {
        // SAFETY: guaranteed by the caller.
        unsafe { zs_free(self.pool.as_ptr(), h as c_ulong) };
    }

    /// Copies `data` into the object `h` (which must be exactly `data.len()` bytes).
    ///
    /// # Safety
    ///
    /// `h` is a live handle of this pool, allocated with size `data.len()`, that no
    /// one else accesses during the call.
    pub(crate) unsafe fn write(&self, h: Handle, data: &[u8]) {
        // SAFETY: per the caller, `h` is live and `data.len()` bytes long, so the
        // mapping covers `data.len()` writable bytes until `zs_unmap_object`.
        unsafe {
            let dst = zs_map_object(self.pool.as_ptr(), h as c_ulong, ZS_MM_WO) as *mut u8;
            core::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
            zs_unmap_object(self.pool.as_ptr(), h as c_ulong);
        }
    }

    /// Runs `f` on the `len` bytes of object `h`, mapped read-only. `f` must not sleep
    /// (the mapping may be per-CPU).
    ///
    /// # Safety
    ///
    /// `h` is a live handle of this pool whose object is `len` bytes long, and it is not
    /// freed during the call.
    pub(crate) unsafe fn read<R>(&self, h: Handle, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        // SAFETY: per the caller, the mapping is `len` readable bytes until the unmap.
        unsafe {
            let src = zs_map_object(self.pool.as_ptr(), h as c_ulong, ZS_MM_RO) as *const u8;
            let r = f(core::slice::from_raw_parts(src, len));
            zs_unmap_object(self.pool.as_ptr(), h as c_ulong);
            r
        }
    }

    /// The smallest object size zsmalloc gives a whole page to ("huge" objects): a
    /// compressed page at least this large saves nothing over storing it raw.
    pub(crate) fn huge_class_size(&self) -> usize {
        // SAFETY: `self.pool` is a live pool; the call only reads a constant of it.
        unsafe { zs_huge_class_size(self.pool.as_ptr()) }
    }

    /// Pages the pool holds (objects and fragmentation).
    pub(crate) fn total_pages(&self) -> u64 {
        // SAFETY: `self.pool` is a live pool.
        unsafe { zs_get_total_pages(self.pool.as_ptr()) as u64 }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: the pool is live and no one uses it any more (we own it).
        unsafe { zs_destroy_pool(self.pool.as_ptr()) };
    }
}
