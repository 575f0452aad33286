// SPDX-License-Identifier: GPL-2.0
//! The views, rendered from [`DeviceInfo`] values (so they are testable without a
//! kernel): the device table, its JSON form, and the statistics of one device.

use std::fmt::Write as _;

use clap::ValueEnum;
use rzs_core::abi::{
    RzsStats, RZS_FLAG_BACKING, RZS_FLAG_INITIALIZED, RZS_FLAG_NOTIFY_BDEV, RZS_FLAG_NOTIFY_EVENTS,
    RZS_FLAG_SWAP,
};
use rzs_core::size::HumanSize;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::dev::DeviceInfo;

/// How a counter is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Count,
}

/// One 64-bit counter of [`RzsStats`]: its ABI name, how to read it, its unit and
/// what it means.
pub struct Counter {
    pub name: &'static str,
    pub get: fn(&RzsStats) -> u64,
    pub unit: Unit,
    pub help: &'static str,
}

macro_rules! counters {
    ($($f:ident: $unit:ident, $help:literal;)*) => {
        /// Every 64-bit field of [`RzsStats`], in ABI order.
        pub const COUNTERS: &[Counter] = &[$(Counter {
            name: stringify!($f),
            get: |s| s.$f,
            unit: Unit::$unit,
            help: $help,
        }),*];
    };
}

counters! {
    disksize: Bytes, "size of the device";
    mem_limit: Bytes, "memory limit (0: none)";
    num_reads: Count, "read requests";
    num_writes: Count, "write requests";
    failed_reads: Count, "failed read requests";
    failed_writes: Count, "failed write requests";
    invalid_io: Count, "out-of-range or unsized-device requests";
    notify_free: Count, "slots freed by swap slot-free notifications";
    pages_stored: Count, "pages held, including same-filled ones";
    same_pages: Count, "same-filled pages (no memory beyond the table)";
    huge_pages: Count, "incompressible pages stored raw";
    orig_data_size: Bytes, "uncompressed size of the pages held";
    compr_data_size: Bytes, "compressed size of the pages held";
    mem_used_total: Bytes, "memory held for the pages";
    mem_used_max: Bytes, "peak of mem_used_total";
    table_bytes: Bytes, "slot table size (metadata)";
    swap_attach: Count, "times swapon attached the table";
    swap_detach: Count, "times swapoff detached it";
    bd_count: Count, "pages on the backing device";
    bd_reads: Count, "pages read from the backing device";
    bd_writes: Count, "pages written back to the backing device";
    bd_blocks_written: Count, "backing blocks written for them (packed: fewer)";
    bd_blocks_used: Count, "backing blocks in use";
    bd_blocks: Count, "backing blocks the device may use";
    bd_failed: Count, "backing device reads and writes that failed";
}

/// The compression ratio `orig_data_size / compr_data_size` with two decimals, `None`
/// when nothing compressed is stored.
pub fn ratio(s: &RzsStats) -> Option<String> {
    if s.compr_data_size == 0 {
        return None;
    }
    let orig = u128::from(s.orig_data_size);
    let compr = u128::from(s.compr_data_size);
    let hundredths = (orig * 100 + compr / 2) / compr;
    Some(format!("{}.{:02}", hundredths / 100, hundredths % 100))
}

/// A column of the device table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Column {
    /// device node
    #[value(name = "NAME")]
    Name,
    /// size of the device
    #[value(name = "DISKSIZE")]
    Disksize,
    /// uncompressed size of the data stored
    #[value(name = "DATA")]
    Data,
    /// compressed size of the data stored
    #[value(name = "COMPR")]
    Compr,
    /// compression ratio DATA/COMPR
    #[value(name = "RATIO")]
    Ratio,
    /// memory used for the data
    #[value(name = "TOTAL")]
    Total,
    /// peak memory used
    #[value(name = "PEAK")]
    Peak,
    /// memory limit (0: none)
    #[value(name = "LIMIT")]
    Limit,
    /// pages stored
    #[value(name = "PAGES")]
    Pages,
    /// same-filled pages (zero and such)
    #[value(name = "ZERO")]
    Zero,
    /// incompressible pages stored raw
    #[value(name = "HUGE")]
    Huge,
    /// slots freed by swap notifications
    #[value(name = "NOTIFY-FREE")]
    NotifyFree,
    /// read requests
    #[value(name = "READS")]
    Reads,
    /// write requests
    #[value(name = "WRITES")]
    Writes,
    /// failed reads and writes
    #[value(name = "FAILED")]
    Failed,
    /// invalid (out-of-range) requests
    #[value(name = "INVALID")]
    Invalid,
    /// metadata: the slot table
    #[value(name = "META")]
    Meta,
    /// in use as swap
    #[value(name = "SWAP")]
    Swap,
}

