// SPDX-License-Identifier: GPL-2.0
//! `rzs-memtest`: a workload that really swaps, with every page verified.
//!
//! Allocates `--size` MiB, fills each 4 KiB page with content derived from its index
//! and `--seed` (a realistic mix: zero pages, same-filled pages, text-like and
//! binary-like compressible pages, and random incompressible pages), then makes
//! `--passes` passes over the memory (sequential or random order), each regenerating
//! the expected content of every page and comparing. Nothing but the data itself is
//! kept, so verification needs no extra memory. Exits 1 on any mismatch.
//!
//! `--rewrite` makes each pass also rewrite every page it verified with the content of
//! its next generation (one byte per page records it), so pages keep going out to swap
//! dirty and old swap slots keep being freed; `--seconds` bounds the run by time
//! instead of by `--passes` (a swap storm: `tests/suites/60-stress.sh`).

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};

const PAGE: usize = 4096;

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Working set in MiB.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Verification passes after the fill.
    #[arg(long, default_value_t = 2)]
    passes: u32,
    /// Order of the passes.
    #[arg(long, value_enum, default_value_t = Order::Seq)]
    order: Order,
    /// Seed for page contents (different processes should use different seeds).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Page mix: `mixed` (realistic), `text`, `random` or `zero`.
    #[arg(long, value_enum, default_value_t = Mix::Mixed)]
    mix: Mix,
    /// Take page contents from this page corpus (bench/'s rzs-corpus) instead of
    /// generating them: page i is a corpus page chosen by i and the seed.
    #[arg(long, conflicts_with = "mix")]
    corpus: Option<std::path::PathBuf>,
    /// Stay alive (sleeping) for this many seconds after the last pass.
    #[arg(long, default_value_t = 0)]
    hold: u64,
    /// Rewrite each page with new content after verifying it.
    #[arg(long)]
    rewrite: bool,
    /// Keep making passes until this many seconds have passed since the fill ended
    /// (0: make exactly `--passes` passes).
    #[arg(long, default_value_t = 0)]
    seconds: u64,
}

/// The seed of generation `gen` of every page.
fn gen_seed(seed: u64, gen: u8) -> u64 {
    seed ^ (gen as u64).wrapping_mul(0xd6e8_feb8_6659_fd93)
}

