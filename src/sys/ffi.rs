// SPDX-License-Identifier: GPL-2.0
//! Declarations of the C functions rzs calls that are not in the kernel crate's
//! generated bindings: the C helpers in `src/helpers.c`, each mirroring a prototype
//! listed at the top of that file, which the C compiler checks against the kernel's
//! headers; and the few exported kernel functions the I/O path calls directly (once
//! or twice a page: a helper would add a call and a frame each time), whose
//! declarations here `helpers.c` checks against the kernel's prototypes with static
//! assertions. Nothing outside `src/sys/` uses them.

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

/// `struct zs_pool` (opaque).
#[repr(C)]
pub(crate) struct ZsPool {
    _opaque: [u8; 0],
}

/// `struct srcu_struct` as the helpers allocate it (opaque).
#[repr(C)]
pub(crate) struct Srcu {
    _opaque: [u8; 0],
}

// Pointers to kernel structs cross the boundary, never their contents.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn rzs_raw_smp_processor_id() -> c_uint;
    pub(crate) fn rzs_nr_cpu_ids() -> c_uint;
    pub(crate) fn rzs_cond_resched();
    pub(crate) fn rzs_nth_page(page: *mut bindings::page, n: c_ulong) -> *mut bindings::page;
    pub(crate) fn rzs_copy_from_page(dst: *mut c_void, page: *mut bindings::page, off: c_uint, len: usize);
    pub(crate) fn rzs_copy_to_page(page: *mut bindings::page, off: c_uint, src: *const c_void, len: usize);
    pub(crate) fn rzs_copy_racy(dst: *mut c_void, src: *const c_void, len: usize);
    pub(crate) fn rzs_fill_page(page: *mut bindings::page, off: c_uint, len: usize, word: c_ulong);
    pub(crate) fn rzs_kmap_page_being_filled(page: *mut bindings::page) -> *mut c_void;
    pub(crate) fn rzs_kunmap_filled(page: *mut bindings::page, addr: *mut c_void);
    pub(crate) fn rzs_kmap_local_page(page: *mut bindings::page) -> *mut c_void;
    pub(crate) fn rzs_kunmap_local(addr: *mut c_void);
    pub(crate) fn rzs_srcu_alloc() -> *mut Srcu;
    pub(crate) fn rzs_srcu_free(ssp: *mut Srcu);
    pub(crate) fn rzs_srcu_read_lock(ssp: *mut Srcu) -> c_int;
    pub(crate) fn rzs_srcu_read_unlock(ssp: *mut Srcu, idx: c_int);
    pub(crate) fn rzs_srcu_synchronize(ssp: *mut Srcu);
    pub(crate) fn rzs_blk_feat_synchronous() -> u32;
    pub(crate) fn rzs_blk_feat_stable_writes() -> u32;
    pub(crate) fn rzs_blk_sts(which: c_int) -> u8;
    pub(crate) fn rzs_zs_create_pool(name: *const c_char) -> *mut ZsPool;
    pub(crate) fn rzs_zs_destroy_pool(pool: *mut ZsPool);
    pub(crate) fn rzs_zs_huge_class_size(pool: *mut ZsPool) -> usize;
    pub(crate) fn rzs_zs_compact(pool: *mut ZsPool) -> c_ulong;
    pub(crate) fn rzs_totalram_pages() -> c_ulong;
    pub(crate) fn rzs_gfp_noio_obj() -> bindings::gfp_t;
    pub(crate) fn rzs_backing_open(path: *const c_char, holder: *mut c_void) -> *mut bindings::file;
    pub(crate) fn rzs_backing_close(file: *mut bindings::file);
    pub(crate) fn rzs_backing_bytes(file: *mut bindings::file) -> u64;
    pub(crate) fn rzs_io_wq_create() -> c_int;
    pub(crate) fn rzs_io_wq_destroy();
    pub(crate) fn rzs_dwork_init(dw: *mut bindings::delayed_work, f: bindings::work_func_t);
    pub(crate) fn rzs_dwork_mod(dw: *mut bindings::delayed_work, ms: c_uint);
    pub(crate) fn rzs_dwork_cancel_sync(dw: *mut bindings::delayed_work);
    pub(crate) fn rzs_backing_rw(file: *mut bindings::file, sector: u64, pages: *mut *mut bindings::page, nr: c_uint, write: bool) -> c_int;
}

// Called directly: exported by mm/zsmalloc.c. `helpers.c` asserts that these are the
// kernel's prototypes (its "Called directly" assertions), and the values below.
#[allow(improper_ctypes)]
extern "C" {
    /// A handle, or an error number as `IS_ERR_VALUE` (see [`zs_failed`]).
    pub(crate) fn zs_malloc(pool: *mut ZsPool, size: usize, gfp: bindings::gfp_t) -> c_ulong;
    pub(crate) fn zs_free(pool: *mut ZsPool, handle: c_ulong);
    /// `mm` is an `enum zs_mapmode`: [`ZS_MM_RO`] or [`ZS_MM_WO`].
    pub(crate) fn zs_map_object(pool: *mut ZsPool, handle: c_ulong, mm: c_int) -> *mut c_void;
    pub(crate) fn zs_unmap_object(pool: *mut ZsPool, handle: c_ulong);
    pub(crate) fn zs_get_total_pages(pool: *mut ZsPool) -> c_ulong;
}

/// `ZS_MM_RO`: map an object for reading.
pub(crate) const ZS_MM_RO: c_int = 1;
/// `ZS_MM_WO`: map an object for writing its whole contents.
pub(crate) const ZS_MM_WO: c_int = 2;
/// `MAX_ERRNO`: the largest error number an `IS_ERR_VALUE` value carries.
const MAX_ERRNO: c_ulong = 4095;

/// Whether `zs_malloc` failed: `IS_ERR_VALUE(h)` (an error number; 0 is never a
/// handle either).
pub(crate) fn zs_failed(h: c_ulong) -> bool {
    h == 0 || h >= MAX_ERRNO.wrapping_neg()
}

#[cfg(rzs_swap_events)]
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn rzs_swap_events_register(nb: *mut bindings::notifier_block, event: c_int) -> c_int;
    pub(crate) fn rzs_swap_events_unregister(nb: *mut bindings::notifier_block, event: c_int) -> c_int;
    pub(crate) fn rzs_slot_free_register(nb: *mut bindings::notifier_block, bdev: *mut bindings::block_device) -> c_int;
    pub(crate) fn rzs_slot_free_unregister(nb: *mut bindings::notifier_block, bdev: *mut bindings::block_device) -> c_int;
    pub(crate) fn rzs_swap_event_bdev(info: *const c_void) -> *mut bindings::block_device;
    pub(crate) fn rzs_swap_event_pages(info: *const c_void) -> c_ulong;
}
