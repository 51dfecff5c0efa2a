//! `Trial::verdict`, the one policy from a run's outcome to a verdict, on a case of the real
//! corpus: a crash or a hang is CRASH or TIMEOUT with its reason, unless a known deviation of
//! the column (`observable = "error"`) records it, then XFAIL with that deviation applied;
//! reasons are clipped; the timeout recorded is the one given.

use std::path::PathBuf;

use introspec_cases::{ColumnFacts, Deviation, Selector};
use introspec_judge::{died, Reason, Status, TrialOutcome};
use introspec_spec::Version;

mod common;
use common::Fixture;

fn facts(implementation: &str) -> ColumnFacts {
    ColumnFacts {
        name: format!("{implementation}-3.12.1"),
        implementation: implementation.into(),
        language: Version::parse("3.12.1").unwrap(),
        compiler: "cpython".into(),
        reference: false,
    }
}

fn known_crash_on(implementation: &str) -> Deviation {
    Deviation {
        cases: "*".into(),
        when: Selector {
            implementation: Some(implementation.into()),
            ..Selector::default()
        },
        step: None,
        observable: Some("error".into()),
        layer: None,
        reason: "the interpreter dies on this case".into(),
        link: "https://github.com/python/cpython/issues/1".into(),
        hang_confirmed_ms: None,
        varies: false,
        file: PathBuf::from("cases/deviations/example.toml"),
        line: 7,
    }
}

/// The first case of the real corpus, compiled, on a CPython 3.12 column.
fn fixture() -> Fixture {
    Fixture::load(None, "3.12.1")
}

#[test]
fn a_crash_or_hang_is_xfail_only_where_a_known_deviation_records_it() {
    let f = fixture();
    let deviation = known_crash_on("pypy");
    for (implementation, known) in [("cpython", false), ("pypy", true)] {
        let column = facts(implementation);
        let trial = f.trial(&column, vec![&deviation]);
        let crash = trial.verdict(TrialOutcome::Crashed(died(
            "signal 11 (SIGSEGV)",
            "a\n\nb\nc\nFatal Python error\n",
        )));
        let hang = trial.verdict(TrialOutcome::TimedOut {
            seconds: 1.5,
            stderr_tail: String::new(),
        });
        if known {
            for v in [&crash, &hang] {
                assert_eq!(v.status, Status::Xfail, "{implementation}: {v:?}");
                assert_eq!(v.deviations.len(), 1);
                assert_eq!(v.deviations[0].origin, "cases/deviations/example.toml:7");
            }
        } else {
            assert_eq!(crash.status, Status::Crash);
            assert_eq!(hang.status, Status::Timeout);
            assert!(crash.deviations.is_empty() && hang.deviations.is_empty());
        }
        // the worker's last three stderr lines, whatever the status
        assert_eq!(
            crash.reason_text(),
            "the worker died: signal 11 (SIGSEGV); its last stderr lines: b | c | Fatal Python error"
        );
        assert_eq!(
            hang.reason,
            Some(Reason::Timeout {
                seconds: 1.5,
                stderr_tail: String::new()
            })
        );
        // a protocol error or an interruption is never excused by a deviation
        assert_eq!(
            trial
                .verdict(TrialOutcome::Protocol("garbage".into()))
                .status,
            Status::Error
        );
        let interrupted = trial.verdict(TrialOutcome::Interrupted);
        assert_eq!(
            (interrupted.status, interrupted.reason),
            (Status::Error, Some(Reason::Interrupted))
        );
    }
}

#[test]
fn reasons_are_clipped() {
    let f = fixture();
    let column = facts("cpython");
    let trial = f.trial(&column, vec![]);
    let huge = "x".repeat(10 << 20);
    let v = trial.verdict(TrialOutcome::Protocol(huge.clone()));
    let text = v.reason_text();
    assert!(text.len() < 64 << 10, "{} bytes", text.len());
    assert!(text.len() < huge.len());
}
