//! Reading `cases/**/*.toml` and `cases/deviations/*.toml`, validated against the spec.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use introspec_spec::diag::{key_offset, value_offset, Candidates, LineIndex};
use introspec_spec::{
    did_you_mean, unknown, Diagnostic, Domain, Pattern, Severity, Spec, Specifier,
};
use serde::Deserialize;
use toml::Spanned;

use crate::files::{collect_toml, read_case_file};
use crate::model::*;

/// Implementations and compilers a selector may name.
pub const IMPLEMENTATIONS: [&str; 6] = [
    "cpython",
    "pypy",
    "graalpy",
    "rustpython",
    "ironpython",
    "jython",
];
pub const COMPILERS: [&str; 3] = ["cpython", "cython", "mypyc"];

/// The corpus: every valid case and deviation, and a diagnostic for every invalid input.
#[derive(Debug, Default)]
pub struct Corpus {
    pub cases: Vec<Case>,
    /// Deviations from `cases/deviations/` (a case's own are inside the case).
    pub deviations: Vec<Deviation>,
    /// Problems found; the cases they concern are left out, every valid case stays.
    pub diagnostics: Vec<Diagnostic>,
    /// Lints: input that loads as written but likely says what its author did not mean
    /// (`python = "==3.12"`); `introspec check` prints them, nothing fails on them.
    pub warnings: Vec<Diagnostic>,
    pub files: usize,
}

impl Corpus {
    /// Load every case under `dir`. Invalid files or cases become diagnostics; the rest load.
    pub fn load(dir: &Path, spec: &Spec) -> Corpus {
        let mut corpus = Corpus::default();
        let mut files = Vec::new();
        let mut visited = BTreeSet::new();
        collect_toml(dir, &mut files, &mut visited);
        files.sort();
        let mut seen: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
        let names = Names::new(spec);
        for file in files {
            corpus.files += 1;
            let is_deviation_file = file
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "deviations");
            let text = match read_case_file(&file) {
                Ok(t) => t,
                Err(d) => {
                    corpus.diagnostics.push(d);
                    continue;
                }
            };
            let lines = LineIndex::new(&text);
            if is_deviation_file {
                match toml::from_str::<RawDeviationFile>(&text) {
                    Err(e) => corpus
                        .diagnostics
                        .push(Diagnostic::from_toml(&file, &text, &e)),
                    Ok(raw) => {
                        for d in raw.deviation {
                            let span = d.span().start;
                            match deviation(d.into_inner(), None, spec, &file, &lines, span) {
                                Ok(d) => {
                                    corpus
                                        .warnings
                                        .extend(deviation_lints(&d, &file, &lines, span));
                                    corpus.deviations.push(d);
                                }
                                Err(e) => corpus.diagnostics.push(e),
                            }
                        }
                    }
                }
                continue;
            }
            let raw = match toml::from_str::<RawFile>(&text) {
                Ok(r) => r,
                Err(e) => {
                    corpus
                        .diagnostics
                        .push(Diagnostic::from_toml(&file, &text, &e));
                    continue;
                }
            };
            if raw.case.is_empty() {
                corpus.diagnostics.push(
                    Diagnostic::file(&file, "no [[case]] in this file")
                        .with_help("a case file holds one or more [[case]] tables; deviations go in cases/deviations/"),
                );
            }
            for rc in raw.case {
                let start = rc.span().start;
                let line = lines.line_col(start).0;
                let rc = rc.into_inner();
                let id = rc.id.get_ref().clone();
                if let Some((f, l)) = seen.get(&id) {
                    corpus.diagnostics.push(
                        lines
                            .at(
                                &file,
                                Some(rc.id.span().start),
                                format!("duplicate case id `{id}`"),
                            )
                            .with_help(format!(
                                "it is already used at {}:{l}; give this case another id",
                                f.display()
                            )),
                    );
                    continue;
                }
                seen.insert(id, (file.clone(), line));
                let mut errs = Vec::new();
                let case = build_case(
                    rc,
                    raw.prelude.as_deref(),
                    spec,
                    &names,
                    &file,
                    &lines,
                    line,
                    &mut errs,
                );
                let (warns, errs): (Vec<_>, Vec<_>) = errs
                    .into_iter()
                    .partition(|d| d.severity == Severity::Warning);
                corpus.warnings.extend(warns);
                if errs.is_empty() {
                    corpus.cases.push(case);
                } else {
                    corpus.diagnostics.extend(errs);
                }
            }
        }
        corpus
    }

    /// Every deviation that may apply to a case (its own, then the global ones whose glob matches).
    pub fn deviations_for<'a>(&'a self, case: &'a Case) -> impl Iterator<Item = &'a Deviation> {
        case.deviations
            .iter()
            .chain(self.deviations.iter().filter(|d| glob(&d.cases, &case.id)))
    }
}

