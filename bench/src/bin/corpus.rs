// SPDX-License-Identifier: GPL-2.0
//! `rzs-corpus`: builds the benchmark page corpus from real files on this machine.
//!
//! Writes `--out` (the pages) and `--out`.kinds (one byte per page: B binary, T text,
//! C compressed, Z zero, S same-filled). The same machine and seed give the same corpus.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rzs_bench::{kinds_path, make_page, Kind, Mix, Sources, PAGE};

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Output file.
    #[arg(long)]
    out: PathBuf,
    /// Size in MiB.
    #[arg(long, default_value_t = 64)]
    mib: usize,
    /// Seed for the choice of pages.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let src = Sources::find();
    for (name, n) in [
        ("ELF binaries", src.binary.len()),
        ("text files", src.text.len()),
        (".gz files", src.compressed.len()),
    ] {
        if n == 0 {
            eprintln!("rzs-corpus: found no {name} under /usr to cut pages from");
            return ExitCode::FAILURE;
        }
    }
    let mix = Mix::default();
    let n = a.mib * 1024 * 1024 / PAGE;
    let mut data = Vec::with_capacity(n * PAGE);
    let mut kinds = Vec::with_capacity(n);
    let mut counts = [0usize; 5];
    let mut page = [0u8; PAGE];
    for i in 0..n as u64 {
        let k = mix.kind_of(i, a.seed);
        if !make_page(&src, k, i, a.seed, &mut page) {
            eprintln!("rzs-corpus: could not read a {} page", k.name());
            return ExitCode::FAILURE;
        }
        data.extend_from_slice(&page);
        kinds.push(k.code());
        counts[Kind::ALL.iter().position(|&x| x == k).unwrap_or(0)] += 1;
    }
    let write = |path: &PathBuf, bytes: &[u8]| std::fs::File::create(path)?.write_all(bytes);
    if let Err(e) = write(&a.out, &data).and_then(|()| write(&kinds_path(&a.out), &kinds)) {
        eprintln!("rzs-corpus: {}: {e}", a.out.display());
        return ExitCode::FAILURE;
    }
    let mix_desc = Kind::ALL
        .iter()
        .zip(counts)
        .map(|(k, c)| format!("{} {c}", k.name()))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "rzs-corpus: {} pages ({} MiB) from {} binaries, {} text files, {} .gz files: {mix_desc}",
        n,
        a.mib,
        src.binary.len(),
        src.text.len(),
        src.compressed.len()
    );
    ExitCode::SUCCESS
}
