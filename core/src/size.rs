// SPDX-License-Identifier: GPL-2.0
//! Human-readable sizes, shared by the module parameters and the userspace tool.
//!
//! # Parsing
//!
//! [`parse_size`] accepts a decimal integer with an optional unit suffix:
//!
//! * the unit letter `K`, `M`, `G`, `T`, `P` or `E` (any case), a binary multiple
//!   (1024, 1024², ...), optionally followed by `iB` or `B` (any case): `64K`,
//!   `64KiB`, `64kb` and `64KB` all mean 65536;
//! * or `B` alone for bytes (`4096B`), or no suffix at all (`4096`).
//!
//! Surrounding ASCII whitespace (including the trailing newline `echo` leaves in a
//! sysfs or parameter string) is ignored. Nothing else is accepted: no sign, no
//! space between number and suffix, and no fractions (`1.5G` is [`SizeError::Invalid`];
//! write `1536M`), so that the parser needs no floating point and every accepted
//! string names an exact byte count.
//!
//! # Formatting
//!
//! [`format_size`] (and the [`HumanSize`] wrapper) print sizes the way util-linux's
//! `size_to_human_string` does for `zramctl` (one-letter suffix, no locale): the
//! largest binary unit (`B K M G T P E`) not larger than the value, then at most
//! one decimal digit, rounded half up from the first three digits of the fraction
//! and left out when it rounds to 0. So `0B`, `1023B`, `4K`, `1.5M`, `12.3G`.
//! Like util-linux, a fraction that rounds up to a whole unit carries into the
//! integer part without changing the unit (`1048575` prints as `1024K`, not `1M`).
//! Only integer arithmetic is used (the kernel has no floating point).

use core::fmt;

/// Why a size string was rejected by [`parse_size`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeError {
    /// The string is empty or all whitespace.
    Empty,
    /// Not a decimal integer with an optional known suffix (this includes negative
    /// numbers and fractions).
    Invalid,
    /// The size does not fit in 64 bits.
    Overflow,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SizeError::Empty => "empty size",
            SizeError::Invalid => {
                "invalid size: expected a whole number with an optional K, M, G, T, P or E suffix"
            }
            SizeError::Overflow => "size too large",
        })
    }
}

/// Parses a size such as `4G`, `512M`, `64KiB`, `1gb` or `4096` into bytes.
///
/// See the module documentation for the accepted syntax.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let s = s.trim_ascii().as_bytes();
    if s.is_empty() {
        return Err(SizeError::Empty);
    }
    let ndigits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let (digits, suffix) = match (s.get(..ndigits), s.get(ndigits..)) {
        (Some(d), Some(x)) if !d.is_empty() => (d, x),
        _ => return Err(SizeError::Invalid),
    };
    // Check the suffix before the magnitude, so garbage is reported as such.
    let shift = suffix_shift(suffix).ok_or(SizeError::Invalid)?;
    let mut n: u64 = 0;
    for d in digits {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d.wrapping_sub(b'0'))))
            .ok_or(SizeError::Overflow)?;
    }
    n.checked_mul(1u64 << shift).ok_or(SizeError::Overflow)
}

/// The power of two a suffix multiplies by, or `None` if it is not a known suffix.
fn suffix_shift(suffix: &[u8]) -> Option<u32> {
    let (unit, rest) = match suffix.split_first() {
        None => return Some(0),
        Some((b'b' | b'B', [])) => return Some(0),
        Some(x) => x,
    };
    let shift = match unit.to_ascii_uppercase() {
        b'K' => 10,
        b'M' => 20,
        b'G' => 30,
        b'T' => 40,
        b'P' => 50,
        b'E' => 60,
        _ => return None,
    };
    match rest {
        [] | [b'b' | b'B'] | [b'i' | b'I', b'b' | b'B'] => Some(shift),
        _ => None,
    }
}

/// Unit letters, indexed by the power of 1024.
const UNITS: [char; 7] = ['B', 'K', 'M', 'G', 'T', 'P', 'E'];

/// Writes `bytes` as a human-readable size (`0B`, `4K`, `1.5M`, `12.3G`).
///
/// See the module documentation for the exact rule.
pub fn format_size(bytes: u64, out: &mut impl fmt::Write) -> fmt::Result {
    // The largest power of 1024 (as a bit shift) not above `bytes`, 0 for < 1024.
    let mut shift: u32 = 0;
    while shift < 60 && bytes >> shift >> 10 != 0 {
        shift = shift.saturating_add(10);
    }
    let unit = UNITS.get((shift / 10) as usize).copied().unwrap_or('?');
    let mut int = bytes >> shift;
    let rem = bytes & !(u64::MAX << shift);
    // Thousandths of the unit, truncated, then rounded half up to tenths.
    let thousandths = match rem.checked_mul(1000) {
        Some(r) => r >> shift,
        // Only for the largest unit (rem > 2^54, so shift is 60): drop 10 bits first.
        None => (rem >> 10).saturating_mul(1000) >> shift.saturating_sub(10),
    };
    let mut tenths = thousandths.saturating_add(50) / 100;
    if tenths >= 10 {
        int = int.saturating_add(1);
        tenths = 0;
    }
    if tenths == 0 {
        write!(out, "{int}{unit}")
    } else {
        write!(out, "{int}.{tenths}{unit}")
    }
}

/// A byte count that displays as a human-readable size (see [`format_size`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanSize(pub u64);

