// SPDX-License-Identifier: GPL-2.0
//! Module parameters for a Rust module on Linux 6.12.
//!
//! 6.12's `module!` macro has no `params`, so [`module_param!`] emits what C's
//! `module_param_cb()` + `MODULE_PARM_DESC()` do: a `struct kernel_param` in the
//! `__param` section and `parm=`/`parmtype=` strings in `.modinfo` (so `modinfo rzs.ko`
//! lists them). Values are written by the kernel's parameter parser before `init`
//! runs; all rzs parameters are read-only afterwards (mode 0444).

use core::cell::UnsafeCell;
use kernel::ffi::{c_char, c_int, c_void};

use kernel::bindings;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// Storage of one parameter value.
pub(crate) struct ParamCell<T>(UnsafeCell<T>);

// SAFETY: the kernel writes a parameter only while parsing insmod arguments, before
// `init` and before any other access; rzs parameters are 0444, so no sysfs writes.
unsafe impl<T: Copy + Send> Sync for ParamCell<T> {}

impl<T: Copy> ParamCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        Self(UnsafeCell::new(v))
    }

    /// The value (as set at load time).
    pub(crate) fn get(&self) -> T {
        // SAFETY: see the `Sync` impl: no write can be concurrent with this read.
        unsafe { *self.0.get() }
    }

    #[doc(hidden)]
    pub(crate) const fn as_arg(&self) -> *mut c_void {
        self.0.get() as *mut c_void
    }
}

/// A `struct kernel_param`, placed in the `__param` section by [`module_param!`].
#[repr(transparent)]
pub(crate) struct KernelParam(pub bindings::kernel_param);

// SAFETY: the struct is immutable and its pointers (name, ops, arg) refer to statics.
unsafe impl Sync for KernelParam {}

// `struct module` is opaque to Rust; only its address is used.
#[allow(improper_ctypes)]
extern "C" {
    /// This module's `struct module`, defined by modpost in `rzs.mod.c`.
    static __this_module: Opaque<bindings::module>;
}

/// `THIS_MODULE`, usable in a static initialiser.
pub(crate) const fn this_module() -> *mut bindings::module {
    // SAFETY: only the address of the extern static is taken, never its contents.
    unsafe { __this_module.get() }
}

/// Copies a string into a byte array of exactly its length (for `.modinfo`).
pub(crate) const fn modinfo_bytes<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    let mut a = [0u8; N];
    let mut i = 0;
    while i < N {
        a[i] = b[i];
        i += 1;
    }
    a
}

/// Declares a module parameter.
///
/// `module_param!(STATIC, "name", ops_expr, "type", "description")`, where `STATIC` is
/// an existing `ParamCell` and `ops_expr` a `&'static bindings::kernel_param_ops`.
macro_rules! module_param {
    ($cell:ident, $name:literal, $ops:expr, $ty:literal, $desc:literal) => {
        const _: () = {
            #[link_section = "__param"]
            #[used]
            static PARAM: $crate::sys::params::KernelParam =
                $crate::sys::params::KernelParam(kernel::bindings::kernel_param {
                    name: concat!($name, "\0").as_ptr() as *const kernel::ffi::c_char,
                    mod_: $crate::sys::params::this_module(),
                    ops: $ops,
                    perm: 0o444,
                    level: -1,
                    flags: 0,
                    __bindgen_anon_1: kernel::bindings::kernel_param__bindgen_ty_1 { arg: $cell.as_arg() },
                });
            const DESC: &str = concat!("parm=", $name, ":", $desc, "\0");
            #[link_section = ".modinfo"]
            #[used]
            static PARM: [u8; DESC.len()] = $crate::sys::params::modinfo_bytes(DESC);
            const TYPE: &str = concat!("parmtype=", $name, ":", $ty, "\0");
            #[link_section = ".modinfo"]
            #[used]
            static PARMTYPE: [u8; TYPE.len()] = $crate::sys::params::modinfo_bytes(TYPE);
        };
    };
}
pub(crate) use module_param;

/// `param_ops_bool` from the kernel (the cell is a `ParamCell<bool>`).
pub(crate) const fn bool_ops() -> *const bindings::kernel_param_ops {
    core::ptr::addr_of!(bindings::param_ops_bool)
}

