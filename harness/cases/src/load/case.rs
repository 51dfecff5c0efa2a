//! A case checked against the spec and built: its steps, targets and expectations, with
//! the invariants of each named state added.

use super::*;

pub(super) const OPS: [&str; 10] = [
    "create", "next", "send", "throw", "close", "asend", "athrow", "aclose", "eval", "exec",
];

/// The spec's names that a misspelt one is compared with, prepared once per load.
pub(super) struct Names {
    pub(super) kinds: Candidates,
    pub(super) features: Candidates,
    pub(super) observables: Candidates,
}

impl Names {
    pub(super) fn new(spec: &Spec) -> Names {
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

/// What the steps of a case are checked against: the spec, the names for a did-you-mean, the
/// case's objects (`subject` first, with their kinds), where to point, the file's text.
struct StepCtx<'a> {
    spec: &'a Spec,
    names: &'a Names,
    objects: &'a [(String, String)],
    subject: &'a str,
    here: &'a dyn Fn(usize, String) -> Diagnostic,
    text: &'a str,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn build_case(
    rc: RawCase,
    prelude: Option<&str>,
    spec: &Spec,
    names: &Names,
    file: &Path,
    lines: &LineIndex,
    line: usize,
    errs: &mut Vec<Diagnostic>,
) -> Case {
    let case_id = rc.id.get_ref().clone();
    let here =
        |span: usize, msg: String| lines.at(file, Some(span), format!("case `{case_id}`: {msg}"));
    let objects = case_objects(&rc, spec, names, file, lines, errs);
    let python = case_python(&rc, file, lines, &here, errs);
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
    let ctx = StepCtx {
        spec,
        names,
        objects: &objects,
        subject: &rc.subject,
        here: &here,
        text: lines.text(),
    };
    let mut steps = Vec::new();
    for (i, rs) in rc.step.into_iter().enumerate() {
        let span = rs.span().start;
        if let Some(step) = ctx.step(i, rs.into_inner(), span, lines.line_col(span).0, errs) {
            steps.push(step);
        }
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

/// The case's objects, `subject` first, each with its kind (an unknown kind is an error).
fn case_objects(
    rc: &RawCase,
    spec: &Spec,
    names: &Names,
    file: &Path,
    lines: &LineIndex,
    errs: &mut Vec<Diagnostic>,
) -> Vec<(String, String)> {
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
    objects
}

/// The case's `python` condition, with its lints; a condition that does not parse is an error.
fn case_python(
    rc: &RawCase,
    file: &Path,
    lines: &LineIndex,
    here: &dyn Fn(usize, String) -> Diagnostic,
    errs: &mut Vec<Diagnostic>,
) -> Option<Specifier> {
    let p = rc.python.as_ref()?;
    match Specifier::parse(p.get_ref()) {
        Ok(s) => {
            errs.extend(condition_lints(&s, file, lines, p.span().start));
            Some(s)
        }
        Err(e) => {
            errs.push(
                here(p.span().start, e)
                    .with_help("write a PEP 440 condition such as \">=3.6\" or \">=3.6,<3.11\""),
            );
            None
        }
    }
}

impl StepCtx<'_> {
    /// Step `i` (0-based) of the case, written at byte `span` on line `line`; `None` where
    /// its operation cannot be built (the error is in `errs`).
    fn step(
        &self,
        i: usize,
        rs: RawStep,
        span: usize,
        line: usize,
        errs: &mut Vec<Diagnostic>,
    ) -> Option<Step> {
        let op = self.op(i, &rs, span, errs)?;
        let outcome = self.outcome(i, &rs, span, errs);
        let ctx = ExpectCtx {
            spec: self.spec,
            observables: &self.names.observables,
            objects: self.objects,
            here: self.here,
            span,
            text: self.text,
        };
        let after = self.after(&ctx, &rs, span, errs);
        let inside = self.inside(&ctx, &rs, span, errs);
        Some(Step {
            op,
            outcome,
            after,
            inside,
            line,
        })
    }

    /// The step's operation, on its target (`subject` unless `on` names another object).
    fn op(
        &self,
        i: usize,
        rs: &RawStep,
        span: usize,
        errs: &mut Vec<Diagnostic>,
    ) -> Option<introspec_protocol::Step> {
        let here = self.here;
        let op_name = rs.op.get_ref().as_str();
        if i == 0 && op_name != "create" {
            errs.push(here(
                rs.op.span().start,
                "the first step must be `do = \"create\"`".into(),
            ));
        }
        let target = rs.on.clone().unwrap_or_else(|| "subject".into());
        if !matches!(op_name, "create" | "eval" | "exec")
            && !self.objects.iter().any(|(n, _)| *n == target)
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
                    self.objects.iter().map(|(n, _)| n.as_str()),
                )
                .with_help("declare it in the case's `objects` table"),
            );
        }
        let arg = |default: &str| rs.arg.clone().unwrap_or_else(|| default.to_string());
        use introspec_protocol::Step as S;
        Some(match op_name {
            "create" => S::Create {
                expr: rs.expr.clone().unwrap_or_else(|| self.subject.to_string()),
            },
            "next" => S::Next { target },
            "send" => S::Send {
                target,
                arg: arg("None"),
            },
            "throw" => S::Throw {
                target,
                arg: arg("ValueError('thrown')"),
            },
            "close" => S::Close { target },
            "asend" => S::Asend {
                target,
                arg: arg("None"),
            },
            "athrow" => S::Athrow {
                target,
                arg: arg("ValueError('thrown')"),
            },
            "aclose" => S::Aclose { target },
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
                    return None;
                }
            },
            "exec" => match &rs.code {
                Some(c) => S::Exec { code: c.clone() },
                None => {
                    errs.push(here(
                        span,
                        format!("step {}: `do = \"exec\"` needs `code`", i + 1),
                    ));
                    return None;
                }
            },
            other => {
                let d = here(rs.op.span().start, format!("unknown operation `{other}`"));
                errs.push(did_you_mean(d, other, "operation", OPS));
                return None;
            }
        })
    }

    /// What the step's operation is expected to do: return (a pattern, or anything) or raise.
    fn outcome(
        &self,
        i: usize,
        rs: &RawStep,
        span: usize,
        errs: &mut Vec<Diagnostic>,
    ) -> OutcomeExpect {
        let here = self.here;
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
        outcome
    }

    /// The expectations after the step: its `state`, `expect` and `layers`, then the
    /// invariants of the states named.
    fn after(
        &self,
        ctx: &ExpectCtx<'_>,
        rs: &RawStep,
        span: usize,
        errs: &mut Vec<Diagnostic>,
    ) -> Vec<Expect> {
        let mut after = Vec::new();
        if let Some(s) = &rs.state {
            let mut t = toml::Table::new();
            t.insert("state".into(), toml::Value::String(s.clone()));
            ctx.table(&t, "subject", None, &mut after, errs);
        }
        if let Some(t) = &rs.expect {
            ctx.table(t, "subject", None, &mut after, errs);
        }
        for (layer, t) in rs.layers.iter().flatten() {
            if self.spec.layer(layer).is_none() {
                let at = key_offset(self.text, span, layer).unwrap_or(span);
                let d = (self.here)(at, format!("unknown layer `{layer}`"));
                errs.push(did_you_mean(
                    d,
                    layer,
                    "layer",
                    self.spec.layers.iter().map(|l| l.name.as_str()),
                ));
                continue;
            }
            match t.as_table() {
                Some(t) => ctx.table(t, "subject", Some(layer), &mut after, errs),
                None => errs.push((self.here)(
                    span,
                    format!("`layers.{layer}` must be a table of observables"),
                )),
            }
        }
        ctx.add_invariants(&mut after);
        after
    }

    /// The expectations of each `observe()` call made while the step runs.
    fn inside(
        &self,
        ctx: &ExpectCtx<'_>,
        rs: &RawStep,
        span: usize,
        errs: &mut Vec<Diagnostic>,
    ) -> Vec<Vec<Expect>> {
        const SHAPE: &str = "`inside` is a table, or an array of tables (one per observe() call)";
        let mut inside = Vec::new();
        match &rs.inside {
            None => {}
            Some(toml::Value::Table(t)) => inside.push(ctx.snapshot(t, errs)),
            Some(toml::Value::Array(items)) => {
                for it in items {
                    match it.as_table() {
                        Some(t) => inside.push(ctx.snapshot(t, errs)),
                        None => errs.push((self.here)(span, SHAPE.into())),
                    }
                }
            }
            Some(_) => errs.push((self.here)(span, SHAPE.into())),
        }
        inside
    }
}