/// The columns shown without `--output`.
pub const DEFAULT_COLUMNS: &[Column] = &[
    Column::Name,
    Column::Disksize,
    Column::Data,
    Column::Compr,
    Column::Ratio,
    Column::Total,
    Column::Zero,
    Column::NotifyFree,
    Column::Swap,
];

enum Cell {
    Text(String),
    Bytes(u64),
    Count(u64),
}

impl Column {
    pub fn all() -> &'static [Column] {
        Column::value_variants()
    }

    /// The heading, as given to `--output`.
    pub fn header(self) -> &'static str {
        match self {
            Column::Name => "NAME",
            Column::Disksize => "DISKSIZE",
            Column::Data => "DATA",
            Column::Compr => "COMPR",
            Column::Ratio => "RATIO",
            Column::Total => "TOTAL",
            Column::Peak => "PEAK",
            Column::Limit => "LIMIT",
            Column::Pages => "PAGES",
            Column::Zero => "ZERO",
            Column::Huge => "HUGE",
            Column::NotifyFree => "NOTIFY-FREE",
            Column::Reads => "READS",
            Column::Writes => "WRITES",
            Column::Failed => "FAILED",
            Column::Invalid => "INVALID",
            Column::Meta => "META",
            Column::Swap => "SWAP",
        }
    }

    /// What the column shows (for the man page).
    pub fn help(self) -> String {
        self.to_possible_value()
            .and_then(|v| v.get_help().map(|h| h.to_string()))
            .unwrap_or_default()
    }

    fn left_aligned(self) -> bool {
        matches!(self, Column::Name | Column::Swap)
    }

    fn cell(self, d: &DeviceInfo) -> Cell {
        let s = &d.stats;
        match self {
            Column::Name => Cell::Text(d.path.clone()),
            Column::Disksize => Cell::Bytes(s.disksize),
            Column::Data => Cell::Bytes(s.orig_data_size),
            Column::Compr => Cell::Bytes(s.compr_data_size),
            Column::Ratio => Cell::Text(ratio(s).unwrap_or_else(|| "-".into())),
            Column::Total => Cell::Bytes(s.mem_used_total),
            Column::Peak => Cell::Bytes(s.mem_used_max),
            Column::Limit => Cell::Bytes(s.mem_limit),
            Column::Pages => Cell::Count(s.pages_stored),
            Column::Zero => Cell::Count(s.same_pages),
            Column::Huge => Cell::Count(s.huge_pages),
            Column::NotifyFree => Cell::Count(s.notify_free),
            Column::Reads => Cell::Count(s.num_reads),
            Column::Writes => Cell::Count(s.num_writes),
            Column::Failed => Cell::Count(s.failed_reads.saturating_add(s.failed_writes)),
            Column::Invalid => Cell::Count(s.invalid_io),
            Column::Meta => Cell::Bytes(s.table_bytes),
            Column::Swap => Cell::Text(if d.swap { "yes" } else { "no" }.into()),
        }
    }

    /// The column's value for `d`: sizes human-readable unless `bytes`.
    pub fn value(self, d: &DeviceInfo, bytes: bool) -> String {
        match self.cell(d) {
            Cell::Text(t) => t,
            Cell::Bytes(n) if !bytes => HumanSize(n).to_string(),
            Cell::Bytes(n) | Cell::Count(n) => n.to_string(),
        }
    }
}

/// Options of the table view.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableOpts {
    /// Sizes in bytes, not human-readable.
    pub bytes: bool,
    /// No alignment: fields separated by one space (like `lsblk --raw`).
    pub raw: bool,
    /// Leave out the heading line.
    pub noheadings: bool,
}

