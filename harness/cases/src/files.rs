//! Finding and reading case files: the loader follows no symlink cycle, opens only regular
//! files (a FIFO named `x.toml` never blocks it) and reads at most [`MAX_FILE_BYTES`] of each.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use introspec_spec::Diagnostic;

/// The largest case file read (a larger one, or a device such as `/dev/zero` behind a
/// symlink, is a diagnostic, never read without bound).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// The `.toml` files under `dir`, in name order. A directory is entered once, however many
/// symlinks lead to it (`cases/l1 -> .` is no cycle); `visited` holds the canonical paths of
/// those entered.
pub(crate) fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>, visited: &mut BTreeSet<PathBuf>) {
    let Ok(canonical) = dir.canonicalize() else {
        return;
    };
    if !visited.insert(canonical) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect_toml(&p, out, visited);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

/// The text of one case file: a regular file (a FIFO, a device or a socket named `*.toml` is
/// a diagnostic, and is never opened for reading, so it cannot block) of at most
/// [`MAX_FILE_BYTES`].
pub(crate) fn read_case_file(file: &Path) -> Result<String, Diagnostic> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let meta =
        std::fs::metadata(file).map_err(|e| Diagnostic::file(file, format!("cannot read: {e}")))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a file"
        };
        return Err(Diagnostic::file(file, format!("not a regular file ({what}): not read"))
            .with_help("a case file is a regular TOML file; remove this one or rename it to end in something other than .toml"));
    }
    let too_big = || {
        Diagnostic::file(
            file,
            format!("larger than {} MiB: not read", MAX_FILE_BYTES >> 20),
        )
        .with_help("split the cases into several files under cases/")
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    // the file may have been swapped since: opened without blocking, read with a bound
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(file)
        .map_err(|e| Diagnostic::file(file, format!("cannot read: {e}")))?;
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return Err(Diagnostic::file(file, "not a regular file: not read"));
    }
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Diagnostic::file(file, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        Diagnostic::file(file, format!("not UTF-8 text: {e}")).with_help("save the file as UTF-8")
    })
}
