// SPDX-License-Identifier: GPL-2.0
//! The boot-time configuration, `/etc/rzs.conf`, read by `rzsctl setup` and
//! `rzsctl teardown` (what zram-generator's `zram-generator.conf` is to zram).
//!
//! ```text
//! # one section per device
//! [rzs0]
//! size = min(ram / 2, 4096)   # MiB; `ram` is the machine's RAM in MiB
//! mem-limit = ram / 4         # MiB (0 or absent: no limit)
//! swap-priority = 100         # -1 to 32767 (default 100)
//! ```
//!
//! Sizes are expressions in MiB, as zram-generator's `zram-size`: numbers (a
//! number may carry a binary unit, `4G` = 4096, `512K` = 0.5), `ram`, `+ - * /`,
//! parentheses, `min(a, b, …)` and `max(a, b, …)`. A size of 0 leaves the device
//! out. Lines are `key = value`; `#` and `;` start comments. Anything else is an
//! error that names its line: setup changes nothing when the file is wrong.

use std::fmt;

/// The highest swap priority `swapon` accepts.
pub const MAX_PRIORITY: i32 = 32767;
/// The priority a device gets when the config names none (zram-generator's too).
pub const DEFAULT_PRIORITY: i32 = 100;

/// One `[rzsN]` section.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceConfig {
    /// N of `rzsN`.
    pub index: u32,
    /// The size expression, checked but not evaluated (it depends on the RAM).
    pub size: Expr,
    /// The memory limit expression (0: none).
    pub mem_limit: Option<Expr>,
    pub swap_priority: i32,
    /// The line of the section header (for messages).
    pub line: usize,
}

/// What one device becomes, with `ram` known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevicePlan {
    pub index: u32,
    /// Bytes; 0: leave the device out.
    pub size: u64,
    /// Bytes; 0: no limit.
    pub mem_limit: u64,
    pub swap_priority: i32,
}

/// A config file error: the line and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn err(line: usize, message: impl Into<String>) -> ConfigError {
    ConfigError {
        line,
        message: message.into(),
    }
}

/// Parses a whole config file: the devices by index.
pub fn parse(text: &str) -> Result<Vec<DeviceConfig>, ConfigError> {
    let mut devices: Vec<DeviceConfig> = Vec::new();
    // The section being read: its index in `devices` and whether it has a size.
    let mut cur: Option<(usize, bool)> = None;
    let finish = |devices: &[DeviceConfig], cur: Option<(usize, bool)>| match cur {
        Some((i, false)) => Err(err(
            devices[i].line,
            format!("[rzs{}] has no size", devices[i].index),
        )),
        _ => Ok(()),
    };
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let l = strip_comment(raw).trim();
        if l.is_empty() {
            continue;
        }
        if let Some(rest) = l.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| err(line, format!("a section header needs a closing ']': {l}")))?
                .trim();
            let index = crate::dev::rzs_index(name).ok_or_else(|| {
                err(
                    line,
                    format!("[{name}]: sections name devices, rzs0 to rzs255"),
                )
            })?;
            if index > 255 {
                return Err(err(line, format!("[{name}]: rzs devices go up to rzs255")));
            }
            if devices.iter().any(|d| d.index == index) {
                return Err(err(line, format!("[{name}] appears twice")));
            }
            finish(&devices, cur)?;
            devices.push(DeviceConfig {
                index,
                size: Expr::Num(0.0),
                mem_limit: None,
                swap_priority: DEFAULT_PRIORITY,
                line,
            });
            cur = Some((devices.len() - 1, false));
            continue;
        }
        let (key, value) = l
            .split_once('=')
            .ok_or_else(|| err(line, format!("expected 'key = value' or '[rzsN]': {l}")))?;
        let (key, value) = (key.trim(), value.trim());
        let Some((i, has_size)) = cur.as_mut() else {
            return Err(err(line, format!("'{key}' before any [rzsN] section")));
        };
        let dev = &mut devices[*i];
        let expr = |v: &str| Expr::parse(v).map_err(|m| err(line, format!("{key}: {m}")));
        match key {
            "size" => {
                dev.size = expr(value)?;
                *has_size = true;
            }
            "mem-limit" => dev.mem_limit = Some(expr(value)?),
            "swap-priority" => {
                dev.swap_priority = value
                    .parse()
                    .ok()
                    .filter(|p| (-1..=MAX_PRIORITY).contains(p))
                    .ok_or_else(|| {
                        err(
                            line,
                            format!(
                            "swap-priority: {value:?} is not a number from -1 to {MAX_PRIORITY}"
                        ),
                        )
                    })?
            }
            _ => {
                return Err(err(
                    line,
                    format!("unknown key '{key}' (known: size, mem-limit, swap-priority)"),
                ))
            }
        }
    }
    finish(&devices, cur)?;
    devices.sort_by_key(|d| d.index);
    Ok(devices)
}

