//! The full record of what a column observed for a case, as stable text: what the insta
//! snapshots hold. Object identities are snapshot-local numbers and paths are redacted, so
//! the text changes only when the runtime's behaviour does.

use std::fmt::Write as _;

use introspec_cases::{Case, Plan};
use introspec_protocol::{CaseResult, Outcome, Step, Value};

/// Render one case's observations.
pub fn render(case: &Case, plan: &Plan, result: &CaseResult, redact: &[(&str, &str)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "== {}", case.id);
    if let Some(e) = &result.error {
        let _ = writeln!(s, "error in {}: {}: {}", e.phase, e.type_name, e.msg);
    }
    for (i, (step, rec)) in case.steps.iter().zip(&result.steps).enumerate() {
        let outcome = match &rec.outcome {
            Outcome::Returned(v) => format!("returns {}", v.render(&plan.refs)),
            Outcome::Raised(e) => match &e.value {
                Some(v) => format!(
                    "raises {}({:?}) value {}",
                    e.type_name,
                    e.msg,
                    v.render(&plan.refs)
                ),
                None => format!("raises {}({:?})", e.type_name, e.msg),
            },
        };
        let _ = writeln!(s, "step {} {} -> {}", i + 1, describe(&step.op), outcome);
        snapshot(&mut s, "after", plan, &rec.after);
        for (k, snap) in rec.inside.iter().enumerate() {
            snapshot(&mut s, &format!("inside #{}", k + 1), plan, snap);
        }
    }
    redact_text(s, redact)
}

fn snapshot(s: &mut String, label: &str, plan: &Plan, snap: &[Vec<Value>]) {
    let _ = writeln!(s, "  {label}:");
    for (t, target) in plan.targets.iter().enumerate() {
        let Some(vals) = snap.get(t) else { continue };
        let mut i = 0;
        while i < target.reads.len() {
            let obs = &target.reads[i].observable;
            let mut parts = Vec::new();
            while i < target.reads.len() && target.reads[i].observable == *obs {
                if let Some(v) = vals.get(i) {
                    parts.push(format!(
                        "{}={}",
                        target.reads[i].read_text,
                        v.render(&plan.refs)
                    ));
                }
                i += 1;
            }
            let _ = writeln!(s, "    {}.{}: {}", target.name, obs, parts.join("  "));
        }
    }
}

fn describe(op: &Step) -> String {
    match op {
        Step::Create { expr } => format!("create {expr}"),
        Step::Next { target } => format!("next({target})"),
        Step::Send { target, arg } => format!("{target}.send({arg})"),
        Step::Throw { target, arg } => format!("{target}.throw({arg})"),
        Step::Close { target } => format!("{target}.close()"),
        Step::Asend { target, arg } => format!("await {target}.asend({arg})"),
        Step::Athrow { target, arg } => format!("await {target}.athrow({arg})"),
        Step::Aclose { target } => format!("await {target}.aclose()"),
        Step::Eval { expr, bind } => match bind {
            Some(b) => format!("{b} = {expr}"),
            None => format!("eval {expr}"),
        },
        Step::Exec { code } => format!("exec {:?}", code.lines().next().unwrap_or("")),
    }
}

/// Replace machine-specific text (paths, addresses) by placeholders. The list is only ever
/// appended to, so old snapshots keep their meaning.
pub fn redact_text(mut s: String, pairs: &[(&str, &str)]) -> String {
    for (from, to) in pairs {
        if !from.is_empty() {
            s = s.replace(from, to);
        }
    }
    // addresses: 0x7f3a2c1b2d40 → 0xADDR
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let n = after.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        if n >= 6 {
            out.push_str("0xADDR");
            rest = &after[n..];
        } else {
            out.push_str("0x");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}
