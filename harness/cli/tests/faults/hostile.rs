//! Hostile cases (issue 14): what a hostile user tries, done for real on both observers'
//! columns. Each project is generated into a scratch directory (`spec` linked to the real
//! one), since the inputs are big (request lines that fill a pipe, ten thousand cases) or are
//! not files at all (FIFOs, symlink loops, `/dev/zero`).

use super::*;

/// A scratch project whose `cases/hostile.toml` is `toml`.
fn project_with(name: &str, toml: &str) -> PathBuf {
    let root = scratch(name).join("root");
    std::fs::create_dir_all(root.join("cases")).unwrap();
    std::fs::write(root.join("cases/hostile.toml"), toml).unwrap();
    std::os::unix::fs::symlink(checkout().join("spec"), root.join("spec")).unwrap();
    root
}

fn load_root(root: &Path) -> Project {
    let mut p = Project::load(root).unwrap_or_else(|d| panic!("{}: {d}", root.display()));
    p.cache = introspec_worker::default_cache(&checkout());
    let diags: Vec<String> = p.corpus.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(diags.is_empty(), "{}", diags.join("\n"));
    p
}

/// A well-behaved generator case whose code carries `padding` bytes of comment.
fn padded_case(id: &str, padding: usize) -> String {
    let line = format!("# {}\n", "x".repeat(98));
    let comment = line.repeat(padding.div_ceil(line.len()));
    format!(
        r#"
[[case]]
id = "{id}"
title = "A well-behaved generator with a large source"
kind = "generator"
source = "https://docs.python.org/3/library/inspect.html#inspect.getgeneratorstate"
timeout = 5.0
code = '''
{comment}
def gen():
    yield 1
'''
subject = "gen()"

[[case.step]]
do = "create"
state = "created"

[[case.step]]
do = "next"
returns = 1
state = "suspended"
"#
    )
}

/// Run `f` on each column in a thread of its own and wait at most `within` for all of them:
/// a run that never ends fails the test instead of hanging it.
fn per_column_within<T: Send + 'static>(
    within: Duration,
    f: impl Fn(&'static Column) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, col) in columns().iter().enumerate() {
        let (f, tx) = (f.clone(), tx.clone());
        std::thread::spawn(move || {
            let _ = tx.send((i, f(col)));
        });
    }
    drop(tx);
    let deadline = Instant::now() + within;
    let mut got: Vec<Option<T>> = columns().iter().map(|_| None).collect();
    for _ in columns() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((i, t)) => got[i] = Some(t),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let missing: Vec<&str> = columns()
                    .iter()
                    .zip(&got)
                    .filter(|(_, g)| g.is_none())
                    .map(|(c, _)| c.name.as_str())
                    .collect();
                panic!("no end within {within:?} on {missing:?}");
            }
            Err(e) => panic!("a column's thread panicked ({e})"),
        }
    }
    got.into_iter().map(Option::unwrap).collect()
}

// ---------------------------------------------------------------------------------------------
// Class 1: a hang that never times out.