fn strip_comment(l: &str) -> &str {
    match l.find(['#', ';']) {
        Some(i) => &l[..i],
        None => l,
    }
}

impl DeviceConfig {
    /// The device with `ram_mib` of RAM: sizes in bytes, rounded down to whole
    /// 4 KiB pages. Errors name the config line.
    pub fn plan(&self, ram_mib: f64) -> Result<DevicePlan, ConfigError> {
        let bytes = |what: &str, e: &Expr| -> Result<u64, ConfigError> {
            let mib = e
                .eval(ram_mib)
                .map_err(|m| err(self.line, format!("[rzs{}] {what}: {m}", self.index)))?;
            if !mib.is_finite() || mib < 0.0 {
                return Err(err(
                    self.line,
                    format!(
                        "[rzs{}] {what} is {mib} MiB: it must be 0 or more",
                        self.index
                    ),
                ));
            }
            let b = mib * 1048576.0;
            if b >= u64::MAX as f64 {
                return Err(err(
                    self.line,
                    format!("[rzs{}] {what} is too large", self.index),
                ));
            }
            Ok((b as u64) & !4095)
        };
        Ok(DevicePlan {
            index: self.index,
            size: bytes("size", &self.size)?,
            mem_limit: match &self.mem_limit {
                Some(e) => bytes("mem-limit", e)?,
                None => 0,
            },
            swap_priority: self.swap_priority,
        })
    }
}

/// A size expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Ram,
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Min(Vec<Expr>),
    Max(Vec<Expr>),
}

impl Expr {
    /// Parses an expression (see the module documentation).
    pub fn parse(s: &str) -> Result<Expr, String> {
        let toks = tokenize(s)?;
        let mut p = Parser {
            toks,
            pos: 0,
            depth: 0,
        };
        let e = p.expr()?;
        match p.toks.get(p.pos) {
            None => Ok(e),
            Some(t) => Err(format!("unexpected {t} in {s:?}")),
        }
    }

    /// The value in MiB with `ram` MiB of RAM.
    pub fn eval(&self, ram: f64) -> Result<f64, String> {
        Ok(match self {
            Expr::Num(n) => *n,
            Expr::Ram => ram,
            Expr::Add(a, b) => a.eval(ram)? + b.eval(ram)?,
            Expr::Sub(a, b) => a.eval(ram)? - b.eval(ram)?,
            Expr::Mul(a, b) => a.eval(ram)? * b.eval(ram)?,
            Expr::Div(a, b) => {
                let d = b.eval(ram)?;
                if d == 0.0 {
                    return Err("division by zero".into());
                }
                a.eval(ram)? / d
            }
            Expr::Neg(a) => -a.eval(ram)?,
            Expr::Min(v) => v
                .iter()
                .map(|e| e.eval(ram))
                .try_fold(f64::INFINITY, |m, x| x.map(|x| m.min(x)))?,
            Expr::Max(v) => v
                .iter()
                .map(|e| e.eval(ram))
                .try_fold(f64::NEG_INFINITY, |m, x| x.map(|x| m.max(x)))?,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(char),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(n) => write!(f, "{n}"),
            Tok::Ident(s) => write!(f, "'{s}'"),
            Tok::Op(c) => write!(f, "'{c}'"),
        }
    }
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == b'.' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let n: f64 = s[start..i]
                .parse()
                .map_err(|_| format!("bad number {:?}", &s[start..i]))?;
            // An optional binary unit right after the number, as in 4G or 512KiB.
            let ustart = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let mib = match &s[ustart..i] {
                "" | "M" | "MiB" => 1.0,
                "K" | "KiB" => 1.0 / 1024.0,
                "G" | "GiB" => 1024.0,
                "T" | "TiB" => 1024.0 * 1024.0,
                u => {
                    return Err(format!(
                        "unknown unit {u:?} (K, M, G, T; a bare number is MiB)"
                    ))
                }
            };
            toks.push(Tok::Num(n * mib));
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            toks.push(Tok::Ident(s[start..i].to_string()));
        } else if b"+-*/(),".contains(&c) {
            toks.push(Tok::Op(c as char));
            i += 1;
        } else {
            let ch = s[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected character {ch:?}"));
        }
    }
    if toks.is_empty() {
        return Err("empty expression".into());
    }
    Ok(toks)
}

