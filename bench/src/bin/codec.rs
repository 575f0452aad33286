// SPDX-License-Identifier: GPL-2.0
//! `rzs-codec-bench`: lz4_flex (as rzs uses it: `rzs_core::codec`, preallocated hash
//! table) against the C liblz4 (`LZ4_compress_fast_extState` with acceleration 1, as
//! the kernel's lz4 backend calls it, and `LZ4_decompress_safe`) on one page corpus.
//!
//! Pages that rzs and zram keep without the codec (same-filled) are left out. Every
//! measurement is repeated, codecs alternating, and reported as median, min and max.
//! Output: JSON on stdout.

use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rzs_bench::{median, Corpus, Kind, PAGE};
use rzs_core::codec::{decompress, Compressor, Encoded, MAX_COMPRESSED, RAW_THRESHOLD};
use serde_json::{json, Value};

// In liblz4 (built by lz4-sys) but not declared by it.
extern "C" {
    fn LZ4_sizeofState() -> c_int;
    fn LZ4_compress_fast_extState(
        state: *mut c_void,
        src: *const c_char,
        dst: *mut c_char,
        src_size: c_int,
        dst_capacity: c_int,
        acceleration: c_int,
    ) -> c_int;
}

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The corpus (from rzs-corpus).
    #[arg(long)]
    corpus: PathBuf,
    /// Repetitions of each measurement.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Seconds each measurement runs for at least.
    #[arg(long, default_value_t = 0.5)]
    min_time: f64,
}

/// A page as stored: compressed bytes, or `None` for raw (incompressible).
type Stored = Option<Vec<u8>>;

trait Codec {
    fn name(&self) -> &'static str;
    /// Compresses a page; `None` if it is stored raw (over [`RAW_THRESHOLD`]).
    fn compress(&mut self, page: &[u8; PAGE]) -> Option<&[u8]>;
    /// Decompresses into `out`; false on error.
    fn decompress(&self, src: &[u8], out: &mut [u8; PAGE]) -> bool;
}

struct Flex(Box<Compressor>);

impl Flex {
    fn new() -> Flex {
        let mut b = Box::<Compressor>::new_uninit();
        Compressor::init_in_place(&mut b);
        // SAFETY: `init_in_place` initialised every field of the box's contents.
        Flex(unsafe { b.assume_init() })
    }
}

impl Codec for Flex {
    fn name(&self) -> &'static str {
        "lz4_flex"
    }
    fn compress(&mut self, page: &[u8; PAGE]) -> Option<&[u8]> {
        match self.0.compress(page) {
            Encoded::Compressed(s) => Some(s),
            Encoded::Incompressible => None,
        }
    }
    fn decompress(&self, src: &[u8], out: &mut [u8; PAGE]) -> bool {
        decompress(src, out).is_ok()
    }
}

struct Clz4 {
    state: Vec<u64>,
    out: Vec<u8>,
}

impl Clz4 {
    fn new() -> Clz4 {
        // SAFETY: a pure function of liblz4's build constants.
        let words = (unsafe { LZ4_sizeofState() } as usize).div_ceil(8);
        Clz4 {
            state: vec![0; words],
            out: vec![0; MAX_COMPRESSED],
        }
    }
}

impl Codec for Clz4 {
    fn name(&self) -> &'static str {
        "liblz4"
    }
    fn compress(&mut self, page: &[u8; PAGE]) -> Option<&[u8]> {
        // SAFETY: `state` is LZ4_sizeofState() bytes, 8-byte aligned (liblz4 needs
        // pointer alignment); `page` is PAGE readable bytes; `out` is MAX_COMPRESSED
        // writable bytes and its length is passed as the capacity.
        let n = unsafe {
            LZ4_compress_fast_extState(
                self.state.as_mut_ptr().cast(),
                page.as_ptr().cast(),
                self.out.as_mut_ptr().cast(),
                PAGE as c_int,
                self.out.len() as c_int,
                1,
            )
        };
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n > 0 && n <= RAW_THRESHOLD)?;
        self.out.get(..n)
    }
    fn decompress(&self, src: &[u8], out: &mut [u8; PAGE]) -> bool {
        // SAFETY: `src` is readable for its length, `out` writable for PAGE bytes, and
        // LZ4_decompress_safe never writes more than the capacity it is given.
        let n = unsafe {
            lz4_sys::LZ4_decompress_safe(
                src.as_ptr().cast(),
                out.as_mut_ptr().cast(),
                src.len() as c_int,
                PAGE as c_int,
            )
        };
        n == PAGE as c_int
    }
}

/// Each page's stored form under `c` (also checks that every page round-trips).
fn stored(c: &mut dyn Codec, pages: &[&[u8; PAGE]]) -> Result<Vec<Stored>, String> {
    let mut v = Vec::with_capacity(pages.len());
    for (i, p) in pages.iter().enumerate() {
        let s = c.compress(p).map(<[u8]>::to_vec);
        if let Some(s) = &s {
            let mut out = [0u8; PAGE];
            if !c.decompress(s, &mut out) || out != **p {
                return Err(format!("{}: page {i} does not round-trip", c.name()));
            }
        }
        v.push(s);
    }
    Ok(v)
}

