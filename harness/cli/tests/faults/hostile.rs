//! Hostile cases (issue 14): what a hostile user tries, done for real on both observers'
//! columns. This module holds the helpers; the tests are in hostile_processes.rs (classes
//! 1, 3, 5: hangs, processes left behind, interrupted writes), hostile_inputs.rs (6, 7: the
//! loader, unbounded outputs), hostile_leftovers.rs (2: state left in the worker) and
//! hostile_mixed.rs (hostile cases of several classes mixed into the real corpus). Each
//! project is generated into a scratch directory (`spec` linked to the real one), since the
//! inputs are big (request lines that fill a pipe, ten thousand cases) or are not files at all
//! (FIFOs, symlink loops, `/dev/zero`).

use super::*;

/// A scratch project whose `cases/hostile.toml` is `toml`.
pub(crate) fn project_with(name: &str, toml: &str) -> PathBuf {
    let root = scratch(name).join("root");
    std::fs::create_dir_all(root.join("cases")).unwrap();
    std::fs::write(root.join("cases/hostile.toml"), toml).unwrap();
    std::os::unix::fs::symlink(checkout().join("spec"), root.join("spec")).unwrap();
    root
}

pub(crate) fn load_root(root: &Path) -> Project {
    let mut p = Project::load(
        root,
        &introspec_runner::Settings::from_env().expect("the settings are valid"),
    )
    .unwrap_or_else(|d| panic!("{}: {d}", root.display()));
    p.cache = introspec_runner::Settings::from_env()
        .expect("the settings are valid")
        .cache(&checkout());
    let diags: Vec<String> = p.corpus.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(diags.is_empty(), "{}", diags.join("\n"));
    p
}

/// A well-behaved generator case whose code carries `padding` bytes of comment.
pub(crate) fn padded_case(id: &str, padding: usize) -> String {
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
pub(crate) fn per_column_within<T: Send + 'static>(
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

/// The code of the leaking cases: each child gets `INTROSPEC_FAULTS_CHILD=<run>-<tag>` in its
/// environment, so the test finds it by that marker (the worker's own is `INTROSPEC_FAULTS_RUN`).
pub(crate) const LEAK_PRELUDE: &str = r#"
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

/// A generator case that runs `start` before its first `yield 1` and `then` after it; its
/// steps: create, next returns 1, next raises StopIteration.
pub(crate) fn leak_case(id: &str, timeout: f64, start: &str, then: &str) -> String {
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

/// The processes that have `arg` as an argument.
pub(crate) fn processes_with_arg(arg: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            cmd.split(|b| *b == 0)
                .any(|a| a == arg.as_bytes())
                .then_some(pid)
        })
        .collect()
}

/// Wait (at most `within`) until no process has `arg` as an argument.
pub(crate) fn assert_no_process_with_arg(arg: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = processes_with_arg(arg);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left behind with argument {arg}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
