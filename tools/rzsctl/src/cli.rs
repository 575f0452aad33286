// SPDX-License-Identifier: GPL-2.0
//! The command line, defined once with clap: parsing, `--help`, the man page and the
//! shell completions all come from it.

use std::time::Duration;

use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use rzs_core::size::parse_size;

use crate::error::EXIT_STATUS;
use crate::output::{Column, DEFAULT_COLUMNS};

const ABOUT: &str = "Set up and inspect rzs compressed-RAM swap devices";

const LONG_ABOUT: &str = "\
Set up and inspect rzs compressed-RAM swap devices (/dev/rzsN), like zramctl.

Without a DEVICE, lists every rzs device as a table. With a DEVICE and --size, \
--mem-limit, --reset or --compact, configures it (reset first, then size, then \
limit, then compaction); with a \
DEVICE alone, shows its line of the table. `rzsctl stats DEVICE` shows every \
counter of one device. --find picks a free device (adding one if needed) \
instead of a named one; `rzsctl remove DEVICE` removes one.

DEVICE is a device node such as /dev/rzs0, or just rzs0. SIZE is a whole number \
of bytes with an optional binary suffix: 4G, 512M, 64KiB, 4096.

Listing and statistics read the device node, or sysfs for a user who may not \
open it; --size, --mem-limit, --reset, --compact, --find and remove need \
CAP_SYS_ADMIN.";

/// The help text's closing part: exit statuses and examples.
pub fn after_help() -> String {
    let mut s = String::from("Columns (for --output; * = shown by default):\n");
    for &c in Column::all() {
        let star = if DEFAULT_COLUMNS.contains(&c) {
            "*"
        } else {
            " "
        };
        s += &format!("  {:<12}{star} {}\n", c.header(), c.help());
    }
    s += "\nExit status:\n";
    for (code, what) in EXIT_STATUS {
        s += &format!("  {code}  {what}\n");
    }
    s += "\nExamples:\n";
    for (cmd, what) in EXAMPLES {
        s += &format!("  {cmd}\n      {what}\n");
    }
    s
}

/// (command, what it does), for `--help` and the man page.
pub const EXAMPLES: &[(&str, &str)] = &[
    ("rzsctl", "list every device"),
    (
        "rzsctl /dev/rzs0 --size 4G --mem-limit 1G",
        "give rzs0 a size of 4 GiB, using at most 1 GiB of memory",
    ),
    (
        "rzsctl -o NAME,DATA,COMPR,RATIO --bytes",
        "chosen columns, in bytes",
    ),
    (
        "rzsctl stats rzs0 --watch",
        "every counter of rzs0, refreshed each second",
    ),
    (
        "rzsctl --reset rzs0",
        "free everything rzs0 holds and return it to size 0",
    ),
    (
        "rzsctl rzs0 --compact",
        "give back the pool memory that freed pages left sparse",
    ),
    (
        "rzsctl --find --size 2G",
        "size the first free device (or a new one) and print its path",
    ),
    ("rzsctl remove rzs1", "remove rzs1 (it must not be in use)"),
    (
        "rzsctl setup",
        "make the devices of /etc/rzs.conf swap (what rzs-setup.service runs at boot)",
    ),
];

/// Parses a SIZE with rzs-core's parser (the one the module parameters use).
fn size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

/// Parses a `--watch` interval in seconds (fractions allowed), at least 0.1 s.
fn interval_arg(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("not a number of seconds: {s:?}"))?;
    if !(0.1..=86400.0).contains(&secs) {
        return Err("the interval must be 0.1 to 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Debug, Parser)]
#[command(
    name = "rzsctl",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = after_help(),
    args_conflicts_with_subcommands = true,
    group(ArgGroup::new("action").multiple(true).args(["size", "mem_limit", "reset", "compact", "find", "backing_dev"])),
    group(ArgGroup::new("target").args(["device", "find"])),
    group(ArgGroup::new("view").multiple(true)
        .args(["bytes", "raw", "json", "output", "output_all", "noheadings", "watch"])
        .conflicts_with("action")),
)]
pub struct Cli {
    /// The device (/dev/rzsN or rzsN); without it, every device.
    #[arg(value_name = "DEVICE")]
    pub device: Option<String>,

    /// Give DEVICE a size (it must have none: reset it first); rounded up to 4K pages.
    #[arg(short, long, value_name = "SIZE", value_parser = size_arg, requires = "target")]
    pub size: Option<u64>,

