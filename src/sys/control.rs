// SPDX-License-Identifier: GPL-2.0
//! `/sys/class/rzs-control/`: adding and removing devices at run time, as zram's
//! `/sys/class/zram-control/`:
//! - `hot_add` (mode 0400): reading it creates a device and returns its index
//!   (`N` for `/dev/rzsN`), or an error (`-ENOSPC` when every index is taken);
//! - `hot_remove` (mode 0200): writing an index removes that device (`-EBUSY` if it
//!   is open, mounted, swapped on or being reset; `-ENODEV` if there is none).
//!
//! Both need `CAP_SYS_ADMIN` as well (`-EPERM`). 6.12 has no Rust miscdevice, and a
//! class of attributes needs none: the class is a static `struct class` with only a
//! name; its two attributes live in a pinned [`Control`] next to what they act on,
//! which the callbacks find by `container_of`.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::bindings;
use kernel::error::{code, to_result, Result};
use kernel::ffi::c_char;
use kernel::prelude::*;
use kernel::types::Opaque;

use super::sysfs::PageBuf;

/// What the control files act on.
pub(crate) trait HotPlug: Sync {
    /// Creates a device; its index.
    fn hot_add(&self) -> Result<u32>;
    /// Removes device `index`.
    fn hot_remove(&self, index: u32) -> Result;
}

/// The class: a name, nothing else. Registered once at a time (see `REGISTERED`).
#[repr(transparent)]
struct StaticClass(bindings::class);
// SAFETY: never written after its constant initialisation; the driver core only
// reads it.
unsafe impl Sync for StaticClass {}

static CLASS: StaticClass = StaticClass(bindings::class {
    name: c"rzs-control".as_ptr() as *const c_char,
    // SAFETY: the rest (groups, callbacks, pm) is valid all-zero: none.
    ..unsafe { core::mem::zeroed() }
});

/// Whether `CLASS` is registered (a module has one `Control`, but say so if not).
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// The lockdep class of the control files' sysfs nodes. Attributes that are not
/// static need a static key (what `sysfs_attr_init` gives C code).
#[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
struct LockKey(Opaque<bindings::lock_class_key>);
// SAFETY: lockdep synchronises access to a class key itself.
#[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
unsafe impl Sync for LockKey {}
#[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
static ATTR_KEY: LockKey = LockKey(Opaque::uninit());

/// The control class and its two files, serving `owner`.
///
/// # Invariants
///
/// `add` and `remove` are `class_attribute`s whose callbacks are this module's
/// trampolines for `T`; while `files` is set they are files of `CLASS` and the
/// callbacks may run, each with `&self` found from its attribute. `PinnedDrop`
/// removes them (which waits for callbacks in progress) before `owner` drops.
#[pin_data(PinnedDrop)]
pub(crate) struct Control<T: HotPlug> {
    #[pin]
    add: Opaque<bindings::class_attribute>,
    #[pin]
    remove: Opaque<bindings::class_attribute>,
    files: AtomicBool,
    #[pin]
    owner: T,
}

// SAFETY: the attributes are written only while the `Control` is initialised, then
// only read (by sysfs); `owner` is shared across threads only as `&T`, and `T: Sync`.
unsafe impl<T: HotPlug + Send> Send for Control<T> {}
// SAFETY: as above.
unsafe impl<T: HotPlug> Sync for Control<T> {}

const fn class_attr(
    name: &'static core::ffi::CStr,
    mode: u16,
    show: Option<unsafe extern "C" fn(*const bindings::class, *const bindings::class_attribute, *mut c_char) -> isize>,
    store: Option<
        unsafe extern "C" fn(*const bindings::class, *const bindings::class_attribute, *const c_char, usize) -> isize,
    >,
) -> bindings::class_attribute {
    // SAFETY: all-zero is a valid `attribute` (no lockdep key yet, set below).
    let mut attr: bindings::attribute = unsafe { core::mem::zeroed() };
    attr.name = name.as_ptr() as *const c_char;
    attr.mode = mode;
    bindings::class_attribute { attr, show, store }
}

impl<T: HotPlug> Control<T> {
    /// A control class for `owner`, not yet visible: see [`Control::register`].
    pub(crate) fn new(owner: impl PinInit<T, Error>) -> impl PinInit<Self, Error> {
        #[allow(unused_mut)]
        let mut add = class_attr(c"hot_add", 0o400, Some(hot_add_show::<T>), None);
        #[allow(unused_mut)]
        let mut remove = class_attr(c"hot_remove", 0o200, None, Some(hot_remove_store::<T>));
        #[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
        {
            add.attr.key = ATTR_KEY.0.get();
            remove.attr.key = ATTR_KEY.0.get();
        }
        try_pin_init!(Self {
            add: Opaque::new(add),
            remove: Opaque::new(remove),
            files: AtomicBool::new(false),
            owner <- owner,
        })
    }

