//! Small helpers: digests, file locks, atomic writes, running a command and keeping its output.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A 128-bit content digest (two FNV-1a 64 lanes with different offsets), as 32 hex digits.
/// Collisions only cost a wrong cache hit between two builds of the same runtime and
/// compiler, which the digest makes astronomically unlikely for the sizes at hand.
#[derive(Clone)]
pub struct Digest {
    a: u64,
    b: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest::new()
    }
}

impl Digest {
    /// An empty digest.
    pub fn new() -> Digest {
        Digest {
            a: 0xcbf29ce484222325,
            b: 0x84222325cbf29ce4,
        }
    }

    /// Feed bytes, then a separator, so that `("ab", "c")` and `("a", "bc")` differ.
    pub fn add(&mut self, bytes: impl AsRef<[u8]>) -> &mut Digest {
        for &x in bytes.as_ref() {
            self.a ^= u64::from(x);
            self.a = self.a.wrapping_mul(0x100000001b3);
            self.b ^= u64::from(x.rotate_left(3));
            self.b = self.b.wrapping_mul(0x100000001b3);
        }
        let n = bytes.as_ref().len() as u64;
        self.a ^= n;
        self.a = self.a.wrapping_mul(0x100000001b3);
        self.b = (self.b ^ 0xff).wrapping_mul(0x100000001b3);
        self
    }

    /// The digest in hex.
    pub fn hex(&self) -> String {
        format!("{:016x}{:016x}", self.a, self.b)
    }

    /// The first 16 hex digits, for directory names.
    pub fn short(&self) -> String {
        self.hex()[..16].to_string()
    }
}

/// An exclusive advisory lock on a file, held until dropped: two harness processes (two
/// engineers' `cargo test` on one checkout) never build the same thing at once.
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

/// Write a file through a temporary name and a rename, so that a reader never sees half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = temp_beside(path);
    let mut f = File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, path)
        .map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), path.display()))
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

/// A fresh name beside `path` for a file being written.
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

/// What a finished command gave.
pub struct Output {
    /// Whether it exited with status 0.
    pub ok: bool,
    /// `exit code 1`, `signal 9`, or `cannot start: …`.
    pub status: String,
    /// What it wrote to its standard output.
    pub stdout: String,
    /// What it wrote to its standard error.
    pub stderr: String,
}

impl Output {
    /// The last `n` non-empty lines of stderr then stdout, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let text = format!("{}\n{}", self.stderr, self.stdout);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Run a command to completion with `stdin` written to it, its outputs captured. The Python
/// environment variables that would redirect an interpreter (`PYTHONPATH`, `PYTHONHOME`,
/// `PYTHONSTARTUP`) are removed.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    cmd.env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONSTARTUP")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Output {
                ok: false,
                status: format!("cannot start {:?}: {e}", cmd.get_program()),
                stdout: String::new(),
                stderr: String::new(),
            }
        }
    };
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let bytes = bytes.to_vec();
        // written from a thread so that a child that writes before reading cannot deadlock
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    match child.wait_with_output() {
        Ok(o) => Output {
            ok: o.status.success(),
            status: describe(o.status),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        },
        Err(e) => Output {
            ok: false,
            status: format!("cannot wait for {:?}: {e}", cmd.get_program()),
            stdout: String::new(),
            stderr: String::new(),
        },
    }
}

fn describe(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "an unknown status".into(),
    }
}

/// A command line as a person would type it (for error messages).
pub fn shown(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}
