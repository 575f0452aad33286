// SPDX-License-Identifier: GPL-2.0
//! `rzs-codec-pages`: the page classes of the kernel codec benchmark
//! (`make bench-codec`), one file of 4 KiB pages per class in `--dir`:
//!
//! - `binary.pages`: pages of this machine's ELF binaries and libraries;
//! - `text.pages`: pages of source text (C headers, Perl and Python modules);
//! - `heap.pages`: synthetic anonymous memory ([`rzs_bench::heap_page`]);
//! - `fio.pages`: the compressible buffers `make bench`'s fio cases write
//!   (`--buffer_compress_percentage=50 --buffer_compress_chunk=512`: every 512 bytes,
//!   256 random then 256 zero bytes);
//! - `proc.pages`: real anonymous memory of the processes running now
//!   (`/proc/PID/mem`; needs root). It holds whatever those processes hold: the
//!   script deletes the file when the benchmark is done.
//!
//! Zero and same-filled pages, which never reach the codec, are left out.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rzs_bench::{heap_page, make_page, mix64, process_pages, Kind, Sources, PAGE};

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Output directory.
    #[arg(long)]
    dir: PathBuf,
    /// Pages per class.
    #[arg(long, default_value_t = 8192)]
    pages: usize,
    /// Seed for the choice of pages.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let src = Sources::find();
    let mut classes: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, kind) in [("binary", Kind::Binary), ("text", Kind::Text)] {
        let mut data = Vec::with_capacity(a.pages * PAGE);
        let mut page = [0u8; PAGE];
        let mut i = 0u64;
        while data.len() < a.pages * PAGE && i < 8 * a.pages as u64 {
            if make_page(&src, kind, i, a.seed, &mut page)
                && rzs_core::page::same_filled(&page).is_none()
            {
                data.extend_from_slice(&page);
            }
            i += 1;
        }
        classes.push((name, data));
    }
    let mut heap = vec![0u8; a.pages * PAGE];
    for (i, c) in heap.chunks_exact_mut(PAGE).enumerate() {
        if let Ok(p) = <&mut [u8; PAGE]>::try_from(c) {
            heap_page(i as u64, a.seed, p);
        }
    }
    classes.push(("heap", heap));
    let mut fio = vec![0u8; a.pages * PAGE];
    for (i, c) in fio.chunks_exact_mut(512).enumerate() {
        for (j, w) in c[..256].chunks_exact_mut(8).enumerate() {
            w.copy_from_slice(&mix64((i * 32 + j) as u64 ^ a.seed).to_le_bytes());
        }
    }
    classes.push(("fio", fio));
    classes.push(("proc", process_pages(a.pages).concat()));
    for (name, data) in &classes {
        if data.len() < PAGE * 64 {
            eprintln!(
                "rzs-codec-pages: only {} {name} pages found",
                data.len() / PAGE
            );
            return ExitCode::FAILURE;
        }
        let path = a.dir.join(format!("{name}.pages"));
        if let Err(e) = std::fs::File::create(&path).and_then(|mut f| f.write_all(data)) {
            eprintln!("rzs-codec-pages: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{name} {}", data.len() / PAGE);
    }
    ExitCode::SUCCESS
}
