//! One virtual environment per runtime and compiler version, made with the runtime's own
//! `-m venv` and filled by pip from PyPI, kept under `CACHE/venvs/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use introspec_runtimes::Runtime;
use serde::Deserialize;

use crate::util::{run, shown, write_atomic, Lock};
use crate::Pin;

/// A ready virtual environment.
#[derive(Debug, Clone)]
pub struct Venv {
    /// The environment's directory.
    pub dir: PathBuf,
    /// Its interpreter (the runtime, with the environment's site-packages).
    pub python: PathBuf,
    /// What the interpreter says of its build: where its headers are.
    pub config: PyConfig,
}

/// The build facts of an interpreter that compiling extensions needs.
#[derive(Debug, Clone, Deserialize)]
pub struct PyConfig {
    /// `sysconfig.get_paths()["include"]`.
    pub include: String,
    /// `sysconfig.get_paths()["platinclude"]`.
    pub platinclude: String,
}

const READY: &str = ".introspec-ready";

const CONFIG: &str = r#"import json, sysconfig
p = sysconfig.get_paths()
print(json.dumps({"include": p["include"], "platinclude": p.get("platinclude", p["include"])}))"#;

/// A stable key for a runtime build: its column name and a digest of what it says of itself,
/// so that a rebuilt interpreter at the same path gets fresh environments and objects.
pub fn runtime_key(rt: &Runtime) -> String {
    let id = &rt.identity;
    let mut d = crate::util::Digest::new();
    d.add(&id.implementation)
        .add(&id.implementation_version)
        .add(id.version.to_string())
        .add(&id.executable)
        .add(&id.build)
        .add([u8::from(id.free_threaded), u8::from(id.debug)]);
    format!("{}-{}", rt.name, &d.short()[..8])
}

/// The environment for `rt` and `pin`, made on first use: `RUNTIME -m venv DIR`, then
/// `DIR/bin/python -m pip install` of the pinned requirements. Waits for another process
/// that is making the same one.
pub fn ensure(cache: &Path, rt: &Runtime, pin: &Pin) -> Result<Venv, String> {
    let name = format!("{}-{}-{}", runtime_key(rt), pin.package, pin.version);
    let dir = cache.join("venvs").join(&name);
    let python = dir.join("bin").join("python");
    let want = pin.requirements().join(" ");
    let ready = || {
        std::fs::read_to_string(dir.join(READY))
            .ok()
            .is_some_and(|s| s.trim() == want)
    };
    if !ready() {
        let _lock = Lock::acquire(&cache.join("venvs").join(format!("{name}.lock")))?;
        if !ready() {
            create(rt, &dir, pin)?;
            write_atomic(&dir.join(READY), want.as_bytes())?;
        }
    }
    let out = run(Command::new(&python).arg("-c").arg(CONFIG), None);
    if !out.ok {
        return Err(format!(
            "the environment {} does not run ({}): {}; delete that directory and run again",
            dir.display(),
            out.status,
            out.tail(3)
        ));
    }
    let config: PyConfig = serde_json::from_str(out.stdout.trim()).map_err(|e| {
        format!(
            "{} did not report its include directories ({e}): {}",
            python.display(),
            out.tail(3)
        )
    })?;
    Ok(Venv {
        dir,
        python,
        config,
    })
}

fn create(rt: &Runtime, dir: &Path, pin: &Pin) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| {
            format!(
                "cannot remove the unfinished environment {}: {e}",
                dir.display()
            )
        })?;
    }
    let mut venv = Command::new(&rt.path);
    venv.arg("-m").arg("venv").arg(dir);
    let out = run(&mut venv, None);
    if !out.ok {
        return Err(format!(
            "`{}` failed ({}): {}; this runtime cannot make virtual environments (on Debian: \
             apt-get install -y python3-venv), so {} cannot be installed for it",
            shown(&venv),
            out.status,
            out.tail(4),
            pin.package
        ));
    }
    let python = dir.join("bin").join("python");
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ])
    .args(pin.requirements());
    let out = run(&mut pip, None);
    if !out.ok {
        return Err(format!(
            "`{}` failed ({}): {}; check that PyPI is reachable, then run again (the \
             environment is made afresh)",
            shown(&pip),
            out.status,
            out.tail(6)
        ));
    }
    Ok(())
}
