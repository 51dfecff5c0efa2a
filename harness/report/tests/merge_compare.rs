//! `introspec merge` and `introspec compare` on results files.

mod common;

use std::path::PathBuf;

use introspec_judge::Status;
use introspec_report::{compare, merge};
use introspec_results::Results;

/// The fixture split in two by columns, as two CI jobs would write it.
fn halves() -> (Results, Results) {
    let all = common::fixture();
    let split = |keep: &dyn Fn(&str) -> bool| {
        let mut r = all.clone();
        r.columns.retain(|c| keep(&c.name));
        r.trials.retain(|t| keep(&t.column));
        r
    };
    (
        split(&|c| c.starts_with("cpython-3.1")),
        split(&|c| !c.starts_with("cpython-3.1")),
    )
}

#[test]
fn merging_two_halves_gives_back_the_whole() {
    let (a, b) = halves();
    let m = merge::merge(&[(PathBuf::from("a.json"), a), (PathBuf::from("b.json"), b)]).unwrap();
    let all = common::fixture();
    let names = |r: &Results| {
        let mut v: Vec<String> = r.columns.iter().map(|c| c.name.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&m), names(&all));
    assert_eq!(m.trials.len(), all.trials.len());
    // order of the inputs does not matter
    let (a, b) = halves();
    let m2 = merge::merge(&[(PathBuf::from("b.json"), b), (PathBuf::from("a.json"), a)]).unwrap();
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        serde_json::to_string(&m2).unwrap()
    );
}

#[test]
fn a_trial_that_differs_between_files_is_an_error_naming_both() {
    let a = common::fixture();
    let mut b = common::fixture();
    let t = b
        .trials
        .iter_mut()
        .find(|t| t.status == Status::Pass)
        .unwrap();
    t.status = Status::Fail;
    let e = merge::merge(&[
        (PathBuf::from("ci/job-a.json"), a),
        (PathBuf::from("ci/job-b.json"), b),
    ])
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("ci/job-a.json") && msg.contains("ci/job-b.json"),
        "{msg}"
    );
    assert!(msg.contains("FAIL") && msg.contains("PASS"), "{msg}");
}

#[test]
fn results_of_another_commit_are_refused() {
    let a = common::fixture();
    let mut b = common::fixture();
    b.harness.commit = "0123456789ab".into();
    let e =
        merge::merge(&[(PathBuf::from("a.json"), a), (PathBuf::from("b.json"), b)]).unwrap_err();
    assert!(e.to_string().contains("a.json") && e.to_string().contains("b.json"));
}

#[test]
fn compare_lists_fixed_broken_crashing_skipped_new_and_removed() {
    let old = common::fixture();
    let mut new = common::fixture();
    let pick = |from: Status| new.trials.iter().position(|t| t.status == from).unwrap();
    let (i_fix, i_break) = (pick(Status::Fail), pick(Status::Pass));
    new.trials[i_fix].status = Status::Pass;
    new.trials[i_break].status = Status::Fail;
    let i_crash = new
        .trials
        .iter()
        .position(|t| t.status == Status::Pass)
        .unwrap();
    new.trials[i_crash].status = Status::Timeout;
    let i_skip = new
        .trials
        .iter()
        .position(|t| t.status == Status::Pass)
        .unwrap();
    new.trials[i_skip].status = Status::Skip;
    let removed = new.trials.pop().unwrap();
    let mut added = removed.clone();
    added.case = "generator.brand_new".into();
    new.trials.push(added);
    let md = compare::render(&old, &new, "old.json", "new.json");
    for want in [
        "1 broken",
        "1 newly crashing",
        "1 fixed",
        "1 newly skipped",
        "1 new",
        "1 removed",
        "`generator.brand_new`",
        "| column |",
    ] {
        assert!(md.contains(want), "compare output lacks {want:?}:\n{md}");
    }
    let same = compare::render(&old, &old, "a", "b");
    assert!(same.contains("No trial changed."));
}
