//! What CI output shares: where each case is written (file and line, from the loaded
//! corpus, since a results file holds case ids only), and one trial told in a line and in
//! full. The outputs themselves: [`crate::junit`], [`crate::annotations`], [`crate::summary`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use introspec_cases::Corpus;
use introspec_judge::Status;
use introspec_results::TrialRecord;

/// Where a case is written: its file (relative to the project root where it is under it),
/// the line of its `[[case]]` table, and the line of each `[[case.step]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseLocation {
    pub file: PathBuf,
    pub line: usize,
    /// Step `n` (1-based) is at `steps[n - 1]`.
    pub steps: Vec<usize>,
}

/// Case id → where it is written.
#[derive(Debug, Clone, Default)]
pub struct CaseLocations(BTreeMap<String, CaseLocation>);

impl CaseLocations {
    /// The locations of every case of a loaded corpus, files relative to `root`.
    pub fn from_corpus(corpus: &Corpus, root: &Path) -> CaseLocations {
        CaseLocations(
            corpus
                .cases
                .iter()
                .map(|c| {
                    let file = c.file.strip_prefix(root).unwrap_or(&c.file).to_path_buf();
                    let steps = c.steps.iter().map(|s| s.line).collect();
                    (
                        c.id.clone(),
                        CaseLocation {
                            file,
                            line: c.line,
                            steps,
                        },
                    )
                })
                .collect(),
        )
    }

    pub fn get(&self, case: &str) -> Option<&CaseLocation> {
        self.0.get(case)
    }

    /// The file and line a trial's problem is best shown at: the step of its first
    /// unexpected failing check, else the case's `[[case]]` line. `None` for a case the
    /// corpus no longer has.
    pub fn of_trial(&self, t: &TrialRecord) -> Option<(&Path, usize)> {
        let loc = self.get(&t.case)?;
        let step = first_failure(t).map(|c| c.step);
        let line = step
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| loc.steps.get(i).copied())
            .unwrap_or(loc.line);
        Some((&loc.file, line))
    }
}

/// The statuses CI reports as errors: those that fail a run.
pub fn is_problem(s: Status) -> bool {
    s.fails_run()
}

fn first_failure(t: &TrialRecord) -> Option<&introspec_judge::Check> {
    t.problems.iter().find(|c| !c.ok && c.deviation.is_none())
}

fn check_line(c: &introspec_judge::Check) -> String {
    let layer = if c.layer.is_empty() {
        String::new()
    } else {
        format!(" [{}]", c.layer)
    };
    format!(
        "step {} {}: {}.{}{layer} {}: expected {}, observed {} ({})",
        c.step, c.at, c.target, c.kind, c.read, c.expected, c.observed, c.why
    )
}

/// One line on a trial: its reason, or for a FAIL its first unexpected failing check.
pub fn trial_message(t: &TrialRecord) -> String {
    if let Some(r) = t.reason.as_deref().and_then(|r| r.lines().next()) {
        if !r.trim().is_empty() {
            return r.to_string();
        }
    }
    match first_failure(t) {
        Some(c) => {
            let more = t
                .problems
                .iter()
                .filter(|c| !c.ok && c.deviation.is_none())
                .count()
                - 1;
            if more > 0 {
                format!("{} (and {more} more failing checks)", check_line(c))
            } else {
                check_line(c)
            }
        }
        None => t.status.name().to_string(),
    }
}

/// A trial in full: its reason, every failing check, and the known deviations that covered
/// checks (for XFAIL).
pub fn trial_details(t: &TrialRecord) -> String {
    let mut lines = Vec::new();
    if let Some(r) = &t.reason {
        lines.push(r.clone());
    }
    for c in t.problems.iter().filter(|c| !c.ok) {
        let known = match c.deviation.and_then(|i| t.deviations.get(i)) {
            Some(d) => format!(" — known deviation: {} <{}>", d.reason, d.link),
            None => String::new(),
        };
        lines.push(format!("{}{known}", check_line(c)));
    }
    if let Some(n) = t.diverged_at {
        lines.push(format!("two fresh workers diverged at step {n}"));
    }
    lines.join("\n")
}
