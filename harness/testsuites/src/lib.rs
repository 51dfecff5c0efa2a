//! CPython's own test suites with the proposal installed (issue 18 item 2).
//!
//! For each CPython where the reference implementation (`async_introspection`) loads, each
//! of the interpreter's own `Lib/test` suites that touch generators, coroutines and async
//! generators runs under regrtest twice: bare, and with `async_introspection.install()` done
//! at the start of every process regrtest starts (a `sitecustomize` on `PYTHONPATH`, which
//! each process reports back through a probe file). Every test case whose outcome differs is
//! rerun once in three modes (bare, the module imported only, installed), and a difference
//! counts only if the rerun reproduces it. The report ([`Report`],
//! `reports/cpython-test-suites.json`) holds no timings and no paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod regrtest;

/// The schema of `cpython-test-suites.json`.
pub const SCHEMA: &str = "introspec-cpython-tests/1";

/// The suites of issue 18 item 2: those of `Lib/test` that touch these objects.
pub const SUITES: [&str; 8] = [
    "test_inspect",
    "test_generators",
    "test_coroutines",
    "test_asyncgen",
    "test_types",
    "test_dis",
    "test_sys_settrace",
    "test_asyncio",
];

/// regrtest's options, the same on CPython 3.9 to 3.13 (`-j1`: each test file in a worker
/// process regrtest starts; `-W`: a failing test file's output is shown, with unittest's
/// `FAIL:`/`ERROR:` header of each failing subtest, which the JUnit file leaves unnamed;
/// `--timeout`: seconds one test file may take).
pub const REGRTEST_ARGS: [&str; 6] = ["-m", "test", "-j1", "-W", "--timeout", "600"];

/// How a run is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No `sitecustomize`, no `PYTHONPATH`.
    Bare,
    /// `async_introspection` imported in every process, `install()` not called (reruns only:
    /// it tells the module's import apart from `install()`).
    Loaded,
    /// `async_introspection.install()` done in every process.
    Installed,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::Loaded => "loaded",
            Mode::Installed => "installed",
        }
    }
}

/// The outcome of one test case (`test.id()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failure,
    Error,
    Skipped,
    ExpectedFailure,
    UnexpectedSuccess,
    /// Reported in one run and not in the other (a crash, a test file that did not load).
    Absent,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failure => "failure",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
            Outcome::ExpectedFailure => "expected failure",
            Outcome::UnexpectedSuccess => "unexpected success",
            Outcome::Absent => "absent",
        }
    }
}

/// A CPython to run the suites on, found by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The column name, `cpython-3.12.1`.
    pub name: String,
    /// `3.12.1`
    pub version: String,
    pub path: PathBuf,
}

/// What a run needs besides the interpreters.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The per-user cache; runs are kept in `testsuites/` in it.
    pub cache: PathBuf,
    /// The directory holding `async_introspection.abi3.so`, written from the binary.
    pub reference_dir: PathBuf,
    /// The digest of that module (the cache's key for it).
    pub reference_module: String,
    /// The digest of the reference implementation's sources in the checkout.
    pub reference_source: String,
    /// The commit the harness ran from, `-dirty` if the tree had changes.
    pub commit: String,
    /// The address-space limit of every process of a run.
    pub memory_limit: Option<u64>,
    /// How long one regrtest run (one suite, one mode) may take in all.
    pub run_timeout: Duration,
    /// The suites to run (a subset of [`SUITES`] when asked).
    pub suites: Vec<String>,
    /// Where regrtest finds the suites (`--testdir`): `None` for the CPython's own `Lib/test`,
    /// a directory of test files for the harness's own tests.
    pub testdir: Option<PathBuf>,
}

/// What one regrtest run found, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Test cases that reported an outcome.
    pub cases: usize,
    pub passed: usize,
    pub failures: usize,
    pub errors: usize,
    pub skipped: usize,
    pub expected_failures: usize,
    pub unexpected_successes: usize,
}

impl Counts {
    pub fn of(cases: &BTreeMap<String, Outcome>) -> Counts {
        let mut c = Counts::default();
        for o in cases.values() {
            c.cases += 1;
            match o {
                Outcome::Passed => c.passed += 1,
                Outcome::Failure => c.failures += 1,
                Outcome::Error => c.errors += 1,
                Outcome::Skipped => c.skipped += 1,
                Outcome::ExpectedFailure => c.expected_failures += 1,
                Outcome::UnexpectedSuccess => c.unexpected_successes += 1,
                Outcome::Absent => {}
            }
        }
        c
    }
}

/// What the `sitecustomize` of a run's processes reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// regrtest worker processes that reported.
    pub workers: usize,
    /// Of those, the ones where the proposal was in effect (installed runs) or the module
    /// loaded (loaded runs).
    pub workers_in_effect: usize,
    /// Whether every process that reported (workers, regrtest itself, the subprocesses tests
    /// start) had it in effect.
    pub every_process: bool,
    /// What the others said, each once.
    pub failures: Vec<String>,
}

