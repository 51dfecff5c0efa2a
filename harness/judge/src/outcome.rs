//! From what became of a trial's run to its verdict: the one place where a run that answered,
//! crashed, hung, broke the protocol or was interrupted becomes a status and a reason, where
//! a known crash or hang (`observable = "error"`) makes it XFAIL, and where what a verdict
//! holds of values and messages is clipped. `introspec run`, `cargo test`, the fuzzer and
//! bench all judge through [`Trial::verdict`].

use introspec_protocol::{clip, CaseResult};

use crate::{applied, Reason, Status, Trial, Verdict};

/// What became of a trial's run, as the judge needs it (the worker's raw outcome, with what
/// the caller knows: the timeout it gave, whether the worker hit its memory limit).
#[derive(Debug)]
pub enum TrialOutcome<'r> {
    /// The worker answered with a result.
    Done(&'r CaseResult),
    /// The worker died (`how`: `signal 11 (SIGSEGV)`, `exit code 3`), or a fact the caller
    /// established (the memory limit) makes the answer a crash: the reason recorded.
    Crashed(Reason),
    /// No answer within the timeout the trial was given (recorded as given, not as measured:
    /// the same run twice records the same).
    TimedOut { seconds: f64, stderr_tail: String },
    /// The worker answered something that is not a result for this case.
    Protocol(String),
    /// The run was interrupted before the answer came.
    Interrupted,
}

/// The last (at most three) non-empty lines of a worker's stderr, as a crash's reason ends.
pub fn stderr_tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!(
            "; its last stderr lines: {}",
            lines[lines.len().saturating_sub(3)..].join(" | ")
        )
    }
}

/// The reason of a worker that died: how, and the end of its stderr.
pub fn died(how: &str, stderr: &str) -> Reason {
    Reason::Text(format!("the worker died: {how}{}", stderr_tail(stderr)))
}

impl Trial<'_> {
    /// The verdict of a run: [`Trial::judge`] of a result; CRASH, TIMEOUT or ERROR with the
    /// reason otherwise; a crash or a hang that a known deviation of this column records
    /// (`observable = "error"`) is XFAIL with that deviation applied. Reasons, expected and
    /// observed texts are clipped ([`clip`]).
    pub fn verdict(&self, outcome: TrialOutcome<'_>) -> Verdict {
        let mut v = match outcome {
            TrialOutcome::Done(r) => self.judge(r),
            TrialOutcome::Crashed(why) => Verdict::without_checks(Status::Crash, why),
            TrialOutcome::TimedOut {
                seconds,
                stderr_tail,
            } => Verdict::without_checks(
                Status::Timeout,
                Reason::Timeout {
                    seconds,
                    stderr_tail,
                },
            ),
            TrialOutcome::Protocol(msg) => {
                Verdict::without_checks(Status::Error, format!("protocol error: {msg}"))
            }
            TrialOutcome::Interrupted => {
                Verdict::without_checks(Status::Error, Reason::Interrupted)
            }
        };
        v.reason = v.reason.map(Reason::clipped);
        for c in &mut v.checks {
            c.expected = clip(std::mem::take(&mut c.expected));
            c.observed = clip(std::mem::take(&mut c.observed));
        }
        if matches!(v.status, Status::Crash | Status::Timeout) {
            if let Some(d) = self
                .deviations
                .iter()
                .find(|d| d.observable.as_deref() == Some("error") && d.when.matches(self.column))
            {
                v.status = Status::Xfail;
                v.deviations = vec![applied(d)];
            }
        }
        v
    }
}