/// The lints of a version condition written at byte `offset` of `text`, as located
/// warnings that give the condition to write instead.
fn condition_lints(
    p: &Specifier,
    file: &Path,
    lines: &LineIndex,
    offset: usize,
) -> Vec<Diagnostic> {
    p.lints()
        .into_iter()
        .map(|l| {
            lines
                .at(file, Some(offset), l.message)
                .with_help(format!("write `python = \"{}\"`", l.fix))
                .warning()
        })
        .collect()
}

/// The lints of a deviation's `when.python`, the deviation's table starting at `span`.
fn deviation_lints(d: &Deviation, file: &Path, lines: &LineIndex, span: usize) -> Vec<Diagnostic> {
    match &d.when.python {
        Some(p) => condition_lints(
            p,
            file,
            lines,
            value_offset(lines.text(), span, "python").unwrap_or(span),
        ),
        None => Vec::new(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    prelude: Option<String>,
    #[serde(default)]
    case: Vec<Spanned<RawCase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeviationFile {
    #[serde(default)]
    deviation: Vec<Spanned<RawDeviation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    id: Spanned<String>,
    title: String,
    kind: Spanned<String>,
    source: String,
    note: Option<String>,
    python: Option<Spanned<String>>,
    #[serde(default)]
    features: Vec<Spanned<String>>,
    timeout: Option<f64>,
    code: String,
    subject: String,
    #[serde(default)]
    objects: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
    #[serde(default)]
    deviation: Vec<Spanned<RawDeviation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(rename = "do")]
    op: Spanned<String>,
    on: Option<String>,
    arg: Option<String>,
    expr: Option<String>,
    bind: Option<String>,
    code: Option<String>,
    returns: Option<toml::Value>,
    raises: Option<String>,
    message: Option<String>,
    value: Option<toml::Value>,
    state: Option<String>,
    expect: Option<toml::Table>,
    inside: Option<toml::Value>,
    layers: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeviation {
    cases: Option<String>,
    #[serde(default)]
    when: RawSelector,
    step: Option<usize>,
    observable: Option<String>,
    layer: Option<String>,
    reason: String,
    link: String,
    /// Seconds: the case is known to hang on these columns, and this long without an answer
    /// confirms it (instead of the case's whole timeout).
    hangs_after: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSelector {
    implementation: Option<String>,
    python: Option<String>,
    compiler: Option<String>,
    reference: Option<bool>,
    column: Option<String>,
}

fn deviation(
    raw: RawDeviation,
    own_case: Option<&str>,
    spec: &Spec,
    file: &Path,
    lines: &LineIndex,
    span: usize,
) -> Result<Deviation, Diagnostic> {
    let text = lines.text();
    let at = |msg: String| lines.at(file, Some(span), msg);
    // at the value of `key` in this deviation's table, where it can be found
    let at_value =
        |key: &str, msg: String| lines.at(file, value_offset(text, span, key).or(Some(span)), msg);
    if raw.reason.trim().is_empty() {
        return Err(
            at_value("reason", "a known deviation needs a `reason`".into())
                .with_help("say what the runtime does instead and why"),
        );
    }
    if !raw.link.starts_with("http") {
        return Err(at(format!(
            "the deviation's `link` `{}` is not a URL",
            raw.link
        ))
        .with_help("link the upstream issue, the docs or the source that explains the deviation"));
    }
    let cases = match (own_case, raw.cases) {
        (Some(_), Some(_)) => {
            return Err(at(
                "`cases` belongs in cases/deviations/ files, not inside a case".into(),
            ))
        }
        (Some(_), None) => "*".to_string(),
        (None, Some(c)) => c,
        (None, None) => {
            return Err(at(
                "a deviation in cases/deviations/ needs `cases`, a glob on case ids".into(),
            ))
        }
    };
    let s = raw.when;
    if let Some(i) = &s.implementation {
        if !IMPLEMENTATIONS.contains(&i.as_str()) {
            return Err(did_you_mean(
                at_value("implementation", format!("unknown implementation `{i}`")),
                i,
                "implementation",
                IMPLEMENTATIONS,
            ));
        }
    }
    if let Some(c) = &s.compiler {
        if !COMPILERS.contains(&c.as_str()) {
            return Err(did_you_mean(
                at_value("compiler", format!("unknown compiler `{c}`")),
                c,
                "compiler",
                COMPILERS,
            ));
        }
    }
    let python = match &s.python {
        Some(p) => Some(Specifier::parse(p).map_err(|e| at_value("python", e))?),
        None => None,
    };
    // a misspelt observable or layer would cover nothing: the deviation would never apply
    const NOT_OBSERVABLES: [&str; 3] = ["outcome", "error", "observe-calls"];
    if let Some(o) = &raw.observable {
        if spec.observable(o).is_none() && !NOT_OBSERVABLES.contains(&o.as_str()) {
            let names = spec
                .observables
                .iter()
                .map(|x| x.name.as_str())
                .chain(NOT_OBSERVABLES);
            let d = at_value("observable", format!("unknown observable `{o}`"));
            return Err(did_you_mean(d, o, "observable", names));
        }
    }
    if let Some(l) = &raw.layer {
        if spec.layer(l).is_none() {
            let d = at_value("layer", format!("unknown layer `{l}`"));
            return Err(did_you_mean(
                d,
                l,
                "layer",
                spec.layers.iter().map(|x| x.name.as_str()),
            ));
        }
    }
    if let Some(t) = raw.hangs_after {
        if raw.observable.as_deref() != Some("error") {
            return Err(at_value(
                "hangs_after",
                "`hangs_after` is for a case that hangs, so that it cannot be observed: it needs `observable = \"error\"`".into(),
            ));
        }
        if !t.is_finite() || !(0.001..=86_400.0).contains(&t) {
            return Err(at_value(
                "hangs_after",
                format!("hangs_after = {t} is not a number of seconds from 0.001 to 86400"),
            )
            .with_help("a case that answers in milliseconds elsewhere is confirmed hanging by a second without an answer: `hangs_after = 1.0`"));
        }
    }
    Ok(Deviation {
        cases,
        when: Selector {
            implementation: s.implementation,
            python,
            compiler: s.compiler,
            reference: s.reference,
            column: s.column,
        },
        step: raw.step,
        observable: raw.observable,
        layer: raw.layer,
        reason: raw.reason,
        link: raw.link,
        hang_confirmed_ms: raw.hangs_after.map(|s| (s * 1000.0) as u64),
        file: file.to_path_buf(),
        line: lines.line_col(span).0,
    })
}

const OPS: [&str; 10] = [
    "create", "next", "send", "throw", "close", "asend", "athrow", "aclose", "eval", "exec",
];

/// The spec's names that a misspelt one is compared with, prepared once per load.
struct Names {
    kinds: Candidates,
    features: Candidates,
    observables: Candidates,
}

impl Names {
    fn new(spec: &Spec) -> Names {
        Names {
            kinds: Candidates::new("kind", spec.kinds.keys().map(String::as_str)),
            features: Candidates::new("feature", spec.features.keys().map(String::as_str)),
            observables: Candidates::new(
                "observable",
                spec.observables.iter().map(|o| o.name.as_str()),
            ),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build_case(
    rc: RawCase,
    prelude: Option<&str>,
    spec: &Spec,
    names: &Names,
    file: &Path,
    lines: &LineIndex,
    line: usize,
    errs: &mut Vec<Diagnostic>,
) -> Case {
    let text = lines.text();
    let case_id = rc.id.get_ref().clone();
    let here =
        |span: usize, msg: String| lines.at(file, Some(span), format!("case `{case_id}`: {msg}"));

    if !spec.kinds.contains_key(rc.kind.get_ref()) {
        errs.push(unknown(file, lines, &rc.kind, &names.kinds));
    }
    let mut objects = vec![("subject".to_string(), rc.kind.get_ref().clone())];
    for (name, kind) in &rc.objects {
        if !spec.kinds.contains_key(kind.get_ref()) {
            errs.push(unknown(file, lines, kind, &names.kinds));
        }
        objects.push((name.clone(), kind.get_ref().clone()));
    }
    let python =
        rc.python
            .as_ref()
            .and_then(|p| match Specifier::parse(p.get_ref()) {
                Ok(s) => {
                    errs.extend(condition_lints(&s, file, lines, p.span().start));
                    Some(s)
                }
                Err(e) => {
                    errs.push(here(p.span().start, e).with_help(
                        "write a PEP 440 condition such as \">=3.6\" or \">=3.6,<3.11\"",
                    ));
                    None
                }
            });
    for f in &rc.features {
        if !spec.features.contains_key(f.get_ref()) {
            errs.push(unknown(file, lines, f, &names.features));
        }
    }
    if rc.id.get_ref().is_empty() || rc.id.get_ref().contains(char::is_whitespace) {
        errs.push(here(
            rc.id.span().start,
            "a case id is dotted words without spaces".into(),
        ));
    }

    let mut steps = Vec::new();
    for (i, rs) in rc.step.into_iter().enumerate() {
        let span = rs.span().start;
        let sline = lines.line_col(span).0;
        let rs = rs.into_inner();
        let op_name = rs.op.get_ref().as_str();
        if i == 0 && op_name != "create" {
            errs.push(here(
                rs.op.span().start,
                "the first step must be `do = \"create\"`".into(),
            ));
        }
        let target = rs.on.clone().unwrap_or_else(|| "subject".into());
        if !matches!(op_name, "create" | "eval" | "exec")
            && !objects.iter().any(|(n, _)| *n == target)
        {
            let d = here(
                span,
                format!("step {} acts `on` unknown object `{target}`", i + 1),
            );
            errs.push(
                did_you_mean(
                    d,
                    &target,
                    "object",
                    objects.iter().map(|(n, _)| n.as_str()),
                )
                .with_help("declare it in the case's `objects` table"),
            );
        }
        let arg = |default: &str| rs.arg.clone().unwrap_or_else(|| default.to_string());
        use introspec_protocol::Step as S;
        let op = match op_name {
            "create" => S::Create {
                expr: rs.expr.clone().unwrap_or_else(|| rc.subject.clone()),
            },
            "next" => S::Next {
                target: target.clone(),
            },
            "send" => S::Send {
                target: target.clone(),
                arg: arg("None"),
            },
            "throw" => S::Throw {
                target: target.clone(),
                arg: arg("ValueError('thrown')"),
            },
            "close" => S::Close {
                target: target.clone(),
            },
            "asend" => S::Asend {
                target: target.clone(),
                arg: arg("None"),
            },
            "athrow" => S::Athrow {
                target: target.clone(),
                arg: arg("ValueError('thrown')"),
            },
            "aclose" => S::Aclose {
                target: target.clone(),
            },
            "eval" => match &rs.expr {
                Some(e) => S::Eval {
                    expr: e.clone(),
                    bind: rs.bind.clone(),
                },
                None => {
                    errs.push(here(
                        span,
                        format!("step {}: `do = \"eval\"` needs `expr`", i + 1),
                    ));
                    continue;
                }
            },
            "exec" => match &rs.code {
                Some(c) => S::Exec { code: c.clone() },
                None => {
                    errs.push(here(
                        span,
                        format!("step {}: `do = \"exec\"` needs `code`", i + 1),
                    ));
                    continue;
                }
            },
            other => {
                let d = here(rs.op.span().start, format!("unknown operation `{other}`"));
                errs.push(did_you_mean(d, other, "operation", OPS));
                continue;
            }
        };
        let outcome = match (&rs.returns, &rs.raises) {
            (Some(_), Some(_)) => {
                errs.push(here(
                    span,
                    format!("step {}: give `returns` or `raises`, not both", i + 1),
                ));
                OutcomeExpect::Returns(Pattern::Any)
            }
            (None, Some(exc)) => OutcomeExpect::Raises {
                exc: exc.clone(),
                message: rs.message.clone(),
                value: rs
                    .value
                    .as_ref()
                    .and_then(|v| pattern(v, Domain::Value, &here, span, errs)),
            },
            (Some(v), None) => OutcomeExpect::Returns(
                pattern(v, Domain::Value, &here, span, errs).unwrap_or(Pattern::Any),
            ),
            (None, None) => OutcomeExpect::Returns(Pattern::Any),
        };
        if rs.raises.is_none() && (rs.message.is_some() || rs.value.is_some()) {
            errs.push(here(
                span,
                format!("step {}: `message` and `value` go with `raises`", i + 1),
            ));
        }
        let ctx = ExpectCtx {
            spec,
            observables: &names.observables,
            objects: &objects,
            here: &here,
            span,
            text,
        };
        let mut after = Vec::new();
        if let Some(s) = &rs.state {
            let mut t = toml::Table::new();
            t.insert("state".into(), toml::Value::String(s.clone()));
            ctx.table(&t, "subject", None, &mut after, errs);
        }
        if let Some(t) = &rs.expect {
            ctx.table(t, "subject", None, &mut after, errs);
        }
        if let Some(layers) = &rs.layers {
            for (layer, t) in layers {
                if spec.layer(layer).is_none() {
                    let at = key_offset(text, span, layer).unwrap_or(span);
                    let d = here(at, format!("unknown layer `{layer}`"));
                    errs.push(did_you_mean(
                        d,
                        layer,
                        "layer",
                        spec.layers.iter().map(|l| l.name.as_str()),
                    ));
                    continue;
                }
                match t.as_table() {
                    Some(t) => ctx.table(t, "subject", Some(layer), &mut after, errs),
                    None => errs.push(here(
                        span,
                        format!("`layers.{layer}` must be a table of observables"),
                    )),
                }
            }
        }
        ctx.add_invariants(&mut after);
        let mut inside = Vec::new();
        match &rs.inside {
            None => {}
            Some(toml::Value::Table(t)) => inside.push(ctx.snapshot(t, errs)),
            Some(toml::Value::Array(items)) => {
                for it in items {
                    match it.as_table() {
                        Some(t) => inside.push(ctx.snapshot(t, errs)),
                        None => errs.push(here(
                            span,
                            "`inside` is a table, or an array of tables (one per observe() call)"
                                .into(),
                        )),
                    }
                }
            }
            Some(_) => errs.push(here(
                span,
                "`inside` is a table, or an array of tables (one per observe() call)".into(),
            )),
        }
        steps.push(Step {
            op,
            outcome,
            after,
            inside,
            line: sline,
        });
    }
    if steps.is_empty() && !errs.iter().any(|d| d.severity == Severity::Error) {
        errs.push(lines.at(
            file,
            Some(rc.id.span().start),
            format!("case `{case_id}` has no [[case.step]]"),
        ));
    }

    if let Some(t) = rc.timeout {
        // the bounds of INTROSPEC_TIMEOUT (harness/runner/src/settings.rs)
        if !t.is_finite() || !(0.001..=86_400.0).contains(&t) {
            errs.push(
                lines.at(
                    file,
                    Some(rc.id.span().start),
                    format!("case `{case_id}`: timeout = {t} is not a number of seconds from 0.001 to 86400"),
                )
                .with_help("give seconds, for example `timeout = 2.0`, or leave it out for the default (10 s, INTROSPEC_TIMEOUT)"),
            );
        }
    }

    let mut deviations = Vec::new();
    for d in rc.deviation {
        let span = d.span().start;
        match deviation(d.into_inner(), Some(&case_id), spec, file, lines, span) {
            Ok(d) => {
                errs.extend(deviation_lints(&d, file, lines, span));
                deviations.push(d);
            }
            Err(e) => errs.push(e),
        }
    }

    let code = match prelude {
        Some(p) => format!("{p}\n{}", rc.code),
        None => rc.code,
    };
    Case {
        id: case_id,
        title: rc.title,
        kind: rc.kind.into_inner(),
        source: rc.source,
        note: rc.note,
        python,
        features: rc.features.into_iter().map(Spanned::into_inner).collect(),
        timeout_ms: rc.timeout.map(|s| (s * 1000.0) as u64),
        code,
        subject: rc.subject,
        objects: objects.into_iter().skip(1).collect(),
        steps,
        deviations,
        file: file.to_path_buf(),
        line,
    }
}

fn pattern(
    v: &toml::Value,
    domain: Domain,
    here: &dyn Fn(usize, String) -> Diagnostic,
    span: usize,
    errs: &mut Vec<Diagnostic>,
) -> Option<Pattern> {
    match Pattern::from_toml(v, domain) {
        Ok(p) => Some(p),
        Err(e) => {
            errs.push(here(span, e));
            None
        }
    }
}

struct ExpectCtx<'a> {
    spec: &'a Spec,
    /// The spec's observables, for a did-you-mean (the case's objects are added to them).
    observables: &'a Candidates,
    objects: &'a [(String, String)],
    here: &'a dyn Fn(usize, String) -> Diagnostic,
    /// The start of the step's table, and the file's text: a problem with a key points at it.
    span: usize,
    text: &'a str,
}

impl ExpectCtx<'_> {
    /// Where `key` is written in the step, or the step.
    fn key_at(&self, key: &str) -> usize {
        key_offset(self.text, self.span, key).unwrap_or(self.span)
    }

    fn kind_of(&self, target: &str) -> &str {
        self.objects
            .iter()
            .find(|(n, _)| n == target)
            .map_or("", |(_, k)| k.as_str())
    }

    /// An expectation table: observable = pattern, or object = { observable = pattern }.
    fn table(
        &self,
        t: &toml::Table,
        target: &str,
        layer: Option<&str>,
        out: &mut Vec<Expect>,
        errs: &mut Vec<Diagnostic>,
    ) {
        let kind = self.kind_of(target).to_string();
        for (key, value) in t {
            if let Some(obs) = self.spec.observable(key) {
                let spelled = self.spec.layers.iter().any(|l| {
                    layer.is_none_or(|x| x == l.name)
                        && self.spec.spelling(obs, &l.name, &kind).is_some()
                });
                if !spelled {
                    errs.push((self.here)(
                        self.key_at(key),
                        format!("observable `{key}` has no spelling for kind `{kind}`{} in spec/observables.toml", layer.map(|l| format!(" in layer `{l}`")).unwrap_or_default()),
                    ).with_help("add the spelling to the spec, or expect it on another object"));
                    continue;
                }
                if let Some(p) = pattern(value, obs.domain, self.here, self.span, errs) {
                    out.push(Expect {
                        target: target.to_string(),
                        observable: key.clone(),
                        layer: layer.map(str::to_string),
                        pattern: p,
                        from: ExpectFrom::Case,
                    });
                }
            } else if self.objects.iter().any(|(n, _)| n == key) && target == "subject" {
                match value.as_table() {
                    Some(inner) => self.table(inner, key, layer, out, errs),
                    None => errs.push((self.here)(
                        self.span,
                        format!("`{key}` is an object: give it a table of observables"),
                    )),
                }
            } else {
                let objects: Vec<&str> = self.objects.iter().map(|(n, _)| n.as_str()).collect();
                let d = (self.here)(
                    self.key_at(key),
                    format!("unknown observable or object `{key}`"),
                );
                errs.push(self.observables.help(d, key, &objects));
            }
        }
    }

    fn snapshot(&self, t: &toml::Table, errs: &mut Vec<Diagnostic>) -> Vec<Expect> {
        let mut out = Vec::new();
        self.table(t, "subject", None, &mut out, errs);
        self.add_invariants(&mut out);
        out
    }

    fn add_invariants(&self, out: &mut Vec<Expect>) {
        add_invariants(self.spec, self.objects, out);
    }
}

/// For every target whose expected `state` is named, add that state's invariants
/// (spec/states.toml) for the observables the expectations do not name themselves (lifecycle
/// kinds only). `objects` maps each target name (`subject` first) to its kind. This is what
/// the loader does for every step and every `inside` table of a case; generated cases (the
/// fuzzer's) call it to get exactly the same expectations.
pub fn add_invariants(spec: &Spec, objects: &[(String, String)], out: &mut Vec<Expect>) {
    let kind_of = |target: &str| {
        objects
            .iter()
            .find(|(n, _)| n == target)
            .map_or("", |(_, k)| k.as_str())
    };
    let mut extra = Vec::new();
    for e in out.iter() {
        let Pattern::State(state) = &e.pattern else {
            continue;
        };
        if e.observable != "state" || e.layer.is_some() {
            continue;
        }
        let kind = kind_of(&e.target);
        if !spec.kinds.get(kind).is_some_and(|k| k.lifecycle) {
            continue;
        }
        let Some(st) = spec.states.get(state) else {
            continue;
        };
        for (obs, p) in &st.invariants_for(kind) {
            let named = out
                .iter()
                .any(|x| x.target == e.target && &x.observable == obs);
            let Some(o) = spec.observable(obs) else {
                continue;
            };
            let spelled = spec
                .layers
                .iter()
                .any(|l| spec.spelling(o, &l.name, kind).is_some());
            if !named && spelled {
                extra.push(Expect {
                    target: e.target.clone(),
                    observable: obs.clone(),
                    layer: None,
                    pattern: p.clone(),
                    from: ExpectFrom::Invariant(state.clone()),
                });
            }
        }
    }
    out.extend(extra);
}
