//! One virtual environment per runtime and compiler version, made with the runtime's own
//! `-m venv` and filled by pip from PyPI, kept under `CACHE/venvs/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use introspec_runtimes::Runtime;
use serde::Deserialize;

use crate::util::{run, shown, write_atomic, Account, Lock};
use crate::{Pin, Step};

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
    let out = run(
        Command::new(&python).arg("-c").arg(CONFIG),
        None,
        account(pin),
    );
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
    // The runtime's own pip, when it can install into another interpreter (`--python`, pip
    // 22.3+), fills an environment made without pip: `-m venv` with pip runs ensurepip, which
    // installs pip from its bundled wheel into every environment (measured here on 3.12.1:
    // 4.3 s of CPU with pip, 0.06 s without).
    let outside_pip = outside_pip(rt, pin);
    let mut venv = Command::new(&rt.path);
    venv.arg("-m").arg("venv");
    if outside_pip {
        venv.arg("--without-pip");
    }
    venv.arg(dir);
    let out = run(&mut venv, None, account(pin));
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
    let mut pip = if outside_pip {
        let mut c = Command::new(&rt.path);
        c.args(["-m", "pip", "--python"]).arg(&python);
        c
    } else {
        let mut c = Command::new(&python);
        c.args(["-m", "pip"]);
        c
    };
    pip.args([
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ])
    .args(pin.requirements());
    let out = run(&mut pip, None, account(pin));
    if !out.ok {
        return Err(format!(
            "`{}` failed ({}): {}; check that PyPI is reachable, then run again (the \
             environment is made afresh)",
            shown(&pip),
            out.status,
            pip_errors(&out.stderr).unwrap_or_else(|| out.tail(6))
        ));
    }
    Ok(())
}

/// Whether the runtime has a pip that installs into another interpreter's environment
/// (`pip --python`, new in pip 22.3).
fn outside_pip(rt: &Runtime, pin: &Pin) -> bool {
    let out = run(
        Command::new(&rt.path).args(["-m", "pip", "--version"]),
        None,
        account(pin),
    );
    out.ok && pip_has_python_option(&out.stdout)
}

fn account(pin: &Pin) -> Account {
    Account {
        compiler: pin.compiler,
        step: Step::Environment,
    }
}

/// `pip 23.0.1 from …` → true; pip before 22.3 (or no version) → false.
fn pip_has_python_option(version_line: &str) -> bool {
    let Some(v) = version_line
        .strip_prefix("pip ")
        .and_then(|r| r.split_whitespace().next())
    else {
        return false;
    };
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (22, 3)
}

/// pip's own `ERROR:` lines (no index reachable: "No matching distribution found for …"),
/// without the retries' warnings before them.
fn pip_errors(stderr: &str) -> Option<String> {
    let errors: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("ERROR:"))
        .collect();
    (!errors.is_empty()).then(|| errors.join(" "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pip_22_3_and_newer_install_into_another_interpreter() {
        use super::pip_has_python_option as has;
        assert!(has(
            "pip 23.0.1 from /usr/lib/python3/dist-packages/pip (python 3.11)"
        ));
        assert!(has("pip 22.3 from x"));
        assert!(has("pip 24.2 from x"));
        assert!(!has("pip 22.0.4 from x"));
        assert!(!has("pip 18.1 from x"));
        assert!(!has("No module named pip"));
    }

    #[test]
    fn pip_errors_are_its_error_lines() {
        let stderr = "WARNING: Retrying (Retry(total=0)) after connection broken\n\
                      ERROR: Could not find a version that satisfies the requirement cython==3.3.1\n\
                      ERROR: No matching distribution found for cython==3.3.1\n";
        assert_eq!(
            super::pip_errors(stderr).unwrap(),
            "ERROR: Could not find a version that satisfies the requirement cython==3.3.1 \
             ERROR: No matching distribution found for cython==3.3.1"
        );
        assert_eq!(super::pip_errors("WARNING: x\n"), None);
    }
}
