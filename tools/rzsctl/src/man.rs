// SPDX-License-Identifier: GPL-2.0
//! The man page and shell completions, generated from the clap definition.

use std::io::{self, Write};

use clap_complete::Shell;
use clap_mangen::Man;

use crate::cli::{command, EXAMPLES};
use crate::error::EXIT_STATUS;
use crate::output::{Column, DEFAULT_COLUMNS};

/// Escapes text for roff: backslashes, hyphens (so they are not hyphenation points)
/// and a leading dot or quote.
fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with(['.', '\'']) {
        format!("\\&{s}")
    } else {
        s
    }
}

/// Writes `rzsctl(8)`: clap_mangen's sections, then COLUMNS, EXIT STATUS, EXAMPLES
/// and SEE ALSO.
pub fn render_man(w: &mut dyn Write) -> io::Result<()> {
    let mut man_cmd = command().disable_help_subcommand(true);
    man_cmd.build();
    let man = Man::new(man_cmd.clone())
        .section("8")
        .manual("System Administration");
    let mut head = Vec::new();
    man.render_title(&mut head)?;
    man.render_name_section(&mut head)?;
    man.render_synopsis_section(&mut head)?;
    man.render_description_section(&mut head)?;
    man.render_options_section(&mut head)?;
    // The subcommands in this page (there is no rzsctl-stats(8)): each with its
    // synopsis, description and options.
    writeln!(head, ".SH SUBCOMMANDS")?;
    for sub in man_cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = sub.get_name();
        let usage = sub
            .clone()
            .bin_name(format!("rzsctl {name}"))
            .render_usage()
            .to_string();
        let usage = usage.trim_start_matches("Usage: ").trim();
        writeln!(head, ".SS \"{}\"", roff(usage))?;
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|a| a.to_string());
        writeln!(head, "{}", roff(&about.unwrap_or_default()))?;
        let mut opts = Vec::new();
        Man::new(sub.clone()).render_options_section(&mut opts)?;
        for line in String::from_utf8_lossy(&opts).lines() {
            if !line.starts_with(".SH") {
                writeln!(head, "{line}")?;
            }
        }
    }
    let mut version = Vec::new();
    man.render_version_section(&mut version)?;
    // Each clap_mangen section starts with the same two-line preamble (defining the
    // Aq string): keep the one before .TH.
    let mut text = String::from_utf8_lossy(&head).into_owned();
    text += &String::from_utf8_lossy(&version);
    let mut after_title = false;
    let mut emit = |w: &mut dyn Write, line: &str| -> io::Result<()> {
        let preamble = line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq");
        after_title |= line.starts_with(".TH ");
        if preamble && after_title {
            return Ok(());
        }
        writeln!(w, "{line}")
    };
    let (body, version) = text.split_at(text.rfind(".SH VERSION").unwrap_or(text.len()));
    for line in body.lines() {
        emit(w, line)?;
    }

    writeln!(w, ".SH COLUMNS")?;
    let defaults: Vec<&str> = DEFAULT_COLUMNS.iter().map(|c| c.header()).collect();
    writeln!(
        w,
        "Columns for \\fB\\-\\-output\\fR (any case). Without it: {}.",
        roff(&defaults.join(", "))
    )?;
    for &c in Column::all() {
        writeln!(w, ".TP\n\\fB{}\\fR\n{}", roff(c.header()), roff(&c.help()))?;
    }
    writeln!(w, ".SH \"EXIT STATUS\"")?;
    for (code, what) in EXIT_STATUS {
        writeln!(w, ".TP\n\\fB{code}\\fR\n{}", roff(what))?;
    }
    writeln!(w, ".SH EXAMPLES")?;
    for (cmd, what) in EXAMPLES {
        writeln!(w, ".TP\n\\fB{}\\fR\n{}", roff(cmd), roff(what))?;
    }
    writeln!(w, ".SH FILES")?;
    for (file, what) in FILES {
        writeln!(w, ".TP\n\\fI{}\\fR\n{}", roff(file), roff(what))?;
    }
    writeln!(
        w,
        ".SH \"SEE ALSO\"\n\\fBzramctl\\fR(8), \\fBswapon\\fR(8), \\fBmkswap\\fR(8)"
    )?;
    for line in version.lines() {
        emit(w, line)?;
    }
    Ok(())
}

/// (file, what it is), for the FILES section.
const FILES: &[(&str, &str)] = &[
    (
        "/etc/rzs.conf",
        "The devices rzsctl setup makes swap (at boot, from rzs-setup.service). One [rzsN] \
         section per device, with: size, in MiB: a number or an expression of ram (the \
         machine's RAM in MiB), + - * / ( ), min(...) and max(...), where a number may carry \
         a binary unit (4G = 4096); 0 leaves the device out. mem-limit, in MiB, the same \
         way (default: none). swap-priority, -1 to 32767 (default 100). Lines are \
         key = value; # and ; start comments. Example: [rzs0] size = min(ram / 2, 4096).",
    ),
    (
        "/sys/class/rzs-control/hot_add, hot_remove",
        "Reading hot_add adds a device and prints its index; writing an index to hot_remove \
         removes that device (what --find and remove use).",
    ),
    (
        "/sys/block/rzsN/",
        "zram's files (disksize, reset, mem_limit, mm_stat, io_stat, compact, ...), and \
         rzs_stat: every counter as name value lines, readable by anyone, which rzsctl \
         reads when it cannot open the device node.",
    ),
];

/// Writes completions for `shell`.
pub fn render_completions(shell: Shell, w: &mut dyn Write) {
    let mut cmd = command();
    clap_complete::generate(shell, &mut cmd, "rzsctl", w);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_has_every_section() {
        let mut out = Vec::new();
        render_man(&mut out).unwrap();
        let man = String::from_utf8(out).unwrap();
        assert!(man.contains("\n.TH rzsctl 8 "), "{man}");
        assert_eq!(man.matches(".ds Aq").count(), 2, "one preamble");
        for s in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH DESCRIPTION",
            ".SH OPTIONS",
            ".SH SUBCOMMANDS",
            ".SS \"rzsctl stats [OPTIONS] <DEVICE>\"",
            ".SH COLUMNS",
            ".SH \"EXIT STATUS\"",
            ".SH EXAMPLES",
            ".SH FILES",
            "/etc/rzs.conf",
            "\\fBNOTIFY\\-FREE\\fR",
            "\\-\\-mem\\-limit",
        ] {
            assert!(man.contains(s), "{s} missing");
        }
        // The hidden generator is not documented.
        assert!(!man.contains("generate"));
    }

    #[test]
    fn completions_for_every_shell() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut out = Vec::new();
            render_completions(shell, &mut out);
            let s = String::from_utf8(out).unwrap();
            assert!(s.contains("rzsctl") && s.contains("mem-limit"), "{shell}");
        }
    }

    #[test]
    fn roff_escapes() {
        assert_eq!(roff("a-b\\c"), "a\\-b\\ec");
        assert_eq!(roff(".x"), "\\&.x");
    }
}