/// One regrtest run, as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub mode: Mode,
    /// regrtest's `== Tests result: X ==`, if it got that far.
    pub result: Option<String>,
    /// regrtest's exit status, or the signal that ended it.
    pub exit: String,
    /// Whether the harness stopped it at `run_timeout`.
    pub timed_out: bool,
    /// Test cases with no name in the JUnit file (tests whose subtests failed; their
    /// names come from the output).
    pub unnamed: usize,
    pub probe: Option<Probe>,
    pub cases: BTreeMap<String, Outcome>,
}

/// One side of a suite in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    pub result: Option<String>,
    pub exit: String,
    pub timed_out: bool,
    pub counts: Counts,
    pub probe: Option<Probe>,
}

impl Side {
    fn of(run: &Run) -> Side {
        Side {
            result: run.result.clone(),
            exit: run.exit.clone(),
            timed_out: run.timed_out,
            counts: Counts::of(&run.cases),
            probe: run.probe.clone(),
        }
    }
}

/// A test case whose outcome differed between the bare and the installed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub test: String,
    pub bare: Outcome,
    pub installed: Outcome,
    /// The rerun of this case alone (regrtest `--matchfile`), in each mode.
    pub rerun_bare: Outcome,
    pub rerun_loaded: Outcome,
    pub rerun_installed: Outcome,
    /// The rerun gave the same two outcomes.
    pub reproduced: bool,
}

/// One suite on one CPython.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suite {
    pub name: String,
    pub bare: Side,
    pub installed: Side,
    /// Every case whose outcome differed, reproduced or not.
    pub differences: Vec<Difference>,
}

/// One CPython.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub name: String,
    pub version: String,
    pub suites: Vec<Suite>,
    /// Suites this CPython's `Lib/test` does not have (a distribution that ships the tests
    /// apart, as Debian's `libpython3.X-testsuite`).
    pub missing: Vec<String>,
    /// The standard library's "is it a function?" probes, before and after `install()`.
    pub stdlib_probes: Vec<StdlibProbe>,
}

/// One call into the standard library on one kind of object, before and after `install()`
/// in the same process (`probes.py`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StdlibProbe {
    pub call: String,
    pub bare: String,
    pub installed: String,
}

const PROBES: &str = include_str!("probes.py");