pub(super) fn pattern(
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

pub(super) struct ExpectCtx<'a> {
    pub(super) spec: &'a Spec,
    /// The spec's observables, for a did-you-mean (the case's objects are added to them).
    pub(super) observables: &'a Candidates,
    pub(super) objects: &'a [(String, String)],
    pub(super) here: &'a dyn Fn(usize, String) -> Diagnostic,
    /// The start of the step's table, and the file's text: a problem with a key points at it.
    pub(super) span: usize,
    pub(super) text: &'a str,
}

impl ExpectCtx<'_> {
    /// Where `key` is written in the step, or the step.
    pub(super) fn key_at(&self, key: &str) -> usize {
        key_offset(self.text, self.span, key).unwrap_or(self.span)
    }

    pub(super) fn kind_of(&self, target: &str) -> &str {
        self.objects
            .iter()
            .find(|(n, _)| n == target)
            .map_or("", |(_, k)| k.as_str())
    }

    /// An expectation table: observable = pattern, or object = { observable = pattern }.
    pub(super) fn table(
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

    pub(super) fn snapshot(&self, t: &toml::Table, errs: &mut Vec<Diagnostic>) -> Vec<Expect> {
        let mut out = Vec::new();
        self.table(t, "subject", None, &mut out, errs);
        self.add_invariants(&mut out);
        out
    }

    pub(super) fn add_invariants(&self, out: &mut Vec<Expect>) {
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
