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
/// worker, a subreaper), an emptied `sys.path`, a module replaced in `sys.modules`
/// (`inspect`, and `asyncio` by a fake), a fake module added (`wave`) and one removed
/// (`asyncio.events`), a case that only imports (no leftover), and a cycle whose finalizer exits the
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
        (
            "module_replaced",
            "import inspect, types\nsys.modules['inspect'] = types.ModuleType('inspect')",
            "__import__('inspect').getgeneratorstate.__name__",
            "\"getgeneratorstate\"",
            vec!["changed sys.modules (inspect) (undone)"],
        ),
        (
            "module_fake",
            "import types\nsys.modules['asyncio'] = types.ModuleType('asyncio')",
            "asyncio.sleep.__name__",
            "\"sleep\"",
            vec!["changed sys.modules (asyncio) (undone)"],
        ),
        (
            "module_added",
            "import types\nfake = types.ModuleType('wave')\nfake.open = None\nsys.modules['wave'] = fake",
            "callable(__import__('wave').open)",
            "true",
            vec!["changed sys.modules (wave) (undone)"],
        ),
        (
            "module_removed",
            "del sys.modules['asyncio.events']",
            "'asyncio.events' in sys.modules",
            "true",
            vec!["changed sys.modules (asyncio.events) (undone)"],
        ),
        (
            // importing is no leftover: new modules, packages, C modules and typing's
            // aliases (typing.io, classes in sys.modules) are kept, and nothing is noted
            "imports",
            "import decimal, email.mime.text, fractions, json, typing, xml.etree.ElementTree",
            "__import__('json').__name__",
            "\"json\"",
            vec![],
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

/// A case whose forked child talks on the worker's pipes while the case runs: `fds` is a
/// Python expression for the descriptors it writes to. It writes garbage, half a line, and
/// answers that look valid: one for its own case and one for each probe after it, then
/// keeps writing until it is killed (after its case, as a child left behind).
fn talking_child(name: &str, fds: &str) -> String {
    format!(
        r#"
[[case]]
id = "talk.{name}"
title = "Forks a child that writes on the worker's output while the case runs"
kind = "generator"
source = "https://docs.python.org/3/library/os.html#os.fork"
timeout = 10.0
code = '''
import json, os, sys, time
def lines():
    out = []
    for id in ["talk.{name}"] + ["probe.talk.%d" % i for i in range(3)]:
        forged = {{"result": {{"id": id, "error": None, "steps": []}}}}
        out.append(json.dumps(forged).encode() + b"\n")
    return out + [b"garbage that is no answer\n", b"{{\"result\": {{\"id\": \"half"]
def gen():
    pid = os.fork()
    if pid == 0 and {fds} is None:
        # the child goes on as a second observer: it ends the case and answers it itself
        yield 1
        return
    if pid == 0:
        try:
            fds = {fds}
            while True:
                for line in lines():
                    for fd in fds:
                        try:
                            os.write(fd, line)
                        except OSError:
                            pass
                time.sleep(0.01)
        finally:
            os._exit(0)
    time.sleep(0.3)
    yield 1
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

/// Three innocent cases, as after a talking child.
fn talk_probes() -> String {
    (0..3)
        .map(|i| {
            format!(
                r#"
[[case]]
id = "probe.talk.{i}"
title = "An innocent case after a child that talked on the pipes"
kind = "generator"
source = "https://docs.python.org/3/library/inspect.html#inspect.getgeneratorstate"
timeout = 10.0
code = '''
def gen():
    yield {i}
'''
subject = "gen()"

[[case.step]]
do = "create"
state = "created"

[[case.step]]
do = "next"
returns = {i}
state = "suspended"
"#
            )
        })
        .collect()
}

/// A case's forked child writes valid-looking answers (for its own case and the cases after
/// it) and garbage on the worker's standard output (fd 1 and `sys.stdout`), or on every pipe
/// the worker may write (its protocol channel among them), until it is killed; or it goes on
/// as a copy of the observer, which answers the case on the protocol channel: the innocent
/// cases after it give, pipelined and one at a time, what they give in a clean run, on both
/// observers, and the two observers agree on every trial's status.
#[test]
fn a_forked_child_talking_on_the_protocol_pipe_blames_no_innocent_case() {
    let every_pipe = "[int(fd) for fd in os.listdir('/proc/self/fd') \
        if os.path.exists('/proc/self/fd/' + fd) \
        and os.readlink('/proc/self/fd/' + fd).startswith('pipe:')]";
    for (name, fds) in [
        (
            "stdout",
            "[1, sys.stdout.fileno(), sys.__stdout__.fileno()]",
        ),
        ("pipes", every_pipe),
        // the child does not exit: it is a copy of the observer that ends the case too and
        // answers it on the protocol channel, as the observer does
        ("observer", "None"),
    ] {
        let mut toml = talking_child(name, fds);
        toml.push_str(&talk_probes());
        let root = project_with(&format!("talk-{name}"), &toml);
        let outcomes = per_column_within(Duration::from_secs(120), move |col| {
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
                    if id.starts_with("probe.") {
                        assert_eq!(
                            t.verdict.status,
                            Status::Pass,
                            "{}::{id} ({how}): {}",
                            col.name,
                            describe(t)
                        );
                    } else if name == "stdout" {
                        // fd 1 is not the protocol channel: what the child wrote went to stderr
                        assert_eq!(
                            t.verdict.status,
                            Status::Pass,
                            "{}::{id} ({how}): {}",
                            col.name,
                            describe(t)
                        );
                    } else {
                        // the culprit, and it alone, is the protocol error
                        assert!(
                            t.verdict.status == Status::Error
                                && t.verdict
                                    .reason_text()
                                    .contains("from another process than the worker"),
                            "{}::{id} ({how}): {}",
                            col.name,
                            describe(t)
                        );
                    }
                    seen.insert(format!("{id} ({how})"), t.verdict.status);
                }
            }
            seen
        });
        assert_eq!(
            outcomes[0], outcomes[1],
            "{name}: the two observers disagree"
        );
    }
}
