//! CI output from a results file: JUnit XML, GitHub Actions annotations, the job summary.

mod common;

use introspec_cases::Corpus;
use introspec_judge::Status;
use introspec_report::ci::CaseLocations;
use introspec_report::{annotations, junit, summary};
use introspec_results::Results;
use quick_junit::{NonSuccessKind, TestCaseStatus};

fn locations() -> CaseLocations {
    let root = common::root();
    let corpus = Corpus::load(&root.join("cases"), &common::spec());
    CaseLocations::from_corpus(&corpus, &root)
}

fn count(r: &Results, column: &str, statuses: &[Status]) -> usize {
    r.trials
        .iter()
        .filter(|t| t.column == column && statuses.contains(&t.status))
        .count()
}

#[test]
fn junit_has_a_suite_per_column_and_a_testcase_per_trial() {
    let r = common::fixture();
    let xml = junit::render(&r);
    assert_eq!(
        xml,
        junit::render(&r),
        "the same results give the same bytes"
    );
    let report = quick_junit::Report::deserialize_from_str(&xml)
        .unwrap_or_else(|e| panic!("the JUnit XML does not parse: {e}\n{xml}"));
    // every column, in order, then the broken column that has no trials
    let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
    let mut want: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
    want.push("cpython-3.14.0");
    assert_eq!(names, want);
    for c in &r.columns {
        let s = report
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == c.name)
            .unwrap();
        let n = &c.name;
        assert_eq!(s.test_cases.len(), count(&r, n, &Status::ALL), "{n}");
        assert_eq!(s.tests, s.test_cases.len(), "{n}");
        let fails = [Status::Fail, Status::Xpass, Status::Flaky];
        let errors = [Status::Crash, Status::Timeout, Status::Error];
        assert_eq!(s.failures, count(&r, n, &fails), "{n}");
        assert_eq!(s.errors, count(&r, n, &errors), "{n}");
        assert_eq!(s.skipped, count(&r, n, &[Status::Skip]), "{n}");
        for tc in &s.test_cases {
            let t = r
                .trials
                .iter()
                .find(|t| t.column == *n && t.case == tc.name.as_str())
                .unwrap();
            assert_eq!(tc.classname.as_ref().map(|c| c.as_str()), Some(n.as_str()));
            let xfail_prop = tc
                .properties
                .iter()
                .any(|p| p.name.as_str() == "introspec.status" && p.value.as_str() == "XFAIL");
            assert_eq!(xfail_prop, t.status == Status::Xfail, "{n}::{}", t.case);
            match (&tc.status, t.status) {
                (TestCaseStatus::Success { .. }, Status::Pass | Status::Xfail) => {}
                (TestCaseStatus::Skipped { message, .. }, Status::Skip) => {
                    assert_eq!(message.as_ref().map(|m| m.as_str()), t.reason.as_deref())
                }
                (
                    TestCaseStatus::NonSuccess {
                        kind, message, ty, ..
                    },
                    st,
                ) => {
                    let want = if errors.contains(&st) {
                        NonSuccessKind::Error
                    } else {
                        NonSuccessKind::Failure
                    };
                    assert_eq!(*kind, want, "{n}::{}", t.case);
                    assert_eq!(ty.as_ref().map(|x| x.as_str()), Some(st.name()));
                    assert!(!message.as_ref().unwrap().as_str().is_empty());
                }
                (other, st) => panic!("{n}::{}: {st:?} written as {other:?}", t.case),
            }
        }
    }
    // the FAIL's message is its first failing check, the CRASH's its reason
    assert!(xml.contains(
        "<failure message=\"step 3 inside #1: inner.returns_to [delegation] .__returns_to__: expected &lt;is subject&gt;, observed None (case)\" type=\"FAIL\">"
    ));
    assert!(xml.contains(
        "<error message=\"the worker died: killed by signal 11 (SIGSEGV)\" type=\"CRASH\">"
    ));
    let broken = report.test_suites.last().unwrap();
    assert_eq!((broken.tests, broken.errors), (1, 1));
    // totals
    assert_eq!(report.tests, r.trials.len() + 1);
    assert_eq!(
        report.skipped,
        r.trials.iter().filter(|t| t.status == Status::Skip).count()
    );
}