/// The device table: a heading line (unless `noheadings`) and a line per device.
pub fn render_table(devs: &[DeviceInfo], cols: &[Column], opts: TableOpts) -> String {
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(devs.len() + 1);
    if !opts.noheadings {
        rows.push(cols.iter().map(|c| c.header().to_string()).collect());
    }
    for d in devs {
        rows.push(cols.iter().map(|c| c.value(d, opts.bytes)).collect());
    }
    let mut out = String::new();
    if opts.raw {
        for r in rows {
            out.push_str(&r.join(" "));
            out.push('\n');
        }
        return out;
    }
    let widths: Vec<usize> = (0..cols.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let mut line = String::new();
        for (i, (cell, col)) in r.iter().zip(cols).enumerate() {
            if i > 0 {
                line.push(' ');
            }
            let w = widths[i];
            if col.left_aligned() {
                let _ = write!(line, "{cell:<w$}");
            } else {
                let _ = write!(line, "{cell:>w$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A device as a JSON object: its name and path, the header fields, every counter by
/// its ABI name (numbers are integers, sizes in bytes), and the swap state.
pub struct JsonDevice<'a>(pub &'a DeviceInfo);

impl Serialize for JsonDevice<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let s = &d.stats;
        let mut m = ser.serialize_map(Some(COUNTERS.len() + 7))?;
        m.serialize_entry("name", &d.name)?;
        m.serialize_entry("path", &d.path)?;
        m.serialize_entry("index", &s.index)?;
        m.serialize_entry("version", &s.version)?;
        m.serialize_entry("flags", &s.flags)?;
        m.serialize_entry("initialized", &(s.flags & RZS_FLAG_INITIALIZED != 0))?;
        for c in COUNTERS {
            m.serialize_entry(c.name, &(c.get)(s))?;
        }
        m.serialize_entry("swap", &d.swap)?;
        m.end()
    }
}

/// `{"devices": [...]}`, pretty-printed, with a final newline.
pub fn render_json(devs: &[DeviceInfo]) -> String {
    #[derive(serde::Serialize)]
    struct List<'a> {
        devices: Vec<JsonDevice<'a>>,
    }
    let list = List {
        devices: devs.iter().map(JsonDevice).collect(),
    };
    to_json(&list)
}

/// One device's object (the `stats --json` view).
pub fn render_stats_json(d: &DeviceInfo) -> String {
    to_json(&JsonDevice(d))
}

fn to_json(v: &impl Serialize) -> String {
    // Serialising these types cannot fail: string keys, integer and string values.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// The names of the `RZS_FLAG_*` bits, in bit order.
pub const FLAGS: &[(u32, &str)] = &[
    (RZS_FLAG_INITIALIZED, "initialized"),
    (RZS_FLAG_SWAP, "swap"),
    (RZS_FLAG_NOTIFY_EVENTS, "notify-events"),
    (RZS_FLAG_NOTIFY_BDEV, "notify-bdev"),
    (RZS_FLAG_BACKING, "backing"),
];

/// The names of the bits set in `flags` (unknown bits as hex).
pub fn flag_names(flags: u32) -> Vec<String> {
    let mut names: Vec<String> = FLAGS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let known = FLAGS.iter().fold(0, |a, (bit, _)| a | bit);
    if flags & !known != 0 {
        names.push(format!("{:#x}", flags & !known));
    }
    names
}

/// Every counter of one device, a line each (like `rzscontrol --stats`): sizes in
/// bytes followed by their human-readable form unless `bytes`.
pub fn render_stats(d: &DeviceInfo, bytes: bool) -> String {
    let s = &d.stats;
    let flags = flag_names(s.flags);
    let flags = if flags.is_empty() {
        format!("{:#x}", s.flags)
    } else {
        format!("{:#x} ({})", s.flags, flags.join(", "))
    };
    // (label, value, human-readable form, right-aligned number)
    let mut lines: Vec<(&str, String, Option<String>, bool)> = vec![
        ("device", d.path.clone(), None, false),
        ("version", s.version.to_string(), None, false),
        ("flags", flags, None, false),
        (
            "swap",
            if d.swap { "yes" } else { "no" }.into(),
            None,
            false,
        ),
    ];
    for c in COUNTERS {
        let v = (c.get)(s);
        let human = (c.unit == Unit::Bytes && !bytes).then(|| HumanSize(v).to_string());
        lines.push((c.name, v.to_string(), human, true));
    }
    lines.push(("ratio", ratio(s).unwrap_or_else(|| "-".into()), None, true));
    let lw = lines.iter().map(|l| l.0.len()).max().unwrap_or(0);
    let vw = lines
        .iter()
        .filter(|l| l.3)
        .map(|l| l.1.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value, human, numeric) in lines {
        let _ = match (numeric, human) {
            (true, Some(h)) => writeln!(out, "{label:<lw$}  {value:>vw$}  ({h})"),
            (true, None) => writeln!(out, "{label:<lw$}  {value:>vw$}"),
            (false, _) => writeln!(out, "{label:<lw$}  {value}"),
        };
    }
    out
}

/// A `--watch` frame: cursor home, the body with each line's rest cleared, then the
/// rest of the screen cleared, so the view is redrawn in place without flicker.
pub fn watch_frame(title: &str, body: &str) -> String {
    let mut out = String::from("\x1b[H");
    for line in std::iter::once(title)
        .chain(std::iter::once(""))
        .chain(body.lines())
    {
        out.push_str(line);
        out.push_str("\x1b[K\n");
    }
    out.push_str("\x1b[J");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(stats: RzsStats, swap: bool) -> DeviceInfo {
        DeviceInfo {
            name: format!("rzs{}", stats.index),
            path: format!("/dev/rzs{}", stats.index),
            stats,
            swap,
        }
    }

    #[test]
    fn counters_are_every_u64_field_in_order() {
        // The header is 4 u32s, then only u64 counters.
        assert_eq!(
            16 + 8 * COUNTERS.len(),
            core::mem::size_of::<RzsStats>(),
            "a field was added to RzsStats: add it to COUNTERS"
        );
        // Give field i the value i + 1 through the raw bytes; the getters must read
        // them back in order.
        let mut st = RzsStats::default();
        let base = core::ptr::addr_of_mut!(st).cast::<u8>();
        for i in 0..COUNTERS.len() {
            let v = (i as u64 + 1).to_ne_bytes();
            // SAFETY: within `st`, which is plain integers (no invalid bit patterns).
            unsafe { core::ptr::copy_nonoverlapping(v.as_ptr(), base.add(16 + 8 * i), 8) };
        }
        for (i, c) in COUNTERS.iter().enumerate() {
            assert_eq!((c.get)(&st), i as u64 + 1, "{}", c.name);
        }
    }

    #[test]
    fn ratios() {
        let r = |o, c| {
            ratio(&RzsStats {
                orig_data_size: o,
                compr_data_size: c,
                ..Default::default()
            })
        };
        assert_eq!(r(0, 0), None);
        assert_eq!(r(4096, 0), None);
        assert_eq!(r(321, 100).as_deref(), Some("3.21"));
        assert_eq!(r(4096, 4096).as_deref(), Some("1.00"));
        assert_eq!(r(1000, 3).as_deref(), Some("333.33"));
        assert_eq!(r(2, 3).as_deref(), Some("0.67"));
        assert_eq!(r(u64::MAX, 1).as_deref(), Some("18446744073709551615.00"));
    }

    #[test]
    fn column_names_round_trip() {
        for &c in Column::all() {
            assert_eq!(Column::from_str(c.header(), true), Ok(c));
            let v = c.to_possible_value().unwrap();
            assert_eq!(v.get_name(), c.header());
            assert!(!c.help().is_empty(), "{c:?}");
        }
        assert_eq!(
            Column::from_str("notify-free", true),
            Ok(Column::NotifyFree)
        );
    }

    #[test]
    fn table_aligns_and_raw_does_not() {
        let a = dev(
            RzsStats {
                index: 0,
                disksize: 1 << 30,
                ..Default::default()
            },
            true,
        );
        let b = dev(
            RzsStats {
                index: 12,
                ..Default::default()
            },
            false,
        );
        let cols = [Column::Name, Column::Disksize, Column::Swap];
        let t = render_table(&[a.clone(), b.clone()], &cols, TableOpts::default());
        assert_eq!(
            t,
            "NAME       DISKSIZE SWAP\n/dev/rzs0        1G yes\n/dev/rzs12       0B no\n"
        );
        let opts = TableOpts {
            raw: true,
            bytes: true,
            noheadings: true,
        };
        let t = render_table(&[a, b], &cols, opts);
        assert_eq!(t, "/dev/rzs0 1073741824 yes\n/dev/rzs12 0 no\n");
    }

    #[test]
    fn empty_table_is_just_the_heading() {
        let t = render_table(&[], DEFAULT_COLUMNS, TableOpts::default());
        assert_eq!(
            t,
            "NAME DISKSIZE DATA COMPR RATIO TOTAL ZERO NOTIFY-FREE SWAP\n"
        );
    }

    #[test]
    fn json_has_every_counter() {
        let d = dev(RzsStats::default(), false);
        let v: serde_json::Value = serde_json::from_str(&render_stats_json(&d)).unwrap();
        for c in COUNTERS {
            assert_eq!(v[c.name], 0, "{}", c.name);
        }
        assert_eq!(v["swap"], false);
        assert_eq!(v["name"], "rzs0");
        let v: serde_json::Value = serde_json::from_str(&render_json(&[d])).unwrap();
        assert_eq!(v["devices"][0]["path"], "/dev/rzs0");
    }

    #[test]
    fn flags() {
        assert!(flag_names(0).is_empty());
        assert_eq!(
            flag_names(RZS_FLAG_INITIALIZED | RZS_FLAG_SWAP),
            ["initialized", "swap"]
        );
        assert_eq!(flag_names(RZS_FLAG_NOTIFY_EVENTS), ["notify-events"]);
        assert_eq!(
            flag_names(RZS_FLAG_NOTIFY_BDEV | 0x100),
            ["notify-bdev", "0x100"]
        );
        // Every bit named once.
        let all = FLAGS.iter().fold(0, |a, (b, _)| {
            assert_eq!(a & b, 0);
            a | b
        });
        assert_eq!(all.count_ones() as usize, FLAGS.len());
    }

    #[test]
    fn watch_frames_redraw_in_place() {
        let f = watch_frame("t", "a\nb\n");
        assert_eq!(f, "\x1b[Ht\x1b[K\n\x1b[K\na\x1b[K\nb\x1b[K\n\x1b[J");
    }
}
