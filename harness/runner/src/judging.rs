//! Judging a trial's run: the one mapping from a worker's outcome to a verdict
//! ([`judge_run`]), the memory limit, and what two runs' results differ in.

use super::*;

/// The identity of the failing checks of a verdict (not their observed text, which may hold
/// addresses that differ between processes): (step, where, target, observable, layer).
pub(crate) fn failing(v: &Verdict) -> Vec<(usize, String, String, CheckKind, String)> {
    v.checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| {
            (
                c.step,
                c.at.to_string(),
                c.target.clone(),
                c.kind.clone(),
                c.layer.clone(),
            )
        })
        .collect()
}

pub(crate) fn verdict(status: Status, reason: impl Into<Reason>) -> Verdict {
    Verdict::without_checks(status, reason)
}

/// The first step (1-based) at which two results differ.
pub fn divergence(a: Option<&CaseResult>, b: Option<&CaseResult>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let n = a.steps.len().max(b.steps.len());
            (0..n)
                .find(|i| a.steps.get(*i) != b.steps.get(*i))
                .map(|i| i + 1)
        }
        _ => Some(1),
    }
}

/// Whether a step's value holds a MemoryError: raised, or caught by the case and returned
/// as its `["MemoryError", msg]` pair or text.
pub(crate) fn mentions_memory_error(v: &proto::Value) -> bool {
    match v {
        proto::Value::Str(s) => s.contains("MemoryError"),
        proto::Value::Raised(e) => e.type_name == "MemoryError",
        proto::Value::Seq(items) => items.iter().any(mentions_memory_error),
        proto::Value::Dict(pairs) => pairs
            .iter()
            .any(|(k, v)| mentions_memory_error(k) || mentions_memory_error(v)),
        _ => false,
    }
}

/// A run's outcome judged: the one mapping from what a worker gave ([`RunOutcome`]) to the
/// judge's [`TrialOutcome`], for `introspec run`, the fuzzer and the tests. `timeout` is the
/// one the case was given (a reason records it, not the time taken: the same run twice must
/// record the same thing); a finished result that ran out of `memory_limit` is a crash of
/// the limit. Gives the verdict and the result, when the worker answered one.
pub fn judge_run(
    trial: &Trial,
    outcome: RunOutcome,
    timeout: Duration,
    memory_limit: Option<u64>,
) -> (Verdict, Option<proto::CaseResult>) {
    match outcome {
        RunOutcome::Done(r) => match out_of_memory(&r, memory_limit) {
            Some(why) => (trial.verdict(TrialOutcome::Crashed(why)), None),
            None => {
                let v = trial.verdict(TrialOutcome::Done(&r));
                // what is kept (snapshots, the rerun's comparison) is what was judged
                (v, Some(trial.settle(&r).unwrap_or(r)))
            }
        },
        RunOutcome::Crashed { how, stderr } => (
            trial.verdict(TrialOutcome::Crashed(introspec_judge::died(&how, &stderr))),
            None,
        ),
        RunOutcome::TimedOut { stderr, .. } => (
            trial.verdict(TrialOutcome::TimedOut {
                seconds: timeout.as_secs_f64(),
                stderr_tail: introspec_judge::stderr_tail(&stderr),
            }),
            None,
        ),
        RunOutcome::Protocol(msg) => (trial.verdict(TrialOutcome::Protocol(msg)), None),
        RunOutcome::Interrupted => (trial.verdict(TrialOutcome::Interrupted), None),
    }
}

/// Why a finished result is a crash of the memory limit (a `MemoryError` in its source or a
/// step, under a limit), if it is one.
pub(crate) fn out_of_memory(r: &proto::CaseResult, memory_limit: Option<u64>) -> Option<Reason> {
    let limit = memory_limit?;
    let at = if r
        .error
        .as_ref()
        .is_some_and(|e| e.type_name == "MemoryError")
    {
        Some(format!("in its {}", r.error.as_ref().unwrap().phase))
    } else {
        r.steps
            .iter()
            .position(|s| match &s.outcome {
                proto::Outcome::Raised(e) => {
                    e.type_name == "MemoryError"
                        || e.value.as_deref().is_some_and(mentions_memory_error)
                }
                proto::Outcome::Returned(v) => mentions_memory_error(v),
            })
            .map(|i| format!("at step {}", i + 1))
    }?;
    Some(Reason::MemoryLimit {
        limit: introspec_worker::describe_size(limit),
        at,
    })
}
