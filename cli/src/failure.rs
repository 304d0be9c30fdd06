//! The one error of the tool: a sentence for the user, printed as `error: ...`.

use std::fmt;
use std::io;
use std::path::Path;

use crate::shown;

/// Why a command failed, worded for the person who ran it.
///
/// The message quotes paths, card errors and names: it is escaped where it is shown (see
/// [`shown`]), so none of them can write control characters to the terminal.
#[derive(Debug)]
pub struct Failure(String);

pub type Result<T> = std::result::Result<T, Failure>;

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// An I/O error on `path`, with the common causes spelled out.
    pub fn io(path: &Path, doing: &str, error: &io::Error) -> Self {
        let path = path.display();
        Self(match error.kind() {
            io::ErrorKind::NotFound => format!("cannot {doing} {path}: no such file"),
            io::ErrorKind::PermissionDenied => format!("cannot {doing} {path}: permission denied"),
            io::ErrorKind::AlreadyExists => format!("{path} already exists"),
            io::ErrorKind::IsADirectory => format!("cannot {doing} {path}: it is a directory"),
            io::ErrorKind::StorageFull => format!("cannot {doing} {path}: the disk is full"),
            _ => format!("cannot {doing} {path}: {error}"),
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shown::text(&self.0))
    }
}
