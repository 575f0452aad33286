// SPDX-License-Identifier: GPL-2.0
//! Shared pieces of the rzs benchmarks: the page corpus.
//!
//! A corpus is a file of 4 KiB pages cut from real files on this machine (ELF
//! binaries and libraries, source text, already-compressed files) plus zero and
//! same-filled pages, in a stated mix. Beside it, `<corpus>.kinds` holds one byte per
//! page naming its kind, so the benchmarks can report per kind.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// Bytes per page.
pub const PAGE: usize = 4096;

/// What a corpus page is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A page of an ELF binary or shared library.
    Binary,
    /// A page of source text (C headers, Perl and Python modules).
    Text,
    /// A page of an already-compressed file (`.gz`): incompressible.
    Compressed,
    /// All zero.
    Zero,
    /// One non-zero 64-bit word repeated.
    Same,
}

impl Kind {
    /// Every kind, in the order of [`Mix`]'s fields.
    pub const ALL: [Kind; 5] = [
        Kind::Binary,
        Kind::Text,
        Kind::Compressed,
        Kind::Zero,
        Kind::Same,
    ];

    /// The byte that stands for this kind in a `.kinds` file.
    pub fn code(self) -> u8 {
        match self {
            Kind::Binary => b'B',
            Kind::Text => b'T',
            Kind::Compressed => b'C',
            Kind::Zero => b'Z',
            Kind::Same => b'S',
        }
    }

    /// The kind a `.kinds` byte stands for.
    pub fn from_code(c: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == c)
    }

    /// A lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::Text => "text",
            Kind::Compressed => "compressed",
            Kind::Zero => "zero",
            Kind::Same => "same-filled",
        }
    }
}

/// Percent of pages of each kind (binary, text, compressed, zero, same-filled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix(pub [u32; 5]);

impl Default for Mix {
    /// 40% binary, 30% text, 10% compressed, 15% zero, 5% same-filled.
    fn default() -> Self {
        Mix([40, 30, 10, 15, 5])
    }
}

impl Mix {
    /// The kind of page `i` of a corpus (a deterministic, well-spread sequence).
    pub fn kind_of(&self, i: u64, seed: u64) -> Kind {
        let total: u32 = self.0.iter().sum();
        let mut r = (mix64(i ^ seed.rotate_left(32)) % u64::from(total.max(1))) as u32;
        for (k, &p) in Kind::ALL.iter().zip(self.0.iter()) {
            if r < p {
                return *k;
            }
            r -= p;
        }
        Kind::Zero
    }
}

/// A 64-bit mixing function (splitmix64's finaliser).
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The files a corpus draws its pages from, sorted so a machine gives the same corpus
/// every time.
pub struct Sources {
    /// ELF binaries and libraries.
    pub binary: Vec<(PathBuf, u64)>,
    /// Source text files.
    pub text: Vec<(PathBuf, u64)>,
    /// gzip files.
    pub compressed: Vec<(PathBuf, u64)>,
}

fn collect(roots: &[&str], keep: &dyn Fn(&Path) -> bool, limit: usize) -> Vec<(PathBuf, u64)> {
    let mut v = Vec::new();
    for root in roots {
        for e in WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
        {
            if v.len() >= limit {
                return v;
            }
            let Ok(md) = e.metadata() else { continue };
            if md.is_file() && md.len() >= 2 * PAGE as u64 && keep(e.path()) {
                v.push((e.path().to_path_buf(), md.len()));
            }
        }
    }
    v
}

fn is_elf(p: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

fn has_ext(p: &Path, exts: &[&str]) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.contains(&e))
}

impl Sources {
    /// Finds source files under the usual Debian locations.
    pub fn find() -> Sources {
        const LIMIT: usize = 4000;
        Sources {
            binary: collect(
                &["/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu"],
                &is_elf,
                LIMIT,
            ),
            text: collect(
                &["/usr/include", "/usr/share/perl5", "/usr/lib/python3"],
                &|p| has_ext(p, &["h", "pm", "py"]),
                LIMIT,
            ),
            compressed: collect(
                &["/usr/share/doc", "/usr/share/man"],
                &|p| has_ext(p, &["gz"]),
                LIMIT,
            ),
        }
    }

    fn list(&self, k: Kind) -> &[(PathBuf, u64)] {
        match k {
            Kind::Binary => &self.binary,
            Kind::Text => &self.text,
            _ => &self.compressed,
        }
    }
}

