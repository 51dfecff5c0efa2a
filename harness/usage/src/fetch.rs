//! Pinned files into the cache: downloaded once, checked against the pinned sha256 every
//! time they are used, written atomically.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::pins::Package;

/// Fetches the URL given as argv[1] and writes its bytes to stdout. Python's urllib, run by
/// the scanning interpreter: the harness needs no HTTP or TLS crate for a few downloads, and
/// uses the interpreter's own certificate store.
const DOWNLOAD: &str = r#"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as r:
    data = r.read(256 << 20)
sys.stdout.buffer.write(data)
"#;

/// The sha256 of `bytes`, as 64 hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where a package's file is cached.
pub fn cached_path(cache: &Path, p: &Package) -> PathBuf {
    cache.join("usage").join(&p.file)
}

/// What [`fetch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The cached file had the pinned sha256.
    Cached,
    /// Downloaded now.
    Downloaded,
}

/// The cached file of `p`, downloaded by `python` when missing or not the pinned bytes
/// (a cached file whose sha256 differs is downloaded again, never used).
pub fn fetch(
    cache: &Path,
    pins: &Path,
    p: &Package,
    python: &Path,
) -> Result<(PathBuf, Fetched), String> {
    let path = cached_path(cache, p);
    if let Ok(bytes) = std::fs::read(&path) {
        if sha256_hex(&bytes) == p.sha256 {
            return Ok((path, Fetched::Cached));
        }
    }
    let out = Command::new(python)
        .arg("-c")
        .arg(DOWNLOAD)
        .arg(&p.url)
        .output()
        .map_err(|e| format!("cannot run {} to download {}: {e}", python.display(), p.url))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{}:{}: {} {}: cannot download {}: {}; check the network (PyPI must be reachable) and the url",
            pins.display(),
            p.line,
            p.name,
            p.version,
            p.url,
            err.trim().lines().last().unwrap_or("no message")
        ));
    }
    verify(pins, p, &out.stdout)?;
    introspec_cache::write_atomic(&path, &out.stdout)?;
    Ok((path, Fetched::Downloaded))
}

/// Refuse bytes that are not the pinned file, naming the package, the pin and the fix.
pub fn verify(pins: &Path, p: &Package, bytes: &[u8]) -> Result<(), String> {
    let got = sha256_hex(bytes);
    if got == p.sha256 {
        return Ok(());
    }
    Err(format!(
        "{}:{}: {} {}: {} downloaded from {} ({} bytes) has sha256 {got}, not the pinned {}; \
         nothing was cached. Either the pin is wrong or the download was altered: compare with \
         digests.sha256 of {} in https://pypi.org/pypi/{}/{}/json and correct the sha256 at \
         that line (never to a value PyPI does not list)",
        pins.display(),
        p.line,
        p.name,
        p.version,
        p.file,
        p.url,
        bytes.len(),
        p.sha256,
        p.file,
        p.name,
        p.version
    ))
}