    /// What the control files act on.
    pub(crate) fn owner(&self) -> &T {
        &self.owner
    }

    /// Registers the class and creates its files: from here on they may be used.
    pub(crate) fn register(self: Pin<&Self>) -> Result {
        if REGISTERED.swap(true, Ordering::AcqRel) {
            return Err(code::EBUSY);
        }
        // SAFETY: `CLASS` is a static class with a name, registered by no one else
        // (`REGISTERED`); `PinnedDrop` of the `Control` that set `files` (or the
        // error path here) unregisters it.
        if let Err(e) = to_result(unsafe { bindings::class_register(&CLASS.0) }) {
            REGISTERED.store(false, Ordering::Release);
            return Err(e);
        }
        // SAFETY: the attributes are pinned in `self`, which outlives the files
        // (`PinnedDrop` removes them); `CLASS` is registered.
        let r = unsafe { to_result(bindings::class_create_file_ns(&CLASS.0, self.add.get(), core::ptr::null())) }.and_then(|()| {
            // SAFETY: as above.
            let r = to_result(unsafe { bindings::class_create_file_ns(&CLASS.0, self.remove.get(), core::ptr::null()) });
            if r.is_err() {
                // SAFETY: `add` was created just above.
                unsafe { bindings::class_remove_file_ns(&CLASS.0, self.add.get(), core::ptr::null()) };
            }
            r
        });
        if let Err(e) = r {
            // SAFETY: registered above, no files left.
            unsafe { bindings::class_unregister(&CLASS.0) };
            REGISTERED.store(false, Ordering::Release);
            return Err(e);
        }
        self.files.store(true, Ordering::Release);
        Ok(())
    }

    /// The `Control` whose attribute `attr` is, at `offset` in it.
    ///
    /// # Safety
    ///
    /// `attr` is the `add` or `remove` attribute of a live `Control<T>`, at `offset`.
    unsafe fn from_attr<'a>(attr: *const bindings::class_attribute, offset: usize) -> &'a Self {
        // SAFETY: per the contract; `Opaque` is transparent over the attribute.
        unsafe { &*((attr as *const u8).sub(offset) as *const Self) }
    }
}

#[pinned_drop]
impl<T: HotPlug> PinnedDrop for Control<T> {
    fn drop(self: Pin<&mut Self>) {
        if !self.files.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: the files were created by `register`; removing them waits for the
        // callbacks in progress, after which no callback can reach `self`. Then the
        // class goes.
        unsafe {
            bindings::class_remove_file_ns(&CLASS.0, self.remove.get(), core::ptr::null());
            bindings::class_remove_file_ns(&CLASS.0, self.add.get(), core::ptr::null());
            bindings::class_unregister(&CLASS.0);
        }
        REGISTERED.store(false, Ordering::Release);
    }
}

/// `cat hot_add`: creates a device and prints its index.
unsafe extern "C" fn hot_add_show<T: HotPlug>(
    _class: *const bindings::class,
    attr: *const bindings::class_attribute,
    buf: *mut c_char,
) -> isize {
    if !super::capable_sys_admin() {
        return code::EPERM.to_errno() as isize;
    }
    // SAFETY: sysfs calls us only for a file `register` created from `add`, while it
    // exists (the `Control` is live).
    let ctl = unsafe { Control::<T>::from_attr(attr, core::mem::offset_of!(Control<T>, add)) };
    match ctl.owner.hot_add() {
        Ok(index) => {
            // SAFETY: `buf` is sysfs's page-sized buffer, ours until we return.
            let mut w = unsafe { PageBuf::new(buf) };
            let _ = writeln!(w, "{index}");
            w.len() as isize
        }
        Err(e) => e.to_errno() as isize,
    }
}

/// `echo N > hot_remove`: removes device N.
unsafe extern "C" fn hot_remove_store<T: HotPlug>(
    _class: *const bindings::class,
    attr: *const bindings::class_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    if !super::capable_sys_admin() {
        return code::EPERM.to_errno() as isize;
    }
    // SAFETY: as in `hot_add_show`, for `remove`.
    let ctl = unsafe { Control::<T>::from_attr(attr, core::mem::offset_of!(Control<T>, remove)) };
    // SAFETY: sysfs's buffer holds `count` bytes, written only by sysfs before the call.
    let input = unsafe { core::slice::from_raw_parts(buf as *const u8, count) };
    let Some(index) = super::sysfs::parse_u64(input).and_then(|n| u32::try_from(n).ok()) else {
        return code::EINVAL.to_errno() as isize;
    };
    match ctl.owner.hot_remove(index) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}
