// SPDX-License-Identifier: GPL-2.0
//! Declarations of the C helpers in `src/helpers.c`, the only C functions rzs calls
//! that are not in the kernel crate's generated bindings. Each mirrors a prototype
//! listed at the top of `helpers.c`, which the C compiler checks against the
//! kernel's headers; nothing outside `src/sys/` uses them.

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
    pub(crate) fn rzs_zs_malloc(pool: *mut ZsPool, size: usize, gfp: bindings::gfp_t) -> c_ulong;
    pub(crate) fn rzs_zs_free(pool: *mut ZsPool, handle: c_ulong);
    pub(crate) fn rzs_zs_map_ro(pool: *mut ZsPool, handle: c_ulong) -> *mut c_void;
    pub(crate) fn rzs_zs_map_wo(pool: *mut ZsPool, handle: c_ulong) -> *mut c_void;
    pub(crate) fn rzs_zs_unmap(pool: *mut ZsPool, handle: c_ulong);
    pub(crate) fn rzs_zs_total_pages(pool: *mut ZsPool) -> c_ulong;
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