#[derive(Clone, Copy, ValueEnum)]
enum Order {
    Seq,
    Random,
    /// Sequential and random passes in turn (pass 1 sequential).
    Both,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Mix {
    Mixed,
    Text,
    Random,
    Zero,
}

/// Where page contents come from.
enum Source {
    Generated(Mix),
    /// Whole pages of a corpus file.
    Corpus(Vec<u8>),
}

impl Source {
    fn fill(&self, page: &mut [u8], idx: u64, seed: u64) {
        match self {
            Source::Generated(mix) => fill(page, idx, seed, *mix),
            Source::Corpus(c) => {
                let n = (c.len() / PAGE) as u64;
                let h = xorshift(idx.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed | 1);
                let at = (h % n) as usize * PAGE;
                page.copy_from_slice(&c[at..at + PAGE]);
            }
        }
    }
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

const WORDS: &[&[u8]] = &[
    b"the ",
    b"swap ",
    b"page ",
    b"kernel ",
    b"memory ",
    b"compressed ",
    b"process ",
    b"0x7f3a ",
    b"struct ",
    b"return ",
    b"{\"id\": ",
    b"null, ",
    b"value ",
    b"\n",
    b"    ",
    b"error ",
];

/// Fills `page` with the content of page `idx` for `seed`.
fn fill(page: &mut [u8], idx: u64, seed: u64, mix: Mix) {
    let h = xorshift(
        idx.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed.wrapping_mul(0xff51_afd7_ed55_8ccd) | 1,
    );
    let kind = match mix {
        Mix::Mixed => h % 10,
        Mix::Text => 3,
        Mix::Random => 9,
        Mix::Zero => 0,
    };
    match kind {
        // 20% zero pages (freshly touched heap, zeroed buffers).
        0 | 1 => page.fill(0),
        // 10% same-filled with a non-zero word.
        2 => {
            let w = (h | 1).to_ne_bytes();
            for c in page.chunks_exact_mut(8) {
                c.copy_from_slice(&w);
            }
        }
        // 40% text-like: words from a small vocabulary.
        3..=6 => {
            let mut x = h;
            let mut i = 0;
            while i < page.len() {
                x = xorshift(x);
                let w = WORDS[(x % WORDS.len() as u64) as usize];
                let n = w.len().min(page.len() - i);
                page[i..i + n].copy_from_slice(&w[..n]);
                i += n;
            }
        }
        // 20% binary-like: small integers and pointers with structure.
        7 | 8 => {
            let mut x = h;
            for (j, c) in page.chunks_exact_mut(8).enumerate() {
                x = xorshift(x);
                let v: u64 = match j % 4 {
                    0 => 0x7f3a_0000_0000 + (x & 0xfff0),
                    1 => x & 0xff,
                    2 => j as u64,
                    _ => 0,
                };
                c.copy_from_slice(&v.to_le_bytes());
            }
            // Stamp the index so distinct pages differ.
            page[..8].copy_from_slice(&idx.to_le_bytes());
        }
        // 10% random (incompressible).
        _ => {
            let mut x = h;
            for c in page.chunks_exact_mut(8) {
                x = xorshift(x);
                c.copy_from_slice(&x.to_le_bytes());
            }
        }
    }
}

fn main() -> ExitCode {
    let started = Instant::now();
    let a = Args::parse();
    let src = match &a.corpus {
        None => Source::Generated(a.mix),
        Some(path) => match std::fs::read(path) {
            Ok(c) if !c.is_empty() && c.len() % PAGE == 0 => Source::Corpus(c),
            Ok(_) => {
                eprintln!(
                    "rzs-memtest: {}: not a whole number of pages",
                    path.display()
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("rzs-memtest: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
    };
    // Startup (reading the corpus) apart from the fill, so that a timed run's wall
    // time can be told apart from the work it measures (make bench's raw logs).
    println!(
        "rzs-memtest: started in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let pages = a.size * 1024 * 1024 / PAGE;
    // Page-align the buffer so each logical page is one physical page (a large
    // Vec from malloc starts 16 bytes into its mapping): otherwise no page the
    // kernel swaps would be zero- or same-filled.
    let mut buf = vec![0u8; (pages + 1) * PAGE];
    let off = buf.as_ptr().align_offset(PAGE);
    let mem = &mut buf[off..off + pages * PAGE];
    let t0 = Instant::now();
    for (i, p) in mem.chunks_exact_mut(PAGE).enumerate() {
        src.fill(p, i as u64, a.seed);
    }
    println!(
        "rzs-memtest: filled {} MiB ({} pages) in {:.1} s",
        a.size,
        pages,
        t0.elapsed().as_secs_f64()
    );
    let mut expect = vec![0u8; PAGE];
    let mut gens = vec![0u8; if a.rewrite { pages } else { 0 }];
    let mut bad = 0u64;
    let mut checked = 0u64;
    let mut rewritten = 0u64;
    let t_end = Instant::now();
    let deadline = std::time::Duration::from_secs(a.seconds);
    let out_of_time = || a.seconds > 0 && t_end.elapsed() >= deadline;
    let mut pass = 0u32;
    while (a.seconds == 0 && pass < a.passes) || (a.seconds > 0 && !out_of_time()) {
        let t = Instant::now();
        let mut x = (a.seed ^ ((pass as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d))) | 1;
        let random = match a.order {
            Order::Seq => false,
            Order::Random => true,
            Order::Both => pass % 2 == 1,
        };
        let mut done = 0;
        for k in 0..pages {
            if k % 256 == 0 && out_of_time() {
                break;
            }
            let i = match random {
                false => k,
                true => {
                    x = xorshift(x);
                    (x % pages as u64) as usize
                }
            };
            let gen = gens.get(i).copied().unwrap_or(0);
            src.fill(&mut expect, i as u64, gen_seed(a.seed, gen));
            let got = &mut mem[i * PAGE..(i + 1) * PAGE];
            checked += 1;
            done += 1;
            if got != &expect[..] {
                bad += 1;
                if bad <= 10 {
                    eprintln!("rzs-memtest: page {i} corrupt in pass {pass} (generation {gen})");
                }
            }
            if let Some(g) = gens.get_mut(i) {
                *g = g.wrapping_add(1);
                src.fill(got, i as u64, gen_seed(a.seed, *g));
                rewritten += 1;
            }
        }
        println!(
            "rzs-memtest: pass {} ({}) verified {} pages in {:.1} s",
            pass + 1,
            if random { "random" } else { "seq" },
            done,
            t.elapsed().as_secs_f64()
        );
        pass += 1;
    }
    if a.hold > 0 {
        std::thread::sleep(std::time::Duration::from_secs(a.hold));
    }
    println!(
        "rzs-memtest: checked={checked} rewritten={rewritten} mismatches={bad} seconds={:.1}",
        t0.elapsed().as_secs_f64()
    );
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_pages_have_every_kind() {
        let (mut zero, mut same, mut other) = (0, 0, 0);
        let mut p = vec![0u8; PAGE];
        for i in 0..2000 {
            fill(&mut p, i, 1, Mix::Mixed);
            let first = &p[..8];
            if p.iter().all(|&b| b == 0) {
                zero += 1;
            } else if p.chunks_exact(8).all(|c| c == first) {
                same += 1;
            } else {
                other += 1;
            }
        }
        println!("zero {zero} same {same} other {other}");
        assert!(
            zero > 300 && same > 100 && other > 1000,
            "zero {zero} same {same} other {other}"
        );
    }
}
