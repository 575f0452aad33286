// SPDX-License-Identifier: GPL-2.0
//! The C header `include/uapi/linux/rzs.h` and the Rust ABI in `rzs_core::abi` must
//! describe the same structs and ioctl numbers: compile a C program against the header
//! and compare every size, field offset and ioctl number it prints with Rust's.

use std::path::PathBuf;
use std::process::Command;

use rzs_core::abi::*;

macro_rules! fields {
    ($($f:ident),* $(,)?) => { [$((stringify!($f), core::mem::offset_of!(RzsStats, $f))),*] };
}

#[test]
fn c_header_matches_rust_abi() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let fields = fields!(
        size,
        version,
        flags,
        index,
        disksize,
        mem_limit,
        num_reads,
        num_writes,
        failed_reads,
        failed_writes,
        invalid_io,
        notify_free,
        pages_stored,
        same_pages,
        huge_pages,
        orig_data_size,
        compr_data_size,
        mem_used_total,
        mem_used_max,
        table_bytes,
        swap_attach,
        swap_detach,
        bd_count,
        bd_reads,
        bd_writes,
        bd_blocks_written,
        bd_blocks_used,
        bd_blocks,
        bd_failed,
    );
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <linux/rzs.h>\nint main(void) {\n",
    );
    c += "printf(\"sizeof %zu\\n\", sizeof(struct rzs_stats));\n";
    for (st, f) in [
        ("rzs_backing", "path"),
        ("rzs_backing", "path_len"),
        ("rzs_backing", "flags"),
        ("rzs_writeback", "flags"),
        ("rzs_writeback", "min_age"),
        ("rzs_writeback", "max_pages"),
        ("rzs_writeback", "pages"),
        ("rzs_writeback", "blocks"),
    ] {
        c += &format!("printf(\"{st}.{f} %zu\\n\", offsetof(struct {st}, {f}));\n");
    }
    c += "printf(\"sizeof_backing %zu\\n\", sizeof(struct rzs_backing));\n";
    c += "printf(\"sizeof_writeback %zu\\n\", sizeof(struct rzs_writeback));\n";
    for (f, _) in &fields {
        c += &format!("printf(\"{f} %zu\\n\", offsetof(struct rzs_stats, {f}));\n");
    }
    for n in [
        "RZS_IOC_GET_STATS",
        "RZS_IOC_SET_DISKSIZE",
        "RZS_IOC_SET_MEM_LIMIT",
        "RZS_IOC_RESET",
        "RZS_IOC_SET_BACKING",
        "RZS_IOC_WRITEBACK",
        "RZS_IOC_MARK_IDLE",
        "RZS_FLAG_BACKING",
        "RZS_PATH_MAX",
        "RZS_WB_IDLE",
        "RZS_WB_HUGE",
        "RZS_WB_INCOMPRESSIBLE",
        "RZS_STATS_VERSION",
        "RZS_FLAG_INITIALIZED",
        "RZS_FLAG_SWAP",
        "RZS_FLAG_NOTIFY_EVENTS",
        "RZS_FLAG_NOTIFY_BDEV",
        "RZS_IOC_MAGIC",
    ] {
        c += &format!("printf(\"{n} %llu\\n\", (unsigned long long)({n}));\n");
    }
    c += "printf(\"RZS_MAX_DISKSIZE %llu\\n\", (unsigned long long)RZS_MAX_DISKSIZE);\n";
    c += "return 0; }\n";
    let dir = std::env::temp_dir().join(format!("rzs-abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("abi.c");
    let exe = dir.join("abi");
    std::fs::write(&src, c).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args(["-Wall", "-Werror", "-I"])
        .arg(root.join("include/uapi"))
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("a C compiler (cc) is needed for the ABI check");
    assert!(st.success(), "the C header does not compile");
    let out = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
    let get = |k: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{k} missing from C output"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        get("sizeof"),
        core::mem::size_of::<RzsStats>() as u64,
        "sizeof(struct rzs_stats)"
    );
    for (f, off) in &fields {
        assert_eq!(get(f), *off as u64, "offsetof(struct rzs_stats, {f})");
    }
    assert_eq!(get("RZS_IOC_GET_STATS"), RZS_IOC_GET_STATS as u64);
    assert_eq!(get("RZS_IOC_SET_DISKSIZE"), RZS_IOC_SET_DISKSIZE as u64);
    assert_eq!(get("RZS_IOC_SET_MEM_LIMIT"), RZS_IOC_SET_MEM_LIMIT as u64);
    assert_eq!(get("RZS_IOC_RESET"), RZS_IOC_RESET as u64);
    assert_eq!(get("RZS_STATS_VERSION"), RZS_STATS_VERSION as u64);
    assert_eq!(get("RZS_FLAG_INITIALIZED"), RZS_FLAG_INITIALIZED as u64);
    assert_eq!(get("RZS_FLAG_SWAP"), RZS_FLAG_SWAP as u64);
    assert_eq!(get("RZS_FLAG_NOTIFY_EVENTS"), RZS_FLAG_NOTIFY_EVENTS as u64);
    assert_eq!(get("RZS_FLAG_NOTIFY_BDEV"), RZS_FLAG_NOTIFY_BDEV as u64);
    assert_eq!(get("RZS_IOC_MAGIC"), RZS_IOC_MAGIC as u64);
    assert_eq!(get("RZS_MAX_DISKSIZE"), RZS_MAX_DISKSIZE);
    assert_eq!(get("RZS_IOC_SET_BACKING"), RZS_IOC_SET_BACKING as u64);
    assert_eq!(get("RZS_IOC_WRITEBACK"), RZS_IOC_WRITEBACK as u64);
    assert_eq!(get("RZS_IOC_MARK_IDLE"), RZS_IOC_MARK_IDLE as u64);
    assert_eq!(get("RZS_FLAG_BACKING"), RZS_FLAG_BACKING as u64);
    assert_eq!(get("RZS_PATH_MAX"), RZS_PATH_MAX as u64);
    assert_eq!(get("RZS_WB_IDLE"), RZS_WB_IDLE as u64);
    assert_eq!(get("RZS_WB_HUGE"), RZS_WB_HUGE as u64);
    assert_eq!(get("RZS_WB_INCOMPRESSIBLE"), RZS_WB_INCOMPRESSIBLE as u64);
    assert_eq!(
        get("sizeof_backing"),
        core::mem::size_of::<RzsBacking>() as u64
    );
    assert_eq!(
        get("sizeof_writeback"),
        core::mem::size_of::<RzsWriteback>() as u64
    );
    for (k, off) in [
        ("rzs_backing.path", core::mem::offset_of!(RzsBacking, path)),
        (
            "rzs_backing.path_len",
            core::mem::offset_of!(RzsBacking, path_len),
        ),
        (
            "rzs_backing.flags",
            core::mem::offset_of!(RzsBacking, flags),
        ),
        (
            "rzs_writeback.flags",
            core::mem::offset_of!(RzsWriteback, flags),
        ),
        (
            "rzs_writeback.min_age",
            core::mem::offset_of!(RzsWriteback, min_age),
        ),
        (
            "rzs_writeback.max_pages",
            core::mem::offset_of!(RzsWriteback, max_pages),
        ),
        (
            "rzs_writeback.pages",
            core::mem::offset_of!(RzsWriteback, pages),
        ),
        (
            "rzs_writeback.blocks",
            core::mem::offset_of!(RzsWriteback, blocks),
        ),
    ] {
        assert_eq!(get(k), off as u64, "offsetof {k}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
