//! A local build, as a core developer runs it (issue 16 item 1): `introspec run --python PATH`
//! and `introspec runtimes --python PATH --json` on a real interpreter and on two virtual
//! environments of it in different prefixes, which share its column name and must get
//! distinct ones; the `PATH` scan's `python3.Xt`/`python3.Xd` names; a narrowed run leaving
//! the committed results and reports alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the checkout")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("local-build-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The newest CPython 3.9+ (default build) found here, read by the PyO3 observer.
fn python() -> (PathBuf, String) {
    let settings = introspec_runner::Settings::from_env().expect("the settings are valid");
    let mut d = introspec_runtimes::discover(&settings.discovery(&checkout()));
    introspec_worker::observers::drop_unreadable(&mut d);
    d.runtimes
        .into_iter()
        .filter(|r| r.identity.implementation == "cpython")
        .filter(|r| !r.identity.free_threaded && !r.identity.debug)
        .filter(|r| introspec_worker::reference_supports(&r.identity).is_ok())
        .max_by_key(|r| r.identity.version.clone())
        .map(|r| (r.path, r.name))
        .expect("the local-build tests need a CPython 3.9 or newer")
}

/// `python -m venv --without-pip DIR`: the same interpreter file, another `sys.prefix`.
fn venv(python: &Path, dir: &Path) -> PathBuf {
    let o = Command::new(python)
        .args(["-m", "venv", "--without-pip"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    dir.join("bin/python")
}

/// The command, with an environment that names no interpreter and no compiler: each test
/// says what it wants.
fn introspec(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_introspec"));
    c.env_remove("INTROSPEC_COMPILERS")
        .env_remove("INTROSPEC_ONLY_LISTED")
        .env_remove("INTROSPEC_INSTALL")
        .env("INTROSPEC_CACHE", cache)
        .arg("--root")
        .arg(checkout());
    c
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn runtimes_json(c: &mut Command) -> Value {
    let o = c.args(["runtimes", "--json"]).output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", show(&o)))
}

fn names(v: &Value) -> Vec<String> {
    v["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

/// Exactly the paths given, a second path to one interpreter kept once, two venvs of it under
/// distinct names from their prefixes (none dropped), each with its plain and `+ref` column
/// and no compiled one unless asked; `INTROSPEC_PYTHONS` is left out.
#[test]
fn given_paths_are_exactly_the_runtimes_and_builds_sharing_a_name_stay_distinct() {
    let (python, name) = python();
    let dir = scratch("names");
    let a = venv(&python, &dir.join("a/venv"));
    let b = venv(&python, &dir.join("b/venv"));
    let link = dir.join("python-link");
    std::os::unix::fs::symlink(&python, &link).unwrap();
    let cache = dir.join("cache");
    let mut cmd = introspec(&cache);
    cmd.env("INTROSPEC_PYTHONS", "/nonexistent/python")
        .args(["runtimes", "--json"]);
    for p in [&python, &a, &b, &link] {
        cmd.arg("--python").arg(p);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], "introspec-runtimes/1");
    assert_eq!(
        names(&v),
        [
            name.clone(),
            format!("{name}@a-venv"),
            format!("{name}@b-venv")
        ],
        "{v:#}"
    );
    for rt in v["runtimes"].as_array().unwrap() {
        assert_eq!(rt["found_by"], "--python");
        let cols: Vec<&str> = rt["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let base = rt["name"].as_str().unwrap();
        assert_eq!(cols, [base.to_string(), format!("{base}+ref")], "{rt:#}");
    }
    assert!(
        v["unusable"].as_array().unwrap().is_empty(),
        "INTROSPEC_PYTHONS is not looked at with --python: {v:#}"
    );
    assert!(v["absent"].as_array().unwrap().is_empty());
    // a compiler asked for by its variable makes its column again
    let mut cmd = introspec(&cache);
    cmd.env("INTROSPEC_COMPILERS", "cython")
        .args(["runtimes", "--json", "--python"])
        .arg(&python);
    let o = cmd.output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let cols = v["runtimes"][0]["columns"].as_array().unwrap();
    let compiled = cols.iter().filter(|c| c["compiler"] == "cython").count()
        + v["not_compiled"].as_array().unwrap().len();
    assert_eq!(compiled, 1, "{v:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `introspec run --python VENV` runs that venv's two columns, under its own name, and a
/// narrowed run writes its results to target/introspec/, never to reports/.
#[test]
fn run_python_runs_its_two_columns_and_leaves_the_committed_results_alone() {
    let (python, name) = python();
    let dir = scratch("run");
    let a = venv(&python, &dir.join("a/venv"));
    let cache = dir.join("cache");
    let committed = checkout().join("reports/results/latest.json");
    let before = std::fs::read(&committed).ok();
    let out = checkout().join("target/introspec/results.json");
    let mut c = introspec(&cache);
    c.args(["run", "--case", "generator.lifecycle", "--python"])
        .arg(&python)
        .arg("--python")
        .arg(&a);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        std::fs::read(&committed).ok(),
        before,
        "reports/results/latest.json changed"
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let cols: Vec<&str> = r["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let venv_name = format!("{name}@venv");
    assert_eq!(
        cols,
        [
            name.clone(),
            format!("{name}+ref"),
            venv_name.clone(),
            format!("{venv_name}+ref")
        ]
    );
    for col in &cols {
        let n = r["trials"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["column"] == *col)
            .count();
        assert!(n > 0, "{col} has no trials");
    }
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("reports/ left as it was"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The PATH scan finds free-threaded and debug builds by their names (`python3.Xt`,
/// `python3.Xd`); here each stands in a directory of its own made a virtual environment of the
/// default build (a `pyvenv.cfg` beside `bin/`), so that the two are two runtimes.
#[test]
fn the_path_scan_finds_python3_x_t_and_d() {
    let (python, _) = python();
    let dir = scratch("path");
    let mut path = Vec::new();
    for n in ["python3.13t", "python3.14d"] {
        let env = dir.join(n);
        std::fs::create_dir_all(env.join("bin")).unwrap();
        std::fs::write(
            env.join("pyvenv.cfg"),
            format!(
                "home = {}\ninclude-system-site-packages = false\n",
                python.parent().unwrap().display()
            ),
        )
        .unwrap();
        std::os::unix::fs::symlink(&python, env.join("bin").join(n)).unwrap();
        path.push(env.join("bin"));
    }
    let mut c = introspec(&dir.join("cache"));
    c.env("PATH", std::env::join_paths(&path).unwrap())
        .env("PYENV_ROOT", dir.join("no-pyenv"))
        .env("INTROSPEC_PYTHONS", "");
    let v = runtimes_json(&mut c);
    let mut found: Vec<String> = v["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["found_by"] == "PATH")
        .map(|r| {
            let p = r["path"].as_str().unwrap();
            p.rsplit('/').next().unwrap().to_string()
        })
        .collect();
    found.sort();
    assert_eq!(found, ["python3.13t", "python3.14d"], "{v:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A compiled column that cannot be built (here: no package index, as on a machine without
/// network) is one result, the column broken with pip's own error, and fails the run; its
/// trials are not each an ERROR repeating why.
#[test]
fn a_compiled_column_that_cannot_be_built_is_one_broken_result() {
    let (python, name) = python();
    let dir = scratch("nonet");
    let out = dir.join("results.json");
    let mut c = introspec(&dir.join("cache"));
    c.env("PIP_INDEX_URL", "http://127.0.0.1:9/")
        .env("PIP_RETRIES", "0")
        .args([
            "run",
            "--no-reference",
            "--compilers",
            "cython",
            "--case",
            "generator.lifecycle",
            "--python",
        ])
        .arg(&python)
        .arg("--out")
        .arg(&out);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let column = format!("{name}+cython");
    assert!(
        stdout.contains(&format!("column broken: {column}: "))
            && stdout.contains("No matching distribution found"),
        "{}",
        show(&o)
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let broken = r["broken"].as_array().unwrap();
    assert_eq!(broken.len(), 1, "{r:#}");
    assert_eq!(broken[0]["column"], column.as_str());
    let errors = r["trials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["column"] == column.as_str() && t["status"] != "skip")
        .count();
    assert_eq!(
        errors, 0,
        "the broken column's trials are not recorded one by one"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
