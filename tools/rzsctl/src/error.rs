// SPDX-License-Identifier: GPL-2.0
//! Errors of `rzsctl`: one line each, naming the device and the cause, and a distinct
//! exit code per cause (see [`Kind::exit_code`] and `EXIT_STATUS`).

use std::fmt;

/// What went wrong, as far as the exit code is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Anything else (an I/O error, a kernel that answers nonsense).
    Other,
    /// The device does not exist, or is not an rzs device.
    NoDevice,
    /// The rzs module is not loaded.
    NoModule,
    /// Not allowed: opening the device node, or changing the device without
    /// `CAP_SYS_ADMIN`.
    PermissionDenied,
    /// The device is in use, or already has a size.
    Busy,
    /// The kernel rejected a value (`EINVAL`).
    InvalidArgument,
}

impl Kind {
    /// The process exit code for this kind of error.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Other => 1,
            Kind::NoDevice => 3,
            Kind::NoModule => 4,
            Kind::PermissionDenied => 5,
            Kind::Busy => 6,
            Kind::InvalidArgument => 7,
        }
    }
}

/// Exit status 2: a usage error (clap's own exit code for bad arguments).
pub const EXIT_USAGE: u8 = 2;

/// The exit statuses, for `--help` and the man page: (code, meaning).
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (0, "success"),
    (1, "other error"),
    (EXIT_USAGE, "usage error (bad option or value)"),
    (3, "no such device, or not an rzs device"),
    (4, "the rzs module is not loaded"),
    (
        5,
        "permission denied (opening the device, or changing it without CAP_SYS_ADMIN)",
    ),
    (6, "busy: the device is in use or already has a size"),
    (
        7,
        "invalid argument (a value the kernel rejects, e.g. a size of 0)",
    ),
];

/// An error with the device it concerns (if any) and a one-line message whose first
/// words name the cause, e.g. `busy: the device is in use (mounted, swapped on or open)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    /// The device path, if the error concerns one.
    pub subject: Option<String>,
    pub message: String,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            subject: None,
            message: one_line(message.into()),
        }
    }

    /// The same error, about `subject` (a device path).
    pub fn on(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

/// Messages are printed on one line, whatever they were built from.
fn one_line(s: String) -> String {
    if s.contains(['\n', '\r']) {
        s.split(['\n', '\r'])
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        s
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Some(s) => write!(f, "{s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_documented() {
        let kinds = [
            Kind::Other,
            Kind::NoDevice,
            Kind::NoModule,
            Kind::PermissionDenied,
            Kind::Busy,
            Kind::InvalidArgument,
        ];
        let mut codes: Vec<u8> = kinds.iter().map(|k| k.exit_code()).collect();
        codes.push(EXIT_USAGE);
        codes.push(0);
        codes.sort_unstable();
        let documented: Vec<u8> = EXIT_STATUS.iter().map(|&(c, _)| c).collect();
        assert_eq!(codes, documented);
    }

    #[test]
    fn displays_on_one_line() {
        let e = Error::new(Kind::Busy, "busy: a\nb\n").on("/dev/rzs0");
        assert_eq!(e.to_string(), "/dev/rzs0: busy: a; b");
        assert_eq!(e.exit_code(), 6);
        assert_eq!(
            Error::new(Kind::NoModule, "module not loaded").to_string(),
            "module not loaded"
        );
    }
}
