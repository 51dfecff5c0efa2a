//! Version-specific builds of the two PyO3 modules (the observer and the reference
//! implementation of the proposal) for a runtime that cannot load their abi3 builds: a
//! free-threaded CPython (PEP 703) has no stable ABI for extension modules, and PyO3 0.30
//! builds for it only against that interpreter ("Supporting Free-Threaded CPython", PyO3's
//! guide). Made on first use with the cargo that built the harness, from the crate sources of
//! the checkout that built it, into the cache; keyed by a BLAKE3 digest of those sources and
//! of the interpreter, and locked, so harnesses started at once build it once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use introspec_cache::{Digest, Lock};

/// The harness directory of the checkout that built this binary.
const HARNESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The crates the two modules are built from (the observer depends on the protocol crate).
const SOURCES: [&str; 3] = ["observer-pyo3", "reference", "protocol"];

/// Where a runtime's version-specific builds are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builds {
    /// The directory holding `introspec_pyo3.so`.
    pub observer_dir: PathBuf,
    /// The directory holding `async_introspection.so`.
    pub reference_dir: PathBuf,
}

/// The builds for the interpreter `python`, made now if the cache has none. Once per process
/// and interpreter; a failure is remembered too, with why.
pub fn for_interpreter(cache: &Path, python: &Path) -> Result<Builds, String> {
    type Done = Mutex<Vec<((PathBuf, PathBuf), Result<Builds, String>)>>;
    static DONE: OnceLock<Done> = OnceLock::new();
    let done = DONE.get_or_init(|| Mutex::new(Vec::new()));
    let key = (cache.to_path_buf(), python.to_path_buf());
    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, r)) = done.iter().find(|(k, _)| *k == key) {
        return r.clone();
    }
    let r = build(cache, python);
    done.push((key, r.clone()));
    r
}

fn build(cache: &Path, python: &Path) -> Result<Builds, String> {
    let harness = Path::new(HARNESS);
    let mut digest = Digest::new();
    digest.add(python.as_os_str().as_encoded_bytes());
    digest.add(interpreter_fingerprint(python)?);
    for krate in SOURCES {
        add_tree(&mut digest, &harness.join(krate))?;
    }
    let dir = cache.join("pyext").join(digest.short());
    let builds = Builds {
        observer_dir: dir.join("observer"),
        reference_dir: dir.join("reference"),
    };
    let observer = builds.observer_dir.join("introspec_pyo3.so");
    let reference = builds.reference_dir.join("async_introspection.so");
    if observer.exists() && reference.exists() {
        return Ok(builds);
    }
    let _lock = Lock::acquire(&dir.with_extension("lock"))?;
    if observer.exists() && reference.exists() {
        return Ok(builds);
    }
    let target = dir.join("target");
    for (krate, lib, into) in [
        ("observer-pyo3", "libintrospec_pyo3.so", &observer),
        ("reference", "libasync_introspection.so", &reference),
    ] {
        cargo_build(&harness.join(krate), &target, python)?;
        let built = target.join("release").join(lib);
        let bytes =
            std::fs::read(&built).map_err(|e| format!("cannot read {}: {e}", built.display()))?;
        introspec_cache::write_atomic(into, &bytes)?;
    }
    // the key changes with the sources, so no later build would reuse this target directory
    let _ = std::fs::remove_dir_all(&target);
    Ok(builds)
}

/// What makes two interpreters at one path different builds: the version and the ABI flags
/// (a rebuilt `./python` keeps its path).
fn interpreter_fingerprint(python: &Path) -> Result<Vec<u8>, String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, sysconfig; print(sys.version, sysconfig.get_config_var('EXT_SUFFIX'), sysconfig.get_config_var('Py_GIL_DISABLED'))",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} could not say what it is: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// Every file under `dir` but build output, in a fixed order, with its relative path.
fn add_tree(digest: &mut Digest, dir: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    for rel in files {
        let bytes = std::fs::read(dir.join(&rel))
            .map_err(|e| format!("cannot read {}: {e}", dir.join(&rel).display()))?;
        digest.add(rel.as_os_str().as_encoded_bytes());
        digest.add(bytes);
    }
    Ok(())
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "cannot read {} (the sources of the PyO3 modules, from the checkout that built introspec): {e}",
            dir.display()
        )
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
        if kind.is_dir() {
            collect(root, &path, files)?;
        } else if kind.is_file() {
            files.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

fn cargo_build(krate: &Path, target: &Path, python: &Path) -> Result<(), String> {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--quiet", "--no-default-features"])
        .arg("--manifest-path")
        .arg(krate.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target)
        // PyO3's build script reads the interpreter to build for from PYO3_PYTHON
        .env("PYO3_PYTHON", python)
        .env("PYO3_BUILD_EXTENSION_MODULE", "1");
    // a cargo started by `cargo run` must not take the outer one's view of itself
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let outer = k.starts_with("CARGO_")
            && k != "CARGO_HOME"
            && !k.starts_with("CARGO_NET")
            && !k.starts_with("CARGO_REGISTR")
            && !k.starts_with("CARGO_HTTP");
        if outer || matches!(k.as_str(), "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER") {
            cmd.env_remove(&k);
        }
    }
    eprintln!(
        "introspec: building {} for {} (a version-specific PyO3 build, once; cached)",
        krate.file_name().unwrap_or_default().to_string_lossy(),
        python.display()
    );
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cargo} to build {}: {e}", krate.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        return Err(format!(
            "building {} for {} failed (`PYO3_PYTHON={} PYO3_BUILD_EXTENSION_MODULE=1 cargo build --release --no-default-features --manifest-path {}` shows why): {}",
            krate.display(),
            python.display(),
            python.display(),
            krate.join("Cargo.toml").display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(())
}
