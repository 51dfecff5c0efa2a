//! Hostile cases mixed into the real corpus (issue 14, "Done when"): a hang, a crash, children
//! that outlive their case (one in a session of its own with an empty environment), a patched
//! builtin, an emptied `sys.path`, a tracer and an interval timer left on, placed at the start,
//! in the middle and at the end of the corpus. Every real case gives what it gives in a clean
//! run of the same corpus, on both observers; the run ends within its bound; no process of any
//! case remains.

use super::hostile::*;
use super::*;

/// The hostile cases, ids `hostile.<where>.<what>`.
fn hostile(at: &str) -> String {
    let leaks = [
        ("hang", 1.0, "pass", "forever()"),
        ("crash", 5.0, "pass", "os._exit(3)"),
        (
            "children",
            5.0,
            "subprocess.Popen(['sleep', '300'], env=child_env('M')); subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', 'orphan-' + os.environ['INTROSPEC_FAULTS_RUN']], env={}, start_new_session=True)",
            "pass",
        ),
        ("builtin", 5.0, "import builtins; builtins.divmod = lambda a, b: (0, 0)", "pass"),
        ("path", 5.0, "sys.path[:] = []", "pass"),
        ("tracer", 5.0, "sys.settrace(lambda *a: None)", "pass"),
        (
            "timer",
            5.0,
            "import signal; signal.signal(signal.SIGALRM, lambda *a: 1 / 0); signal.setitimer(signal.ITIMER_REAL, 0.5, 0.05)",
            "pass",
        ),
    ];
    let mut toml = String::from(LEAK_PRELUDE);
    for (what, timeout, start, then) in leaks {
        toml.push_str(&leak_case(
            &format!("hostile.{at}.{what}"),
            timeout,
            start,
            then,
        ));
    }
    toml
}

/// `root` with the hostile cases added in three files: first, in the middle and last in the
/// corpus's order.
fn add_hostile(root: &Path) {
    for (file, at) in [
        ("cases/aaa_hostile.toml", "first"),
        ("cases/generator/mmm_hostile.toml", "middle"),
        ("cases/zzz_hostile.toml", "last"),
    ] {
        std::fs::write(root.join(file), hostile(at)).unwrap();
    }
}

#[test]
fn hostile_cases_mixed_into_the_real_corpus_change_no_other_result_and_leave_nothing() {
    // one project, run clean then with the hostile cases added: the trials name the same files
    let root = project_from("mixed", &checkout().join("cases"));
    let clean = per_column(|col| run_corpus(&root, col, &unique("clean")));
    add_hostile(&root);
    let outcomes = per_column_within(Duration::from_secs(300), move |col| {
        let marker = unique("mixed");
        // the session is gone when it returns: nothing of its cases may remain
        let mixed = run_corpus(&root, col, &marker);
        assert_no_process_with_env("INTROSPEC_FAULTS_RUN", &marker, Duration::from_secs(3));
        assert_no_process_with_arg(&format!("orphan-{marker}"), Duration::from_secs(3));
        let clean = &clean[columns().iter().position(|c| c.name == col.name).unwrap()];
        for (id, t) in clean {
            let m = mixed
                .get(id)
                .unwrap_or_else(|| panic!("{}::{id} did not run with the hostile cases", col.name));
            assert_same(&format!("{}::{id} among hostile cases", col.name), m, t);
        }
        let hostile: BTreeMap<String, Status> = mixed
            .iter()
            .filter(|(id, _)| id.starts_with("hostile."))
            .map(|(id, t)| (id.clone(), t.verdict.status))
            .collect();
        assert_eq!(hostile.len(), 21, "{}: {hostile:?}", col.name);
        for (id, status) in &hostile {
            let want = if id.ends_with(".hang") {
                Status::Timeout
            } else if id.ends_with(".crash") {
                Status::Crash
            } else {
                Status::Pass
            };
            assert_eq!(*status, want, "{}::{id}", col.name);
        }
        hostile
    });
    assert_eq!(outcomes[0], outcomes[1], "the two observers disagree");
}

/// Every case of the project at `root` on `col`, pipelined as `introspec run` runs them.
fn run_corpus(root: &Path, col: &Column, marker: &str) -> ById {
    let p = load_root(root);
    let mut session = Session::new(&p, vec![col.clone()]);
    session.worker_env = vec![("INTROSPEC_FAULTS_RUN".into(), marker.to_string())];
    session.run_column(0);
    by_id(&session)
}
