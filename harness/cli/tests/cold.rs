//! The cold path, for real (issue 12): `introspec run` on an empty cache, compiled columns
//! included, twice at once on the SAME empty cache (two harnesses that race to make the same
//! virtual environments, C files, objects, libraries and observers), and once alone with
//! `--jobs 2` on another empty cache. All three must give the same results, trial for trial,
//! and leave no temporary file in either cache.
//!
//! The corpus is the real one narrowed to the `lifecycle` cases (generators, coroutines, async
//! generators, wrappers: 18 cases), on the newest CPython the harness finds with both
//! compilers, so that every step of a cold build runs: venvs from PyPI, Cython's translation
//! and shared module, gcc, mypyc's rounds (and its rejections, where the pinned mypyc has them).
//!
//! It is cold on purpose, so a warm `cargo test` (the README's, which a developer runs again
//! and again) leaves it out: `.ci/run` runs it on every CI run, after the README's two commands,
//! with `cargo test -p introspec --test cold -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use introspec_compilers::Compiler;
use introspec_runtimes::discover;

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cold-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The newest CPython both compilers build for, as (its path, its column name).
fn runtime() -> (PathBuf, String) {
    let settings = introspec_runner::Settings::from_env().expect("the settings are valid");
    let d = discover(&settings.discovery(&checkout()));
    d.runtimes
        .iter()
        .filter(|rt| {
            Compiler::ALL
                .iter()
                .all(|c| introspec_compilers::pin(*c, &rt.identity).is_ok())
        })
        .max_by_key(|rt| rt.identity.version.clone())
        .map(|rt| (rt.path.clone(), rt.name.clone()))
        .expect("the cold test needs a CPython that Cython and mypyc both build for (3.9 or newer)")
}

fn run(python: &Path, column: &str, cache: &Path, out: &Path, jobs: Option<usize>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_introspec"));
    c.arg("run")
        .args(["--column", column, "--case", "lifecycle", "--no-reference"])
        .arg("--out")
        .arg(out)
        .env("INTROSPEC_CACHE", cache)
        .env("INTROSPEC_PYTHONS", python)
        .env("INTROSPEC_ONLY_LISTED", "1")
        .env("INTROSPEC_COMPILERS", "cython,mypyc")
        .env_remove("INTROSPEC_TIMEOUT")
        .current_dir(checkout());
    if let Some(j) = jobs {
        c.args(["--jobs", &j.to_string()]);
    }
    c
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A results file as data (a run without `--timings` records no duration: nothing in it
/// differs between two runs).
fn comparable(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Fail naming the first field or trial that differs, not with two whole results files.
fn assert_same(a: &serde_json::Value, b: &serde_json::Value, what: &str) {
    for (k, va) in a.as_object().unwrap() {
        if k == "trials" {
            continue;
        }
        assert_eq!(Some(va), b.get(k), "{what}: `{k}` differs");
    }
    let (ta, tb) = (
        a["trials"].as_array().unwrap(),
        b["trials"].as_array().unwrap(),
    );
    assert_eq!(ta.len(), tb.len(), "{what}: trial counts differ");
    for (x, y) in ta.iter().zip(tb) {
        assert_eq!(
            x, y,
            "{what}: the trial {}::{} differs",
            x["column"], x["case"]
        );
    }
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() && !p.is_symlink() {
                // a venv's own files are pip's business
                if d.ends_with("venvs") {
                    continue;
                }
                stack.push(p);
            } else if name.ends_with(".tmp") {
                found.push(p);
            }
        }
    }
    found
}

#[test]
#[ignore = "cold by design (downloads the compilers, builds from an empty cache): .ci/run runs it every time; locally `cargo test -p introspec --test cold -- --ignored`"]
fn two_cold_harnesses_at_once_and_one_with_two_jobs_give_the_same_results() {
    let (python, name) = runtime();
    let dir = scratch("race");
    let (shared, alone) = (dir.join("shared-cache"), dir.join("alone-cache"));
    let outs: Vec<PathBuf> = ["a", "b", "c"]
        .iter()
        .map(|n| dir.join(format!("{n}.json")))
        .collect();
    let column = name.clone();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            run(&python, &column, &shared, &outs[0], None)
                .output()
                .unwrap()
        });
        let b = s.spawn(|| {
            run(&python, &column, &shared, &outs[1], None)
                .output()
                .unwrap()
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success(), "the first harness: {}", show(&a));
    assert!(b.status.success(), "the second harness: {}", show(&b));
    let c = run(&python, &column, &alone, &outs[2], Some(2))
        .output()
        .unwrap();
    assert!(c.status.success(), "the --jobs 2 harness: {}", show(&c));

    let ra = comparable(&outs[0]);
    let trials = ra["trials"].as_array().unwrap();
    let count = |col: &str| trials.iter().filter(|t| t["column"] == col).count();
    let interpreted = count(&name);
    assert!(interpreted > 10, "the lifecycle cases ran: {}", show(&a));
    for suffix in ["+cython", "+mypyc"] {
        let col = format!("{name}{suffix}");
        assert_eq!(
            count(&col),
            interpreted,
            "every case has a trial on {col}: {}",
            show(&a)
        );
    }
    assert_same(&ra, &comparable(&outs[1]), "the two harnesses at once");
    assert_same(
        &ra,
        &comparable(&outs[2]),
        "the first harness and the --jobs 2 one",
    );
    // and byte for byte: nothing nondeterministic is recorded
    let bytes: Vec<Vec<u8>> = outs.iter().map(|o| std::fs::read(o).unwrap()).collect();
    assert!(
        bytes[0] == bytes[1] && bytes[0] == bytes[2],
        "the three results files are equal as data but not byte for byte"
    );
    for cache in [&shared, &alone] {
        let left = temporaries(cache);
        assert!(
            left.is_empty(),
            "temporary files left in {}: {left:?}",
            cache.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
