//! `introspec merge A.json B.json … --out FILE`: one results file from several made on
//! different machines (one CI job per runtime, say). Columns are unioned; a trial present in
//! two files must have the same outcome in both, else the merge fails naming both files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use introspec_results::{Results, TrialRecord};

use crate::error::ReportError;
use crate::text::natural_key;

/// Merge results read from the given files (at least one).
pub fn merge(inputs: &[(PathBuf, Results)]) -> Result<Results, ReportError> {
    let Some((first_path, first)) = inputs.first() else {
        return Err(ReportError::new(
            Path::new("-"),
            "no results files to merge",
            "name two or more results files: introspec merge A.json B.json --out merged.json",
        ));
    };
    let mut out = first.clone();
    out.columns.clear();
    out.trials.clear();
    out.absent.clear();
    out.unusable.clear();
    out.broken.clear();
    out.interrupted = false;
    let mut column_from: BTreeMap<String, &Path> = BTreeMap::new();
    let mut trial_from: BTreeMap<(String, String), (&Path, &TrialRecord)> = BTreeMap::new();
    for (path, r) in inputs {
        if r.harness.commit != first.harness.commit
            || r.harness.spec_digest != first.harness.spec_digest
        {
            return Err(ReportError::new(
                path,
                format!(
                    "made by harness commit {} (spec digest {}), but {} was made by commit {} (spec digest {})",
                    r.harness.commit,
                    r.harness.spec_digest,
                    first_path.display(),
                    first.harness.commit,
                    first.harness.spec_digest
                ),
                "merge only results of one checkout: rerun `introspec run` on every machine at the same commit",
            ));
        }
        for c in &r.columns {
            match out.columns.iter().find(|x| x.name == c.name) {
                Some(x) => {
                    if x.runtime.identity != c.runtime.identity
                        || x.observer != c.observer
                        || x.reference != c.reference
                        || x.compiler != c.compiler
                    {
                        return Err(ReportError::new(
                            path,
                            format!(
                                "column {} is a different build here ({} {}, observer {}) than in {} ({} {}, observer {})",
                                c.name,
                                c.runtime.identity.implementation_version,
                                c.runtime.identity.build,
                                c.observer,
                                column_from[&c.name].display(),
                                x.runtime.identity.implementation_version,
                                x.runtime.identity.build,
                                x.observer
                            ),
                            "two machines ran different builds under one column name: merge results of the same builds, or rename one runtime",
                        ));
                    }
                }
                None => {
                    column_from.insert(c.name.clone(), path);
                    out.columns.push(c.clone());
                }
            }
        }
        for t in &r.trials {
            let key = (t.case.clone(), t.column.clone());
            match trial_from.get(&key) {
                Some((other, prev)) => {
                    if !same_outcome(prev, t) {
                        return Err(ReportError::new(
                            path,
                            format!(
                                "trial {}::{} is {} here but {} in {}",
                                t.column,
                                t.case,
                                t.status.name(),
                                prev.status.name(),
                                other.display()
                            ),
                            "the two runs disagree: rerun that column on one machine, or compare the two files with `introspec compare`",
                        ));
                    }
                }
                None => {
                    trial_from.insert(key, (path, t));
                }
            }
        }
        out.absent.extend(r.absent.iter().cloned());
        out.unusable.extend(r.unusable.iter().cloned());
        out.broken.extend(r.broken.iter().cloned());
        out.interrupted |= r.interrupted;
    }
    out.columns.sort_by_key(|c| natural_key(&c.name));
    let rank = |c: &str| {
        out.columns
            .iter()
            .position(|x| x.name == c)
            .unwrap_or(usize::MAX)
    };
    let mut trials: Vec<TrialRecord> = trial_from.into_values().map(|(_, t)| t.clone()).collect();
    trials.sort_by(|a, b| (&a.case, rank(&a.column)).cmp(&(&b.case, rank(&b.column))));
    out.trials = trials;
    // a runtime absent on one machine but run on another is not absent
    let implementations: Vec<String> = out
        .columns
        .iter()
        .map(|c| c.runtime.identity.implementation.clone())
        .collect();
    out.absent.retain(|a| !implementations.contains(&a.name));
    out.absent.sort_by(|a, b| a.name.cmp(&b.name));
    out.absent.dedup();
    out.unusable
        .sort_by(|a, b| (&a.path, &a.why).cmp(&(&b.path, &b.why)));
    out.unusable.dedup();
    out.broken
        .sort_by(|a, b| (&a.column, &a.why).cmp(&(&b.column, &b.why)));
    out.broken
        .dedup_by(|a, b| a.column == b.column && a.why == b.why);
    Ok(out)
}

/// Whether two records of one trial say the same thing (durations aside).
fn same_outcome(a: &TrialRecord, b: &TrialRecord) -> bool {
    a.status == b.status
        && a.reason == b.reason
        && a.tally == b.tally
        && a.problems == b.problems
        && a.deviations == b.deviations
}
