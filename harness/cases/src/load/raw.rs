//! The files as written (cases and deviations), before they are checked, and a deviation
//! record checked against the spec.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) prelude: Option<String>,
    #[serde(default)]
    pub(super) case: Vec<Spanned<RawCase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeviationFile {
    #[serde(default)]
    pub(super) deviation: Vec<Spanned<RawDeviation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCase {
    pub(super) id: Spanned<String>,
    pub(super) title: String,
    pub(super) kind: Spanned<String>,
    pub(super) source: String,
    pub(super) note: Option<String>,
    pub(super) python: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) features: Vec<Spanned<String>>,
    pub(super) timeout: Option<f64>,
    pub(super) code: String,
    pub(super) subject: String,
    #[serde(default)]
    pub(super) objects: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub(super) step: Vec<Spanned<RawStep>>,
    #[serde(default)]
    pub(super) deviation: Vec<Spanned<RawDeviation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    #[serde(rename = "do")]
    pub(super) op: Spanned<String>,
    pub(super) on: Option<String>,
    pub(super) arg: Option<String>,
    pub(super) expr: Option<String>,
    pub(super) bind: Option<String>,
    pub(super) code: Option<String>,
    pub(super) returns: Option<toml::Value>,
    pub(super) raises: Option<String>,
    pub(super) message: Option<String>,
    pub(super) value: Option<toml::Value>,
    pub(super) state: Option<String>,
    pub(super) expect: Option<toml::Table>,
    pub(super) inside: Option<toml::Value>,
    pub(super) layers: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeviation {
    pub(super) cases: Option<String>,
    #[serde(default)]
    pub(super) when: RawSelector,
    pub(super) step: Option<usize>,
    pub(super) observable: Option<String>,
    pub(super) layer: Option<String>,
    pub(super) reason: String,
    pub(super) link: String,
    /// Seconds: the case is known to hang on these columns, and this long without an answer
    /// confirms it (instead of the case's whole timeout).
    pub(super) hangs_after: Option<f64>,
    /// The covered reads differ from run to run on these columns.
    #[serde(default)]
    pub(super) varies: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSelector {
    pub(super) implementation: Option<String>,
    pub(super) python: Option<String>,
    pub(super) compiler: Option<String>,
    pub(super) reference: Option<bool>,
    pub(super) column: Option<String>,
}

pub(super) fn deviation(
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
    if raw.varies {
        match raw.observable.as_deref() {
            None | Some("error") | Some("observe-calls") => {
                return Err(at_value(
                    "varies",
                    "`varies = true` marks the reads of one observable (or an operation's `outcome`) whose value differs from run to run: it needs `observable` naming it".into(),
                )
                .with_help("name what varies, for example `observable = \"frame_back\"`, and keep the record as narrow as the evidence"));
            }
            Some(_) => {}
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
        varies: raw.varies,
        file: file.to_path_buf(),
        line: lines.line_col(span).0,
    })
}
