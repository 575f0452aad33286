// SPDX-License-Identifier: GPL-2.0
//! The views, rendered from fixed statistics through the real command line parsing,
//! compared with the files in `tests/golden/`. After an intended change of output,
//! regenerate them with `UPDATE_GOLDEN=1 cargo test -p rzsctl --test golden` and
//! review the diff.

use std::path::PathBuf;

use clap::Parser;
use rzs_core::abi::{RzsStats, RZS_FLAG_BACKING, RZS_FLAG_INITIALIZED, RZS_STATS_VERSION};
use rzsctl::cli::{Cli, Command};
use rzsctl::dev::DeviceInfo;

const K: u64 = 1 << 10;
const M: u64 = 1 << 20;
const G: u64 = 1 << 30;

fn stats(index: u32) -> RzsStats {
    RzsStats {
        size: core::mem::size_of::<RzsStats>() as u32,
        version: RZS_STATS_VERSION,
        index,
        ..RzsStats::default()
    }
}

/// Three devices: one swapped on and busy, with a backing device, one sized but
/// empty, one unsized.
fn devices() -> Vec<DeviceInfo> {
    let busy = RzsStats {
        flags: RZS_FLAG_INITIALIZED | RZS_FLAG_BACKING,
        disksize: 4 * G,
        mem_limit: G,
        num_reads: 12_345,
        num_writes: 67_890,
        failed_reads: 1,
        failed_writes: 2,
        invalid_io: 3,
        notify_free: 3_210,
        pages_stored: 51_234,
        same_pages: 4_321,
        huge_pages: 120,
        orig_data_size: 51_234 * 4 * K,
        compr_data_size: 61_234_567,
        mem_used_total: 15_625 * 4 * K,
        mem_used_max: 16_000 * 4 * K,
        table_bytes: (4 * G / (4 * K)) * 9,
        swap_attach: 1,
        swap_detach: 0,
        bd_count: 20_000,
        bd_reads: 5_000,
        bd_writes: 30_000,
        bd_blocks_written: 12_000,
        bd_blocks_used: 8_000,
        bd_blocks: 4 * G / (4 * K),
        bd_failed: 1,
        ..stats(0)
    };
    let sized = RzsStats {
        flags: RZS_FLAG_INITIALIZED,
        disksize: 256 * M,
        table_bytes: (256 * M / (4 * K)) * 9,
        ..stats(1)
    };
    let swaps = ["rzs0".to_string()];
    vec![
        DeviceInfo::new(busy, "/dev/rzs0".into(), &swaps),
        DeviceInfo::new(sized, "/dev/rzs1".into(), &swaps),
        DeviceInfo::new(stats(12), "/dev/rzs12".into(), &swaps),
    ]
}

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("rzsctl").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn list(args: &[&str]) -> String {
    rzsctl::render_list(&cli(args).list, &devices())
}

fn stats_view(args: &[&str]) -> String {
    let mut a = vec!["stats", "/dev/rzs0"];
    a.extend_from_slice(args);
    match cli(&a).command {
        Some(Command::Stats(s)) => rzsctl::render_stats(&s, &devices()[0]),
        other => panic!("{other:?}"),
    }
}

/// Compares `actual` with `tests/golden/NAME`, or writes it there with
/// `UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v != "0") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} differs from {} (UPDATE_GOLDEN=1 regenerates it)\n--- expected\n{expected}--- actual\n{actual}",
        path.display()
    );
}

#[test]
fn table_default() {
    golden("table.txt", &list(&[]));
}

#[test]
fn table_bytes() {
    golden("table-bytes.txt", &list(&["--bytes"]));
}

#[test]
fn table_raw() {
    golden("table-raw.txt", &list(&["--raw"]));
}

#[test]
fn table_output_subset() {
    golden(
        "table-output.txt",
        &list(&[
            "-o",
            "name,pages,huge,reads,writes,failed,invalid,meta,limit,peak",
            "-n",
        ]),
    );
}

#[test]
fn table_output_all() {
    golden("table-all.txt", &list(&["--output-all"]));
}

#[test]
fn list_json() {
    let out = list(&["--json"]);
    golden("list.json", &out);
    // And it is JSON with integer numbers.
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["devices"].as_array().unwrap().len(), 3);
    assert_eq!(v["devices"][0]["num_writes"].as_u64(), Some(67_890));
    assert_eq!(v["devices"][0]["swap"], true);
    assert_eq!(v["devices"][2]["initialized"], false);
}

#[test]
fn stats_default() {
    golden("stats.txt", &stats_view(&[]));
}

#[test]
fn stats_bytes() {
    golden("stats-bytes.txt", &stats_view(&["--bytes"]));
}

#[test]
fn stats_json() {
    let out = stats_view(&["--json"]);
    golden("stats.json", &out);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["disksize"].as_u64(), Some(4 * G));
}