/// An endless loop with `timeout = 1.0`, pipelined before forty cases of 24 KiB request
/// lines (about a megabyte: far more than a 64 KiB pipe holds while the worker loops): the
/// loop is TIMEOUT after its second, every other case passes, and the run ends, on both
/// observers, with the same outcome on each. Before the writer thread, the harness blocked
/// writing into the full pipe and the timeout never started.
#[test]
fn a_hang_before_big_requests_times_out_and_the_run_ends() {
    let mut toml = String::from(
        r#"
[[case]]
id = "hang.first"
title = "The body loops for ever, before many large requests"
kind = "generator"
source = "https://docs.python.org/3/reference/compound_stmts.html#the-while-statement"
timeout = 1.0
code = '''
def gen():
    yield 1
    while True:
        pass
'''
subject = "gen()"

[[case.step]]
do = "create"

[[case.step]]
do = "next"
returns = 1

[[case.step]]
do = "next"
"#,
    );
    for i in 0..40 {
        toml.push_str(&padded_case(&format!("big.{i:02}"), 24 << 10));
    }
    let root = project_with("hang-big", &toml);
    let outcomes = per_column_within(Duration::from_secs(60), move |col| {
        let p = load_root(&root);
        assert!(p.corpus.cases.iter().map(|c| c.code.len()).sum::<usize>() > 900_000);
        let start = Instant::now();
        let run = run_pipelined(&p, col, &[]);
        let elapsed = start.elapsed();
        let statuses: BTreeMap<String, Status> = run
            .iter()
            .map(|(id, t)| (id.clone(), t.verdict.status))
            .collect();
        let hang = &run["hang.first"];
        assert_eq!(
            hang.verdict.status,
            Status::Timeout,
            "{}: {}",
            col.name,
            describe(hang)
        );
        assert!(
            hang.duration >= Duration::from_secs(1) && hang.duration < Duration::from_secs(3),
            "{}: hang.first took {:?}",
            col.name,
            hang.duration
        );
        for (id, t) in &run {
            if id != "hang.first" {
                assert_eq!(
                    t.verdict.status,
                    Status::Pass,
                    "{}::{id}: {}",
                    col.name,
                    describe(t)
                );
            }
        }
        assert!(
            elapsed < Duration::from_secs(30),
            "{}: the run took {elapsed:?}",
            col.name
        );
        statuses
    });
    assert_eq!(outcomes[0], outcomes[1], "the two observers disagree");
    assert_eq!(outcomes[0].len(), 41);
}

// ---------------------------------------------------------------------------------------------
// Class 3: processes left behind.

/// The code of the leaking cases: each child gets `INTROSPEC_FAULTS_CHILD=<run>-<tag>` in its
/// environment, so the test finds it by that marker (the worker's own is `INTROSPEC_FAULTS_RUN`).
const LEAK_PRELUDE: &str = r#"
prelude = '''
import os, subprocess, sys

def child_env(tag):
    env = dict(os.environ)
    env["INTROSPEC_FAULTS_CHILD"] = os.environ["INTROSPEC_FAULTS_RUN"] + "-" + tag
    return env

def forever():
    while True:
        pass
'''
"#;

fn leak_case(id: &str, timeout: f64, start: &str, then: &str) -> String {
    format!(
        r#"
[[case]]
id = "{id}"
title = "Starts a long-sleeping child, then {then}"
kind = "generator"
source = "https://docs.python.org/3/library/subprocess.html#subprocess.Popen"
timeout = {timeout:?}
code = '''
def gen():
    {start}
    yield 1
    {then}
'''
subject = "gen()"

[[case.step]]
do = "create"

[[case.step]]
do = "next"
returns = 1

[[case.step]]
do = "next"
raises = "StopIteration"
"#
    )
}