/// A recursive-descent parser; `depth` bounds the nesting.
struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: u32,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Op(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// One level deeper (a parenthesis, an argument, a minus sign), at most 64.
    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("expression nested too deeply".into());
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.nest()?;
        let mut e = self.term()?;
        loop {
            if self.eat('+') {
                e = Expr::Add(Box::new(e), Box::new(self.term()?));
            } else if self.eat('-') {
                e = Expr::Sub(Box::new(e), Box::new(self.term()?));
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(e)
    }

    fn term(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        loop {
            if self.eat('*') {
                e = Expr::Mul(Box::new(e), Box::new(self.unary()?));
            } else if self.eat('/') {
                e = Expr::Div(Box::new(e), Box::new(self.unary()?));
            } else {
                break;
            }
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat('-') {
            self.nest()?;
            let e = Expr::Neg(Box::new(self.unary()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let t = self
            .peek()
            .cloned()
            .ok_or("the expression ends too early")?;
        self.pos += 1;
        match t {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Op('(') => {
                let e = self.expr()?;
                if !self.eat(')') {
                    return Err("missing ')'".into());
                }
                Ok(e)
            }
            Tok::Ident(name) => match name.as_str() {
                "ram" => Ok(Expr::Ram),
                "min" | "max" => {
                    if !self.eat('(') {
                        return Err(format!("{name} needs arguments: {name}(a, b)"));
                    }
                    let mut args = vec![self.expr()?];
                    while self.eat(',') {
                        args.push(self.expr()?);
                    }
                    if !self.eat(')') {
                        return Err("missing ')'".into());
                    }
                    Ok(if name == "min" {
                        Expr::Min(args)
                    } else {
                        Expr::Max(args)
                    })
                }
                _ => Err(format!("unknown name '{name}' (known: ram, min, max)")),
            },
            t => Err(format!("unexpected {t}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str, ram: f64) -> f64 {
        Expr::parse(s).unwrap().eval(ram).unwrap()
    }

    #[test]
    fn expressions() {
        assert_eq!(ev("min(ram / 2, 4096)", 16384.0), 4096.0);
        assert_eq!(ev("min(ram / 2, 4096)", 2048.0), 1024.0);
        assert_eq!(ev("max(ram / 4, 512, 100)", 1024.0), 512.0);
        assert_eq!(ev("1 + 2 * 3", 0.0), 7.0);
        assert_eq!(ev("(1 + 2) * 3", 0.0), 9.0);
        assert_eq!(ev("10 - 4 - 3", 0.0), 3.0);
        assert_eq!(ev("64 / 4 / 2", 0.0), 8.0);
        assert_eq!(ev("-2 + 5", 0.0), 3.0);
        assert_eq!(ev("ram * 0.25", 8000.0), 2000.0);
        assert_eq!(ev("4G", 0.0), 4096.0);
        assert_eq!(ev("512K + 1.5M", 0.0), 2.0);
        assert_eq!(ev("min(ram, 1T)", 8.0), 8.0);
        assert_eq!(ev("  ram  ", 3.0), 3.0);
    }

    #[test]
    fn bad_expressions() {
        for (s, want) in [
            ("", "empty"),
            ("ram /", "ends too early"),
            ("ram ram", "unexpected 'ram'"),
            ("(ram", "missing ')'"),
            ("min(ram, 2", "missing ')'"),
            ("min ram", "needs arguments"),
            ("swap / 2", "unknown name 'swap'"),
            ("4X", "unknown unit"),
            ("1..2", "bad number"),
            ("ram % 2", "unexpected character '%'"),
            (")", "unexpected ')'"),
        ] {
            let e = Expr::parse(s).unwrap_err();
            assert!(e.contains(want), "{s:?}: {e}");
        }
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(Expr::parse(&deep)
            .unwrap_err()
            .contains("nested too deeply"));
        let neg = format!("{}1", "-".repeat(100));
        assert!(Expr::parse(&neg).unwrap_err().contains("nested too deeply"));
        assert!(Expr::parse("1 / (ram - ram)")
            .unwrap()
            .eval(5.0)
            .unwrap_err()
            .contains("division by zero"));
    }

    const EXAMPLE: &str = "\
# rzs devices set up at boot
[rzs0]
size = min(ram / 2, 4096)   # MiB
mem-limit = ram / 4
swap-priority = 100

; a second, smaller one
[ rzs2 ]
size=256
swap-priority = -1
";

    #[test]
    fn parses_a_config() {
        let d = parse(EXAMPLE).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].index, d[0].swap_priority, d[0].line), (0, 100, 2));
        assert_eq!(
            (d[1].index, d[1].swap_priority, d[1].mem_limit.clone()),
            (2, -1, None)
        );
        let p = d[0].plan(8192.0).unwrap();
        assert_eq!(
            p,
            DevicePlan {
                index: 0,
                size: 4096 << 20,
                mem_limit: 2048 << 20,
                swap_priority: 100
            }
        );
        let p = d[0].plan(1000.0).unwrap();
        assert_eq!((p.size, p.mem_limit), (500 << 20, 250 << 20));
        // Rounded down to whole pages.
        let d = parse("[rzs1]\nsize = ram / 3\n").unwrap();
        assert_eq!(d[0].plan(1.0).unwrap().size, 85 * 4096);
        assert_eq!(parse("").unwrap(), vec![]);
        // Sorted by index.
        let d = parse("[rzs3]\nsize=1\n[rzs1]\nsize=1\n").unwrap();
        assert_eq!(d.iter().map(|d| d.index).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn the_shipped_example_parses() {
        let d = parse(include_str!("../../../rzs.conf.example")).unwrap();
        assert_eq!(d.len(), 1);
        let p = d[0].plan(16384.0).unwrap();
        assert_eq!(
            (p.size, p.mem_limit, p.swap_priority),
            (4096 << 20, 4096 << 20, 100)
        );
    }

    #[test]
    fn config_errors_name_the_line() {
        for (text, line, want) in [
            ("[rzs0]\nsize = 1\nsize2 = 3\n", 3, "unknown key 'size2'"),
            ("size = 1\n", 1, "before any [rzsN] section"),
            ("[zram0]\nsize = 1\n", 1, "sections name devices"),
            ("[rzs256]\nsize = 1\n", 1, "go up to rzs255"),
            ("[rzs0\nsize = 1\n", 1, "closing ']'"),
            ("[rzs0]\nsize = 1\n[rzs0]\nsize = 2\n", 3, "appears twice"),
            (
                "[rzs0]\nmem-limit = 1\n[rzs1]\nsize = 1\n",
                1,
                "[rzs0] has no size",
            ),
            ("[rzs0]\n", 1, "[rzs0] has no size"),
            (
                "[rzs0]\nsize = 1\nswap-priority = 40000\n",
                3,
                "swap-priority",
            ),
            (
                "[rzs0]\nsize = 1\nswap-priority = high\n",
                3,
                "swap-priority",
            ),
            ("[rzs0]\nsize = 1\njunk\n", 3, "expected 'key = value'"),
            ("[rzs0]\nsize = min(ram\n", 2, "size: missing ')'"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn plans_reject_negative_and_huge_sizes() {
        let d = parse("[rzs0]\nsize = ram - 100\n").unwrap();
        let e = d[0].plan(50.0).unwrap_err();
        assert!(e.message.contains("it must be 0 or more"), "{e}");
        assert_eq!(e.line, 1);
        assert_eq!(d[0].plan(100.0).unwrap().size, 0);
        let d = parse("[rzs0]\nsize = 1T * 1T * 1T\n").unwrap();
        assert!(d[0].plan(1.0).unwrap_err().message.contains("too large"));
    }
}
