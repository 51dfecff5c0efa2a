//! Fault tolerance, tried for real (issue 8). Every test here makes the fault happen: cases
//! that crash their interpreter, hang, write over the protocol's streams, change what later
//! cases see, or pass only the second time; broken input files; interpreters that are not
//! what they claim; a run interrupted by SIGINT. Each checks what the harness reports, and
//! that nothing else was harmed: every other trial gives exactly what it gives in a run
//! without the fault.
//!
//! The fixture projects are under `tests/fixtures/` (each a `spec` symlink to the real spec
//! and a `cases/` of its own). Two columns are used: the newest CPython the PyO3 observer
//! reads, and the newest CPython 3 that only the portable observer reads (or, if there is
//! none, the first runtime read by the portable observer instead).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use introspec_judge::Status;
use introspec_runner::{columns, Column, Project, Results, Session, TrialOutput};
use introspec_spec::Version;
use introspec_worker::Observer;

// ---------------------------------------------------------------------------------------------
// Helpers.

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the checkout")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fixture project, its observers cached with the checkout's.
fn load(name: &str) -> Project {
    let mut p = Project::load(
        &fixture(name),
        &introspec_runner::Settings::from_env().expect("the settings are valid"),
    )
    .unwrap_or_else(|d| panic!("{name}: {d}"));
    p.cache = introspec_runner::Settings::from_env()
        .expect("the settings are valid")
        .cache(&checkout());
    p
}

fn load_valid(name: &str) -> Project {
    let p = load(name);
    let diags: Vec<String> = p.corpus.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(diags.is_empty(), "{name}: {}", diags.join("\n"));
    p
}

/// The two columns: PyO3 first, portable second.
fn columns() -> &'static [Column] {
    static COLUMNS: OnceLock<Vec<Column>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        let root = checkout();
        let settings = introspec_runner::Settings::from_env().expect("the settings are valid");
        let cache = settings.cache(&root);
        let mut d = introspec_runtimes::discover(&settings.discovery(&root));
        introspec_worker::observers::drop_unreadable(&mut d);
        let cpython: Vec<_> = d
            .runtimes
            .iter()
            .filter(|rt| rt.identity.implementation == "cpython")
            .collect();
        let pyo3 = cpython
            .iter()
            .rfind(|rt| introspec_worker::observers::preferred(&rt.identity) == Observer::Pyo3)
            .expect("the fault tests need a CPython 3.9 or newer, for the PyO3 observer's column");
        let portable = match cpython.iter().rfind(|rt| {
            introspec_worker::observers::preferred(&rt.identity) == Observer::Portable
                && rt.language() >= Version::new(3, 6, 0)
        }) {
            Some(rt) => columns::base(rt, &cache),
            None => {
                let mut c = columns::base(pyo3, &cache);
                c.observer = Observer::Portable;
                c.name = format!("{}~portable", c.name);
                c
            }
        };
        let pyo3 = columns::base(pyo3, &cache);
        assert_eq!(pyo3.observer, Observer::Pyo3);
        assert_eq!(portable.observer, Observer::Portable);
        vec![pyo3, portable]
    })
}

/// Run `f` on each column at once, one thread per column.
fn per_column<T: Send>(f: impl Fn(&Column) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = columns().iter().map(|c| s.spawn(|| f(c))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

type ById = BTreeMap<String, Arc<TrialOutput>>;

fn by_id(session: &Session<'_>) -> ById {
    (0..session.compiled.len())
        .map(|i| (session.case(i).id.clone(), session.trial(i, 0)))
        .collect()
}

/// Every case on one column as `introspec run` runs them: pipelined to one worker.
fn run_pipelined(p: &Project, col: &Column, env: &[(&str, &str)]) -> ById {
    let mut session = Session::new(p, vec![col.clone()]);
    session.worker_env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    session.run_column(0);
    by_id(&session)
}

/// Every case on one column as `cargo test` runs them: one trial after another, in `order`
/// (indices into the corpus).
fn run_in_order(p: &Project, col: &Column, order: &[usize]) -> ById {
    let session = Session::new(p, vec![col.clone()]);
    for &i in order {
        session.trial(i, 0);
    }
    by_id(&session)
}

fn in_file_order(p: &Project) -> Vec<usize> {
    (0..p.corpus.cases.len()).collect()
}

/// The project without the cases whose id starts with one of `prefixes`.
fn without(name: &str, prefixes: &[&str]) -> Project {
    let mut p = load_valid(name);
    p.corpus
        .cases
        .retain(|c| !prefixes.iter().any(|x| c.id.starts_with(x)));
    p
}

fn describe(t: &TrialOutput) -> String {
    format!("{} {}", t.verdict.status.name(), t.verdict.reason_text())
}

/// Same status, reason, checks and observations.
fn assert_same(what: &str, a: &TrialOutput, b: &TrialOutput) {
    assert_eq!(
        a.verdict,
        b.verdict,
        "{what}: the verdicts differ ({} vs {})",
        describe(a),
        describe(b)
    );
    assert_eq!(a.result, b.result, "{what}: the observations differ");
}

/// Every trial of `clean` is the same in `with_faults`, and passes.
fn assert_spared(col: &Column, how: &str, with_faults: &ById, clean: &ById) {
    assert!(!clean.is_empty());
    for (id, t) in clean {
        let what = format!("{}::{id} ({how})", col.name);
        let f = with_faults
            .get(id)
            .unwrap_or_else(|| panic!("{what} did not run"));
        assert!(
            matches!(t.verdict.status, Status::Pass | Status::Skip),
            "{what} in the clean run: {}",
            describe(t)
        );
        assert_same(&what, f, t);
    }
}

/// A fresh directory under the target's scratch space.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A scratch project named `name` whose `cases/` is a copy of `cases` and whose `spec` is
/// linked to the real one.
fn project_from(name: &str, cases: &Path) -> PathBuf {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let target = to.join(e.file_name());
            if e.path().is_dir() {
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), &target).unwrap();
            }
        }
    }
    let root = scratch(name).join("root");
    copy_dir(cases, &root.join("cases"));
    std::os::unix::fs::symlink(checkout().join("spec"), root.join("spec")).unwrap();
    root
}

