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
    let comment = line.repeat(padding / line.len() + 1);
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
