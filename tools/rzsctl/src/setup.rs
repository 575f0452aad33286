// SPDX-License-Identifier: GPL-2.0
//! `rzsctl setup` and `rzsctl teardown`: the devices of `/etc/rzs.conf` made swap
//! at boot (from `rzs-setup.service`), and undone.
//!
//! setup: reads and checks the whole file first (a wrong file changes nothing);
//! loads the module if needed (`modprobe rzs num_devices=0`); for each device,
//! adds it if missing (`hot_add`), sizes it, sets its memory limit, runs `mkswap`
//! and `swapon -p PRIORITY`. A device already swapped on is left alone, so running
//! setup twice is harmless; devices hot-added only to reach a higher index are
//! removed again. teardown: for each configured device that exists, `swapoff`,
//! reset and remove. Both go on past a failing device and fail at the end.

use std::path::Path;
use std::process::Command;

use rzs_core::size::HumanSize;

use crate::config::{self, DevicePlan};
use crate::dev::{self, Device, Paths};
use crate::error::{Error, Kind, Result};

/// The machine's RAM in MiB (`MemTotal` of `/proc/meminfo`).
pub fn ram_mib(paths: &Paths) -> Result<f64> {
    let text = std::fs::read_to_string(&paths.proc_meminfo).map_err(|e| {
        Error::new(
            Kind::Other,
            format!("cannot read {}: {e}", paths.proc_meminfo.display()),
        )
    })?;
    parse_memtotal(&text).ok_or_else(|| {
        Error::new(
            Kind::Other,
            format!("no MemTotal in {}", paths.proc_meminfo.display()),
        )
    })
}

/// `MemTotal` in MiB.
pub fn parse_memtotal(meminfo: &str) -> Option<f64> {
    let l = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = l.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Reads and checks the config: what each device becomes with this machine's RAM.
pub fn load_plans(paths: &Paths, file: &Path) -> Result<Vec<DevicePlan>> {
    let bad = |m: String| Error::new(Kind::InvalidArgument, m).on(file.display().to_string());
    let text = std::fs::read_to_string(file).map_err(|e| {
        Error::new(Kind::Other, format!("cannot read the config: {e}"))
            .on(file.display().to_string())
    })?;
    let ram = ram_mib(paths)?;
    config::parse(&text)
        .map_err(|e| bad(e.to_string()))?
        .iter()
        .map(|d| d.plan(ram).map_err(|e| bad(e.to_string())))
        .collect()
}

/// Runs a system command; its stderr in the error.
fn run(what: &str, cmd: &mut Command) -> Result<()> {
    let out = cmd.output().map_err(|e| {
        Error::new(
            Kind::Other,
            format!("{what}: cannot run {:?}: {e}", cmd.get_program()),
        )
    })?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(Error::new(
        Kind::Other,
        format!("{what} failed ({}): {}", out.status, err.trim()),
    ))
}

pub fn setup(paths: &Paths, file: &Path) -> Result<()> {
    let plans = load_plans(paths, file)?;
    if plans.iter().all(|p| p.size == 0) {
        println!("rzsctl: {}: no device to set up", file.display());
        return Ok(());
    }
    if !paths.module_loaded() {
        run(
            "loading the module",
            Command::new("modprobe").args(["rzs", "num_devices=0"]),
        )?;
    }
    let mut added = Vec::new();
    let mut first_err = None;
    for p in plans.iter().filter(|p| p.size > 0) {
        if let Err(e) = setup_one(paths, p, &mut added) {
            eprintln!("rzsctl: {e}");
            first_err.get_or_insert(e);
        }
    }
    // Devices added only to reach a higher index.
    let wanted = |i: u32| plans.iter().any(|p| p.index == i && p.size > 0);
    for i in added.into_iter().filter(|&i| !wanted(i)) {
        if let Err(e) = dev::hot_remove(paths, &format!("rzs{i}")) {
            eprintln!("rzsctl: {e}");
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Adds devices until `rzsN` exists (hot_add gives the lowest free index), noting
/// each one added.
fn ensure_exists(paths: &Paths, index: u32, added: &mut Vec<u32>) -> Result<()> {
    while !paths.sys_block.join(format!("rzs{index}")).exists() {
        let i = dev::hot_add(paths)?;
        added.push(i);
        if i > index {
            return Err(Error::new(
                Kind::Other,
                format!("hot_add gave rzs{i}, not rzs{index}"),
            ));
        }
    }
    Ok(())
}

fn setup_one(paths: &Paths, p: &DevicePlan, added: &mut Vec<u32>) -> Result<()> {
    let name = format!("rzs{}", p.index);
    ensure_exists(paths, p.index, added)?;
    let dev = open_waiting(paths, &name)?;
    if paths.swap_names().contains(&name) {
        println!("rzsctl: {}: already swap, left alone", dev.path());
        return Ok(());
    }
    if dev.stats()?.disksize != 0 {
        dev.reset()?;
    }
    if p.mem_limit != 0 {
        dev.set_mem_limit(p.mem_limit)?;
    }
    dev.set_disksize(p.size)?;
    let node = dev.path().to_string();
    drop(dev);
    run(
        &format!("{node}: mkswap"),
        Command::new("mkswap").args(["-L", &name, &node]),
    )?;
    run(
        &format!("{node}: swapon"),
        Command::new("swapon").args(["-p", &p.swap_priority.to_string(), &node]),
    )?;
    let limit = if p.mem_limit != 0 {
        format!(", memory limit {}", HumanSize(p.mem_limit))
    } else {
        String::new()
    };
    println!(
        "rzsctl: {node}: swap of {}, priority {}{limit}",
        HumanSize(p.size),
        p.swap_priority
    );
    Ok(())
}

/// Opens a device whose node devtmpfs or udev may still be creating.
fn open_waiting(paths: &Paths, name: &str) -> Result<Device> {
    let mut tries = 0;
    loop {
        match Device::open(paths, name) {
            Err(e) if e.kind == Kind::NoDevice && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            r => return r,
        }
    }
}

pub fn teardown(paths: &Paths, file: &Path) -> Result<()> {
    let plans = load_plans(paths, file)?;
    if !paths.module_loaded() {
        return Ok(());
    }
    let mut first_err = None;
    for p in &plans {
        let name = format!("rzs{}", p.index);
        if !paths.sys_block.join(&name).exists() {
            continue;
        }
        let r = (|| {
            let node = paths.resolve(&name).display().to_string();
            if paths.swap_names().contains(&name) {
                run(
                    &format!("{node}: swapoff"),
                    Command::new("swapoff").arg(&node),
                )?;
            }
            Device::open(paths, &name)?.reset()?;
            dev::hot_remove(paths, &name)?;
            println!("rzsctl: {node}: swap off, removed");
            Ok(())
        })();
        if let Err(e) = r {
            eprintln!("rzsctl: {e}");
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memtotal() {
        let m = "MemTotal:       24683584 kB\nMemFree:        21070288 kB\n";
        assert_eq!(parse_memtotal(m), Some(24683584.0 / 1024.0));
        assert_eq!(parse_memtotal("MemFree: 1 kB\n"), None);
        assert_eq!(parse_memtotal("MemTotal: x kB\n"), None);
    }
}
