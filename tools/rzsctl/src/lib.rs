// SPDX-License-Identifier: GPL-2.0
//! `rzsctl`: set up and inspect rzs compressed-RAM swap devices, like `zramctl`.
//!
//! * [`cli`]: the command line (clap), also the source of `--help`, the man page and
//!   the shell completions ([`man`]);
//! * [`dev`]: finding devices and the ioctls of `include/uapi/linux/rzs.h`;
//! * [`output`]: the table, JSON and statistics views, rendered from plain values;
//! * [`config`], [`setup`]: `/etc/rzs.conf` and `rzsctl setup` / `teardown`;
//! * [`error`]: one-line errors and their exit codes.

pub mod cli;
pub mod config;
pub mod dev;
pub mod error;
pub mod man;
pub mod output;
pub mod setup;

use std::io::{self, Write};
use std::time::Duration;

use cli::{Cli, Command, Generate, ListOpts, StatsArgs, WritebackArgs};
use dev::{Device, DeviceInfo, Paths};
use error::{Error, Kind, Result};
use output::TableOpts;

/// Runs the parsed command line against the real system.
pub fn run(cli: Cli) -> Result<()> {
    run_with(&Paths::default(), cli)
}

/// Runs the parsed command line against the system seen through `paths`.
pub fn run_with(paths: &Paths, cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Stats(ref a)) => stats(paths, a),
        Some(Command::Generate(ref g)) => generate(g),
        Some(Command::Remove { ref device }) => dev::hot_remove(paths, device),
        Some(Command::Setup(ref a)) => setup::setup(paths, &a.config),
        Some(Command::Teardown(ref a)) => setup::teardown(paths, &a.config),
        Some(Command::Writeback(ref a)) => writeback(paths, a),
        Some(Command::Idle { ref device }) => Device::open(paths, device)?.mark_idle(),
        None if cli.find => find(paths, &cli),
        None if cli.size.is_some()
            || cli.mem_limit.is_some()
            || cli.reset
            || cli.compact
            || cli.backing_dev.is_some() =>
        {
            configure(paths, &cli)
        }
        None => list(paths, &cli),
    }
}

/// `--reset`, `--backing-dev`, `--size`, `--mem-limit`, `--compact`, in that
/// order, stopping at the first error.
fn configure(paths: &Paths, cli: &Cli) -> Result<()> {
    let arg = cli.device.as_deref().unwrap_or_default();
    let dev = Device::open(paths, arg)?;
    if cli.reset {
        dev.reset()?;
    }
    if let Some(b) = &cli.backing_dev {
        dev.set_backing((b != "none").then_some(b.as_str()))?;
    }
    if let Some(size) = cli.size {
        dev.set_disksize(size)?;
    }
    if let Some(limit) = cli.mem_limit {
        dev.set_mem_limit(limit)?;
    }
    if cli.compact {
        dev.compact(paths)?;
    }
    Ok(())
}

/// `writeback`: prints what was written.
fn writeback(paths: &Paths, a: &WritebackArgs) -> Result<()> {
    let dev = Device::open(paths, &a.device)?;
    let mut flags = 0;
    if a.idle {
        flags |= rzs_core::abi::RZS_WB_IDLE;
    }
    if a.huge {
        flags |= rzs_core::abi::RZS_WB_HUGE;
    }
    if a.incompressible {
        flags |= rzs_core::abi::RZS_WB_INCOMPRESSIBLE;
    }
    let (pages, blocks) = dev.writeback(flags, a.min_age, a.max_pages.unwrap_or(0))?;
    emit(&format!(
        "{}: wrote back {pages} pages in {blocks} blocks\n",
        dev.path()
    ))
}

/// `--find`: a free device (or a new one), set up with `--size` and `--mem-limit`
/// while it is locked; prints its path.
fn find(paths: &Paths, cli: &Cli) -> Result<()> {
    let dev = dev::find_free(paths)?;
    if let Some(limit) = cli.mem_limit {
        dev.set_mem_limit(limit)?;
    }
    if let Some(size) = cli.size {
        dev.set_disksize(size)?;
    }
    emit(&format!("{}\n", dev.path()))
}

/// The devices to list: DEVICE, or every rzs device.
fn gather(paths: &Paths, device: Option<&str>) -> Result<Vec<DeviceInfo>> {
    let swaps = paths.swap_names();
    match device {
        Some(d) => Ok(vec![Device::open(paths, d)?.info(&swaps)?]),
        None => paths
            .device_names()?
            .iter()
            .map(|n| Device::open(paths, n)?.info(&swaps))
            .collect(),
    }
}

/// The list view of `devs` as the options ask: a table or JSON.
pub fn render_list(l: &ListOpts, devs: &[DeviceInfo]) -> String {
    if l.json {
        return output::render_json(devs);
    }
    let opts = TableOpts {
        bytes: l.bytes,
        raw: l.raw,
        noheadings: l.noheadings,
    };
    output::render_table(devs, &l.columns(), opts)
}

/// The `stats` view of one device as the options ask.
pub fn render_stats(a: &StatsArgs, info: &DeviceInfo) -> String {
    if a.json {
        output::render_stats_json(info)
    } else {
        output::render_stats(info, a.bytes)
    }
}

fn list(paths: &Paths, cli: &Cli) -> Result<()> {
    let render = || {
        Ok(render_list(
            &cli.list,
            &gather(paths, cli.device.as_deref())?,
        ))
    };
    match cli.list.watch {
        Some(every) => watch(every, "rzsctl", render),
        None => emit(&render()?),
    }
}

fn stats(paths: &Paths, a: &StatsArgs) -> Result<()> {
    let render = || {
        let info = Device::open(paths, &a.device)?.info(&paths.swap_names())?;
        Ok(render_stats(a, &info))
    };
    match a.watch {
        Some(every) => watch(every, &format!("rzsctl stats {}", a.device), render),
        None => emit(&render()?),
    }
}

/// Redraws `render`'s view every `every` until interrupted (or an error).
fn watch(every: Duration, what: &str, render: impl Fn() -> Result<String>) -> Result<()> {
    let title = format!("Every {}s: {what}  (Ctrl-C to stop)", every.as_secs_f64());
    emit("\x1b[H\x1b[2J")?;
    loop {
        let body = render()?;
        emit(&output::watch_frame(&title, &body))?;
        std::thread::sleep(every);
    }
}

fn generate(g: &Generate) -> Result<()> {
    let io_err = |what: &str, e: io::Error| Error::new(Kind::Other, format!("{what}: {e}"));
    match g {
        Generate::Man { dir: None } => {
            let mut buf = Vec::new();
            man::render_man(&mut buf).map_err(|e| io_err("man page", e))?;
            emit_bytes(&buf)
        }
        Generate::Man { dir: Some(dir) } => {
            let path = dir.join("rzsctl.8");
            let mut buf = Vec::new();
            man::render_man(&mut buf).map_err(|e| io_err("man page", e))?;
            std::fs::write(&path, buf)
                .map_err(|e| io_err("cannot write", e).on(path.display().to_string()))
        }
        Generate::Completions { shell } => {
            let mut buf = Vec::new();
            man::render_completions(*shell, &mut buf);
            emit_bytes(&buf)
        }
    }
}

fn emit(s: &str) -> Result<()> {
    emit_bytes(s.as_bytes())
}

/// Writes to stdout. A closed pipe (`rzsctl | head`) ends the program quietly.
fn emit_bytes(b: &[u8]) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(b).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::new(Kind::Other, format!("writing output: {e}"))),
    }
}
