//! The judge: for one case on one column, every check (outcome of each step, each expected
//! observable in each layer at each snapshot, and the agreement of the proposed layer with
//! today's attributes) with expected and observed side by side, then the trial's status.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use introspec_cases::{Case, ColumnFacts, Deviation, Expect, ExpectFrom, OutcomeExpect, Plan};
use introspec_protocol::{CaseResult, Outcome, Value};
use introspec_spec::{Availability, Pattern, Spec};
use serde::{Deserialize, Serialize};

mod kind;
mod outcome;
mod reason;
mod varies;
pub use kind::CheckKind;
pub use outcome::{died, stderr_tail, TrialOutcome};
pub use reason::Reason;

/// The result states of a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Failed where a known deviation says it would.
    Xfail,
    /// A known deviation did not happen: the record is stale, and the run fails.
    Xpass,
    Skip,
    Crash,
    Timeout,
    /// The case or the harness is broken.
    Error,
    /// Different outcomes in two fresh workers.
    Flaky,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Pass,
        Status::Fail,
        Status::Xfail,
        Status::Xpass,
        Status::Skip,
        Status::Crash,
        Status::Timeout,
        Status::Error,
        Status::Flaky,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Xfail => "XFAIL",
            Status::Xpass => "XPASS",
            Status::Skip => "SKIP",
            Status::Crash => "CRASH",
            Status::Timeout => "TIMEOUT",
            Status::Error => "ERROR",
            Status::Flaky => "FLAKY",
        }
    }

    /// Whether this status fails `cargo test`.
    pub fn fails_run(self) -> bool {
        matches!(
            self,
            Status::Fail
                | Status::Xpass
                | Status::Crash
                | Status::Timeout
                | Status::Error
                | Status::Flaky
        )
    }
}

/// Where in a step a check looked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum At {
    Outcome,
    After,
    Inside(usize),
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Outcome => f.write_str("outcome"),
            At::After => f.write_str("after"),
            At::Inside(i) => write!(f, "inside #{}", i + 1),
        }
    }
}

/// One comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// 1-based step number.
    pub step: usize,
    pub at: At,
    pub target: String,
    /// What the check compares (`outcome`, `observe-calls`, an observable, `agreement:OBS`
    /// in the results file).
    #[serde(rename = "observable")]
    pub kind: CheckKind,
    /// The layer, or empty for outcome checks.
    pub layer: String,
    /// The spelling read (`.gi_frame`), or the operation.
    pub read: String,
    pub expected: String,
    pub observed: String,
    pub ok: bool,
    /// Index into the trial's deviations when a known deviation covers this check.
    pub deviation: Option<usize>,
    /// `case`, `state suspended` (an invariant), `spec: absent before 3.11`, `agreement`.
    pub why: String,
}

/// The verdict on one trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Status,
    /// For SKIP, ERROR, CRASH, TIMEOUT, XPASS: why.
    pub reason: Option<Reason>,
    pub checks: Vec<Check>,
    /// The deviations that applied to this trial (the checks refer to them by index).
    pub deviations: Vec<AppliedDeviation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedDeviation {
    pub reason: String,
    pub link: String,
    pub origin: String,
}

impl Verdict {
    /// A verdict reached without checks (SKIP, CRASH, TIMEOUT, ERROR): a status and why.
    pub fn without_checks(status: Status, reason: impl Into<Reason>) -> Verdict {
        Verdict {
            status,
            reason: Some(reason.into()),
            checks: vec![],
            deviations: vec![],
        }
    }

    /// The reason in words, empty when there is none.
    pub fn reason_text(&self) -> String {
        self.reason
            .as_ref()
            .map(Reason::to_string)
            .unwrap_or_default()
    }
}

/// A known deviation as a verdict records it: reason, link, where it is written.
pub(crate) fn applied(d: &Deviation) -> AppliedDeviation {
    AppliedDeviation {
        reason: d.reason.clone(),
        link: d.link.clone(),
        origin: format!("{}:{}", d.file.display(), d.line),
    }
}

