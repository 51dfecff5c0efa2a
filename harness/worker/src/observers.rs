//! The observers this binary carries, written to a cache directory on first use.

use std::path::{Path, PathBuf};

use introspec_runtimes::{Discovery, Identity, Unusable};

const PYO3_OBSERVER: &[u8] = include_bytes!(env!("INTROSPEC_PYO3_OBSERVER_SO"));
const PORTABLE_SOURCE: &str = include_str!("../../observer-portable/introspec_portable.py");
/// The check after every case that both observers run (issue 14), one text.
const LEFTOVERS: &str = include_str!("../../observer-pyo3/src/leftovers.py");
/// The line of [`PORTABLE_SOURCE`] that [`LEFTOVERS`] replaces.
const LEFTOVERS_MARKER: &str =
    "# @leftovers: harness/observer-pyo3/src/leftovers.py is put here when the harness writes this file\n";

/// The recording of trace and monitoring events that both observers run (issue 15), one text.
const EVENTS: &str = include_str!("../../observer-pyo3/src/events.py");
/// The line of [`PORTABLE_SOURCE`] that [`EVENTS`] replaces.
const EVENTS_MARKER: &str =
    "# @events: harness/observer-pyo3/src/events.py is put here when the harness writes this file\n";

/// The portable observer as it is written out: its source with the leftovers check and the
/// events recording in place.
fn portable_observer() -> &'static [u8] {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        for (marker, what) in [(LEFTOVERS_MARKER, "leftovers"), (EVENTS_MARKER, "events")] {
            assert_eq!(
                PORTABLE_SOURCE.matches(marker).count(),
                1,
                "introspec_portable.py holds the {what} marker line once"
            );
        }
        PORTABLE_SOURCE
            .replacen(LEFTOVERS_MARKER, LEFTOVERS, 1)
            .replacen(EVENTS_MARKER, EVENTS, 1)
    })
    .as_bytes()
}
const REFERENCE: &[u8] = include_bytes!(env!("INTROSPEC_REFERENCE_SO"));

pub use introspec_results::Observer;

/// Whether `observer` can run on a runtime, and if not why.
pub fn supports(observer: Observer, id: &Identity) -> Result<(), String> {
    match observer {
        Observer::Portable => {
            let v = id.version.release();
            if v < (2, 7, 0) || ((3, 0, 0)..(3, 6, 0)).contains(&v) {
                Err(format!(
                    "the portable observer needs Python 2.7, or 3.6 and newer, and this is {} {}",
                    id.implementation, id.version
                ))
            } else {
                Ok(())
            }
        }
        Observer::Pyo3 => {
            let v = id.version.release();
            if id.implementation != "cpython" {
                Err(format!(
                    "the abi3 build loads into CPython only, not {}",
                    id.implementation
                ))
            } else if v < (3, 9, 0) {
                Err("PyO3 0.30's abi3 build needs CPython 3.9 or newer".into())
            } else if id.free_threaded && v < (3, 14, 0) {
                Err("free-threaded builds cannot load abi3 extension modules, and PyO3 0.30's builds for one are tried here from 3.14 on".into())
            } else {
                // a free-threaded 3.14+ loads a build for its interpreter (crate::pyext)
                Ok(())
            }
        }
    }
}

/// The observer of record for a runtime: PyO3 where it loads, else the portable one.
pub fn preferred(id: &Identity) -> Observer {
    if supports(Observer::Pyo3, id).is_ok() {
        Observer::Pyo3
    } else {
        Observer::Portable
    }
}

/// The observer of record for a runtime, or why no observer can read it (a Python older than
/// every observer supports).
pub fn observer_for(id: &Identity) -> Result<Observer, String> {
    match supports(Observer::Portable, id) {
        Err(why) => Err(format!("no observer can read it: {why}")),
        Ok(()) => Ok(preferred(id)),
    }
}

/// Move the runtimes that no observer can read from `runtimes` to `unusable`, with why.
pub fn drop_unreadable(d: &mut Discovery) {
    let (ok, unreadable): (Vec<_>, Vec<_>) = std::mem::take(&mut d.runtimes)
        .into_iter()
        .partition(|rt| observer_for(&rt.identity).is_ok());
    d.runtimes = ok;
    for rt in unreadable {
        let why = observer_for(&rt.identity).err().unwrap_or_default();
        d.unusable.push(Unusable {
            path: rt.path,
            found_by: rt.found_by,
            why,
        });
    }
}