/// Run `probes.py` on one CPython.
pub fn stdlib_probes(py: &Interpreter, inputs: &Inputs) -> Result<Vec<StdlibProbe>, String> {
    let dir = inputs.cache.join("testsuites").join("probes");
    let script = dir.join(format!(
        "{}.py",
        introspec_cache::short_digest(PROBES.as_bytes())
    ));
    introspec_cache::write_if_changed(&script, PROBES.as_bytes())?;
    let o = std::process::Command::new(&py.path)
        .arg("-I")
        .arg(&script)
        .arg(&inputs.reference_dir)
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", py.path.display()))?;
    if !o.status.success() {
        return Err(format!(
            "harness/testsuites/src/probes.py failed on {} ({}): {}",
            py.name,
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    serde_json::from_slice(&o.stdout)
        .map_err(|e| format!("harness/testsuites/src/probes.py printed no list: {e}"))
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub commit: String,
    pub reference_module: String,
    pub reference_source: String,
    /// The regrtest command of every run, with placeholders for the parts that vary.
    pub command: String,
    pub memory_limit: Option<u64>,
    pub run_timeout_seconds: u64,
    pub suites: Vec<String>,
    pub versions: Vec<Version>,
}

/// The command line of every run, as the report states it.
pub fn command_text() -> String {
    format!(
        "PYTHON {} --junit-xml FILE [--matchfile FILE] SUITE",
        REGRTEST_ARGS.join(" ")
    )
}

/// Whether a directory of tests (a CPython's `Lib/test`) holds a suite (a module or a
/// package).
pub fn has_suite(t: &Path, suite: &str) -> bool {
    t.join(format!("{suite}.py")).is_file() || t.join(suite).join("__init__.py").is_file()
}

/// The differences of two runs: every case whose outcome differs (absent on one side
/// included), by test id.
pub fn differing(bare: &Run, installed: &Run) -> Vec<(String, Outcome, Outcome)> {
    let ids: BTreeSet<&String> = bare.cases.keys().chain(installed.cases.keys()).collect();
    ids.into_iter()
        .filter_map(|id| {
            let b = bare.cases.get(id).copied().unwrap_or(Outcome::Absent);
            let i = installed.cases.get(id).copied().unwrap_or(Outcome::Absent);
            (b != i).then(|| (id.clone(), b, i))
        })
        .collect()
}

/// Run every suite on every interpreter, bare and installed, rerun the differing cases, and
/// make the report. `progress` hears each run as it starts and ends.
pub fn run(
    interpreters: &[Interpreter],
    inputs: &Inputs,
    progress: &dyn Fn(&str),
) -> Result<Report, String> {
    let mut versions = Vec::new();
    for py in interpreters {
        let tests = match &inputs.testdir {
            Some(d) => d.clone(),
            None => introspec_runtimes::stdlib_dir(&py.path)?.join("test"),
        };
        let mut suites = Vec::new();
        let mut missing = Vec::new();
        for suite in &inputs.suites {
            if !has_suite(&tests, suite) {
                missing.push(suite.clone());
                continue;
            }
            let one = |mode: Mode, only: &[String]| {
                regrtest::run_cached(py, inputs, suite, mode, only, progress)
            };
            let bare = one(Mode::Bare, &[])?;
            let installed = one(Mode::Installed, &[])?;
            let diffs = differing(&bare, &installed);
            let mut differences = Vec::new();
            if !diffs.is_empty() {
                let only: Vec<String> = diffs.iter().map(|d| d.0.clone()).collect();
                let rb = one(Mode::Bare, &only)?;
                let rl = one(Mode::Loaded, &only)?;
                let ri = one(Mode::Installed, &only)?;
                let get = |r: &Run, id: &str| r.cases.get(id).copied().unwrap_or(Outcome::Absent);
                for (test, b, i) in diffs {
                    let (xb, xl, xi) = (get(&rb, &test), get(&rl, &test), get(&ri, &test));
                    differences.push(Difference {
                        reproduced: xb == b && xi == i,
                        test,
                        bare: b,
                        installed: i,
                        rerun_bare: xb,
                        rerun_loaded: xl,
                        rerun_installed: xi,
                    });
                }
            }
            suites.push(Suite {
                name: suite.clone(),
                bare: Side::of(&bare),
                installed: Side::of(&installed),
                differences,
            });
        }
        if suites.is_empty() && missing.is_empty() {
            continue;
        }
        progress(&format!("{} stdlib probes", py.name));
        versions.push(Version {
            name: py.name.clone(),
            version: py.version.clone(),
            suites,
            missing,
            stdlib_probes: stdlib_probes(py, inputs)?,
        });
    }
    Ok(Report {
        schema: SCHEMA.into(),
        commit: inputs.commit.clone(),
        reference_module: inputs.reference_module.clone(),
        reference_source: inputs.reference_source.clone(),
        command: command_text(),
        memory_limit: inputs.memory_limit,
        run_timeout_seconds: inputs.run_timeout.as_secs(),
        suites: inputs.suites.clone(),
        versions,
    })
}

/// The report as committed: pretty JSON, a newline at the end.
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report serialises");
    s.push('\n');
    s
}

/// The digest of the reference implementation's sources under `dir` (`harness/reference`):
/// `Cargo.toml`, `Cargo.lock`, `build.rs` and every file of `src/`, by relative path.
pub fn source_digest(dir: &Path) -> Result<String, String> {
    let mut files: Vec<PathBuf> = ["Cargo.toml", "Cargo.lock", "build.rs"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    let src = dir.join("src");
    let mut more: Vec<PathBuf> = std::fs::read_dir(&src)
        .map_err(|e| format!("cannot list {}: {e}", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    more.sort();
    files.extend(more);
    let mut d = introspec_cache::Digest::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let rel = f
            .strip_prefix(dir)
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        d.add(rel).add(bytes);
    }
    Ok(d.short())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(cases: &[(&str, Outcome)]) -> Run {
        Run {
            mode: Mode::Bare,
            result: None,
            exit: "0".into(),
            timed_out: false,
            unnamed: 0,
            probe: None,
            cases: cases.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn a_case_on_one_side_only_differs_as_absent() {
        let b = run_of(&[("a", Outcome::Passed), ("b", Outcome::Passed)]);
        let i = run_of(&[("a", Outcome::Passed), ("c", Outcome::Error)]);
        assert_eq!(
            differing(&b, &i),
            vec![
                ("b".to_string(), Outcome::Passed, Outcome::Absent),
                ("c".to_string(), Outcome::Absent, Outcome::Error),
            ]
        );
        assert!(differing(&b, &b).is_empty());
    }

    #[test]
    fn counts_sum_every_outcome() {
        let r = run_of(&[
            ("a", Outcome::Passed),
            ("b", Outcome::Skipped),
            ("c", Outcome::Failure),
        ]);
        let c = Counts::of(&r.cases);
        assert_eq!((c.cases, c.passed, c.skipped, c.failures), (3, 1, 1, 1));
    }
}
