//! Hostile cases, classes 1, 3 and 5 (issue 14): a hang behind a full pipe, processes left
//! behind, a second SIGINT while the results are written.

use super::hostile::*;
use super::*;

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

/// The hardest child to find: one that replaces its whole environment (no token), starts a
/// session of its own (out of the worker's group) and then loses its parent, because the case
/// makes the worker exit at once (`os._exit`). Its only tie to the harness is that it is
/// re-parented to it, the subreaper (worker::procs). The case is CRASH, the case after it
/// passes in a new worker, and no such child remains once the column ran, on both observers.
#[test]
fn an_orphan_without_token_or_group_does_not_outlive_its_crashed_worker() {
    let mut toml = String::from(LEAK_PRELUDE);
    toml.push_str(&leak_case(
        "leak.orphan.crash",
        5.0,
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', 'orphan-' + os.environ['INTROSPEC_FAULTS_RUN']], env={}, start_new_session=True)",
        "os._exit(3)",
    ));
    toml.push_str(&padded_case("good.after", 0));
    let root = project_with("orphans", &toml);
    let outcomes = per_column_within(Duration::from_secs(120), move |col| {
        let p = load_root(&root);
        let marker = unique("orphans");
        let mut session = Session::new(&p, vec![col.clone()]);
        session.worker_env = vec![("INTROSPEC_FAULTS_RUN".into(), marker.clone())];
        session.run_column(0);
        let arg = format!("orphan-{marker}");
        // the session and its next worker still live: the orphan is gone all the same
        assert_no_process_with_arg(&arg, Duration::from_secs(2));
        let run = by_id(&session);
        drop(session);
        assert_no_process_with_arg(&arg, Duration::from_secs(2));
        let statuses: BTreeMap<String, Status> = run
            .iter()
            .map(|(id, t)| (id.clone(), t.verdict.status))
            .collect();
        assert_eq!(
            statuses.get("leak.orphan.crash"),
            Some(&Status::Crash),
            "{}: {statuses:?}",
            col.name
        );
        assert_eq!(
            statuses.get("good.after"),
            Some(&Status::Pass),
            "{}: {statuses:?}",
            col.name
        );
        statuses
    });
    assert_eq!(outcomes[0], outcomes[1], "the two observers disagree");
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

/// `introspec run` killed by SIGKILL (it runs no handler, drops no worker) in a case that
/// started a child in its group (`Popen`), one in a session of its own, a daemon (`setsid`
/// and a second fork, the sleeper orphaned), a `fork` + `exec` and a child with an empty
/// environment in a session of its own, then loops: within three seconds no process of any
/// case, nor any worker, is left, on both columns. The workers die of their parent-death
/// signal; their children are killed by the guardian process, which sees the harness's pipe
/// close (the last one because it saw it in a worker's tree).
#[test]
fn children_of_cases_do_not_outlive_a_harness_killed_by_sigkill() {
    let mut toml = String::from(LEAK_PRELUDE);
    toml.push_str(&leak_case(
        "leak.all.hangs",
        60.0,
        "subprocess.Popen(['sleep', '300'], env=child_env('K')); \
    subprocess.Popen(['sleep', '300'], env=child_env('K'), start_new_session=True); \
    subprocess.Popen([sys.executable, '-c', 'import os, subprocess; os.setsid(); subprocess.Popen([\"sleep\", \"300\"])'], env=child_env('K')).wait(); \
    os.fork() or os.execve('/bin/sleep', ['sleep', '300'], child_env('K')); \
    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', 'orphan-' + os.environ['INTROSPEC_FAULTS_RUN']], env={}, start_new_session=True)",
        "forever()",
    ));
    let root = project_with("leaks-sigkill", &toml);
    let mut pythons: Vec<&Path> = columns().iter().map(|c| c.runtime.path.as_path()).collect();
    pythons.dedup();
    let marker = unique("leaks-sigkill");
    let child_marker = format!("{marker}-K");
    let mut cmd = introspec();
    only(&mut cmd, &pythons);
    cmd.arg("--root")
        .arg(&root)
        .args(["run", "--no-reference", "--jobs", "2", "--out"])
        .arg(root.join("results.json"))
        .env("INTROSPEC_FAULTS_RUN", &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().unwrap();
    // every column's case has started its five children
    let orphan = format!("orphan-{marker}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_with_env("INTROSPEC_FAULTS_CHILD", &child_marker).len() < 4 * pythons.len()
        || processes_with_arg(&orphan).len() < pythons.len()
    {
        if Instant::now() > deadline {
            let _ = child.kill();
            kill_all_with_env("INTROSPEC_FAULTS_RUN", &marker);
            kill_all_with_arg(&orphan);
            panic!("the children never started");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // the guardian looks at the workers' trees every WATCH_EVERY: let it see them once
    std::thread::sleep(introspec_worker::procs::WATCH_EVERY * 3);
    assert_eq!(unsafe { kill(child.id() as i32, SIGKILL) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(SIGKILL)
    );
    let left = std::panic::catch_unwind(|| {
        assert_no_process_with_env(
            "INTROSPEC_FAULTS_CHILD",
            &child_marker,
            Duration::from_secs(3),
        );
        assert_no_process_with_env("INTROSPEC_FAULTS_RUN", &marker, Duration::from_secs(3));
        // nor the child with no token and a session of its own, which the guardian saw in a
        // worker's tree
        assert_no_process_with_arg(&orphan, Duration::from_secs(3));
    });
    // a failing run leaves no sleeper on the machine either
    kill_all_with_env("INTROSPEC_FAULTS_RUN", &marker);
    kill_all_with_arg(&orphan);
    if let Err(e) = left {
        std::panic::resume_unwind(e);
    }
}

/// Kill every process that has `arg` as an argument (the cleanup of a failed test).
fn kill_all_with_arg(arg: &str) {
    for pid in processes_with_arg(arg) {
        unsafe { kill(pid as i32, SIGKILL) };
    }
}

/// Kill every process whose environment holds `KEY=value` (the cleanup of a failed test).
fn kill_all_with_env(key: &str, value: &str) {
    for pid in processes_with_env(key, value) {
        unsafe { kill(pid as i32, SIGKILL) };
    }
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
