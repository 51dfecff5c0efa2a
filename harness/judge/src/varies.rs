//! Reads that a known deviation marks as varying from run to run (`varies = true`): an
//! undefined read, or a lookup by address. Before anything is judged or kept, each such read
//! is replaced by [`Value::Varies`], and the objects of the snapshot it was in are numbered
//! again by first appearance among the other reads, as the observers number them, so that an
//! object seen only by the varying read shifts no other object's number. What a results file
//! or a snapshot then holds of the trial is the same in every run.

use std::collections::BTreeMap;

use introspec_cases::Deviation;
use introspec_protocol::{CaseResult, Outcome, Snapshot, Value};

use crate::Trial;

/// Whether deviation `d` covers the checks of `observable` in `layer` at 1-based step `step`
/// (`layer` empty for an operation's outcome).
pub(crate) fn covers(d: &Deviation, step: usize, observable: &str, layer: &str) -> bool {
    d.step.is_none_or(|s| s == step)
        && d.observable.as_ref().is_none_or(|o| o == observable)
        && d.layer.as_ref().is_none_or(|l| l == layer)
}

impl Trial<'_> {
    /// The varying deviations that apply to this trial's column.
    pub(crate) fn varying(&self) -> Vec<&Deviation> {
        self.deviations
            .iter()
            .copied()
            .filter(|d| d.varies && d.when.matches(self.column))
            .collect()
    }

    /// The result as it is judged and kept: `None` where no varying deviation applies (the
    /// result stands as it is), else a copy with every covered read (and covered outcome)
    /// replaced by [`Value::Varies`] and each snapshot's objects numbered again.
    pub fn settle(&self, result: &CaseResult) -> Option<CaseResult> {
        let vary = self.varying();
        if vary.is_empty() {
            return None;
        }
        let mut r = result.clone();
        for (i, rec) in r.steps.iter_mut().enumerate() {
            let n = i + 1;
            if vary.iter().any(|d| covers(d, n, "outcome", "")) {
                rec.outcome = Outcome::Returned(Value::Varies);
            }
            for snap in rec.inside.iter_mut() {
                self.settle_snapshot(n, snap, &vary);
            }
            self.settle_snapshot(n, &mut rec.after, &vary);
        }
        Some(r)
    }

    fn settle_snapshot(&self, step: usize, snap: &mut Snapshot, vary: &[&Deviation]) {
        let mut replaced = false;
        for (target, vals) in self.plan.targets.iter().zip(snap.iter_mut()) {
            for (read, v) in target.reads.iter().zip(vals.iter_mut()) {
                if vary
                    .iter()
                    .any(|d| covers(d, step, &read.observable, &read.layer))
                {
                    replaced |= !matches!(v, Value::Varies);
                    *v = Value::Varies;
                }
            }
        }
        if replaced {
            let mut ids = BTreeMap::new();
            for v in snap.iter_mut().flatten() {
                renumber(v, &mut ids);
            }
        }
    }
}

/// Number the objects of `v` by first appearance (`ids`: old number → new), depth first, as
/// the observers' summaries number them.
fn renumber(v: &mut Value, ids: &mut BTreeMap<u32, u32>) {
    match v {
        Value::Obj(o) => {
            let next = ids.len() as u32;
            o.id = *ids.entry(o.id).or_insert(next);
        }
        Value::Seq(items) => items.iter_mut().for_each(|x| renumber(x, ids)),
        Value::Dict(items) => {
            for (k, x) in items {
                renumber(k, ids);
                renumber(x, ids);
            }
        }
        Value::Raised(e) => {
            if let Some(x) = e.value.as_deref_mut() {
                renumber(x, ids);
            }
        }
        Value::None
        | Value::Bool(_)
        | Value::Int(_)
        | Value::BigInt(_)
        | Value::Float(_)
        | Value::Str(_)
        | Value::Missing(_)
        | Value::Unbound
        | Value::Varies => {}
    }
}
