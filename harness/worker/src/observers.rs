//! The observers this binary carries, written to a cache directory on first use.

use std::path::{Path, PathBuf};

use introspec_runtimes::Identity;

const PYO3_OBSERVER: &[u8] = include_bytes!(env!("INTROSPEC_PYO3_OBSERVER_SO"));
const PORTABLE_OBSERVER: &[u8] = include_bytes!("../../observer-portable/introspec_portable.py");
const REFERENCE: &[u8] = include_bytes!(env!("INTROSPEC_REFERENCE_SO"));

/// Which observer a worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Observer {
    /// `harness/observer-pyo3`: Rust through PyO3, one abi3 build for CPython 3.9+.
    Pyo3,
    /// `harness/observer-portable`: one Python file for every interpreter.
    Portable,
}

impl Observer {
    pub fn name(self) -> &'static str {
        match self {
            Observer::Pyo3 => "pyo3",
            Observer::Portable => "portable",
        }
    }

    pub fn parse(s: &str) -> Option<Observer> {
        match s {
            "pyo3" => Some(Observer::Pyo3),
            "portable" => Some(Observer::Portable),
            _ => None,
        }
    }

    /// Whether this observer can run on a runtime, and if not why.
    pub fn supports(self, id: &Identity) -> Result<(), String> {
        match self {
            Observer::Portable => Ok(()),
            Observer::Pyo3 => {
                let v = introspec_spec::Version::parse(&id.version).unwrap_or_default();
                if id.implementation != "cpython" {
                    Err(format!(
                        "the abi3 build loads into CPython only, not {}",
                        id.implementation
                    ))
                } else if v < introspec_spec::Version(3, 9, 0) {
                    Err("PyO3 0.30's abi3 build needs CPython 3.9 or newer".into())
                } else if id.free_threaded {
                    Err("free-threaded builds cannot load abi3 extension modules".into())
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The observer of record for a runtime: PyO3 where it loads, else the portable one.
    pub fn preferred(id: &Identity) -> Observer {
        if Observer::Pyo3.supports(id).is_ok() {
            Observer::Pyo3
        } else {
            Observer::Portable
        }
    }
}

/// Whether the reference implementation (an abi3 module) loads into a runtime.
pub fn reference_supports(id: &Identity) -> Result<(), String> {
    Observer::Pyo3.supports(id)
}

fn write_once(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    if std::fs::read(&path).ok().as_deref() != Some(bytes) {
        // write then rename, so that parallel harnesses never see half a file
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(path)
}

fn digest(bytes: &[u8]) -> String {
    // FNV-1a: enough to keep different builds in different directories
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// The directory holding `introspec_pyo3.abi3.so`.
pub fn pyo3_dir(cache: &Path) -> std::io::Result<PathBuf> {
    let dir = cache.join("observers").join(digest(PYO3_OBSERVER));
    write_once(&dir, "introspec_pyo3.abi3.so", PYO3_OBSERVER)?;
    Ok(dir)
}

/// The path of `introspec_portable.py`.
pub fn portable_file(cache: &Path) -> std::io::Result<PathBuf> {
    let dir = cache.join("observers").join(digest(PORTABLE_OBSERVER));
    write_once(&dir, "introspec_portable.py", PORTABLE_OBSERVER)
}

/// The directory holding the reference implementation, `async_introspection.abi3.so`.
pub fn reference_dir(cache: &Path) -> std::io::Result<PathBuf> {
    let dir = cache.join("reference").join(digest(REFERENCE));
    write_once(&dir, "async_introspection.abi3.so", REFERENCE)?;
    Ok(dir)
}
