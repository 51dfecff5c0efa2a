//! The per-user cache on disk, shared by every harness on the machine at once.
//!
//! Three rules keep threads of one harness and several harnesses from ever seeing, clobbering
//! or failing on each other's half-written files:
//! * every file is written under a name no other writer can pick ([`temp_beside`]: process
//!   id, thread-unique counter) and renamed into place, so a reader sees all or nothing;
//! * a directory that is built in several steps is built under a temporary name and renamed
//!   whole, or built under a [`Lock`];
//! * every key is a [`Digest`] of the content the entry was made from, so an entry is never
//!   stale and two writers of one key write the same bytes.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A BLAKE3 digest of a sequence of byte strings, each followed by its length, so that
/// `("ab", "c")` and `("a", "bc")` differ.
#[derive(Clone, Default)]
pub struct Digest {
    hasher: blake3::Hasher,
}

impl Digest {
    /// An empty digest.
    pub fn new() -> Digest {
        Digest::default()
    }

    /// Feed one byte string.
    pub fn add(&mut self, bytes: impl AsRef<[u8]>) -> &mut Digest {
        let bytes = bytes.as_ref();
        self.hasher.update(bytes);
        self.hasher.update(&(bytes.len() as u64).to_le_bytes());
        self
    }

    /// The digest as 64 hex digits.
    pub fn hex(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }

    /// The first 16 hex digits, for directory names.
    pub fn short(&self) -> String {
        self.hex()[..16].to_string()
    }
}

/// The digest of one byte string, as 16 hex digits.
pub fn short_digest(bytes: &[u8]) -> String {
    Digest::new().add(bytes).short()
}

/// A fresh name beside `path` for a file or directory being written: unique per process and
/// per call, so that no two writers (threads or processes) ever share one.
pub fn temp_beside(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Write a file through a temporary name and a rename, so that a reader never sees half of
/// it; the temporary file is removed when the write fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = temp_beside(path);
    let written = File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_data()))
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot rename {} to {}: {e}", tmp.display(), path.display())
    })
}

/// Write `bytes` at `path` unless the file there already holds exactly them.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    write_atomic(path, bytes)
}

/// Move a finished file into place (same file system), replacing what is there.
pub fn move_into_place(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::rename(from, to)
        .map_err(|e| format!("cannot move {} to {}: {e}", from.display(), to.display()))
}

/// An exclusive advisory lock on a file, held until dropped: two harness processes never
/// build the same thing at once.
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Wait for the lock on `path` (created if missing).
    pub fn acquire(path: &Path) -> Result<Lock, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
        use std::os::unix::io::AsRawFd;
        loop {
            // SAFETY: flock on a descriptor this function owns.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                return Ok(Lock { _file: file });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("cannot lock {}: {err}", path.display()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_separate_their_parts() {
        let ab_c = Digest::new().add("ab").add("c").hex();
        let a_bc = Digest::new().add("a").add("bc").hex();
        assert_ne!(ab_c, a_bc);
        assert_eq!(ab_c, Digest::new().add("ab").add("c").hex());
        assert_eq!(ab_c.len(), 64);
    }

    #[test]
    fn many_writers_of_one_file_never_fail_or_tear() {
        let dir = std::env::temp_dir().join(format!("introspec-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("observer.py");
        let bodies: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 1 << 16]).collect();
        std::thread::scope(|s| {
            for body in &bodies {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..50 {
                        write_atomic(path, body).expect("an atomic write");
                        let seen = std::fs::read(path).expect("a whole file");
                        assert!(seen.len() == 1 << 16 && seen.iter().all(|b| *b == seen[0]));
                    }
                });
            }
        });
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
