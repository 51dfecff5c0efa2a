//! `judge_run`, the one mapping from what a worker gave to a verdict (used by `introspec
//! run`, the fuzzer and the tests), on the first case of the real corpus: a hang records the
//! timeout given, not the time it took; a MemoryError under a memory limit is CRASH "memory
//! limit", without one the case's own outcome; a crash and a protocol error keep their reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use introspec_cases::{compile::compile, ColumnFacts, Corpus};
use introspec_judge::{Reason, Status, Trial};
use introspec_protocol as proto;
use introspec_runner::judge_run;
use introspec_spec::{Availability, Spec, Version};
use introspec_worker::RunOutcome;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn memory_error(id: &str) -> proto::CaseResult {
    proto::CaseResult {
        id: id.into(),
        error: Some(proto::CaseError {
            phase: "exec".into(),
            type_name: "MemoryError".into(),
            msg: String::new(),
            line: None,
        }),
        steps: vec![],
        left: vec![],
        pid: None,
    }
}

#[test]
fn one_mapping_from_a_run_to_a_verdict() {
    let spec = Spec::load(&root().join("spec")).unwrap();
    let case = Corpus::load(&root().join("cases"), &spec).cases.remove(0);
    let (_, plan) = compile(&case, &spec);
    let column = ColumnFacts {
        name: "cpython-3.12.1".into(),
        implementation: "cpython".into(),
        language: Version::parse("3.12.1").unwrap(),
        compiler: "cpython".into(),
        reference: false,
    };
    let availability = Availability {
        language: Version::parse("3.12.1").unwrap(),
        provides: vec![],
    };
    let trial = Trial {
        spec: &spec,
        case: &case,
        plan: &plan,
        column: &column,
        availability: &availability,
        deviations: vec![],
    };

    let judge = |outcome: RunOutcome, limit: Option<u64>| {
        judge_run(&trial, outcome, Duration::from_secs(3), limit)
    };
    let hang = RunOutcome::TimedOut {
        after: Duration::from_millis(12_345),
        stderr: "stuck\n".into(),
    };
    let (v, result) = judge(hang, None);
    assert_eq!(v.status, Status::Timeout);
    assert!(result.is_none());
    let why = v
        .reason
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(why.contains('3') && !why.contains("12.3"), "{why}");

    let limit = Some(2u64 << 30);
    let (v, result) = judge(RunOutcome::Done(memory_error(&case.id)), limit);
    assert_eq!(v.status, Status::Crash);
    assert!(result.is_none());
    assert!(
        matches!(&v.reason, Some(Reason::MemoryLimit { limit, at }) if limit == "2 GiB" && at == "in its exec"),
        "{:?}",
        v.reason
    );
    // without a limit the MemoryError is the case's own error, judged as any other result
    let (v, result) = judge(RunOutcome::Done(memory_error(&case.id)), None);
    assert_ne!(v.status, Status::Crash);
    assert!(result.is_some());

    let (v, _) = judge(
        RunOutcome::Crashed {
            how: "signal 11 (SIGSEGV)".into(),
            stderr: String::new(),
        },
        limit,
    );
    assert_eq!(v.status, Status::Crash);
    let (v, _) = judge(RunOutcome::Protocol("unreadable answer".into()), limit);
    assert_eq!(v.status, Status::Error);
    let (v, _) = judge(RunOutcome::Interrupted, limit);
    assert_ne!(v.status, Status::Pass);
}