/// Everything the judge needs about the trial.
pub struct Trial<'a> {
    pub spec: &'a Spec,
    pub case: &'a Case,
    pub plan: &'a Plan,
    pub column: &'a ColumnFacts,
    pub availability: &'a Availability,
    pub deviations: Vec<&'a Deviation>,
}

impl Trial<'_> {
    /// Judge a worker's result. The reads a varying deviation covers are judged as
    /// [`Trial::settle`] leaves them: `<varies>`, expected to fail, whatever was read.
    pub fn judge(&self, result: &CaseResult) -> Verdict {
        let settled = self.settle(result);
        let result = settled.as_ref().unwrap_or(result);
        let devs: Vec<&Deviation> = self
            .deviations
            .iter()
            .copied()
            .filter(|d| d.when.matches(self.column))
            .collect();
        let applied: Vec<AppliedDeviation> = devs.iter().map(|d| applied(d)).collect();
        if let Some(err) = &result.error {
            let msg = format!(
                "the case stopped in its {} phase: {}: {}{}",
                err.phase,
                err.type_name,
                err.msg,
                err.line.map(|l| format!(" (line {l})")).unwrap_or_default()
            );
            if let Some(i) = devs
                .iter()
                .position(|d| d.observable.as_deref() == Some("error"))
            {
                return Verdict {
                    status: Status::Xfail,
                    reason: Some(Reason::Text(msg)),
                    checks: vec![],
                    deviations: vec![applied[i].clone()],
                };
            }
            return Verdict {
                status: Status::Error,
                reason: Some(Reason::Text(msg)),
                checks: vec![],
                deviations: applied,
            };
        }
        let mut checks = Vec::new();
        for (i, step) in self.case.steps.iter().enumerate() {
            let Some(rec) = result.steps.get(i) else {
                return Verdict {
                    status: Status::Error,
                    reason: Some(Reason::Text(format!(
                        "the worker returned {} steps for a case of {}",
                        result.steps.len(),
                        self.case.steps.len()
                    ))),
                    checks,
                    deviations: applied,
                };
            };
            let n = i + 1;
            checks.push(self.outcome_check(n, step, &rec.outcome));
            self.snapshot_checks(n, At::After, &step.after, &rec.after, &mut checks);
            if step.inside.len() != rec.inside.len()
                && (!step.inside.is_empty() || !rec.inside.is_empty())
            {
                checks.push(Check {
                    step: n,
                    at: At::Outcome,
                    target: "subject".into(),
                    kind: CheckKind::ObserveCalls,
                    layer: String::new(),
                    read: "observe()".into(),
                    expected: format!("{} call(s) with expectations", step.inside.len()),
                    observed: format!("{} call(s)", rec.inside.len()),
                    ok: step.inside.is_empty() && !rec.inside.is_empty(),
                    deviation: None,
                    why: "case".into(),
                });
            }
            for (k, (exp, snap)) in step.inside.iter().zip(&rec.inside).enumerate() {
                self.snapshot_checks(n, At::Inside(k), exp, snap, &mut checks);
            }
            self.agreement_checks(n, At::After, &rec.after, &mut checks);
            for (k, snap) in rec.inside.iter().enumerate() {
                self.agreement_checks(n, At::Inside(k), snap, &mut checks);
            }
        }
        // known deviations: a failing check they cover is expected; one that covers only
        // passing checks is stale (XPASS); a check a varying one covers is expected to fail
        // whatever it read (its value is `<varies>`), and that record is never stale
        let mut covered_any = vec![false; devs.len()];
        let mut covered_fail = vec![false; devs.len()];
        for c in checks.iter_mut() {
            // a varying record comes first: what any other record says of a read that
            // varies cannot be checked
            let covering = devs
                .iter()
                .position(|d| d.varies && deviation_covers(d, c))
                .or_else(|| devs.iter().position(|d| deviation_covers(d, c)));
            if let Some(d) = covering {
                covered_any[d] = true;
                if devs[d].varies {
                    c.ok = false;
                    c.observed = Value::Varies.render(&[]);
                }
                if !c.ok {
                    covered_fail[d] = true;
                    c.deviation = Some(d);
                }
            }
        }
        let unexplained = checks.iter().any(|c| !c.ok && c.deviation.is_none());
        let stale: Vec<usize> = (0..devs.len())
            .filter(|d| covered_any[*d] && !covered_fail[*d])
            .collect();
        let (status, reason) = if unexplained {
            (Status::Fail, None)
        } else if let Some(d) = stale.first() {
            (
                Status::Xpass,
                Some(format!(
                    "known deviation at {} did not happen: every check it covers passed; remove it or narrow it ({})",
                    applied[*d].origin, applied[*d].reason
                )),
            )
        } else if covered_fail.iter().any(|x| *x) {
            (
                Status::Xfail,
                Some(
                    applied[covered_fail.iter().position(|x| *x).unwrap()]
                        .reason
                        .clone(),
                ),
            )
        } else {
            (Status::Pass, None)
        };
        Verdict {
            status,
            reason: reason.map(Reason::Text),
            checks,
            deviations: applied,
        }
    }

    fn outcome_check(&self, n: usize, step: &introspec_cases::Step, got: &Outcome) -> Check {
        let refs = &self.plan.refs;
        let (expected, ok) = match &step.outcome {
            OutcomeExpect::Returns(p) => {
                let ok = matches!(got, Outcome::Returned(v) if matches(p, v, refs, None));
                (
                    if *p == Pattern::Any {
                        "returns (anything)".to_string()
                    } else {
                        format!("returns {p}")
                    },
                    ok,
                )
            }
            OutcomeExpect::Raises {
                exc,
                message,
                value,
            } => {
                let ok = match got {
                    Outcome::Raised(e) => {
                        e.type_name == *exc
                            && message.as_ref().is_none_or(|m| *m == e.msg)
                            && value.as_ref().is_none_or(|p| {
                                e.value
                                    .as_deref()
                                    .is_some_and(|v| matches(p, v, refs, None))
                            })
                    }
                    Outcome::Returned(_) => false,
                };
                let mut s = format!("raises {exc}");
                if let Some(m) = message {
                    let _ = write!(s, "({m:?})");
                }
                if let Some(v) = value {
                    let _ = write!(s, " with value {v}");
                }
                (s, ok)
            }
        };
        let observed = match got {
            Outcome::Returned(v) => format!("returns {}", v.render(refs)),
            Outcome::Raised(e) => {
                let mut s = format!("raises {}({:?})", e.type_name, e.msg);
                if let Some(v) = &e.value {
                    let _ = write!(s, " with value {}", v.render(refs));
                }
                s
            }
        };
        Check {
            step: n,
            at: At::Outcome,
            target: "subject".into(),
            kind: CheckKind::Outcome,
            layer: String::new(),
            read: step.op.name().into(),
            expected,
            observed,
            ok,
            deviation: None,
            why: "case".into(),
        }
    }

    fn snapshot_checks(
        &self,
        n: usize,
        at: At,
        exps: &[Expect],
        snap: &[Vec<Value>],
        out: &mut Vec<Check>,
    ) {
        for e in exps {
            let Some(t) = self.plan.targets.iter().position(|t| t.name == e.target) else {
                continue;
            };
            let target = &self.plan.targets[t];
            for (j, r) in target.reads.iter().enumerate() {
                if r.observable != e.observable || e.layer.as_ref().is_some_and(|l| *l != r.layer) {
                    continue;
                }
                let Some(v) = snap.get(t).and_then(|vals| vals.get(j)) else {
                    continue;
                };
                let has = self.spec.has_feature(&r.feature, self.availability);
                let (pattern, why) = if has {
                    let why = match &e.from {
                        ExpectFrom::Case => "case".to_string(),
                        ExpectFrom::Invariant(s) => format!("invariant of state {s}"),
                    };
                    (e.pattern.clone(), why)
                } else {
                    (
                        Pattern::Absent,
                        format!("spec: feature `{}` is absent from this column", r.feature),
                    )
                };
                let ok = matches(&pattern, v, &self.plan.refs, Some(&r.values));
                out.push(Check {
                    step: n,
                    at: at.clone(),
                    target: e.target.clone(),
                    kind: CheckKind::Observable(e.observable.clone()),
                    layer: r.layer.clone(),
                    read: r.read_text.clone(),
                    expected: render_pattern(&pattern, &r.values),
                    observed: v.render(&self.plan.refs),
                    ok,
                    deviation: None,
                    why,
                });
            }
        }
    }

    /// The invariant of bpo-31230's proposal: where a proposed spelling and today's
    /// attribute both exist, they give the same object (or the same state).
    fn agreement_checks(&self, n: usize, at: At, snap: &[Vec<Value>], out: &mut Vec<Check>) {
        for (t, target) in self.plan.targets.iter().enumerate() {
            let Some(vals) = snap.get(t) else { continue };
            let mut by_obs: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (j, r) in target.reads.iter().enumerate() {
                by_obs.entry(r.observable.as_str()).or_default().push(j);
            }
            for (obs, idxs) in by_obs {
                let today: Vec<usize> = idxs
                    .iter()
                    .copied()
                    .filter(|j| matches!(target.reads[*j].layer.as_str(), "attributes" | "inspect"))
                    .collect();
                let proposed: Vec<usize> = idxs
                    .iter()
                    .copied()
                    .filter(|j| {
                        matches!(target.reads[*j].layer.as_str(), "proposal" | "delegation")
                    })
                    .collect();
                for p in &proposed {
                    let pv = &vals[*p];
                    if !present(pv) {
                        continue;
                    }
                    for tj in &today {
                        let tv = &vals[*tj];
                        if !present(tv) {
                            continue;
                        }
                        let pr = &target.reads[*p];
                        let tr = &target.reads[*tj];
                        let ok = same(pv, &pr.values, tv, &tr.values);
                        out.push(Check {
                            step: n,
                            at: at.clone(),
                            target: target.name.clone(),
                            kind: CheckKind::Agreement(obs.to_string()),
                            layer: pr.layer.clone(),
                            read: format!("{} vs {}", pr.read_text, tr.read_text),
                            expected: format!(
                                "the same as {} ({})",
                                tr.read_text,
                                tv.render(&self.plan.refs)
                            ),
                            observed: pv.render(&self.plan.refs),
                            ok,
                            deviation: None,
                            why: "agreement of the proposal with today's spelling".into(),
                        });
                    }
                }
            }
        }
    }
}

