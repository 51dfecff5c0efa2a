//! `introspec report --junit FILE`: the results as JUnit XML (by the `quick-junit` crate),
//! for CI systems that show test reports.
//!
//! - one `<testsuite>` per column (named as the column), in the results' column order;
//! - one `<testcase>` per trial: `name` the case id, `classname` the column, `time` the
//!   trial's duration;
//! - FAIL, XPASS and FLAKY are `<failure>` (the trial's verdict), CRASH, TIMEOUT and ERROR
//!   are `<error>` (the trial could not be judged), each with `type` the status, `message`
//!   its one-line reason and the full reason and failing checks as text;
//! - SKIP is `<skipped>` with why;
//! - XFAIL (failed only where a known deviation says it would) is a passed testcase with the
//!   property `introspec.status = XFAIL` and the deviations and the checks they cover in
//!   `<system-out>`: it does not fail the run, and the report still tells it apart;
//! - a column that could not start (the results' `broken`) is a suite holding one
//!   `<error>` testcase named `(column)` with why.
//!
//! No timestamp or host name is written: the same results give the same bytes.

use std::time::Duration;

use introspec_judge::Status;
use introspec_results::{Results, TrialRecord};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::ci;

/// The JUnit XML of a results file.
pub fn render(results: &Results) -> String {
    let mut report = Report::new("introspec");
    let mut names: Vec<&str> = results.columns.iter().map(|c| c.name.as_str()).collect();
    for t in &results.trials {
        if !names.contains(&t.column.as_str()) {
            names.push(&t.column);
        }
    }
    for name in names {
        let mut suite = TestSuite::new(name);
        let mut time: Option<Duration> = None;
        for t in results.trials.iter().filter(|t| t.column == name) {
            if let Some(us) = t.duration_us {
                *time.get_or_insert(Duration::ZERO) += Duration::from_micros(us);
            }
            suite.add_test_case(testcase(t));
        }
        if let Some(b) = results.broken.iter().find(|b| b.column == name) {
            suite.add_test_case(broken(&b.why));
        }
        if let Some(time) = time {
            suite.set_time(time);
        }
        report.add_test_suite(suite);
    }
    for b in &results.broken {
        if !results.columns.iter().any(|c| c.name == b.column)
            && !results.trials.iter().any(|t| t.column == b.column)
        {
            let mut suite = TestSuite::new(b.column.as_str());
            suite.add_test_case(broken(&b.why));
            report.add_test_suite(suite);
        }
    }
    report
        .to_string()
        .expect("quick-junit serializes into a String")
}

fn broken(why: &str) -> TestCase {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status
        .set_type("broken column")
        .set_message(format!("the column could not start: {why}"));
    TestCase::new("(column)", status)
}

fn testcase(t: &TrialRecord) -> TestCase {
    let status = match t.status {
        Status::Pass | Status::Xfail => TestCaseStatus::success(),
        Status::Skip => {
            let mut s = TestCaseStatus::skipped();
            if let Some(r) = &t.reason {
                s.set_message(r.as_str());
            }
            s
        }
        s => {
            let kind = match s {
                Status::Crash | Status::Timeout | Status::Error => NonSuccessKind::Error,
                _ => NonSuccessKind::Failure,
            };
            let mut st = TestCaseStatus::non_success(kind);
            st.set_type(s.name())
                .set_message(ci::trial_message(t))
                .set_description(ci::trial_details(t));
            st
        }
    };
    let mut tc = TestCase::new(t.case.as_str(), status);
    tc.set_classname(t.column.as_str());
    // a time only where the run recorded one (`introspec run --timings`)
    if let Some(us) = t.duration_us {
        tc.set_time(Duration::from_micros(us));
    }
    if t.status == Status::Xfail {
        tc.add_property(Property::new("introspec.status", "XFAIL"));
        tc.set_system_out(format!(
            "XFAIL: failed only where known deviations say it would\n{}",
            ci::trial_details(t)
        ));
    }
    tc
}
