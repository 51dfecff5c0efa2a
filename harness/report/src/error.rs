//! Errors that name the file concerned and say what to do.

use std::fmt;
use std::path::{Path, PathBuf};

/// A report could not be made: which file, what went wrong, what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportError {
    /// The file concerned (a results file, a report being written).
    pub file: PathBuf,
    pub message: String,
    /// What to do about it.
    pub help: String,
}

impl ReportError {
    /// An error about `file`.
    pub fn new(file: &Path, message: impl Into<String>, help: impl Into<String>) -> ReportError {
        ReportError {
            file: file.to_path_buf(),
            message: message.into(),
            help: help.into(),
        }
    }

    /// An I/O error while doing `what` with `file`.
    pub fn io(file: &Path, what: &str, e: &std::io::Error) -> ReportError {
        ReportError::new(
            file,
            format!("{what}: {e}"),
            "check that the path exists and is writable (or readable), then run the command again",
        )
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}\n  help: {}",
            self.file.display(),
            self.message,
            self.help
        )
    }
}

impl std::error::Error for ReportError {}
