// SPDX-License-Identifier: GPL-2.0
//! The `rzsctl` binary as a user runs it (no kernel module needed): help, generated
//! man page and completions, exit codes and one-line error messages.

use std::path::Path;
use std::process::{Command, Output};

fn rzsctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rzsctl"))
        .args(args)
        .output()
        .expect("run rzsctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn module_loaded() -> bool {
    Path::new("/sys/module/rzs").exists()
}

/// One line on stderr, starting with "rzsctl: ".
fn assert_one_line_error(o: &Output) {
    let e = stderr(o);
    assert!(e.starts_with("rzsctl: "), "{e:?}");
    assert_eq!(e.lines().count(), 1, "{e:?}");
    assert!(o.stdout.is_empty(), "{:?}", stdout(o));
}

#[test]
fn help_and_version() {
    let o = rzsctl(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let h = stdout(&o);
    for s in [
        "Usage: rzsctl",
        "--size",
        "--mem-limit",
        "--reset",
        "stats",
        "Exit status:",
        "NOTIFY-FREE",
    ] {
        assert!(h.contains(s), "{s} not in --help");
    }
    let o = rzsctl(&["stats", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("--watch"));
    let o = rzsctl(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("rzsctl "));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["rzs0", "--size", "1.5G"][..],
        &["--size", "4G"],
        &["rzs0", "--reset", "--json"],
        &["-o", "NAME,NOPE"],
        &["--bogus"],
        &["stats"],
    ] {
        let o = rzsctl(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn generated_man_page() {
    let o = rzsctl(&["generate", "man"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let man = stdout(&o);
    assert!(man.contains(".TH rzsctl 8"));
    assert!(man.contains(".SH \"EXIT STATUS\""));

    let dir = std::env::temp_dir().join(format!("rzsctl-man-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let o = rzsctl(&["generate", "man", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let written = std::fs::read_to_string(dir.join("rzsctl.8")).unwrap();
    assert_eq!(written, man);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn generated_completions() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = rzsctl(&["generate", "completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        assert!(stdout(&o).contains("mem-limit"), "{shell}");
    }
    assert_eq!(
        rzsctl(&["generate", "completions", "tcsh"]).status.code(),
        Some(2)
    );
}

#[test]
fn dev_null_is_not_an_rzs_device() {
    // Whether or not the module is loaded, /dev/null answers ENOTTY.
    let o = rzsctl(&["/dev/null"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_one_line_error(&o);
    assert_eq!(
        stderr(&o),
        "rzsctl: /dev/null: no such device: not an rzs device\n"
    );
}

#[test]
fn without_the_module() {
    if module_loaded() {
        return;
    }
    for args in [
        &[][..],
        &["--json"],
        &["rzs0"],
        &["stats", "/dev/rzs0"],
        &["rzs0", "--size", "1G"],
    ] {
        let o = rzsctl(args);
        assert_eq!(o.status.code(), Some(4), "{args:?}: {}", stderr(&o));
        assert_one_line_error(&o);
        assert!(stderr(&o).contains("module not loaded"), "{}", stderr(&o));
    }
}
