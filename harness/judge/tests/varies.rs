//! A known deviation with `varies = true`: the reads it covers differ from run to run (an
//! undefined read, a lookup by address), so the judge records each covered check as expected
//! to fail with the value `<varies>`, never calls the record stale, and numbers the objects
//! of the snapshot again as if the read had not been made: two runs that differ only in what
//! the covered read saw give the same verdict and the same kept result.

use std::path::PathBuf;

use introspec_cases::{ColumnFacts, Deviation, Selector};
use introspec_judge::Status;
use introspec_protocol::{CaseResult, ObjRef, Outcome, StepRecord, Value};
use introspec_spec::Version;

mod common;
use common::Fixture;

const OBSERVABLE: &str = "frame_back";

fn column() -> ColumnFacts {
    ColumnFacts {
        name: "rustpython-3.14.0a0".into(),
        implementation: "rustpython".into(),
        language: Version::parse("3.14.0a0").unwrap(),
        compiler: "cpython".into(),
        reference: false,
    }
}

fn deviation(varies: bool) -> Deviation {
    Deviation {
        cases: "*".into(),
        when: Selector {
            implementation: Some("rustpython".into()),
            ..Selector::default()
        },
        step: None,
        observable: Some(OBSERVABLE.into()),
        layer: Some("attributes".into()),
        reason: "found by address among the frames on a stack".into(),
        link: "https://github.com/RustPython/RustPython/blob/0.5.0/crates/vm/src/builtins/frame.rs"
            .into(),
        hang_confirmed_ms: None,
        varies,
        file: PathBuf::from("cases/deviations/example.toml"),
        line: 3,
    }
}

/// `generator.frame.identity` of the real corpus: it reads the frame's `f_back` in the
/// attributes layer at every step.
fn fixture() -> Fixture {
    Fixture::load(Some("generator.frame.identity"), "3.14.0")
}

fn obj(type_name: &str, id: u32) -> Value {
    Value::Obj(ObjRef {
        type_name: type_name.into(),
        id,
        refs: vec![],
    })
}

/// A result in which every read of every snapshot is a fresh object, numbered by order of
/// reading as the observers number them, except the covered read: a frame object seen by that
/// read alone (`back_is_frame`) or None.
fn result(f: &Fixture, back_is_frame: bool) -> CaseResult {
    let snapshot = || {
        let mut next = 0;
        f.plan
            .targets
            .iter()
            .map(|t| {
                t.reads
                    .iter()
                    .map(|r| {
                        if r.observable == OBSERVABLE && r.layer == "attributes" && !back_is_frame {
                            return Value::None;
                        }
                        next += 1;
                        obj("frame", next - 1)
                    })
                    .collect()
            })
            .collect()
    };
    CaseResult {
        id: f.case.id.clone(),
        error: None,
        steps: f
            .case
            .steps
            .iter()
            .map(|_| StepRecord {
                outcome: Outcome::Returned(Value::None),
                after: snapshot(),
                inside: vec![],
            })
            .collect(),
        left: vec![],
        pid: None,
    }
}

#[test]
fn two_runs_that_differ_only_in_a_varying_read_give_one_verdict_and_one_kept_result() {
    let f = fixture();
    let col = column();
    let d = deviation(true);
    let trial = f.trial(&col, vec![&d]);
    let (a, b) = (result(&f, true), result(&f, false));
    assert_ne!(a, b, "the fixture's two runs differ");
    let (sa, sb) = (trial.settle(&a).unwrap(), trial.settle(&b).unwrap());
    assert_eq!(sa, sb, "settled, the two runs are one");
    // the covered read is <varies>, and the objects after it are numbered as if it had not
    // been read: the first other read is object #0 in both
    let t = &f.plan.targets[0];
    let back = t
        .reads
        .iter()
        .position(|r| r.observable == OBSERVABLE && r.layer == "attributes")
        .expect("the case reads f_back");
    assert_eq!(sa.steps[0].after[0][back], Value::Varies);
    let first_other = if back == 0 { 1 } else { 0 };
    assert_eq!(sa.steps[0].after[0][first_other], obj("frame", 0));

    let (va, vb) = (trial.judge(&a), trial.judge(&b));
    assert_eq!(va, vb, "one verdict whatever the read saw");
    let covered: Vec<_> = va
        .checks
        .iter()
        .filter(|c| c.kind.name() == OBSERVABLE && c.layer == "attributes")
        .collect();
    assert!(!covered.is_empty(), "the case checks f_back");
    for c in covered {
        assert!(!c.ok && c.deviation == Some(0), "{c:?}");
        assert_eq!(c.observed, "<varies>");
    }
}

#[test]
fn a_covered_read_that_happens_to_pass_is_still_an_expected_failure() {
    // f_back reads None after each step here, as the spec expects of a frame not running: an
    // ordinary record would cover passing checks (stale, XPASS, if they were all it covered);
    // the varying one turns each into an expected failure, so it is never stale
    let f = fixture();
    let col = column();
    let plain = deviation(false);
    let varying = deviation(true);
    let r = result(&f, false);
    let fback = |v: &introspec_judge::Verdict| {
        v.checks
            .iter()
            .filter(|c| c.kind.name() == OBSERVABLE && c.layer == "attributes")
            .map(|c| (c.ok, c.deviation))
            .collect::<Vec<_>>()
    };
    let plain_checks = fback(&f.trial(&col, vec![&plain]).judge(&r));
    assert!(
        plain_checks.iter().any(|(ok, d)| *ok && d.is_none()),
        "the fixture has passing f_back checks: {plain_checks:?}"
    );
    let varying_v = f.trial(&col, vec![&varying]).judge(&r);
    let varying_checks = fback(&varying_v);
    assert_eq!(varying_checks.len(), plain_checks.len());
    assert!(
        varying_checks.iter().all(|c| *c == (false, Some(0))),
        "{varying_checks:?}"
    );
    assert_ne!(varying_v.status, Status::Xpass);
}

#[test]
fn a_trial_no_varying_record_applies_to_is_kept_as_it_ran() {
    let f = fixture();
    let d = deviation(true);
    let mut other = column();
    other.implementation = "cpython".into();
    other.name = "cpython-3.14.7".into();
    let r = result(&f, true);
    assert!(f.trial(&other, vec![&d]).settle(&r).is_none());
    assert!(f.trial(&column(), vec![]).settle(&r).is_none());
}