/// `param_ops_uint` from the kernel.
pub(crate) const fn uint_ops() -> *const bindings::kernel_param_ops {
    core::ptr::addr_of!(bindings::param_ops_uint)
}

/// The value of a `charp` parameter: a string the kernel allocates (or points into
/// the module's arguments) and frees at unload; null if it was not given.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct CharP(*const c_char);

// SAFETY: the pointer is only read (as a string that lives as long as the module).
unsafe impl Send for CharP {}

impl CharP {
    /// Not given.
    pub(crate) const NONE: Self = Self(core::ptr::null());
}

/// `param_ops_charp` from the kernel (the cell is a `ParamCell<CharP>`).
pub(crate) const fn charp_ops() -> *const bindings::kernel_param_ops {
    core::ptr::addr_of!(bindings::param_ops_charp)
}

/// The string a `charp` parameter was given at load, if any.
pub(crate) fn charp(cell: &'static ParamCell<CharP>) -> Option<&'static CStr> {
    let p = cell.get().0;
    if p.is_null() {
        return None;
    }
    // SAFETY: `param_ops_charp` stores a NUL-terminated string it owns (or one in
    // the module's argument string), freed only when the module's parameters are
    // destroyed at unload, after `exit`: it outlives every caller in the module.
    // It is written only while arguments are parsed (`ParamCell`).
    Some(unsafe { CStr::from_char_ptr(p) })
}

/// Parameter ops for a byte size given as "4G", "512M", "1048576" (a `u64`).
pub(crate) static SIZE_OPS: bindings::kernel_param_ops = bindings::kernel_param_ops {
    flags: 0,
    set: Some(size_set),
    get: Some(size_get),
    free: None,
};

unsafe extern "C" fn size_set(val: *const c_char, kp: *const bindings::kernel_param) -> c_int {
    // SAFETY: the kernel passes a NUL-terminated value and one of our `kernel_param`s,
    // whose name is a NUL-terminated static string.
    let (val, name) = unsafe { (CStr::from_char_ptr(val), CStr::from_char_ptr((*kp).name)) };
    let parsed = val.to_str().map_err(|_| ()).and_then(|s| rzs_core::size::parse_size(s).map_err(|_| ()));
    match parsed {
        Ok(bytes) => {
            // SAFETY: `arg` of a size parameter points to its `ParamCell<u64>`; the
            // kernel calls `set` only while parsing arguments (see `ParamCell`).
            unsafe { *((*kp).__bindgen_anon_1.arg as *mut u64) = bytes };
            0
        }
        Err(()) => {
            pr_err!("invalid {}='{}': expected a size such as 4096, 512M or 4G\n", name, val);
            EINVAL.to_errno()
        }
    }
}

unsafe extern "C" fn size_get(buf: *mut c_char, kp: *const bindings::kernel_param) -> c_int {
    // SAFETY: `arg` points to the parameter's `ParamCell<u64>` (see `size_set`).
    let v = unsafe { *((*kp).__bindgen_anon_1.arg as *const u64) };
    let mut w = LineBuf::new();
    let _ = core::fmt::write(&mut w, format_args!("{}", v));
    // SAFETY: `buf` is the page-sized buffer sysfs hands to a parameter's `get`.
    unsafe { write_line(buf, w.as_str()) }
}

/// A small stack buffer for formatting a parameter value (truncates; never panics).
pub(crate) struct LineBuf {
    buf: [u8; 32],
    len: usize,
}

impl LineBuf {
    pub(crate) const fn new() -> Self {
        Self { buf: [0; 32], len: 0 }
    }

    pub(crate) fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

impl core::fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            let slot = self.buf.get_mut(self.len).ok_or(core::fmt::Error)?;
            *slot = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Writes `s` and a newline into a parameter `get` buffer; returns the length.
///
/// # Safety
///
/// `buf` must be the page-sized buffer the kernel passes to `kernel_param_ops.get`.
pub(crate) unsafe fn write_line(buf: *mut c_char, s: &str) -> c_int {
    let n = s.len().min(64);
    // SAFETY: `buf` has room for a page; we write at most 65 bytes.
    unsafe {
        core::ptr::copy_nonoverlapping(s.as_ptr(), buf, n);
        *buf.add(n) = b'\n';
    }
    (n + 1) as c_int
}