fn present(v: &Value) -> bool {
    !matches!(
        v,
        Value::Missing(_) | Value::Raised(_) | Value::Unbound | Value::Varies
    )
}

/// Two observations of one snapshot mean the same thing: the same object, the same value,
/// or the same abstract state.
fn same(
    a: &Value,
    av: &BTreeMap<String, String>,
    b: &Value,
    bv: &BTreeMap<String, String>,
) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) if !av.is_empty() && !bv.is_empty() => {
            let ax = av.iter().find(|(_, v)| *v == x).map(|(k, _)| k);
            let by = bv.iter().find(|(_, v)| *v == y).map(|(k, _)| k);
            ax.is_some() && ax == by
        }
        (Value::Obj(x), Value::Obj(y)) => x.id == y.id,
        _ => a == b,
    }
}

fn deviation_covers(d: &Deviation, c: &Check) -> bool {
    varies::covers(d, c.step, c.kind.name(), &c.layer)
}

fn render_pattern(p: &Pattern, values: &BTreeMap<String, String>) -> String {
    match p {
        Pattern::State(s) => match values.get(s) {
            Some(v) => format!("{v:?} ({s})"),
            None => s.clone(),
        },
        other => other.to_string(),
    }
}

/// Whether an observed value fits a pattern. `values` translates abstract states.
pub fn matches(
    p: &Pattern,
    v: &Value,
    refs: &[String],
    values: Option<&BTreeMap<String, String>>,
) -> bool {
    match p {
        Pattern::Bool(b) => *v == Value::Bool(*b),
        Pattern::Int(i) => match v {
            Value::Int(x) => x == i,
            Value::BigInt(s) => *s == i.to_string(),
            _ => false,
        },
        Pattern::Float(f) => {
            matches!(v, Value::Float(x) if (x - f).abs() <= f64::EPSILON * f.abs().max(1.0))
        }
        Pattern::Str(s) => matches!(v, Value::Str(x) if x == s),
        Pattern::State(s) => {
            let want = values.and_then(|m| m.get(s)).unwrap_or(s);
            matches!(v, Value::Str(x) if x == want)
        }
        Pattern::Seq(items) => {
            matches!(v, Value::Seq(xs) if xs.len() == items.len() && items.iter().zip(xs).all(|(p, x)| matches(p, x, refs, None)))
        }
        Pattern::Dict(items) => match v {
            Value::Dict(kvs) => {
                kvs.len() == items.len()
                    && items.iter().all(|(k, p)| {
                        kvs.iter().any(|(kv, vv)| {
                            matches!(kv, Value::Str(s) if s == k) && matches(p, vv, refs, None)
                        })
                    })
            }
            _ => false,
        },
        Pattern::None => *v == Value::None,
        Pattern::Any => present(v),
        Pattern::NotNone => present(v) && *v != Value::None,
        Pattern::Absent => matches!(v, Value::Missing(_)),
        Pattern::Raises(e) => matches!(v, Value::Raised(x) if x.type_name == *e),
        Pattern::Type(t) => match v {
            Value::Obj(o) => o.type_name == *t,
            Value::Int(_) | Value::BigInt(_) => t == "int",
            Value::Bool(_) => t == "bool",
            Value::Str(_) => t == "str",
            Value::Float(_) => t == "float",
            Value::None => t == "NoneType",
            Value::Seq(_) => t == "list" || t == "tuple",
            Value::Dict(_) => t == "dict",
            _ => false,
        },
        Pattern::Is(r) => match (v, refs.iter().position(|x| x == r)) {
            (Value::Obj(o), Some(i)) => o.refs.contains(&(i as u32)),
            _ => false,
        },
    }
}

/// A readable account of the failing checks, step by step: what a person reads in `cargo test`.
pub fn explain(case: &Case, v: &Verdict) -> String {
    let mut s = String::new();
    if let Some(r) = &v.reason {
        let _ = writeln!(s, "{}: {r}", v.status.name());
    }
    let mut last_step = 0;
    for c in v
        .checks
        .iter()
        .filter(|c| !c.ok && (c.deviation.is_none() || v.status == Status::Xpass))
    {
        if c.step != last_step {
            let line = case
                .steps
                .get(c.step - 1)
                .map(|st| st.line)
                .unwrap_or(case.line);
            let _ = writeln!(s, "step {} ({}:{}):", c.step, case.file.display(), line);
            last_step = c.step;
        }
        let place = if c.layer.is_empty() {
            c.at.to_string()
        } else {
            format!("{} [{}] {}", c.at, c.layer, c.read)
        };
        let target = if c.target == "subject" {
            String::new()
        } else {
            format!("{}.", c.target)
        };
        let _ = writeln!(s, "  {target}{} {place}", c.kind);
        let _ = writeln!(s, "    expected: {}   ({})", c.expected, c.why);
        let _ = writeln!(s, "    observed: {}", c.observed);
    }
    s
}