impl fmt::Display for HumanSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_size(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};

    const K: u64 = 1 << 10;
    const M: u64 = 1 << 20;
    const G: u64 = 1 << 30;
    const T: u64 = 1 << 40;
    const P: u64 = 1 << 50;
    const E: u64 = 1 << 60;

    fn human(n: u64) -> String {
        let mut s = String::new();
        format_size(n, &mut s).unwrap();
        assert_eq!(s, HumanSize(n).to_string());
        s
    }

    #[test]
    fn parses_plain_numbers() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("000123"), Ok(123));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size("4096b"), Ok(4096));
    }

    #[test]
    fn parses_suffixes() {
        for (s, n) in [
            ("4G", 4 * G),
            ("512M", 512 * M),
            ("64KiB", 64 * K),
            ("64kib", 64 * K),
            ("64KIB", 64 * K),
            ("64K", 64 * K),
            ("64k", 64 * K),
            ("64KB", 64 * K),
            ("1gb", G),
            ("1Gb", G),
            ("2T", 2 * T),
            ("3TiB", 3 * T),
            ("5p", 5 * P),
            ("15E", 15 * E),
            ("15EiB", 15 * E),
            ("0G", 0),
            ("16383P", 16383 * P),
        ] {
            assert_eq!(parse_size(s), Ok(n), "{s}");
        }
    }

    #[test]
    fn ignores_surrounding_whitespace() {
        assert_eq!(parse_size("4G\n"), Ok(4 * G));
        assert_eq!(parse_size("  512M \t\n"), Ok(512 * M));
        assert_eq!(parse_size("\r\n1K\r\n"), Ok(K));
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(parse_size(""), Err(SizeError::Empty));
        assert_eq!(parse_size("\n"), Err(SizeError::Empty));
        assert_eq!(parse_size(" \t \n"), Err(SizeError::Empty));
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "-1",
            "-0",
            "+1",
            "G",
            "KiB",
            "B",
            "1.5G",
            "1,5G",
            "1 G",
            "1X",
            "1KK",
            "1Ki",
            "1iB",
            "1KiBB",
            "1KBi",
            "0x10",
            "1e3",
            "4G4",
            "4 096",
            "١٢",
            "4Ｇ",
            "∞",
            "1\u{0}",
            "1_000",
            "1KiB\n\nx",
        ] {
            assert_eq!(parse_size(s), Err(SizeError::Invalid), "{s:?}");
        }
        // Garbage wins over magnitude.
        assert_eq!(
            parse_size("99999999999999999999999X"),
            Err(SizeError::Invalid)
        );
    }

    #[test]
    fn rejects_overflow() {
        assert_eq!(parse_size("18446744073709551616"), Err(SizeError::Overflow));
        assert_eq!(
            parse_size("99999999999999999999999"),
            Err(SizeError::Overflow)
        );
        assert_eq!(parse_size("16E"), Err(SizeError::Overflow));
        assert_eq!(parse_size("16384P"), Err(SizeError::Overflow));
        assert_eq!(parse_size("17179869184G"), Err(SizeError::Overflow));
        assert_eq!(parse_size("17179869183G"), Ok(17179869183 * G));
    }

    #[test]
    fn errors_display() {
        assert_eq!(SizeError::Empty.to_string(), "empty size");
        assert_eq!(SizeError::Overflow.to_string(), "size too large");
        assert!(SizeError::Invalid.to_string().starts_with("invalid size"));
    }

    #[test]
    fn formats_like_zramctl() {
        for (n, s) in [
            (0, "0B"),
            (1, "1B"),
            (1023, "1023B"),
            (K, "1K"),
            (4 * K, "4K"),
            (K + 51, "1K"),      // 0.0498 -> .0
            (K + 52, "1.1K"),    // 0.0507 -> .1
            (3 * M / 2, "1.5M"), // exactly .5
            (4 * G, "4G"),
            (12 * G + 3 * G / 10 + 1, "12.3G"),
            (100 * G + G / 2, "100.5G"),
            (1023 * M, "1023M"),
            (M - 1, "1024K"), // rounds into the integer part, unit kept
            (G - M, "1023M"),
            (5 * T + T / 4, "5.3T"), // .25 -> .3 (half up)
            (7 * P, "7P"),
            (E, "1E"),
            (15 * E + E / 2, "15.5E"),
            (u64::MAX, "16E"),
            (u64::MAX - E / 2, "15.5E"),
        ] {
            assert_eq!(human(n), s, "{n}");
        }
    }

    #[test]
    fn formatted_whole_units_parse_back() {
        for n in [0, 1, 1023, K, 4 * K, 512 * M, 4 * G, 3 * T, 9 * P, 15 * E] {
            assert_eq!(parse_size(&human(n)), Ok(n), "{n}");
        }
    }

    #[test]
    fn formatting_never_panics_and_is_close() {
        // Every power of two, and its neighbours: the printed value is within 5% of
        // the unit (one rounded decimal) of the real one.
        for bit in 0..64 {
            for n in [
                (1u64 << bit) - 1,
                1u64 << bit,
                (1u64 << bit) | 1,
                (1u64 << bit) | ((1u64 << bit) >> 1),
            ] {
                let s = human(n);
                let (num, unit) = s.split_at(s.len() - 1);
                let exp = UNITS.iter().position(|u| u.to_string() == unit).unwrap() as u32;
                let (i, t) = match num.split_once('.') {
                    Some((i, t)) => (i.parse::<u128>().unwrap(), t.parse::<u128>().unwrap()),
                    None => (num.parse::<u128>().unwrap(), 0),
                };
                let shown = (i * 10 + t) << (10 * exp);
                let real = u128::from(n) * 10;
                let tol = 1u128 << (10 * exp);
                assert!(shown.abs_diff(real) <= tol, "{n} -> {s}");
            }
        }
    }
}
