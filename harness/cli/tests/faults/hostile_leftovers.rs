//! Hostile cases, class 2 (issue 14): what a case leaves behind in its long-lived worker.

use super::hostile::*;
use super::*;

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
                    .map(|r| r.left.iter().map(|l| l.describe()).collect())
                    .unwrap_or_default();
                let want = notes.get(id).cloned().unwrap_or_default();
                assert_eq!(left, want, "{}::{id} ({how}): {}", col.name, describe(t));
                if id == "leak.finalizer" {
                    let reason = t.verdict.reason_text();
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

/// `introspec run` keeps verdicts, not observations, once a trial is judged (its memory); what
/// a case left behind must still reach the results file, on both observers.
#[test]
fn introspec_run_records_what_a_case_left_behind() {
    let toml = leak_and_probe(
        "tracer",
        "def tracer(frame, event, arg):\n    return tracer\nsys.settrace(tracer)",
        "sys.gettrace() is None",
        "true",
    );
    let root = project_with("left-behind-run", &toml);
    let results = root.join("results.json");
    let mut pythons: Vec<&Path> = columns().iter().map(|c| c.runtime.path.as_path()).collect();
    pythons.dedup();
    let mut cmd = introspec();
    only(&mut cmd, &pythons);
    let out = cmd
        .arg("--root")
        .arg(&root)
        .args(["run", "--no-reference", "--out"])
        .arg(&results)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let r = read_results(&results);
    let culprits: Vec<_> = r
        .trials
        .iter()
        .filter(|t| t.case == "leak.tracer")
        .collect();
    assert_eq!(culprits.len(), pythons.len(), "{}", show(&out));
    for t in culprits {
        assert_eq!(
            t.left_behind,
            vec!["a tracer (sys.settrace) (undone)".to_string()],
            "{}",
            t.column
        );
    }
}