    /// Limit the memory DEVICE may use (0: no limit).
    #[arg(short, long, value_name = "SIZE", value_parser = size_arg, requires = "target")]
    pub mem_limit: Option<u64>,

    /// Use the first free device (no size yet), or add one if there is none, and
    /// print its path; with --size and --mem-limit, set it up.
    #[arg(short, long, conflicts_with_all = ["device", "reset", "compact"])]
    pub find: bool,

    /// Free everything DEVICE holds and return it to size 0 (it must not be in use).
    #[arg(short, long, requires = "device")]
    pub reset: bool,

    /// Compact DEVICE's memory pool: give back the pages that frees left sparse.
    #[arg(long, requires = "device")]
    pub compact: bool,

    /// Write pages back to this block device (a file: through losetup) when told
    /// to (writeback); `none` unsets it. Only before --size; a reset releases it.
    #[arg(
        long,
        value_name = "PATH",
        requires = "device",
        conflicts_with = "find"
    )]
    pub backing_dev: Option<String>,

    #[command(flatten)]
    pub list: ListOpts,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options of the table view.
#[derive(Debug, Args)]
pub struct ListOpts {
    /// Print sizes in bytes rather than human-readable.
    #[arg(short, long)]
    pub bytes: bool,

    /// Raw output: no column alignment, fields separated by one space.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,

    /// JSON output: every counter of every device, sizes in bytes.
    #[arg(short = 'J', long)]
    pub json: bool,

    /// The columns to show, comma-separated (see the list below).
    #[arg(
        short,
        long,
        value_name = "COLS",
        value_delimiter = ',',
        ignore_case = true,
        hide_possible_values = true,
        conflicts_with_all = ["json", "output_all"]
    )]
    pub output: Vec<Column>,

    /// Show every column.
    #[arg(long, conflicts_with = "json")]
    pub output_all: bool,

    /// Leave out the heading line.
    #[arg(short, long, conflicts_with = "json")]
    pub noheadings: bool,

    /// Redraw the view in place every SECS seconds (default 1) until interrupted.
    #[arg(
        short,
        long,
        value_name = "SECS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1",
        value_parser = interval_arg,
        conflicts_with = "json"
    )]
    pub watch: Option<Duration>,
}

impl ListOpts {
    /// The columns asked for.
    pub fn columns(&self) -> Vec<Column> {
        if self.output_all {
            Column::all().to_vec()
        } else if self.output.is_empty() {
            DEFAULT_COLUMNS.to_vec()
        } else {
            self.output.clone()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show every counter of one device.
    Stats(StatsArgs),
    /// Remove a device (it must not be in use): /sys/class/rzs-control/hot_remove.
    Remove {
        /// The device (/dev/rzsN or rzsN).
        #[arg(value_name = "DEVICE")]
        device: String,
    },
    /// Make the devices of the config file swap (at boot, from rzs-setup.service):
    /// load the module, add, size, limit, mkswap and swapon each.
    Setup(ConfigArgs),
    /// Undo setup for the devices of the config file: swapoff, reset and remove each.
    Teardown(ConfigArgs),
    /// Write pages of DEVICE back to its backing device, packed several to a block,
    /// and free their memory. With no filter, every page held in RAM.
    Writeback(WritebackArgs),
    /// Mark every page DEVICE holds idle: writeback --idle takes those not read or
    /// written since.
    Idle {
        /// The device (/dev/rzsN or rzsN).
        #[arg(value_name = "DEVICE")]
        device: String,
    },
    /// Generate the man page or shell completions (for packaging).
    #[command(hide = true, subcommand)]
    Generate(Generate),
}

/// The config file of `setup` and `teardown`.
pub const DEFAULT_CONFIG: &str = "/etc/rzs.conf";

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The config file: one [rzsN] section per device, with size (MiB, an
    /// expression such as min(ram / 2, 4096)), mem-limit and swap-priority.
    #[arg(short, long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct WritebackArgs {
    /// The device (/dev/rzsN or rzsN).
    #[arg(value_name = "DEVICE")]
    pub device: String,

    /// Only pages not read or written since the last `rzsctl idle`.
    #[arg(long)]
    pub idle: bool,

    /// Only pages stored raw (lz4 could not shrink them).
    #[arg(long)]
    pub huge: bool,

    /// Only pages that compressed to more than 3/4 of a page.
    #[arg(long)]
    pub incompressible: bool,

    /// Only pages not accessed for N epochs (each `rzsctl idle` starts one), 0-192.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=192), default_value_t = 0)]
    pub min_age: u32,

    /// Write back at most N pages.
    #[arg(long, value_name = "N")]
    pub max_pages: Option<u64>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The device (/dev/rzsN or rzsN).
    #[arg(value_name = "DEVICE")]
    pub device: String,

    /// Print sizes in bytes only.
    #[arg(short, long)]
    pub bytes: bool,

    /// JSON output: one object with every counter, sizes in bytes.
    #[arg(short = 'J', long)]
    pub json: bool,

    /// Redraw in place every SECS seconds (default 1) until interrupted.
    #[arg(
        short,
        long,
        value_name = "SECS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1",
        value_parser = interval_arg,
        conflicts_with = "json"
    )]
    pub watch: Option<Duration>,
}