/// Cases that start children which sleep for five minutes: `subprocess.Popen`, a child in a
/// session of its own (`start_new_session`), a daemon (a child that calls `setsid`, starts
/// the sleeper and exits, orphaning it), and `os.fork` + `exec`, each then looping past its
/// one-second timeout; and the same two that then return normally. Once a case timed out, no
/// child of it remains (while the session, with its live worker, still runs); once the
/// session is dropped, no child of any remains. Both observers give the same statuses.
#[test]
fn children_of_a_case_do_not_outlive_its_timeout_or_the_harness() {
    let starts = [
        (
            "popen",
            "subprocess.Popen(['sleep', '300'], env=child_env('T'))",
        ),
        (
            "session",
            "subprocess.Popen(['sleep', '300'], env=child_env('T'), start_new_session=True)",
        ),
        (
            "daemon",
            "subprocess.Popen([sys.executable, '-c', 'import os, subprocess; os.setsid(); subprocess.Popen([\"sleep\", \"300\"])'], env=child_env('T')).wait()",
        ),
        (
            "fork",
            "os.fork() or os.execve('/bin/sleep', ['sleep', '300'], child_env('T'))",
        ),
    ];
    let mut toml = String::from(LEAK_PRELUDE);
    for (name, start) in starts {
        toml.push_str(&leak_case(
            &format!("leak.{name}.timeout"),
            1.0,
            start,
            "forever()",
        ));
    }
    for (name, start) in &starts[..2] {
        let start = start.replace("'T'", "'F'");
        toml.push_str(&leak_case(
            &format!("leak.{name}.returns"),
            5.0,
            &start,
            "pass",
        ));
    }
    toml.push_str(&padded_case("good.after", 0));
    let root = project_with("leaks", &toml);
    let outcomes = per_column_within(Duration::from_secs(120), move |col| {
        let p = load_root(&root);
        let marker = unique("leaks");
        let timed_out = format!("{marker}-T");
        let returned = format!("{marker}-F");
        let mut session = Session::new(&p, vec![col.clone()]);
        session.worker_env = vec![("INTROSPEC_FAULTS_RUN".into(), marker.clone())];
        session.run_column(0);
        // the worker that ran the returning cases is alive: their children may be too, but
        // no child of a case that timed out is
        assert_no_process_with_env("INTROSPEC_FAULTS_CHILD", &timed_out, Duration::from_secs(2));
        let run = by_id(&session);
        drop(session);
        assert_no_process_with_env("INTROSPEC_FAULTS_CHILD", &returned, Duration::from_secs(2));
        assert_no_process_with_env("INTROSPEC_FAULTS_RUN", &marker, Duration::from_secs(2));
        let statuses: BTreeMap<String, Status> = run
            .iter()
            .map(|(id, t)| (id.clone(), t.verdict.status))
            .collect();
        for (id, t) in &run {
            let want = if id.ends_with(".timeout") {
                Status::Timeout
            } else {
                Status::Pass
            };
            assert_eq!(
                t.verdict.status,
                want,
                "{}::{id}: {}",
                col.name,
                describe(t)
            );
        }
        statuses
    });
    assert_eq!(outcomes[0], outcomes[1], "the two observers disagree");
    assert_eq!(outcomes[0].len(), 7);
}