/// Fills `page` with page `i` of the corpus: a page of `kind` cut from a file chosen
/// by `i` and `seed`. Files that cannot be read are skipped (the next one is tried).
pub fn make_page(src: &Sources, kind: Kind, i: u64, seed: u64, page: &mut [u8; PAGE]) -> bool {
    match kind {
        Kind::Zero => {
            page.fill(0);
            true
        }
        Kind::Same => {
            let w = (mix64(i ^ seed) | 1).to_ne_bytes();
            for c in page.chunks_exact_mut(8) {
                c.copy_from_slice(&w);
            }
            true
        }
        _ => {
            let list = src.list(kind);
            if list.is_empty() {
                return false;
            }
            let mut h = mix64(i.wrapping_mul(31) ^ seed);
            for _ in 0..8 {
                let (path, len) = &list[(h % list.len() as u64) as usize];
                let pages = len / PAGE as u64;
                let off = (mix64(h) % pages) * PAGE as u64;
                let ok = File::open(path)
                    .and_then(|mut f| {
                        f.seek(SeekFrom::Start(off))?;
                        f.read_exact(page)
                    })
                    .is_ok();
                if ok {
                    return true;
                }
                h = mix64(h);
            }
            false
        }
    }
}

/// Fills `page` with a synthetic page of anonymous memory as a C or C++ program's
/// heap holds it (what swap carries most): malloc chunks, each a size word then a
/// body of pointers into the heap and into shared libraries, small integers,
/// counters, short strings, doubles, or a free chunk's list pointers and zeros. The
/// same `i` and `seed` give the same page.
pub fn heap_page(i: u64, seed: u64, page: &mut [u8; PAGE]) {
    const WORDS: &[&[u8]] = &[
        b"name",
        b"value",
        b"id",
        b"count",
        b"size",
        b"next",
        b"user",
        b"path",
        b"/usr/lib",
        b"config",
        b"en_US.UTF-8",
        b"true",
        b"false",
        b"null",
        b"http",
        b"item",
        b"buffer",
    ];
    let mut h = mix64(i ^ seed.rotate_left(17));
    let mut rnd = move || {
        h = mix64(h);
        h
    };
    let heap = 0x0000_55d4_a3c0_0000u64 + (rnd() % 64) * 0x10_0000;
    let libs = 0x0000_7f3a_0000_0000u64 + (rnd() % 256) * 0x20_0000;
    let mut w = [0u64; PAGE / 8];
    let mut at = 0;
    while at < w.len() {
        // A chunk of 2..=40 words (16..=320 bytes), malloc's header first.
        let words = (2 + rnd() % 39) as usize;
        let end = (at + words).min(w.len());
        w[at] = ((words as u64) * 8) | 1;
        let kind = rnd() % 10;
        let mut ctr = rnd() % 5000;
        let mut s = Vec::new();
        for (j, x) in w[at + 1..end].iter_mut().enumerate() {
            *x = match kind {
                // Structs: mostly pointers, with small fields between them.
                0..=3 => match rnd() % 8 {
                    0..=2 => (heap + rnd() % 0x10_0000) & !15,
                    3 => (libs + rnd() % 0x1_0000) & !7,
                    4 => rnd() % 100,
                    5 => 0,
                    _ => (rnd() % 64) | ((rnd() % 4) << 32),
                },
                // Arrays of 32-bit counters and indices.
                4 | 5 => {
                    let a = ctr;
                    ctr += 1 + rnd() % 3;
                    let b = ctr;
                    ctr += 1 + rnd() % 3;
                    a | (b << 32)
                }
                // Short strings, NUL-terminated, padded with zeros.
                6 | 7 => {
                    if j == 0 || s.is_empty() {
                        s.clear();
                        while s.len() < 8 * (end - at - 1 - j).min(6) {
                            s.extend_from_slice(WORDS[(rnd() % WORDS.len() as u64) as usize]);
                            s.push(if rnd() % 3 == 0 { b'_' } else { b' ' });
                        }
                        s.truncate(s.len().saturating_sub(1 + (rnd() % 8) as usize));
                        s.push(0);
                    }
                    let mut b = [0u8; 8];
                    let n = s.len().min(8);
                    b[..n].copy_from_slice(&s[..n]);
                    s.drain(..n);
                    u64::from_le_bytes(b)
                }
                // Doubles of a few distinct small values.
                8 => ((rnd() % 64) as f64 * 0.25).to_bits(),
                // A free chunk: list pointers, then whatever was left (zeros here).
                _ => match j {
                    0 | 1 => (heap + rnd() % 0x10_0000) & !15,
                    _ => 0,
                },
            };
        }
        at = end;
    }
    for (c, x) in page.chunks_exact_mut(8).zip(w) {
        c.copy_from_slice(&x.to_le_bytes());
    }
}