#[derive(Debug, Subcommand)]
pub enum Generate {
    /// The man page (roff): to stdout, or as DIR/rzsctl.8.
    Man {
        /// Write rzsctl.8 into this directory.
        dir: Option<std::path::PathBuf>,
    },
    /// Completions for SHELL, to stdout.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// The clap command (for the man page and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("rzsctl").chain(args.iter().copied()))
    }

    fn err(args: &[&str]) -> ErrorKind {
        parse(args).map(|_| ()).unwrap_err().kind()
    }

    #[test]
    fn definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn no_arguments_lists() {
        let c = parse(&[]).unwrap();
        assert!(c.device.is_none() && c.command.is_none());
        assert_eq!(c.list.columns(), DEFAULT_COLUMNS);
        assert!(c.list.watch.is_none());
    }

    #[test]
    fn size_and_limit() {
        let c = parse(&["/dev/rzs0", "--size", "4G", "--mem-limit", "1G"]).unwrap();
        assert_eq!(c.device.as_deref(), Some("/dev/rzs0"));
        assert_eq!(c.size, Some(4 << 30));
        assert_eq!(c.mem_limit, Some(1 << 30));
        assert!(!c.reset);
        let c = parse(&["-s", "64KiB", "rzs1", "-m", "0", "-r"]).unwrap();
        assert_eq!((c.size, c.mem_limit, c.reset), (Some(65536), Some(0), true));
        let c = parse(&["rzs0", "--compact"]).unwrap();
        assert!(c.compact && !c.reset && c.size.is_none());
        // 0 parses: the kernel says whether it is acceptable (exit 7).
        assert_eq!(parse(&["rzs0", "--size", "0"]).unwrap().size, Some(0));
    }

    #[test]
    fn bad_sizes_are_usage_errors() {
        for s in ["1.5G", "-1", "4X", "", "16E", "4 G"] {
            let arg = format!("--size={s}");
            assert_eq!(err(&["rzs0", &arg]), ErrorKind::ValueValidation, "{s:?}");
        }
        let e = parse(&["rzs0", "--size", "1.5G"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("invalid size"), "{e}");
    }

    #[test]
    fn find() {
        let c = parse(&["--find", "--size", "1G"]).unwrap();
        assert!(c.find && c.device.is_none());
        assert_eq!(c.size, Some(1 << 30));
        assert!(parse(&["-f"]).unwrap().find);
        assert!(parse(&["-f", "-m", "64M"]).unwrap().find);
        assert_eq!(err(&["--find", "rzs0"]), ErrorKind::ArgumentConflict);
        assert_eq!(err(&["--find", "--reset"]), ErrorKind::ArgumentConflict);
        assert_eq!(err(&["--find", "--compact"]), ErrorKind::ArgumentConflict);
        assert_eq!(err(&["--find", "--json"]), ErrorKind::ArgumentConflict);
    }

    #[test]
    fn remove_subcommand() {
        match parse(&["remove", "/dev/rzs2"]).unwrap().command {
            Some(Command::Remove { device }) => assert_eq!(device, "/dev/rzs2"),
            other => panic!("{other:?}"),
        }
        assert_eq!(err(&["remove"]), ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn setup_and_teardown() {
        match parse(&["setup"]).unwrap().command {
            Some(Command::Setup(a)) => assert_eq!(a.config, std::path::Path::new(DEFAULT_CONFIG)),
            other => panic!("{other:?}"),
        }
        match parse(&["teardown", "-c", "/tmp/x.conf"]).unwrap().command {
            Some(Command::Teardown(a)) => assert_eq!(a.config, std::path::Path::new("/tmp/x.conf")),
            other => panic!("{other:?}"),
        }
        assert!(parse(&["setup", "rzs0"]).is_err());
    }

    #[test]
    fn actions_need_a_device() {
        assert_eq!(err(&["--size", "4G"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(err(&["--reset"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(err(&["--compact"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            err(&["--mem-limit", "1G"]),
            ErrorKind::MissingRequiredArgument
        );
    }

    #[test]
    fn actions_and_views_do_not_mix() {
        assert_eq!(
            err(&["rzs0", "--reset", "--json"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            err(&["rzs0", "--size", "1G", "--watch"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            err(&["rzs0", "--compact", "--json"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(err(&["--json", "--raw"]), ErrorKind::ArgumentConflict);
        assert_eq!(err(&["--json", "-o", "NAME"]), ErrorKind::ArgumentConflict);
        assert_eq!(err(&["--json", "--watch"]), ErrorKind::ArgumentConflict);
        assert_eq!(
            err(&["--output-all", "-o", "NAME"]),
            ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn list_options() {
        let c = parse(&["-o", "name,DISKSIZE,notify-free", "--raw", "-b", "-n"]).unwrap();
        assert_eq!(
            c.list.columns(),
            [Column::Name, Column::Disksize, Column::NotifyFree]
        );
        assert!(c.list.raw && c.list.bytes && c.list.noheadings);
        let c = parse(&["-o", "NAME", "-o", "SWAP"]).unwrap();
        assert_eq!(c.list.columns(), [Column::Name, Column::Swap]);
        assert_eq!(
            parse(&["--output-all"]).unwrap().list.columns(),
            Column::all()
        );
        assert_eq!(err(&["-o", "NAME,BOGUS"]), ErrorKind::InvalidValue);
        assert!(parse(&["-J"]).unwrap().list.json);
        assert_eq!(parse(&["rzs0"]).unwrap().device.as_deref(), Some("rzs0"));
    }

    #[test]
    fn watch_interval() {
        let w = |a: &[&str]| parse(a).unwrap().list.watch;
        assert_eq!(w(&["--watch"]), Some(Duration::from_secs(1)));
        assert_eq!(w(&["-w"]), Some(Duration::from_secs(1)));
        assert_eq!(w(&["--watch=2.5"]), Some(Duration::from_millis(2500)));
        // The interval needs "=", so a following DEVICE is not taken for one.
        let c = parse(&["--watch", "rzs0"]).unwrap();
        assert_eq!(
            (c.list.watch, c.device.as_deref()),
            (Some(Duration::from_secs(1)), Some("rzs0"))
        );
        assert_eq!(err(&["--watch=0"]), ErrorKind::ValueValidation);
        assert_eq!(err(&["--watch=x"]), ErrorKind::ValueValidation);
    }

    #[test]
    fn stats_subcommand() {
        let c = parse(&["stats", "/dev/rzs0", "--json"]).unwrap();
        match c.command {
            Some(Command::Stats(s)) => {
                assert_eq!(s.device, "/dev/rzs0");
                assert!(s.json && !s.bytes && s.watch.is_none());
            }
            other => panic!("{other:?}"),
        }
        let c = parse(&["stats", "rzs0", "-b", "-w=3"]).unwrap();
        match c.command {
            Some(Command::Stats(s)) => {
                assert!(s.bytes);
                assert_eq!(s.watch, Some(Duration::from_secs(3)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err(&["stats"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            err(&["stats", "rzs0", "--json", "--watch"]),
            ErrorKind::ArgumentConflict
        );
        // Top-level options do not go with a subcommand.
        assert!(parse(&["--bytes", "stats", "rzs0"]).is_err());
    }

    #[test]
    fn generate_subcommand() {
        assert!(matches!(
            parse(&["generate", "completions", "bash"]).unwrap().command,
            Some(Command::Generate(Generate::Completions {
                shell: Shell::Bash
            }))
        ));
        assert!(matches!(
            parse(&["generate", "man"]).unwrap().command,
            Some(Command::Generate(Generate::Man { dir: None }))
        ));
        // Hidden from --help.
        let help = command().render_long_help().to_string();
        assert!(!help.contains("generate"), "{help}");
        assert!(help.contains("stats"));
    }

    #[test]
    fn help_documents_exit_statuses() {
        let help = command().render_help().to_string();
        assert!(help.contains("Exit status:"));
        for (code, what) in EXIT_STATUS {
            assert!(help.contains(&format!("  {code}  {what}")), "{code}");
        }
    }

    #[test]
    fn help_is_help() {
        assert_eq!(err(&["--help"]), ErrorKind::DisplayHelp);
        assert_eq!(err(&["--version"]), ErrorKind::DisplayVersion);
    }
}
