//! The planted-bug demonstration: plant a wrong transition in the model
//! (`INTROSPEC_FUZZ_PLANT=close.created.to=suspended`: "close() of a created object leaves it
//! suspended"), run a campaign on a real runtime, and check that the fuzzer finds the
//! failure, shrinks it to the minimal program (one `close()` on an empty body), writes it as
//! an ordinary case file, and that this file loads with `Corpus::load` and fails on the
//! runtime the same way, with no seed.

use std::collections::BTreeSet;
use std::path::Path;

use introspec_cases::{Corpus, Expect};
use introspec_fuzz::campaign::{first_failure, Judged};
use introspec_fuzz::{emit, Campaign, Lane, Model, Plant, Settings};
use introspec_runner::Project;

const PLANT: &str = "close.created.to=suspended";

fn expects(e: &[Expect]) -> BTreeSet<String> {
    e.iter().map(|x| format!("{x:?}")).collect()
}

#[test]
fn a_planted_bug_is_found_shrunk_written_and_reproduced() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let project = Project::load(
        &root,
        &introspec_runner::Settings::from_env().expect("the settings are valid"),
    )
    .expect("the spec loads");
    // the newest CPython base column, else any
    let cols = introspec_fuzz::cli::select_columns(&project, &[], true);
    let Some(col) = cols
        .iter()
        .filter(|c| c.runtime.identity.implementation == "cpython")
        .max_by_key(|c| c.runtime.language())
        .or(cols.first())
        .cloned()
    else {
        eprintln!("no runtime on this machine: nothing to plant a bug against");
        return;
    };
    let plant = Plant::from_setting(Some(PLANT)).unwrap();
    assert_eq!(Plant::from_setting(Some("  ")).unwrap(), None);
    assert_eq!(plant, Some(Plant::parse(PLANT).unwrap()));
    let model = Model::new(&project.spec, plant).unwrap();
    let settings = Settings {
        seed: 6,
        max_cases: Some(64),
        ..Settings::default()
    };
    let lane = Lane::new(col.clone(), &project.cache);
    let mut c = Campaign::new(&project.spec, &project.corpus, model, vec![lane], settings);
    let mut log = String::new();
    c.run(&mut |m| log.push_str(m));
    eprintln!("{log}");

    // found
    assert!(
        !c.findings.is_empty(),
        "the planted bug was not found in {} transitions",
        c.stats.transitions
    );
    let f = c
        .findings
        .iter()
        .find(|f| f.signature.contains("close"))
        .expect("a finding about close()");
    // shrunk to the minimal program: no statement, one operation (create, then close)
    assert_eq!(
        f.size_after,
        1,
        "not shrunk to one close() on an empty body:\n{}",
        f.report()
    );
    assert_eq!(f.prediction.program.ops.len(), 1);
    assert!(f.prediction.program.subject.body.is_empty());
    assert!(f.size_before >= f.size_after);
    let report = f.report();
    assert!(
        report.contains("subject.close()") && report.contains("seed 6"),
        "{report}"
    );

    // written as an ordinary case file in a temporary cases directory
    let dir = std::env::temp_dir().join(format!("introspec-fuzz-planted-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = emit::write_regression(&dir.join("regressions"), f).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("[[case]]")
            && text.contains("do = \"close\"")
            && text.contains("close from created"),
        "{text}"
    );

    // it loads with the loader, with the same expectations as the model's
    let corpus = Corpus::load(&dir, &project.spec);
    assert!(
        corpus.diagnostics.is_empty(),
        "{:?}",
        corpus
            .diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(corpus.cases.len(), 1);
    let loaded = &corpus.cases[0];
    assert_eq!(loaded.id, f.prediction.case.id);
    assert_eq!(loaded.steps.len(), f.prediction.case.steps.len());
    for (a, b) in loaded.steps.iter().zip(&f.prediction.case.steps) {
        assert_eq!(a.op, b.op);
        assert_eq!(a.outcome, b.outcome);
        assert_eq!(expects(&a.after), expects(&b.after));
    }

    // and it fails on the real runtime the same way, with no seed and no model
    let mut lane = Lane::new(col, &project.cache);
    let judged = lane.run(&project.spec, &project.corpus, &[loaded]);
    let Judged::Done(v, _) = &judged[0] else {
        panic!("the regression case was skipped")
    };
    assert!(v.status.fails_run(), "the regression case passed: {v:?}");
    let again = first_failure(v).expect("a failing check");
    let first = first_failure(&f.verdict).expect("a failing check");
    assert_eq!(
        (
            again.step,
            &again.kind,
            &again.layer,
            &again.expected,
            &again.observed
        ),
        (
            first.step,
            &first.kind,
            &first.layer,
            &first.expected,
            &first.observed
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}