/// Reads up to `max` pages of real anonymous memory (heap, stacks, anonymous
/// mappings) of the processes running now, through `/proc/PID/mem` (needs root or
/// ptrace rights; processes that refuse are skipped). Zero and same-filled pages,
/// which rzs and zram store without the codec, are left out. No process gives more
/// than `max / 4` pages, so one large process does not make the whole class, and
/// none is read for more than `4 * max` pages.
pub fn process_pages(max: usize) -> Vec<[u8; PAGE]> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&p| p != std::process::id())
        .collect();
    pids.sort_unstable();
    let per = (max / 4).max(1);
    let mut out = Vec::new();
    for pid in pids {
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        let Ok(mem) = File::open(format!("/proc/{pid}/mem")) else {
            continue;
        };
        let mut got = 0;
        // Reads per process are bounded too: a VM's guest RAM (a QEMU running
        // beside the benchmark) is gigabytes of mostly untouched, zero pages, read
        // one at a time.
        let mut reads = 0;
        for line in maps.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let anon = f.len() == 5 || f.get(5).is_some_and(|p| *p == "[heap]" || *p == "[stack]");
            if f.len() < 5 || !f[1].starts_with("rw") || !anon {
                continue;
            }
            let Some((a, b)) = f[0].split_once('-') else {
                continue;
            };
            let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
                continue;
            };
            let mut off = a;
            while off + PAGE as u64 <= b && got < per && reads < 16 * per && out.len() < max {
                reads += 1;
                let mut p = [0u8; PAGE];
                if std::os::unix::fs::FileExt::read_exact_at(&mem, &mut p, off).is_ok()
                    && rzs_core::page::same_filled(&p).is_none()
                {
                    out.push(p);
                    got += 1;
                }
                off += PAGE as u64;
            }
        }
        if out.len() >= max {
            break;
        }
    }
    out
}

/// A corpus read back: its pages and, if the `.kinds` file is there, their kinds.
pub struct Corpus {
    /// The pages.
    pub pages: Vec<[u8; PAGE]>,
    /// The kind of each page (same length as `pages`), if known.
    pub kinds: Option<Vec<Kind>>,
}

/// The `.kinds` file that goes with a corpus.
pub fn kinds_path(corpus: &Path) -> PathBuf {
    let mut s = corpus.as_os_str().to_owned();
    s.push(".kinds");
    PathBuf::from(s)
}

impl Corpus {
    /// Reads a corpus file (its length must be a whole number of pages).
    pub fn load(path: &Path) -> std::io::Result<Corpus> {
        let data = std::fs::read(path)?;
        if data.is_empty() || data.len() % PAGE != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: not a whole number of 4 KiB pages", path.display()),
            ));
        }
        let pages = data
            .chunks_exact(PAGE)
            .map(|c| {
                let mut p = [0u8; PAGE];
                p.copy_from_slice(c);
                p
            })
            .collect::<Vec<_>>();
        let kinds = std::fs::read(kinds_path(path))
            .ok()
            .and_then(|k| {
                k.into_iter()
                    .map(Kind::from_code)
                    .collect::<Option<Vec<_>>>()
            })
            .filter(|k| k.len() == pages.len());
        Ok(Corpus { pages, kinds })
    }
}

/// Median of `v` (the mean of the middle two for an even count); 0 for none.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_follows_its_percentages() {
        let m = Mix::default();
        let mut counts = [0u32; 5];
        for i in 0..100_000 {
            let k = m.kind_of(i, 7);
            counts[Kind::ALL.iter().position(|&x| x == k).unwrap()] += 1;
        }
        for (c, p) in counts.iter().zip(m.0) {
            let pct = f64::from(*c) / 1000.0;
            assert!((pct - f64::from(p)).abs() < 1.0, "{counts:?}");
        }
    }

    #[test]
    fn kind_codes_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Kind::from_code(b'x'), None);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn synthetic_pages_are_what_they_say() {
        let s = Sources {
            binary: vec![],
            text: vec![],
            compressed: vec![],
        };
        let mut p = [1u8; PAGE];
        assert!(make_page(&s, Kind::Zero, 1, 1, &mut p));
        assert!(p.iter().all(|&b| b == 0));
        assert!(make_page(&s, Kind::Same, 2, 1, &mut p));
        assert!(rzs_core::page::same_filled(&p).is_some_and(|w| w != 0));
        assert!(!make_page(&s, Kind::Binary, 3, 1, &mut p));
    }

    #[test]
    fn heap_pages_are_deterministic_compressible_and_not_same_filled() {
        let (mut a, mut b) = ([0u8; PAGE], [0u8; PAGE]);
        let mut c = Box::<rzs_core::codec::Compressor>::new_uninit();
        let c = rzs_core::codec::Compressor::init_in_place(&mut c);
        let mut sizes = Vec::new();
        for i in 0..200 {
            heap_page(i, 3, &mut a);
            heap_page(i, 3, &mut b);
            assert_eq!(a, b);
            assert!(rzs_core::page::same_filled(&a).is_none());
            sizes.push(match c.compress_max(&a, PAGE) {
                rzs_core::codec::Encoded::Compressed(s) => s.len(),
                rzs_core::codec::Encoded::Incompressible => PAGE,
            });
        }
        heap_page(1, 4, &mut b);
        heap_page(1, 3, &mut a);
        assert_ne!(a, b);
        // Anonymous memory compresses, but not like text or zeros: 1.5-5x.
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((PAGE / 5..PAGE * 2 / 3).contains(&mean), "mean {mean}");
    }
}
