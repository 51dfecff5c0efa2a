//! The results file: versioned JSON (`introspec-results/1`, documented in
//! reports/SCHEMA.md), from which every report is made without rerunning anything.

use introspec_judge::{Check, CheckKind, Status, Verdict};
use introspec_runtimes::{Absent, Unusable};
use serde::{Deserialize, Serialize};

use crate::column::Column;

pub const SCHEMA: &str = "introspec-results/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    pub harness: HarnessInfo,
    pub columns: Vec<Column>,
    pub absent: Vec<Absent>,
    pub unusable: Vec<Unusable>,
    /// Columns that could not start, and why.
    pub broken: Vec<BrokenColumn>,
    pub trials: Vec<TrialRecord>,
    /// True when the run was interrupted: the trials are those finished before.
    #[serde(default)]
    pub interrupted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HarnessInfo {
    pub version: String,
    pub commit: String,
    pub spec_digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrokenColumn {
    pub column: String,
    pub why: String,
}

/// One trial: a case on a column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRecord {
    pub case: String,
    pub column: String,
    pub status: Status,
    pub reason: Option<String>,
    /// The trial's wall time, only when the run was asked to record it (`introspec run
    /// --timings`): a measurement differs from run to run, and by default a results file
    /// holds nothing that does (two runs of one commit are byte-identical).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    /// Per observable and layer: passed, failed, expected-failed checks.
    pub tally: Vec<Tally>,
    /// The checks that did not pass (failures and known deviations), in full.
    pub problems: Vec<Check>,
    pub deviations: Vec<introspec_judge::AppliedDeviation>,
    /// For FLAKY: the step where two runs diverged.
    #[serde(default)]
    pub diverged_at: Option<usize>,
    /// What the case left behind in its worker (a thread, a timer, a signal handler, a
    /// tracer, `sys.path`, builtins), each undone or the worker replaced: the culprit carries
    /// the note, never the case after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_behind: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub target_kind: String,
    /// The kind of the checks counted (spelt `observable` in the results file).
    #[serde(rename = "observable")]
    pub kind: CheckKind,
    pub layer: String,
    pub pass: u32,
    pub fail: u32,
    pub xfail: u32,
}

impl TrialRecord {
    pub fn new(
        case: &str,
        column: &str,
        kinds: &[(String, String)],
        v: &Verdict,
        duration_us: Option<u64>,
    ) -> TrialRecord {
        let mut tally: Vec<Tally> = Vec::new();
        for c in &v.checks {
            let kind = kinds
                .iter()
                .find(|(n, _)| *n == c.target)
                .map_or("", |(_, k)| k.as_str());
            let pos = tally
                .iter()
                .position(|t| t.target_kind == kind && t.kind == c.kind && t.layer == c.layer);
            let t = match pos {
                Some(i) => &mut tally[i],
                None => {
                    tally.push(Tally {
                        target_kind: kind.into(),
                        kind: c.kind.clone(),
                        layer: c.layer.clone(),
                        pass: 0,
                        fail: 0,
                        xfail: 0,
                    });
                    tally.last_mut().unwrap()
                }
            };
            match (c.ok, c.deviation) {
                (true, _) => t.pass += 1,
                (false, Some(_)) => t.xfail += 1,
                (false, None) => t.fail += 1,
            }
        }
        tally.sort_by(|a, b| {
            (&a.target_kind, &a.kind, &a.layer).cmp(&(&b.target_kind, &b.kind, &b.layer))
        });
        TrialRecord {
            case: case.into(),
            column: column.into(),
            status: v.status,
            reason: v.reason.as_ref().map(ToString::to_string),
            duration_us,
            tally,
            problems: v.checks.iter().filter(|c| !c.ok).cloned().collect(),
            deviations: v.deviations.clone(),
            diverged_at: None,
            left_behind: vec![],
        }
    }
}