/// A copy of a fixture project in a scratch directory, for the binary (which writes results,
/// reports and caches under the root).
fn copy_fixture(name: &str) -> PathBuf {
    project_from(name, &fixture(name).join("cases"))
}

fn introspec() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_introspec"));
    // no compiled columns: compiling the fixtures with Cython and mypyc is not what is tested
    c.env("INTROSPEC_COMPILERS", "none")
        .env_remove("INTROSPEC_TIMEOUT")
        .env_remove("INTROSPEC_PYTHONS")
        .env_remove("INTROSPEC_ONLY_LISTED");
    c
}

/// `INTROSPEC_PYTHONS` and `INTROSPEC_ONLY_LISTED` for exactly these interpreters.
fn only(cmd: &mut Command, pythons: &[&Path]) {
    let list: Vec<String> = pythons.iter().map(|p| p.display().to_string()).collect();
    cmd.env("INTROSPEC_PYTHONS", list.join(":"))
        .env("INTROSPEC_ONLY_LISTED", "1");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    )
}

fn read_results(path: &Path) -> Results {
    let t = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&t)
        .unwrap_or_else(|e| panic!("{} is not valid results: {e}", path.display()))
}

/// The processes whose environment holds `KEY=value` (zombies, whose environment is gone, are
/// not counted).
fn processes_with_env(key: &str, value: &str) -> Vec<u32> {
    let needle = format!("{key}={value}");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                out.push(pid);
            }
        }
    }
    out
}

