//! The full record of what a column observed for a case, as stable, compact text: what the
//! insta snapshots hold. Object identities are snapshot-local numbers and paths are
//! redacted, so the text changes only when the runtime's behaviour does; each snapshot
//! shows only what changed since the previous one, so the record stays short.

use std::fmt::Write as _;

use introspec_cases::{Case, Plan};
use introspec_protocol::{clip, CaseResult, Outcome, Step, Value};

/// Render one case's observations, compactly: for each step its outcome, then the snapshots
/// taken inside it (`observe()` calls) and after it, in the order they were taken. A
/// snapshot shows only what changed since the previous one of the case (the first shows
/// everything): per target, `observable=value` where every spelling read the same, else
/// `observable=(read=value read=value)`, and the spellings that went missing gathered on a
/// `missing` line. A snapshot where nothing changed says `unchanged`.
pub fn render(case: &Case, plan: &Plan, result: &CaseResult, redact: &[(&str, &str)]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "== {}", case.id);
    if let Some(e) = &result.error {
        let _ = writeln!(
            s,
            "{}",
            clip(format!("error in {}: {}: {}", e.phase, e.type_name, e.msg))
        );
    }
    let mut last: Vec<Vec<Option<String>>> = plan
        .targets
        .iter()
        .map(|t| vec![None; t.reads.len()])
        .collect();
    for (i, (step, rec)) in case.steps.iter().zip(&result.steps).enumerate() {
        let outcome = clip(match &rec.outcome {
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
        });
        let _ = writeln!(s, "step {} {} -> {}", i + 1, describe(&step.op), outcome);
        for (k, snap) in rec.inside.iter().enumerate() {
            snapshot(&mut s, &format!("inside #{}", k + 1), plan, snap, &mut last);
        }
        snapshot(&mut s, "after", plan, &rec.after, &mut last);
    }
    redact_text(s, redact)
}

/// One snapshot: the changes since `last`, which it then updates. Per target, the changed
/// observables as `obs=value` (or `obs=(read=value read=value)` where its spellings read
/// differently), wrapped at [`WIDTH`], then a `missing` line for the spellings that went missing.
fn snapshot(
    s: &mut String,
    label: &str,
    plan: &Plan,
    snap: &[Vec<Value>],
    last: &mut [Vec<Option<String>>],
) {
    let mut lines = Vec::new();
    for (t, target) in plan.targets.iter().enumerate() {
        let Some(vals) = snap.get(t) else { continue };
        let mut items = Vec::new();
        let mut missing = Vec::new();
        let mut i = 0;
        while i < target.reads.len() {
            let obs = &target.reads[i].observable;
            // (value, reads) in order of first appearance, for the reads that changed
            let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
            while i < target.reads.len() && target.reads[i].observable == *obs {
                if let Some(v) = vals.get(i) {
                    let text = v.render(&plan.refs);
                    if last[t][i].as_deref() != Some(text.as_str()) {
                        last[t][i] = Some(text.clone());
                        let read = target.reads[i].read_text.as_str();
                        if matches!(v, Value::Missing(_)) {
                            missing.push(read);
                        } else {
                            match groups.iter_mut().find(|(x, _)| *x == text) {
                                Some((_, reads)) => reads.push(read),
                                None => groups.push((text, vec![read])),
                            }
                        }
                    }
                }
                i += 1;
            }
            match groups.len() {
                0 => {}
                1 => items.push(format!("{obs}={}", groups[0].0)),
                _ => {
                    let parts: Vec<String> = groups
                        .iter()
                        .map(|(v, reads)| format!("{}={v}", reads.join(" ")))
                        .collect();
                    items.push(format!("{obs}=({})", parts.join(" ")));
                }
            }
        }
        wrap(&mut lines, &format!("    {}: ", target.name), &items);
        if !missing.is_empty() {
            let missing: Vec<String> = missing.iter().map(|m| m.to_string()).collect();
            wrap(
                &mut lines,
                &format!("    {} missing: ", target.name),
                &missing,
            );
        }
    }
    if lines.is_empty() {
        let _ = writeln!(s, "  {label}: unchanged");
    } else {
        let _ = writeln!(s, "  {label}:");
        for l in lines {
            let _ = writeln!(s, "{l}");
        }
    }
}

/// The width record lines are wrapped at (an item longer than that stands on its own line).
pub const WIDTH: usize = 100;

/// `head` then the items separated by two spaces, continuing on lines indented by six.
fn wrap(lines: &mut Vec<String>, head: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let mut line = head.to_string();
    let mut fresh = true;
    for it in items {
        if !fresh && line.len() + 2 + it.len() > WIDTH {
            lines.push(std::mem::replace(&mut line, "      ".to_string()));
            fresh = true;
        }
        if !fresh {
            line.push_str("  ");
        }
        line.push_str(it);
        fresh = false;
    }
    lines.push(line);
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
    // addresses: 0x7f3a2c1b2d40 → 0xADDR (the worker's own normalisation, for text that
    // did not come through it)
    introspec_worker::normalize::text(&mut s);
    s
}
