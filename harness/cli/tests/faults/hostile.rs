//! Hostile cases (issue 14): what a hostile user tries, done for real on both observers'
//! columns. This module holds the helpers; the tests are in hostile_processes.rs (classes
//! 1, 3, 5: hangs, processes left behind, interrupted writes), hostile_inputs.rs (6, 7: the
//! loader, unbounded outputs) and hostile_leftovers.rs (2: state left in the worker). Each
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
