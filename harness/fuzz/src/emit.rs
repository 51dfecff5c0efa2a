//! A predicted case as an ordinary case file (cases/README.md): what a finding becomes under
//! `cases/regressions/`, reproducible with no seed. Only the expectations the model states
//! are written; the loader adds each named state's invariants back, as for any case.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use introspec_cases::{Expect, ExpectFrom, OutcomeExpect, Step};
use introspec_protocol as proto;
use introspec_spec::Pattern;

use crate::campaign::Finding;
use crate::model::Prediction;

/// A TOML string (basic, escaped).
fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A pattern as the TOML value that parses back to it.
pub fn pattern_toml(p: &Pattern) -> String {
    match p {
        Pattern::Bool(b) => b.to_string(),
        Pattern::Int(i) => i.to_string(),
        Pattern::Float(f) => format!("{f:?}"),
        Pattern::Str(s) if s.starts_with('<') => q(&format!("<str {s}>")),
        Pattern::Str(s) => q(s),
        Pattern::State(s) => q(s),
        Pattern::None => q("<none>"),
        Pattern::Seq(items) => format!(
            "[{}]",
            items
                .iter()
                .map(pattern_toml)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Pattern::Dict(items) => format!(
            "{{ {} }}",
            items
                .iter()
                .map(|(k, v)| format!("{} = {}", q(k), pattern_toml(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => q(&other.to_string()),
    }
}

/// One snapshot's expectations as an inline table: subject observables, then one table per
/// other object. Invariants are left out (the loader adds them).
fn table(exps: &[Expect], skip_subject_state: bool) -> String {
    let mut parts = Vec::new();
    let mut objects: Vec<(&str, Vec<String>)> = Vec::new();
    for e in exps
        .iter()
        .filter(|e| e.from == ExpectFrom::Case && e.layer.is_none())
    {
        let item = format!("{} = {}", e.observable, pattern_toml(&e.pattern));
        if e.target == "subject" {
            if skip_subject_state && e.observable == "state" {
                continue;
            }
            parts.push(item);
        } else {
            match objects.iter_mut().find(|(n, _)| *n == e.target) {
                Some((_, items)) => items.push(item),
                None => objects.push((&e.target, vec![item])),
            }
        }
    }
    for (name, items) in objects {
        parts.push(format!("{name} = {{ {} }}", items.join(", ")));
    }
    format!("{{ {} }}", parts.join(", "))
}

fn subject_state(exps: &[Expect]) -> Option<&Pattern> {
    exps.iter()
        .find(|e| {
            e.target == "subject"
                && e.observable == "state"
                && e.from == ExpectFrom::Case
                && e.layer.is_none()
        })
        .map(|e| &e.pattern)
}

fn step_toml(s: &mut String, step: &Step) {
    s.push_str("\n[[case.step]]\n");
    use proto::Step as P;
    let (op, on, arg) = match &step.op {
        P::Create { .. } => ("create", None, None),
        P::Next { target } => ("next", Some(target), None),
        P::Send { target, arg } => ("send", Some(target), Some(arg)),
        P::Throw { target, arg } => ("throw", Some(target), Some(arg)),
        P::Close { target } => ("close", Some(target), None),
        P::Asend { target, arg } => ("asend", Some(target), Some(arg)),
        P::Athrow { target, arg } => ("athrow", Some(target), Some(arg)),
        P::Aclose { target } => ("aclose", Some(target), None),
        P::Eval { .. } => ("eval", None, None),
        P::Exec { .. } => ("exec", None, None),
    };
    let _ = writeln!(s, "do = {}", q(op));
    match &step.op {
        P::Eval { expr, bind } => {
            let _ = writeln!(s, "expr = {}", q(expr));
            if let Some(b) = bind {
                let _ = writeln!(s, "bind = {}", q(b));
            }
        }
        P::Exec { code } => {
            let _ = writeln!(s, "code = {}", q(code));
        }
        _ => {}
    }
    if let Some(t) = on.filter(|t| *t != "subject") {
        let _ = writeln!(s, "on = {}", q(t));
    }
    if let Some(a) = arg {
        let _ = writeln!(s, "arg = {}", q(a));
    }
    match &step.outcome {
        OutcomeExpect::Returns(Pattern::Any) => {}
        OutcomeExpect::Returns(p) => {
            let _ = writeln!(s, "returns = {}", pattern_toml(p));
        }
        OutcomeExpect::Raises {
            exc,
            message,
            value,
        } => {
            let _ = writeln!(s, "raises = {}", q(exc));
            if let Some(m) = message {
                let _ = writeln!(s, "message = {}", q(m));
            }
            if let Some(v) = value {
                let _ = writeln!(s, "value = {}", pattern_toml(v));
            }
        }
    }
    if let Some(st) = subject_state(&step.after) {
        let _ = writeln!(s, "state = {}", pattern_toml(st));
    }
    let rest = table(&step.after, true);
    if rest != "{  }" {
        let _ = writeln!(s, "expect = {rest}");
    }
    if !step.inside.is_empty() {
        let items: Vec<String> = step.inside.iter().map(|snap| table(snap, false)).collect();
        let _ = writeln!(s, "inside = [{}]", items.join(", "));
    }
}

/// The case file of a prediction. `header` lines become comments at the top.
pub fn case_toml(pred: &Prediction, header: &[String]) -> String {
    let c = &pred.case;
    let mut s = String::new();
    for h in header {
        for line in h.lines() {
            let _ = writeln!(s, "# {line}");
        }
    }
    s.push_str("\n[[case]]\n");
    let _ = writeln!(s, "id = {}", q(&c.id));
    let _ = writeln!(s, "title = {}", q(&c.title));
    let _ = writeln!(s, "kind = {}", q(&c.kind));
    let _ = writeln!(s, "source = {}", q(&c.source));
    if let Some(n) = &c.note {
        let _ = writeln!(s, "note = {}", q(n));
    }
    if let Some(p) = &c.python {
        let _ = writeln!(s, "python = {}", q(p.as_str()));
    }
    assert!(!c.code.contains("'''"), "generated code never holds '''");
    let _ = writeln!(s, "code = '''\n{}'''", c.code);
    let _ = writeln!(s, "subject = {}", q(&c.subject));
    if !c.objects.is_empty() {
        let items: Vec<String> = c
            .objects
            .iter()
            .map(|(n, k)| format!("{n} = {}", q(k)))
            .collect();
        let _ = writeln!(s, "objects = {{ {} }}", items.join(", "));
    }
    for step in &c.steps {
        step_toml(&mut s, step);
    }
    s
}

/// Write a finding as `DIR/<case id>.toml`, with the seed, the column and the transitions it
/// checks in the header. Returns the path.
pub fn write_regression(dir: &Path, f: &Finding) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.toml", f.prediction.case.id));
    let transitions: Vec<String> = f
        .prediction
        .used
        .iter()
        .map(|(op, from)| format!("{op} from {from}"))
        .collect();
    let header = vec![
        format!("Found by `introspec fuzz` on {}: {}", f.column, f.signature),
        format!(
            "seed {} case #{}, shrunk from size {} to {}; reproduces with no seed.",
            f.seed, f.index, f.size_before, f.size_after
        ),
        format!(
            "spec/states.toml transitions checked: {}",
            transitions.join(", ")
        ),
        "Expectations come from the fuzz model (harness/fuzz), derived from spec/.".to_string(),
    ];
    std::fs::write(&path, case_toml(&f.prediction, &header))?;
    Ok(path)
}