/// Runs `f` over the set until `min_time` has passed; returns MiB/s of `bytes` per set.
fn throughput(min_time: f64, bytes: usize, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    let mut n = 0usize;
    while n == 0 || t.elapsed().as_secs_f64() < min_time {
        f();
        n += 1;
    }
    (n * bytes) as f64 / t.elapsed().as_secs_f64() / (1024.0 * 1024.0)
}

fn summary(v: &[f64]) -> Value {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    json!({ "median": median(v), "min": min, "max": max, "runs": v })
}

fn bench(a: &Args, label: &str, pages: &[&[u8; PAGE]]) -> Result<Value, String> {
    let mut codecs: [Box<dyn Codec>; 2] = [Box::new(Flex::new()), Box::new(Clz4::new())];
    let mut stores = Vec::new();
    for c in codecs.iter_mut() {
        stores.push(stored(c.as_mut(), pages)?);
    }
    let in_bytes = pages.len() * PAGE;
    let mut comp = [Vec::new(), Vec::new()];
    let mut dec = [Vec::new(), Vec::new()];
    let mut out = Box::new([0u8; PAGE]);
    for rep in 0..a.reps {
        // Alternate which codec goes first.
        for k in 0..2 {
            let i = (k + rep) % 2;
            let c = &mut codecs[i];
            comp[i].push(throughput(a.min_time, in_bytes, || {
                for p in pages {
                    std::hint::black_box(c.compress(std::hint::black_box(p)));
                }
            }));
            let st = &stores[i];
            let dec_bytes = st.iter().filter(|s| s.is_some()).count() * PAGE;
            dec[i].push(throughput(a.min_time, dec_bytes.max(1), || {
                for s in st.iter().flatten() {
                    std::hint::black_box(c.decompress(std::hint::black_box(s), &mut out));
                }
            }));
        }
    }
    let mut res = serde_json::Map::new();
    for (i, c) in codecs.iter().enumerate() {
        let st = &stores[i];
        let stored_bytes: usize = st.iter().map(|s| s.as_ref().map_or(PAGE, Vec::len)).sum();
        let raw = st.iter().filter(|s| s.is_none()).count();
        res.insert(
            c.name().into(),
            json!({
                "compress_mib_s": summary(&comp[i]),
                "decompress_mib_s": summary(&dec[i]),
                "ratio": in_bytes as f64 / stored_bytes.max(1) as f64,
                "raw_pages": raw,
            }),
        );
    }
    let r = |m: &str| {
        let g = |n: &str| res[n][m]["median"].as_f64().unwrap_or(0.0);
        g("lz4_flex") / g("liblz4").max(1e-9)
    };
    let (rc, rd) = (r("compress_mib_s"), r("decompress_mib_s"));
    let ratios = json!({ "compress_flex_over_c": rc, "decompress_flex_over_c": rd });
    res.insert("flex_over_c".into(), ratios);
    res.insert("pages".into(), json!(pages.len()));
    eprintln!(
        "rzs-codec-bench: {label}: {} pages; lz4_flex/liblz4 compress {rc:.2}, decompress {rd:.2}",
        pages.len()
    );
    Ok(Value::Object(res))
}

fn main() -> ExitCode {
    let a = Args::parse();
    let corpus = match Corpus::load(&a.corpus) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rzs-codec-bench: {}: {e}", a.corpus.display());
            return ExitCode::FAILURE;
        }
    };
    let kinds = corpus.kinds.clone().unwrap_or_default();
    let kind_of = |i: usize| kinds.get(i).copied();
    // The codec's share: everything but same-filled pages.
    let codec_pages = |want: Option<Kind>| {
        corpus
            .pages
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                rzs_core::page::same_filled(p).is_none()
                    && want.is_none_or(|k| kind_of(*i) == Some(k))
            })
            .map(|(_, p)| p)
            .collect::<Vec<_>>()
    };
    let mut out = serde_json::Map::new();
    let mut sets = vec![("all", None)];
    if !kinds.is_empty() {
        sets.extend([("binary", Some(Kind::Binary)), ("text", Some(Kind::Text))]);
    }
    for (label, k) in sets {
        let pages = codec_pages(k);
        if pages.is_empty() {
            continue;
        }
        match bench(&a, label, &pages) {
            Ok(v) => {
                out.insert(label.into(), v);
            }
            Err(e) => {
                eprintln!("rzs-codec-bench: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    // SAFETY: a pure function returning liblz4's version number.
    let version = unsafe { lz4_sys::LZ4_versionNumber() };
    let doc = json!({
        "corpus": a.corpus.display().to_string(),
        "corpus_pages": corpus.pages.len(),
        "liblz4_version": version,
        "lz4_flex_version": "0.14.0",
        "reps": a.reps,
        "results": out,
    });
    println!("{doc:#}");
    ExitCode::SUCCESS
}