#[test]
fn annotations_name_the_case_file_and_the_line_of_its_failing_step() {
    let r = common::fixture();
    let root = common::root();
    let text = annotations::render(&r, &locations());
    let lines: Vec<&str> = text.lines().collect();
    // the fixture's CRASH and FAIL, and its broken column
    assert_eq!(lines.len(), 3, "{text}");
    let bad: Vec<_> = r.trials.iter().filter(|t| t.status.fails_run()).collect();
    assert_eq!(bad.len(), 2);
    for t in &bad {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("title={} {} on ", t.status.name(), t.case)))
            .unwrap_or_else(|| panic!("no annotation for {}::{}:\n{text}", t.column, t.case));
        let props = line
            .strip_prefix("::error ")
            .and_then(|l| l.split_once("::"))
            .unwrap()
            .0;
        let get = |k: &str| {
            props
                .split(',')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("no {k} in {line}"))
        };
        let file = get("file");
        let n: usize = get("line").parse().unwrap();
        assert!(
            file.starts_with("cases/") && file.ends_with(".toml"),
            "{line}"
        );
        // a real file, and the line is in the [[case]] table of this case
        let body = std::fs::read_to_string(root.join(file)).unwrap();
        let all: Vec<&str> = body.lines().collect();
        let at = all[n - 1];
        assert!(at.starts_with("[[case"), "{file}:{n} is `{at}`");
        let table = all[..n]
            .iter()
            .rposition(|l| *l == "[[case]]")
            .expect("a [[case]] above");
        let id = all[table..]
            .iter()
            .find_map(|l| l.strip_prefix("id = "))
            .unwrap();
        assert_eq!(id.trim_matches('"'), t.case, "{file}:{n}");
    }
    let fail = lines.iter().find(|l| l.contains("title=FAIL")).unwrap();
    assert!(
        fail.starts_with("::error file=cases/delegation/generator.toml,line=830,title=FAIL delegation.generator.close.inside_since_3_13 on cpython-3.13.0+ref::step 3"),
        "{fail}"
    );
    assert_eq!(
        lines[2],
        "::error title=column cpython-3.14.0 broken::the column could not start: the interpreter exited before saying hello"
    );
}

#[test]
fn annotations_group_columns_escape_and_survive_unknown_cases() {
    let mut r = common::fixture();
    let fail = r
        .trials
        .iter()
        .find(|t| t.status == Status::Fail)
        .unwrap()
        .clone();
    // the same failure on a second column; a case no longer in the corpus, with a
    // multi-line reason holding the characters workflow commands escape
    let mut twin = fail.clone();
    twin.column = "cpython-3.13.0".into();
    r.trials.push(twin);
    let mut gone = fail.clone();
    gone.case = "no.such.case".into();
    gone.status = Status::Error;
    gone.reason = Some("50% of it: done\nsecond line".into());
    r.trials.push(gone);
    r.broken.clear();
    let text = annotations::render(&r, &locations());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].contains("title=FAIL delegation.generator.close.inside_since_3_13 on cpython-3.13.0+ref%2C cpython-3.13.0::"),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "::error title=ERROR no.such.case on cpython-3.13.0+ref::50%25 of it: done"
    );
}

#[test]
fn the_summary_counts_and_lists_where_to_look() {
    let r = common::fixture();
    let s = summary::render(&r, &locations());
    assert!(
        s.starts_with("### introspec: 2 trials fail the run, 1 broken column\n"),
        "{s}"
    );
    assert!(
        s.contains("| `cpython-3.13.0+ref` | 8 | 1 | 1 | 2 |  | 12 |"),
        "{s}"
    );
    assert!(s.contains("| CRASH | `cpython-3.8.18` | `coroutine.lifecycle.return` | `cases/coroutine/lifecycle.toml:12` |"), "{s}");
    assert!(s.contains("`cases/delegation/generator.toml:830`"), "{s}");
    assert!(s.contains("- column `cpython-3.14.0` broken: "), "{s}");
}