/// `introspec run` that ends normally, and one quit at once by a second SIGINT, leave no
/// child of any case behind (the second SIGINT exits without dropping the workers).
#[test]
fn children_of_cases_do_not_outlive_introspec_run() {
    let mut toml = String::from(LEAK_PRELUDE);
    toml.push_str(&leak_case(
        "leak.session.returns",
        5.0,
        "subprocess.Popen(['sleep', '300'], env=child_env('F'), start_new_session=True)",
        "pass",
    ));
    toml.push_str(&leak_case(
        "leak.popen.hangs",
        60.0,
        "subprocess.Popen(['sleep', '300'], env=child_env('F'))",
        "forever()",
    ));
    let root = project_with("leaks-run", &toml);
    let mut pythons: Vec<&Path> = columns().iter().map(|c| c.runtime.path.as_path()).collect();
    pythons.dedup();
    for second_sigint in [false, true] {
        let marker = unique("leaks-run");
        let mut cmd = introspec();
        only(&mut cmd, &pythons);
        cmd.arg("--root")
            .arg(&root)
            .args(["run", "--no-reference", "--jobs", "2", "--case"])
            .arg(if second_sigint {
                "leak."
            } else {
                "leak.session"
            })
            .arg("--out")
            .arg(root.join("results.json"))
            .env("INTROSPEC_FAULTS_RUN", &marker)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().unwrap();
        let child_marker = format!("{marker}-F");
        if second_sigint {
            // both columns' hanging cases have started their children (those of the case
            // that returned were killed after it, as what it left behind)
            let deadline = Instant::now() + Duration::from_secs(60);
            while processes_with_env("INTROSPEC_FAULTS_CHILD", &child_marker).len() < pythons.len()
            {
                assert!(Instant::now() < deadline, "the children never started");
                std::thread::sleep(Duration::from_millis(20));
            }
            for _ in 0..2 {
                assert_eq!(unsafe { kill(child.id() as i32, SIGINT) }, 0);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("`introspec run` did not end");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let want = if second_sigint { 130 } else { 0 };
        assert_eq!(status.code(), Some(want), "second SIGINT: {second_sigint}");
        assert_no_process_with_env(
            "INTROSPEC_FAULTS_CHILD",
            &child_marker,
            Duration::from_secs(2),
        );
        assert_no_process_with_env("INTROSPEC_FAULTS_RUN", &marker, Duration::from_secs(2));
    }
}

// ---------------------------------------------------------------------------------------------
// Class 6: the loader hangs or eats memory.

/// `introspec check` on `root`, killed (and the test failed) if it takes over `within`.
fn check_within(root: &Path, within: Duration) -> (Output, Duration) {
    let mut cmd = introspec();
    only(&mut cmd, &[Path::new("/bin/false")]);
    let start = Instant::now();
    let mut child = cmd
        .arg("--root")
        .arg(root)
        .arg("check")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > within {
            let _ = child.kill();
            panic!("`introspec check` did not end within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = start.elapsed();
    (child.wait_with_output().unwrap(), took)
}

/// Two symlinks to `cases/` itself and one to its parent (cycles), a FIFO named `fifo.toml`,
/// `zero.toml -> /dev/zero` and a 5 MiB `huge.toml`: `introspec check` ends at once, reads
/// the one good case once, and gives one located error for each file it would not read.
#[test]
fn the_loader_follows_no_cycle_and_reads_only_bounded_regular_files() {
    let root = project_with("loader", &padded_case("good.only", 0));
    let cases = root.join("cases");
    std::fs::rename(cases.join("hostile.toml"), cases.join("good.toml")).unwrap();
    std::os::unix::fs::symlink(".", cases.join("l1")).unwrap();
    std::os::unix::fs::symlink(".", cases.join("l2")).unwrap();
    std::fs::create_dir(cases.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", cases.join("sub/up")).unwrap();
    let fifo = cases.join("fifo.toml");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success(), "mkfifo");
    std::os::unix::fs::symlink("/dev/zero", cases.join("zero.toml")).unwrap();
    let line = format!("# {}\n", "x".repeat(1000));
    std::fs::write(cases.join("huge.toml"), line.repeat(5 << 10)).unwrap();

    let (o, took) = check_within(&root, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(took < Duration::from_secs(5), "check took {took:?}");
    let err = text(&o.stderr);
    for (file, what) in [
        ("fifo.toml", "error: not a regular file (a FIFO): not read"),
        (
            "zero.toml",
            "error: not a regular file (a character device): not read",
        ),
        ("huge.toml", "error: larger than 4 MiB: not read"),
    ] {
        let want = format!("{}: {what}", cases.join(file).display());
        assert_eq!(
            err.lines().filter(|l| *l == want).count(),
            1,
            "{want}\n{}",
            show(&o)
        );
    }
    assert!(
        text(&o.stdout).contains("cases: 1 valid in 4 files, 0 deviation records, 3 problems"),
        "{}",
        show(&o)
    );
}

/// Ten thousand cases in one file (2.8 MB) check in well under five seconds (it took 100 s
/// in a debug build when each case's line was found by rescanning the file from its start).
#[test]
fn ten_thousand_cases_in_one_file_check_in_linear_time() {
    let mut toml = String::new();
    for i in 0..10_000 {
        toml.push_str(&padded_case(&format!("many.{i:05}"), 0));
    }
    assert!(toml.len() < 4 << 20);
    let root = project_with("many", &toml);
    let (o, took) = check_within(&root, Duration::from_secs(60));
    assert!(o.status.success(), "{}", show(&o));
    assert!(
        text(&o.stdout).contains("cases: 10000 valid in 1 files"),
        "{}",
        show(&o)
    );
    assert!(took < Duration::from_secs(5), "check took {took:?}");
    // the lines are right at the end of the file too: every case is as long as the first
    let p = load_root(&root);
    let (first, last) = (&p.corpus.cases[0], p.corpus.cases.last().unwrap());
    let per_case = padded_case("many.00000", 0).matches('\n').count();
    assert_eq!(last.line - first.line, 9_999 * per_case);
    let step = |c: &introspec_cases::Case| c.steps.last().unwrap().line - c.line;
    assert_eq!(step(last), step(first));
}

// ---------------------------------------------------------------------------------------------
// Class 7: unbounded outputs.

/// A generator case whose second step runs `body` (which must not return 1) and expects 1.
fn observing_case(id: &str, setup: &str, body: &str) -> String {
    format!(
        r#"
[[case]]
id = "{id}"
title = "Observes a 50 MB value"
kind = "generator"
source = "https://docs.python.org/3/library/functions.html#repr"
timeout = 60.0
code = '''
{setup}
def gen():
    {body}
'''
subject = "gen()"

[[case.step]]
do = "create"

[[case.step]]
do = "next"
returns = 1
"#
    )
}

/// Three cases that observe 50 MB values (a yielded string, an exception's message, a list of
/// forty 1.25 MB strings) and one whose code fails with a 50 MB message: the results file
/// of both columns stays under 100 KiB (it was 400 MB), each observed value or reason is cut
/// at 4 KiB and says the full length, the same on both observers, and so is each value in
/// the snapshot record.
#[test]
fn observed_values_are_clipped_with_their_full_length() {
    let mut toml = String::new();
    toml.push_str(&observing_case("big.yield", "", "yield 'x' * 50000000"));
    toml.push_str(&observing_case(
        "big.raise",
        "",
        "raise ValueError('y' * 50000000)\n    yield",
    ));
    toml.push_str(&observing_case(
        "big.list",
        "",
        "yield ['z' * 1250000] * 40",
    ));
    toml.push_str(&observing_case(
        "big.setup",
        "raise RuntimeError('w' * 50000000)",
        "yield 1",
    ));
    let root = project_with("clip", &toml);
    let results = root.join("results.json");
    let mut pythons: Vec<&Path> = columns().iter().map(|c| c.runtime.path.as_path()).collect();
    pythons.dedup();
    let mut cmd = introspec();
    only(&mut cmd, &pythons);
    let o = cmd
        .arg("--root")
        .arg(&root)
        .args(["run", "--no-reference", "--jobs", "2", "--out"])
        .arg(&results)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let size = std::fs::metadata(&results).unwrap().len();
    assert!(size < 100 << 10, "the results file holds {size} bytes");
    let r = read_results(&results);
    assert_eq!(r.columns.len(), 2);
    // per case: (status, every clipped text's end marker), per column
    let mut by_column: BTreeMap<String, BTreeMap<String, (Status, Vec<String>)>> = BTreeMap::new();
    for t in &r.trials {
        let mut texts: Vec<&str> = t.reason.iter().map(String::as_str).collect();
        texts.extend(t.problems.iter().map(|c| c.observed.as_str()));
        let markers: Vec<String> = texts
            .iter()
            .filter_map(|s| s.rfind("…(clipped, ").map(|i| s[i..].to_string()))
            .collect();
        for s in &texts {
            assert!(
                s.len() < 4200,
                "{}::{}: {} bytes",
                t.column,
                t.case,
                s.len()
            );
        }
        by_column
            .entry(t.column.clone())
            .or_default()
            .insert(t.case.clone(), (t.status, markers));
    }
    let cols: Vec<_> = by_column.values().collect();
    assert_eq!(cols[0], cols[1], "the two observers disagree");
    let want = [
        ("big.yield", Status::Fail, "…(clipped, 50000002 bytes)"),
        ("big.raise", Status::Fail, "…(clipped, 50000021 bytes)"),
        ("big.list", Status::Fail, "…(clipped, 50000160 bytes)"),
        ("big.setup", Status::Error, "bytes)"),
    ];
    for (case, status, marker) in want {
        let (s, markers) = &cols[0][case];
        assert_eq!(*s, status, "{case}");
        assert!(
            !markers.is_empty() && markers.iter().all(|m| m.ends_with(marker)),
            "{case}: {markers:?}"
        );
    }

    // the snapshot record of each trial is bounded too
    let records = per_column_within(Duration::from_secs(120), move |col| {
        let p = load_root(&root);
        let session = Session::new(&p, vec![col.clone()]);
        (0..p.corpus.cases.len())
            .map(|i| {
                let t = session.trial(i, 0);
                let text = t.result.as_ref().map_or(String::new(), |res| {
                    introspec_runner::record::render(
                        p.corpus.cases.get(i).unwrap(),
                        &session.compiled[i].plan,
                        res,
                        &[],
                    )
                });
                assert!(text.len() < 10 << 10, "{}: {} bytes", col.name, text.len());
                // the runtimes' records differ (3.8 and 3.13 read different attributes); what
                // was clipped, and its length, does not
                text.match_indices("…(clipped, ")
                    .map(|(i, _)| text[i..].split(')').next().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(
        records[0], records[1],
        "the two observers clipped differently"
    );
    assert_eq!(
        records[0].iter().map(Vec::len).sum::<usize>(),
        4,
        "{:?}",
        records[0]
    );
}

// ---------------------------------------------------------------------------------------------
// Class 5: results lost on interruption.

/// `--out FILE` holds a previous run's results. `introspec run` (both columns) is interrupted
/// in slow.d, and a second SIGINT follows 0 to 20 ms later (the run is stopping its workers)
/// or as soon as the temporary results file appears (the run is writing them): each time the run ends with 130, FILE is either the old
/// results byte for byte or the new ones whole (valid JSON, `interrupted`, slow.a-c on every
/// column), and no temporary file is left beside it.
#[test]
fn a_second_sigint_while_results_are_written_never_destroys_them() {
    // a copy of its own (copy_fixture("slow")'s directory is another test's)
    let root = scratch("slow-twice").join("root");
    std::fs::create_dir_all(root.join("cases")).unwrap();
    for e in std::fs::read_dir(fixture("slow").join("cases"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(e.path(), root.join("cases").join(e.file_name())).unwrap();
    }
    std::os::unix::fs::symlink(checkout().join("spec"), root.join("spec")).unwrap();
    let results = root.join("out/results.json");
    let mut pythons: Vec<&Path> = columns().iter().map(|c| c.runtime.path.as_path()).collect();
    pythons.dedup();
    let start = |cases: &str, marks: &Path| {
        let mut cmd = introspec();
        only(&mut cmd, &pythons);
        cmd.arg("--root")
            .arg(&root)
            .args([
                "run",
                "--no-reference",
                "--jobs",
                "2",
                "--case",
                cases,
                "--out",
            ])
            .arg(&results)
            .env("INTROSPEC_FAULTS_MARKS", marks)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.spawn().unwrap()
    };
    let wait = |child: &mut std::process::Child| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("`introspec run` did not end");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    // the previous results: slow.a alone
    let marks = root.join("marks-0");
    std::fs::create_dir_all(&marks).unwrap();
    let mut first = start("slow.a", &marks);
    assert!(wait(&mut first).success());
    let old = std::fs::read(&results).unwrap();
    assert_eq!(read_results(&results).trials.len(), pythons.len());

    let (mut kept, mut replaced, mut caught) = (0, 0, 0);
    // a delay in ms, or None: when the temporary results file appears (during the write)
    let rounds = [
        Some(0u64),
        Some(2),
        Some(5),
        Some(10),
        Some(20),
        None,
        None,
        None,
    ];
    for (n, delay) in rounds.into_iter().enumerate() {
        let delay_ms = delay.unwrap_or(u64::MAX);
        let marks = root.join(format!("marks-{}", n + 1));
        std::fs::create_dir_all(&marks).unwrap();
        let mut child = start("slow.", &marks);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::read_dir(&marks).unwrap().count() < 3 * pythons.len() {
            assert!(Instant::now() < deadline, "the run did not get to slow.d");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(unsafe { kill(child.id() as i32, SIGINT) }, 0);
        match delay {
            Some(ms) => std::thread::sleep(Duration::from_millis(ms)),
            None => {
                let dir = results.parent().unwrap();
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
                    let writing = std::fs::read_dir(dir)
                        .unwrap()
                        .flatten()
                        .any(|e| e.file_name() != "results.json");
                    if writing {
                        caught += 1;
                        break;
                    }
                }
            }
        }
        let _ = unsafe { kill(child.id() as i32, SIGINT) };
        let st = wait(&mut child);
        assert_eq!(st.code(), Some(130), "second SIGINT after {delay_ms} ms");
        let now = std::fs::read(&results).unwrap();
        if now == old {
            kept += 1;
        } else {
            let r: Results = serde_json::from_slice(&now).unwrap_or_else(|e| {
                panic!("second SIGINT after {delay_ms} ms: the results are not whole: {e}")
            });
            assert!(r.interrupted);
            let mut got: Vec<&str> = r.trials.iter().map(|t| t.case.as_str()).collect();
            got.sort();
            let mut want: Vec<&str> = ["slow.a", "slow.b", "slow.c"]
                .repeat(pythons.len())
                .into_iter()
                .collect();
            want.sort();
            assert_eq!(got, want, "second SIGINT after {delay_ms} ms");
            replaced += 1;
            // the next round's previous results are these
            return_to(&results, &old);
        }
        let left: Vec<_> = std::fs::read_dir(results.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "results.json")
            .collect();
        assert!(left.is_empty(), "left beside the results: {left:?}");
    }
    eprintln!(
        "the old results kept {kept} times, replaced whole {replaced} times; \
         {caught} second SIGINTs sent while the temporary file existed"
    );
    assert!(caught >= 1, "no second SIGINT landed during the write");
}

/// Put `bytes` back at `path`.
fn return_to(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Class 2: state that leaks into the long-lived worker.

/// A case whose code runs `setup` at its start and then yields 1; then a probe whose generator
/// yields `probe`, which must be `returns` in a worker the leak did not reach.
fn leak_and_probe(name: &str, setup: &str, probe: &str, returns: &str) -> String {
    format!(
        r#"
[[case]]
id = "leak.{name}"
title = "Leaves something behind in the worker"
kind = "generator"
source = "https://docs.python.org/3/library/sys.html"
timeout = 10.0
code = '''
import asyncio, builtins, colorsys, signal, sys, threading, time
{setup}
def gen():
    yield 1
'''
subject = "gen()"

[[case.step]]
do = "create"

[[case.step]]
do = "next"
returns = 1

[[case]]
id = "probe.{name}"
title = "Sees a worker as fresh as the first"
kind = "generator"
source = "https://docs.python.org/3/library/sys.html"
timeout = 10.0
code = '''
import asyncio, colorsys, os, sys
def gen():
    yield {probe}
'''
subject = "gen()"

[[case.step]]
do = "create"

[[case.step]]
do = "next"
returns = {returns}
"#
    )
}

/// Cases that replace a builtin, leave a daemon thread re-patching `asyncio.sleep` (which
/// the observers restore after every case), a SIGALRM handler with a repeating interval timer
/// that patches it too, a tracer, a profiler, children (one a daemon orphaned to the
/// worker, a subreaper), an emptied `sys.path`, and a cycle whose finalizer exits the
/// process, each followed by a probe of it. Every leak is found after its case, undone (or, for the thread, the worker
/// replaced), and noted on the culprit alone; every probe gives, pipelined and one at a time,
/// exactly what it gives in a run without the leaks; both observers say the same.
#[test]
fn what_a_case_leaves_behind_is_undone_and_noted_on_the_culprit() {
    let leaks = [
        (
            "builtin",
            "builtins.divmod = lambda a, b: (0, 0)",
            "divmod(7, 2)[0]",
            "3",
            vec!["changed builtins (divmod) (undone)"],
        ),
        (
            "thread",
            "def patch():\n    while True:\n        asyncio.sleep = len\n        time.sleep(0.001)\nthreading.Thread(target=patch, daemon=True).start()",
            "asyncio.sleep.__name__",
            "\"sleep\"",
            vec!["1 thread(s) left running (could not be undone: the worker was replaced)"],
        ),
        (
            "itimer",
            "def handler(signum, frame):\n    asyncio.sleep = len\nsignal.signal(signal.SIGALRM, handler)\nsignal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)",
            "asyncio.sleep.__name__",
            "\"sleep\"",
            vec![
                "an interval timer (ITIMER_REAL) (undone)",
                "a handler for SIGALRM (undone)",
            ],
        ),
        (
            "tracer",
            "def tracer(frame, event, arg):\n    return tracer\nsys.settrace(tracer)",
            "sys.gettrace() is None",
            "true",
            vec!["a tracer (sys.settrace) (undone)"],
        ),
        (
            "profiler",
            "sys.setprofile(lambda frame, event, arg: None)",
            "sys.getprofile() is None",
            "true",
            vec!["a profiler (sys.setprofile) (undone)"],
        ),
        (
            "children",
            "import os, subprocess\nsubprocess.Popen(['sleep', '300'])\nsubprocess.Popen([sys.executable, '-c', 'import os, subprocess; os.setsid(); subprocess.Popen([\"sleep\", \"300\"])']).wait()",
            "len(open('/proc/%d/task/%d/children' % (os.getpid(), os.getpid())).read().split())",
            "0",
            vec!["2 child process(es) left behind, killed (undone)"],
        ),
        (
            "path",
            "sys.path[:] = []",
            "len(sys.path) > 0",
            "true",
            vec!["a changed sys.path (undone)"],
        ),
    ];
    let mut toml = String::new();
    for (name, setup, probe, returns, _) in &leaks {
        toml.push_str(&leak_and_probe(name, setup, probe, returns));
    }
    // a cycle whose finalizer exits the process: collected after its own case, which is the
    // CRASH, and never during a later one
    toml.push_str(&leak_and_probe(
        "finalizer",
        "import os\nclass Bomb(object):\n    def __del__(self):\n        os._exit(7)\nbomb = Bomb()\nbomb.cycle = bomb\ndel bomb",
        "1",
        "1",
    ));
    let root = project_with("leftovers", &toml);
    let notes: BTreeMap<String, Vec<String>> = leaks
        .iter()
        .map(|(name, _, _, _, n)| {
            (
                format!("leak.{name}"),
                n.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect();
    let outcomes = per_column_within(Duration::from_secs(180), move |col| {
        let full = load_root(&root);
        let mut clean = load_root(&root);
        clean.corpus.cases.retain(|c| c.id.starts_with("probe."));
        let clean_run = run_pipelined(&clean, col, &[]);
        let mut seen = BTreeMap::new();
        for (how, run) in [
            ("pipelined", run_pipelined(&full, col, &[])),
            (
                "one at a time",
                run_in_order(&full, col, &in_file_order(&full)),
            ),
        ] {
            assert_spared(col, how, &run, &clean_run);
            for (id, t) in &run {
                let left: Vec<String> = t
                    .result
                    .as_ref()
                    .map(|r| {
                        r.left
                            .iter()
                            .map(|l| {
                                let done = if l.undone {
                                    "undone"
                                } else {
                                    "could not be undone: the worker was replaced"
                                };
                                format!("{} ({done})", l.what)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let want = notes.get(id).cloned().unwrap_or_default();
                assert_eq!(left, want, "{}::{id} ({how}): {}", col.name, describe(t));
                if id == "leak.finalizer" {
                    let reason = t.verdict.reason.clone().unwrap_or_default();
                    assert!(
                        t.verdict.status == Status::Crash
                            && reason.starts_with("the worker died: exit code 7"),
                        "{}::{id}: {}",
                        col.name,
                        describe(t)
                    );
                } else if id.starts_with("leak.") {
                    assert_eq!(
                        t.verdict.status,
                        Status::Pass,
                        "{}::{id}: {}",
                        col.name,
                        describe(t)
                    );
                }
                seen.insert(id.clone(), (t.verdict.status, left));
            }
        }
        seen
    });
    assert_eq!(outcomes[0], outcomes[1], "the two observers disagree");
}