/// Wait (at most `within`) until no process has `KEY=value` in its environment.
fn assert_no_process_with_env(key: &str, value: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = processes_with_env(key, value);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let cmds: Vec<String> = left
                .iter()
                .map(|p| {
                    let c = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                    format!("{p}: {}", text(&c).replace('\0', " "))
                })
                .collect();
            panic!("processes left behind:\n{}", cmds.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{tag}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Crashes.

/// Each crashing case is a CRASH naming the signal or the exit code; its worker is restarted,
/// and every other case gives exactly what it gives in a run without the crashing ones, both
/// pipelined (`introspec run`) and one trial at a time (`cargo test`).
#[test]
fn crashes_are_crash_with_the_signal_and_spare_every_other_case() {
    let full = load_valid("crashes");
    let clean = without("crashes", &["crash."]);
    let expected = [
        ("crash.segfault", "signal 11 (SIGSEGV)"),
        ("crash.exit", "exit code 3"),
        ("crash.abort", "signal 6 (SIGABRT)"),
        ("crash.stack.iterators", "signal 11 (SIGSEGV)"),
        ("crash.stack.recursion", "signal 11 (SIGSEGV)"),
        ("crash.stack.repr", "signal 11 (SIGSEGV)"),
    ];
    per_column(|col| {
        let clean_run = run_pipelined(&clean, col, &[]);
        for (how, run) in [
            ("pipelined", run_pipelined(&full, col, &[])),
            (
                "one at a time",
                run_in_order(&full, col, &in_file_order(&full)),
            ),
        ] {
            let mut crashed = 0;
            for (id, why) in expected {
                let t = &run[id];
                if t.verdict.status == Status::Skip {
                    continue; // a version condition: the stack overflows differ across versions
                }
                crashed += 1;
                assert_eq!(
                    t.verdict.status,
                    Status::Crash,
                    "{}::{id} ({how}): {}",
                    col.name,
                    describe(t)
                );
                let reason = t.verdict.reason_text();
                assert!(
                    reason.starts_with(&format!("the worker died: {why}")),
                    "{}::{id} ({how}): {reason}",
                    col.name
                );
            }
            assert!(crashed >= 4, "{}: only {crashed} crash cases ran", col.name);
            assert_spared(col, how, &run, &clean_run);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 2. Hangs.

/// An endless loop and a deadlock are TIMEOUT after their one-second `timeout`; the hung
/// worker is killed (no process is left) and replaced; the other cases wait for nothing and
/// give what they give in a run without the hanging ones. Reading stdin does not hang: the
/// observer points fd 0 at /dev/null, so the case reads end-of-file at once.
#[test]
fn hangs_time_out_their_worker_is_killed_and_nothing_else_waits() {
    let full = load_valid("hangs");
    let clean = without("hangs", &["hang."]);
    per_column(|col| {
        let marker = unique("hangs");
        let env = [("INTROSPEC_FAULTS_RUN", marker.as_str())];
        let clean_run = run_pipelined(&clean, col, &[]);
        let start = Instant::now();
        let mut session = Session::new(&full, vec![col.clone()]);
        session.worker_env = vec![(env[0].0.into(), marker.clone())];
        session.run_column(0);
        let elapsed = start.elapsed();
        // the hung interpreters were killed: only the worker kept for the next case is left
        let left = processes_with_env("INTROSPEC_FAULTS_RUN", &marker);
        assert!(left.len() <= 1, "{}: workers left: {left:?}", col.name);
        let run = by_id(&session);
        drop(session);
        assert_no_process_with_env("INTROSPEC_FAULTS_RUN", &marker, Duration::from_secs(5));

        for id in ["hang.loop", "hang.deadlock"] {
            let t = &run[id];
            assert_eq!(
                t.verdict.status,
                Status::Timeout,
                "{}::{id}: {}",
                col.name,
                describe(t)
            );
            let reason = t.verdict.reason_text();
            assert!(
                reason.starts_with("no answer within 1 s")
                    && reason.contains("the worker was killed"),
                "{}::{id}: {reason}",
                col.name
            );
            assert!(
                t.duration >= Duration::from_secs(1) && t.duration < Duration::from_secs(3),
                "{}::{id} took {:?}",
                col.name,
                t.duration
            );
        }
        // nothing else waited: each other case answered well within the timeout
        for (id, t) in &run {
            if !id.starts_with("hang.") {
                assert!(
                    t.duration < Duration::from_millis(900),
                    "{}::{id} took {:?}",
                    col.name,
                    t.duration
                );
            }
        }
        let stdin = &run["stdin.read"];
        assert_eq!(
            stdin.verdict.status,
            Status::Pass,
            "{}::stdin.read: {}",
            col.name,
            describe(stdin)
        );
        assert_spared(col, "pipelined", &run, &clean_run);
        // two hangs, each run twice (the rerun that tells FLAKY from TIMEOUT): 4 s of waiting
        assert!(
            elapsed < Duration::from_secs(15),
            "{}: the run took {elapsed:?}",
            col.name
        );

        // the same one trial at a time
        let one_by_one = run_in_order(&full, col, &in_file_order(&full));
        for id in ["hang.loop", "hang.deadlock"] {
            assert_eq!(
                one_by_one[id].verdict.status,
                Status::Timeout,
                "{}::{id}",
                col.name
            );
        }
        assert_spared(col, "one at a time", &one_by_one, &clean_run);
    });
}

/// A case that says no `timeout` gets INTROSPEC_TIMEOUT's (the default is 10 s).
#[test]
fn introspec_timeout_sets_the_default_timeout() {
    if std::env::var_os("INTROSPEC_TIMEOUT").is_none() {
        let p = load_valid("slow");
        let s = Session::new(&p, vec![]);
        assert_eq!(s.default_timeout, Duration::from_secs(10));
        assert_eq!(introspec_runner::DEFAULT_TIMEOUT, Duration::from_secs(10));
    }
    let col = &columns()[0];
    let root = copy_fixture("slow");
    let out = root.join("results.json");
    let mut cmd = introspec();
    only(&mut cmd, &[&col.runtime.path]);
    let o = cmd
        .args(["--root"])
        .arg(&root)
        .args([
            "run",
            "--no-reference",
            "--jobs",
            "1",
            "--case",
            "slow.a",
            "--timings",
            "--out",
        ])
        .arg(&out)
        .env("INTROSPEC_TIMEOUT", "0.3")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let r = read_results(&out);
    assert_eq!(r.trials.len(), 1, "{}", show(&o));
    let t = &r.trials[0];
    assert_eq!(
        (t.case.as_str(), t.status),
        ("slow.a", Status::Timeout),
        "{}",
        show(&o)
    );
    // 0.3 s, not the case's 0.6 s of sleep nor the default 10 s
    let reason = t.reason.clone().unwrap_or_default();
    assert!(reason.starts_with("no answer within 0.3 s"), "{reason}");
    let us = t
        .duration_us
        .expect("--timings records the trial's wall time");
    assert!((300_000..590_000).contains(&us), "{us} µs: {reason}");
}

// ---------------------------------------------------------------------------------------------
// 3. Protocol corruption.

/// Printing, writing to stderr, closing or replacing the std streams, writing raw bytes to
/// fd 1, closing fds 0-2, flooding 20 MB to stdout and to stderr: every case passes, the
/// channel is never corrupted (no protocol error, no restart), and each probe after a fault
/// gives what it gives in a run of the probes alone.
#[test]
fn protocol_corruption_touches_no_other_result() {
    let full = load_valid("corruption");
    let probes = without("corruption", &["corrupt."]);
    per_column(|col| {
        let clean_run = run_pipelined(&probes, col, &[]);
        for (how, run) in [
            ("pipelined", run_pipelined(&full, col, &[])),
            (
                "one at a time",
                run_in_order(&full, col, &in_file_order(&full)),
            ),
        ] {
            for (id, t) in &run {
                assert_eq!(
                    t.verdict.status,
                    Status::Pass,
                    "{}::{id} ({how}): {}",
                    col.name,
                    describe(t)
                );
            }
            assert_spared(col, how, &run, &clean_run);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 4. Side effects between cases.

/// A permutation of 0..n from a seed (a small LCG: the same on every machine).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for i in (1..n).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((x >> 33) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// Cases that patch inspect.getgeneratorstate, types.coroutine and asyncio.sleep, raise the
/// recursion limit, leave an event loop (and a policy, and a running-loop marker) set, and
/// leave a generator running in a thread, run in file order, reversed, shuffled three ways,
/// pipelined, and each probe alone in a fresh worker: every result is the same every time,
/// and every case passes.
#[test]
fn side_effects_do_not_depend_on_the_order_of_cases() {
    let p = load_valid("side-effects");
    let n = p.corpus.cases.len();
    let forward: Vec<usize> = (0..n).collect();
    let backward: Vec<usize> = (0..n).rev().collect();
    let mut orders = vec![("reversed".to_string(), backward)];
    for seed in [1, 2, 3] {
        orders.push((format!("shuffled (seed {seed})"), shuffled(n, seed)));
    }
    per_column(|col| {
        let reference = run_in_order(&p, col, &forward);
        for (id, t) in &reference {
            assert_eq!(
                t.verdict.status,
                Status::Pass,
                "{}::{id} (file order): {}",
                col.name,
                describe(t)
            );
        }
        for (name, order) in &orders {
            let run = run_in_order(&p, col, order);
            for (id, t) in &reference {
                assert_same(
                    &format!("{}::{id} ({name} vs file order)", col.name),
                    &run[id],
                    t,
                );
            }
        }
        // pipelined, as `introspec run` does
        let run = run_pipelined(&p, col, &[]);
        for (id, t) in &reference {
            assert_same(
                &format!("{}::{id} (pipelined vs one at a time)", col.name),
                &run[id],
                t,
            );
        }
        // and what each probe gives as the first case of a fresh worker
        for (i, case) in p.corpus.cases.iter().enumerate() {
            if case.id.starts_with("probe.") {
                let alone = Session::new(&p, vec![col.clone()]).trial(i, 0);
                assert_same(
                    &format!(
                        "{}::{} (alone in a fresh worker vs file order)",
                        col.name, case.id
                    ),
                    &alone,
                    &reference[&case.id],
                );
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 5. Flakiness.

/// A case that fails the first time and passes in the rerun is FLAKY, with the step where
/// the two runs diverged; it ran exactly twice; the steady case beside it passes.
#[test]
fn a_case_that_passes_only_the_second_time_is_flaky_at_its_step() {
    let p = load_valid("flaky");
    let dir = scratch("flaky");
    let flaky = p
        .corpus
        .cases
        .iter()
        .position(|c| c.id == "flaky.counter")
        .unwrap();
    per_column(|col| {
        for how in ["pipelined", "one at a time"] {
            let counter = dir.join(format!("{}-{}", col.name, how.replace(' ', "-")));
            let env = [("INTROSPEC_FAULTS_COUNTER", counter.to_str().unwrap())];
            let run = if how == "pipelined" {
                run_pipelined(&p, col, &env)
            } else {
                let mut s = Session::new(&p, vec![col.clone()]);
                s.worker_env = vec![(env[0].0.into(), env[0].1.into())];
                s.trial(flaky, 0);
                s.trial(1 - flaky, 0);
                by_id(&s)
            };
            let t = &run["flaky.counter"];
            let what = format!("{}::flaky.counter ({how})", col.name);
            assert_eq!(t.verdict.status, Status::Flaky, "{what}: {}", describe(t));
            assert_eq!(t.diverged_at, Some(3), "{what}: {}", describe(t));
            let reason = t.verdict.reason_text();
            assert!(
                reason.starts_with("first run FAIL")
                    && reason.contains("rerun in a fresh worker PASS")
                    && reason.ends_with("the runs diverged at step 3"),
                "{what}: {reason}"
            );
            assert_eq!(
                std::fs::read_to_string(&counter).unwrap(),
                "2",
                "{what}: runs"
            );
            assert_eq!(run["steady.generator"].verdict.status, Status::Pass);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 6. Bad input.

/// The diagnostics `tests/fixtures/bad-input` must give: one per broken thing, first line
/// exact (paths relative to the fixture root).
const BAD_INPUT: [&str; 17] = [
    "cases/deviations/bad.toml:5:27: error: unknown implementation `brython`",
    "cases/deviations/bad.toml:11:49: error: unknown compiler `numba`",
    "cases/deviations/bad.toml:18:10: error: a known deviation needs a `reason`",
    "cases/deviations/bad.toml:31:14: error: unknown observable `runing`",
    "cases/deviations/bad.toml:37:19: error: `>=3.x` is not a PEP 440 version condition: after parsing `3`, found `.x`, which is not part of a valid version",
    "cases/deviations/no-reason.toml:3:1: error: missing field `reason`",
    "cases/deviations/unknown-selector.toml:5:10: error: unknown field `runtime`, expected one of `implementation`, `python`, `compiler`, `reference`, `column`",
    "cases/syntax.toml:6:18: error: invalid basic string, expected `\"`",
    "cases/unknown-key.toml:13:1: error: unknown field `stat`, expected one of `do`, `on`, `arg`, `expr`, `bind`, `code`, `returns`, `raises`, `message`, `value`, `state`, `expect`, `inside`, `layers`",
    "cases/unknown-names.toml:14:12: error: case `unknown.observable`: unknown observable or object `fram`",
    "cases/unknown-names.toml:21:13: error: unknown feature `gi_suspendedd`",
    "cases/unknown-names.toml:31:8: error: unknown kind `generater`",
    "cases/unknown-names.toml:59:10: error: case `bad.version`: `>=3.x` is not a PEP 440 version condition: after parsing `3`, found `.x`, which is not part of a valid version",
    "cases/unknown-names.toml:76:12: error: case `unknown.layer`: unknown layer `inspekt`",
    "cases/unknown-names.toml:90:6: error: case `unknown.operation`: unknown operation `resume`",
    "cases/with-duplicate.toml:4:6: error: duplicate case id `valid.generator`",
    "cases/wrong-type.toml:8:11: error: invalid type: string \"fast\", expected f64",
];

/// The cases of `bad-input` that are valid (one of them does not compile as Python).
const BAD_INPUT_VALID: [&str; 4] = [
    "python.syntax_error",
    "valid.beside_unknowns",
    "valid.coroutine",
    "valid.generator",
];

fn first_lines(text: &str, root: &Path) -> Vec<String> {
    let prefix = format!("{}/", root.display());
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| l.contains(": error: "))
        .map(|l| l.replace(&prefix, ""))
        .collect();
    v.sort();
    v
}

/// Every broken file or record gives one diagnostic naming its file, line and column; every
/// valid case of the same corpus loads, and runs: the one whose Python does not compile is an
/// ERROR, alone.
#[test]
fn bad_input_gives_one_located_error_each_and_the_valid_cases_run() {
    let root = fixture("bad-input");
    let p = load("bad-input");
    let all: Vec<String> = p.corpus.diagnostics.iter().map(|d| d.to_string()).collect();
    let mut expected: Vec<String> = BAD_INPUT.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(first_lines(&all.join("\n"), &root), expected);
    // the help says what to do
    let help: Vec<&str> = all
        .iter()
        .filter_map(|d| d.split_once("\n  help: ").map(|x| x.1))
        .collect();
    for h in [
        "did you mean `frame`?",
        "did you mean `generator`?",
        "did you mean `running`?",
        "did you mean `inspect`?",
        "say what the runtime does instead and why",
    ] {
        assert!(help.contains(&h), "no help `{h}` in {help:?}");
    }
    let dup = all
        .iter()
        .find(|d| d.contains("duplicate case id"))
        .unwrap();
    let want = format!(
        "help: it is already used at {}:3; give this case another id",
        root.join("cases/valid.toml").display()
    );
    assert!(dup.ends_with(&want), "{dup}");

    let ids: Vec<&str> = p.corpus.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids.iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        BAD_INPUT_VALID.into_iter().collect()
    );
    assert_eq!(
        p.corpus.deviations.len(),
        1,
        "the one valid deviation record loads"
    );

    per_column(|col| {
        let run = run_pipelined(&p, col, &[]);
        for id in BAD_INPUT_VALID {
            let t = &run[id];
            if id == "python.syntax_error" {
                assert_eq!(
                    t.verdict.status,
                    Status::Error,
                    "{}::{id}: {}",
                    col.name,
                    describe(t)
                );
                let reason = t.verdict.reason_text();
                assert!(
                    reason.starts_with("the case stopped in its compile phase: SyntaxError"),
                    "{reason}"
                );
            } else {
                assert_eq!(
                    t.verdict.status,
                    Status::Pass,
                    "{}::{id}: {}",
                    col.name,
                    describe(t)
                );
            }
        }
    });
}

/// `introspec check` validates without starting any interpreter: non-zero with every
/// diagnostic on the bad corpus, zero on the real one.
#[test]
fn check_validates_without_running_anything() {
    let dir = scratch("check");
    let ran = dir.join("an interpreter ran");
    let fake = dir.join("python3");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\ntouch '{}'\nexit 1\n", ran.display()),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&fake, perms).unwrap();

    let root = fixture("bad-input");
    let mut cmd = introspec();
    only(&mut cmd, &[&fake]);
    let o = cmd.arg("--root").arg(&root).arg("check").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let mut expected: Vec<String> = BAD_INPUT.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        first_lines(&text(&o.stderr), &root),
        expected,
        "{}",
        show(&o)
    );
    assert!(
        text(&o.stdout)
            .contains("cases: 4 valid in 10 files, 1 deviation records, 17 problems, 0 warnings"),
        "{}",
        show(&o)
    );

    let mut cmd = introspec();
    only(&mut cmd, &[&fake]);
    let o = cmd
        .arg("--root")
        .arg(checkout())
        .arg("check")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(text(&o.stdout).contains(", 0 problems"), "{}", show(&o));
    assert!(!ran.exists(), "`introspec check` started an interpreter");
}

// ---------------------------------------------------------------------------------------------
// 7. Runtimes that misbehave.

/// Listed interpreters that do not exist, are not executable, are not Python, are older than
/// every observer, or die at start-up are each reported once, with why, by `introspec
/// runtimes` and `introspec run`; one that passes identification but dies as a worker makes
/// its column broken; the good runtime's column runs and passes.
#[test]
fn misbehaving_runtimes_are_reported_once_each_and_the_rest_runs() {
    let good = columns()[0].runtime.path.clone();
    let bin = fixture("runtimes").join("bin");
    let root = copy_fixture("runtimes");
    let true_ = ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("/bin/true");
    let not_python = "is not a Python interpreter (it did not answer the identification script)";
    let bad: Vec<(PathBuf, &str)> = vec![
        (root.join("no-such-dir/python3"), "no such file"),
        (bin.join("not-executable"), "not an executable file"),
        (true_, not_python),
        (bin.join("junk"), not_python),
        (
            bin.join("python2.4"),
            "no observer can read it: the portable observer needs Python 2.7, or 3.6 and newer, and this is cpython 2.4.0",
        ),
        (
            bin.join("dies-at-startup"),
            "died at start-up (exit status: 1): Fatal Python error: init_fs_encoding: failed to get the Python codec of the filesystem encoding",
        ),
    ];
    let broken = bin.join("breaks-as-worker");
    let mut listed: Vec<&Path> = bad.iter().map(|(p, _)| p.as_path()).collect();
    listed.push(&broken);
    listed.push(&good);

    let lines_with = |out: &str, path: &Path| -> Vec<String> {
        let p = path.display().to_string();
        out.lines()
            .filter(|l| l.contains(&p))
            .map(str::to_string)
            .collect()
    };

    let mut cmd = introspec();
    only(&mut cmd, &listed);
    let o = cmd
        .arg("--root")
        .arg(&root)
        .arg("runtimes")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let out = text(&o.stdout);
    for (path, why) in &bad {
        let lines = lines_with(&out, path);
        assert_eq!(
            lines,
            vec![format!(
                "unusable: {} (INTROSPEC_PYTHONS): {why}",
                path.display()
            )],
            "{}",
            show(&o)
        );
    }
    assert_eq!(lines_with(&out, &good).len(), 1, "{}", show(&o));
    assert!(
        lines_with(&out, &broken)[0].starts_with("cpython-3.10.99 "),
        "{}",
        show(&o)
    );

    let results = root.join("results.json");
    let mut cmd = introspec();
    only(&mut cmd, &listed);
    let o = cmd
        .arg("--root")
        .arg(&root)
        .args(["run", "--no-reference", "--out"])
        .arg(&results)
        .output()
        .unwrap();
    // the broken column fails the run, and the run says why
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    for (path, why) in &bad {
        assert_eq!(
            lines_with(&err, path),
            vec![format!(
                "unusable runtime {} (INTROSPEC_PYTHONS): {why}",
                path.display()
            )],
            "{}",
            show(&o)
        );
    }
    let r = read_results(&results);
    assert_eq!(r.unusable.len(), bad.len());
    for (path, why) in &bad {
        assert!(
            r.unusable
                .iter()
                .any(|u| (&u.path, u.why.as_str()) == (path, *why)),
            "{} not in {:?}",
            path.display(),
            r.unusable
        );
    }
    let dead_why = "no hello from the pyo3 observer: the worker ended (exit code 1): Fatal Python error: _PyImport_InitCore: failed to initialize importlib";
    assert_eq!(r.broken.len(), 1, "{:?}", r.broken);
    assert_eq!(
        (r.broken[0].column.as_str(), r.broken[0].why.as_str()),
        ("cpython-3.10.99", dead_why)
    );
    // the broken column is that one result: its trial is not also an ERROR repeating why
    assert_eq!(r.trials.len(), 1, "{}", show(&o));
    assert_eq!(
        (r.trials[0].column.as_str(), r.trials[0].status),
        (columns()[0].name.as_str(), Status::Pass)
    );
    assert!(
        text(&o.stdout).contains(&format!("column broken: cpython-3.10.99: {dead_why}")),
        "{}",
        show(&o)
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Interruption.

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;

/// SIGINT to `introspec run`'s process group (what Ctrl-C at a terminal does) while every
/// worker is inside a 60-second case: the run ends at once with status 130, no worker is
/// left, and the results file is valid JSON with `interrupted: true` and exactly the trials
/// that had finished.
#[test]
fn sigint_ends_the_run_at_once_leaves_no_worker_and_writes_the_results_so_far() {
    let root = copy_fixture("slow");
    let marks = root.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let results = root.join("results.json");
    let run_id = unique("interrupt");
    let mut pythons: Vec<&Path> = columns().iter().map(|c| c.runtime.path.as_path()).collect();
    pythons.dedup();
    let mut cmd = introspec();
    only(&mut cmd, &pythons);
    cmd.arg("--root")
        .arg(&root)
        .args(["run", "--no-reference", "--jobs", "2", "--out"])
        .arg(&results)
        .env("INTROSPEC_FAULTS_MARKS", &marks)
        .env("INTROSPEC_FAULTS_RUN", &run_id)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().unwrap();

    // slow.a, slow.b and slow.c done on every column: each worker is now in slow.d (60 s)
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&marks).unwrap().count() < 3 * pythons.len() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!(
                "the run did not get to slow.d: {}",
                show(&child.wait_with_output().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let workers: Vec<u32> = processes_with_env("INTROSPEC_FAULTS_RUN", &run_id)
        .into_iter()
        .filter(|p| *p != child.id())
        .collect();
    assert_eq!(
        workers.len(),
        pythons.len(),
        "one worker per column, in slow.d"
    );

    let sent = Instant::now();
    assert_eq!(unsafe { kill(-(child.id() as i32), SIGINT) }, 0);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if sent.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("`introspec run` did not end after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed();
    let o = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "{}", show(&o));
    assert!(
        took < Duration::from_secs(5),
        "the run took {took:?} to end after SIGINT"
    );
    assert!(
        text(&o.stderr).contains("interrupted: stopping the workers"),
        "{}",
        show(&o)
    );
    assert_no_process_with_env("INTROSPEC_FAULTS_RUN", &run_id, Duration::from_secs(5));

    let r = read_results(&results);
    assert!(r.interrupted, "{}", show(&o));
    let mut got: Vec<(String, String, Status)> = r
        .trials
        .iter()
        .map(|t| (t.column.clone(), t.case.clone(), t.status))
        .collect();
    got.sort();
    let mut expected = Vec::new();
    for c in &r.columns {
        for case in ["slow.a", "slow.b", "slow.c"] {
            expected.push((c.name.clone(), case.to_string(), Status::Pass));
        }
    }
    expected.sort();
    assert_eq!(r.columns.len(), pythons.len());
    assert_eq!(got, expected, "{}", show(&o));
}

/// A case that allocates without bound meets the worker's memory limit (INTROSPEC_MEMORY,
/// 2 GiB by default) and is CRASH "memory limit" alone; the case after it passes, on both
/// observers, pipelined and one by one.
#[test]
fn a_case_past_the_memory_limit_is_crash_memory_limit_alone() {
    let p = load_valid("memory");
    assert_eq!(
        p.settings.memory_limit,
        Some(introspec_runner::DEFAULT_MEMORY_LIMIT)
    );
    per_column(|col| {
        for (how, got) in [
            ("pipelined", run_pipelined(&p, col, &[])),
            ("one by one", run_in_order(&p, col, &in_file_order(&p))),
        ] {
            let hog = &got["memory.unbounded"];
            assert_eq!(
                hog.verdict.status,
                Status::Crash,
                "{} {how}: {}",
                col.name,
                describe(hog)
            );
            let reason = hog.verdict.reason_text();
            assert!(
                reason.contains("memory limit (2 GiB)"),
                "{} {how}: {reason}",
                col.name
            );
            let next = &got["memory.after"];
            assert_eq!(
                next.verdict.status,
                Status::Pass,
                "{} {how}: {}",
                col.name,
                describe(next)
            );
        }
    });
}

/// Many workers started at once on an empty cache, in threads of one harness and in two
/// harness processes: every one starts (the observers are written once, atomically, under
/// names no two writers share) and the cache holds no temporary file afterwards.
#[test]
fn many_workers_start_at_once_on_an_empty_cache() {
    let cache = scratch("empty-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let cols = columns();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let col = &cols[i % cols.len()];
                let cache = cache.clone();
                s.spawn(move || {
                    let spec = introspec_runner::worker_spec_for(
                        col,
                        &cache,
                        vec![],
                        Some(introspec_runner::DEFAULT_MEMORY_LIMIT),
                    );
                    introspec_worker::Worker::start(&spec, Duration::from_secs(60))
                        .map(|w| w.pid())
                        .map_err(|e| format!("{}: {e}", col.name))
                })
            })
            .collect();
        for h in handles {
            h.join()
                .unwrap()
                .expect("every worker starts on an empty cache");
        }
    });
    let mut leftovers = vec![];
    let mut stack = vec![cache.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".tmp") {
                leftovers.push(path);
            }
        }
    }
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let _ = std::fs::remove_dir_all(&cache);
}

/// A case file that fails to load fails `introspec run` (exit 1) even when every trial that
/// ran passed, and a bad INTROSPEC_TIMEOUT or INTROSPEC_MEMORY stops it with a message that
/// names the variable, never a panic.
#[test]
fn dropped_input_and_bad_settings_fail_the_run() {
    let col = &columns()[0];
    let root = copy_fixture("slow");
    std::fs::write(root.join("cases/broken.toml"), "[[case]]\nid = 3\n").unwrap();
    let out = root.join("results.json");
    let run = |env: &[(&str, &str)]| {
        let mut cmd = introspec();
        only(&mut cmd, &[&col.runtime.path]);
        cmd.args(["--root"])
            .arg(&root)
            .args([
                "run",
                "--no-reference",
                "--jobs",
                "1",
                "--case",
                "slow.a",
                "--out",
            ])
            .arg(&out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(text(&o.stderr).contains("broken.toml"), "{}", show(&o));
    assert!(text(&o.stderr).contains("input problem"), "{}", show(&o));
    let r = read_results(&out);
    assert_eq!(r.trials[0].status, Status::Pass, "{}", show(&o));
    for (k, v) in [
        ("INTROSPEC_TIMEOUT", "-1"),
        ("INTROSPEC_TIMEOUT", "nan"),
        ("INTROSPEC_TIMEOUT", "1e400"),
        ("INTROSPEC_TIMEOUT", "abc"),
        ("INTROSPEC_MEMORY", "lots"),
        ("INTROSPEC_COMPILERS", "cyton"),
    ] {
        let o = run(&[(k, v)]);
        assert_eq!(o.status.code(), Some(2), "{k}={v}: {}", show(&o));
        assert!(text(&o.stderr).contains(k), "{k}={v}: {}", show(&o));
        assert!(
            !text(&o.stderr).contains("panicked"),
            "{k}={v}: {}",
            show(&o)
        );
    }
}

#[path = "faults/hostile.rs"]
mod hostile;
#[path = "faults/hostile_inputs.rs"]
mod hostile_inputs;
#[path = "faults/hostile_leftovers.rs"]
mod hostile_leftovers;
#[path = "faults/hostile_mixed.rs"]
mod hostile_mixed;
#[path = "faults/hostile_processes.rs"]
mod hostile_processes;
