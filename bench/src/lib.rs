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
}