/// Whether the reference implementation (an abi3 module, or for a free-threaded CPython a
/// build for its interpreter) loads into a runtime.
pub fn reference_supports(id: &Identity) -> Result<(), String> {
    supports(Observer::Pyo3, id)
}

/// Whether a runtime loads the PyO3 modules built for its own interpreter rather than their
/// abi3 builds (a free-threaded CPython: crate::pyext).
pub fn needs_interpreter_build(id: &Identity) -> bool {
    id.free_threaded && id.implementation == "cpython"
}

/// The observer of record for the runtime at `python`: as [`preferred`], except that where
/// the PyO3 observer needs a build for the interpreter and that build cannot be made, the
/// portable observer reads it (and why is printed once).
pub fn preferred_built(id: &Identity, python: &Path, cache: &Path) -> Observer {
    let preferred = preferred(id);
    if preferred == Observer::Pyo3 && needs_interpreter_build(id) {
        if let Err(why) = crate::pyext::for_interpreter(cache, python) {
            eprintln!(
                "introspec: {} is read by the portable observer: {why}",
                python.display()
            );
            return Observer::Portable;
        }
    }
    preferred
}

/// The directory holding the reference implementation for the runtime at `python`.
pub fn reference_dir_for(id: &Identity, python: &Path, cache: &Path) -> Result<PathBuf, String> {
    if needs_interpreter_build(id) {
        crate::pyext::for_interpreter(cache, python).map(|b| b.reference_dir)
    } else {
        reference_dir(cache).map_err(|e| e.to_string())
    }
}

fn write_once(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    introspec_cache::write_if_changed(&path, bytes).map_err(std::io::Error::other)?;
    Ok(path)
}

fn digest(bytes: &[u8]) -> String {
    introspec_cache::short_digest(bytes)
}

/// Write an embedded file once per cache directory and process: every worker start asks
/// for it, and hashing and comparing a megabyte each time is not free.
fn provide(cache: &Path, sub: &str, name: &str, bytes: &'static [u8]) -> std::io::Result<PathBuf> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static DONE: OnceLock<Mutex<HashMap<(PathBuf, &'static str), PathBuf>>> = OnceLock::new();
    let done = DONE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (cache.to_path_buf(), sub_name(sub, name));
    if let Some(p) = done.lock().unwrap().get(&key) {
        if p.exists() {
            return Ok(p.clone());
        }
    }
    let dir = cache.join(sub).join(digest(bytes));
    let path = write_once(&dir, name, bytes)?;
    done.lock().unwrap().insert(key, path.clone());
    Ok(path)
}

fn sub_name(sub: &str, name: &str) -> &'static str {
    match (sub, name) {
        ("reference", _) => "reference",
        (_, "introspec_portable.py") => "portable",
        _ => "pyo3",
    }
}

/// The directory holding `introspec_pyo3.abi3.so`.
pub fn pyo3_dir(cache: &Path) -> std::io::Result<PathBuf> {
    let file = provide(cache, "observers", "introspec_pyo3.abi3.so", PYO3_OBSERVER)?;
    Ok(file.parent().expect("a file in a directory").to_path_buf())
}

/// The path of `introspec_portable.py`.
pub fn portable_file(cache: &Path) -> std::io::Result<PathBuf> {
    provide(
        cache,
        "observers",
        "introspec_portable.py",
        portable_observer(),
    )
}

/// The directory holding the reference implementation, `async_introspection.abi3.so`.
pub fn reference_dir(cache: &Path) -> std::io::Result<PathBuf> {
    let file = provide(cache, "reference", "async_introspection.abi3.so", REFERENCE)?;
    Ok(file.parent().expect("a file in a directory").to_path_buf())
}

#[cfg(test)]
mod tests {
    /// The two observers check what a case left behind with the same Python text: the portable
    /// observer written out holds it whole, once, where its marker was.
    #[test]
    fn both_observers_carry_the_same_leftovers_check() {
        let portable = std::str::from_utf8(super::portable_observer()).unwrap();
        assert_eq!(portable.matches(super::LEFTOVERS).count(), 1);
        assert!(!portable.contains(super::LEFTOVERS_MARKER));
        assert!(portable.contains("\n# end of leftovers\n"));
    }

    /// Likewise the recording of trace and monitoring events.
    #[test]
    fn both_observers_carry_the_same_events_recording() {
        let portable = std::str::from_utf8(super::portable_observer()).unwrap();
        assert_eq!(portable.matches(super::EVENTS).count(), 1);
        assert!(!portable.contains(super::EVENTS_MARKER));
        assert!(portable.contains("\n# end of events\n"));
    }
}
