//! `spec/`: the protocol declared as data. This crate loads and validates it: features with
//! their first versions, naming layers, object kinds, observables and their spellings per
//! layer and kind, the four states with their invariants, and the transitions.

pub mod diag;
pub mod pattern;
pub mod read;
pub mod version;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use pattern::{Domain, Pattern, STATES};
pub use version::{Lint, Specifier, Version};

/// The whole spec.
#[derive(Debug, Clone)]
pub struct Spec {
    pub dir: PathBuf,
    pub features: BTreeMap<String, Feature>,
    /// In their declared order.
    pub layers: Vec<Layer>,
    pub kinds: BTreeMap<String, Kind>,
    /// In file order.
    pub observables: Vec<Observable>,
    pub states: BTreeMap<String, State>,
    pub transitions: Vec<Transition>,
}

#[derive(Debug, Clone)]
pub struct Feature {
    pub name: String,
    pub since: Option<Version>,
    pub until: Option<Version>,
    /// Exists in no released Python; a column has it when this provider is loaded.
    pub provided_by: Option<String>,
    pub summary: String,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Layer {
    pub name: String,
    pub order: i64,
    pub optional: bool,
    pub summary: String,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Kind {
    pub name: String,
    pub feature: String,
    pub lifecycle: bool,
    pub spell_as: Option<String>,
    pub summary: String,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Observable {
    pub name: String,
    pub section: String,
    pub domain: Domain,
    pub summary: String,
    pub source: String,
    /// layer → kind (or `*`) → spelling.
    pub spellings: BTreeMap<String, BTreeMap<String, Spelling>>,
}

impl Observable {
    /// Whether some spelling of it reads the events of a step (`events:settrace`): reading it
    /// makes the observer trace the case's steps, so only cases that expect it read it.
    pub fn is_events(&self) -> bool {
        self.spellings
            .values()
            .flat_map(|per_kind| per_kind.values())
            .any(Spelling::is_events)
    }
}

#[derive(Debug, Clone)]
pub struct Spelling {
    pub read_text: String,
    pub read: introspec_protocol::Path,
    pub feature: String,
    /// Abstract value (a state name) → the string this spelling returns for it.
    pub values: BTreeMap<String, String>,
    pub source: Option<String>,
}

impl Spelling {
    /// Whether this spelling reads the events of a step (`events:settrace`, `events:monitoring`).
    pub fn is_events(&self) -> bool {
        matches!(
            self.read.as_slice(),
            [introspec_protocol::Segment::Events(_)]
        )
    }
}

#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub summary: String,
    pub source: String,
    /// Observable → expectation that holds in this state.
    pub invariants: Vec<(String, Pattern)>,
    /// Kind → invariants that replace (or add to) the general ones for that kind.
    pub kind_invariants: BTreeMap<String, Vec<(String, Pattern)>>,
    /// Where the invariants are stated (bpo-31230's msg300475 for the seed's).
    pub invariant_source: String,
    /// Observable → the source of that one invariant, where `invariant_source` does not
    /// state it (the seed predates `gi_suspended`, say).
    pub invariant_sources: BTreeMap<String, String>,
}

impl State {
    /// The source that states this state's invariant for `observable`.
    pub fn invariant_source_of(&self, observable: &str) -> &str {
        self.invariant_sources
            .get(observable)
            .unwrap_or(&self.invariant_source)
    }
}

#[derive(Debug, Clone)]
pub struct Transition {
    pub op: String,
    pub from: String,
    pub to: String,
    pub finish: Option<String>,
    pub raises: Option<String>,
    pub body: bool,
    /// The kinds this transition is for; empty for every lifecycle kind. A transition that
    /// names a kind takes precedence, for that kind, over one that names none.
    pub kinds: Vec<String>,
    pub source: String,
}

/// What a column of the matrix is: used to decide which features (and so which spellings)
/// it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub language: Version,
    /// Providers loaded in the column (`reference`).
    pub provides: Vec<String>,
}

impl State {
    /// The invariants of this state for one kind: the general ones, with the kind's own
    /// replacing those of the same observable.
    pub fn invariants_for(&self, kind: &str) -> Vec<(String, Pattern)> {
        let mut out = self.invariants.clone();
        if let Some(extra) = self.kind_invariants.get(kind) {
            for (obs, p) in extra {
                match out.iter_mut().find(|(o, _)| o == obs) {
                    Some(slot) => slot.1 = p.clone(),
                    None => out.push((obs.clone(), p.clone())),
                }
            }
        }
        out
    }
}

impl Spec {
    /// Load `dir/{features,layers,kinds,observables,states}.toml`.
    pub fn load(dir: &Path) -> Result<Spec, Diagnostics> {
        let mut diags = Vec::new();
        let features = load_file::<BTreeMap<String, RawFeature>>(dir, "features.toml", &mut diags);
        let layers = load_file::<BTreeMap<String, RawLayer>>(dir, "layers.toml", &mut diags);
        let kinds = load_file::<BTreeMap<String, RawKind>>(dir, "kinds.toml", &mut diags);
        let observables = load_file::<RawObservables>(dir, "observables.toml", &mut diags);
        let states = load_file::<RawStates>(dir, "states.toml", &mut diags);
        let (Some(features), Some(layers), Some(kinds), Some(observables), Some(states)) =
            (features, layers, kinds, observables, states)
        else {
            return Err(Diagnostics(diags));
        };

        let mut spec = Spec {
            dir: dir.to_path_buf(),
            features: BTreeMap::new(),
            layers: Vec::new(),
            kinds: BTreeMap::new(),
            observables: Vec::new(),
            states: BTreeMap::new(),
            transitions: Vec::new(),
        };

        let (fpath, ftext, fraw) = features;
        for (name, f) in fraw {
            let since = f
                .since
                .as_ref()
                .map(|s| parse_version(s, &fpath, &ftext, &mut diags));
            let until = f
                .until
                .as_ref()
                .map(|s| parse_version(s, &fpath, &ftext, &mut diags));
            if since.is_none() == f.provided_by.is_none() {
                diags.push(
                    Diagnostic::file(
                        &fpath,
                        format!("feature `{name}` needs exactly one of `since` and `provided_by`"),
                    )
                    .with_help(
                        "give the first Python version that has it, or the provider that adds it",
                    ),
                );
            }
            spec.features.insert(
                name.clone(),
                Feature {
                    name,
                    since: since.flatten(),
                    until: until.flatten(),
                    provided_by: f.provided_by,
                    summary: f.summary,
                    source: f.source,
                },
            );
        }

        let (_, _, lraw) = layers;
        for (name, l) in lraw {
            spec.layers.push(Layer {
                name,
                order: l.order,
                optional: l.optional,
                summary: l.summary,
                source: l.source,
            });
        }
        spec.layers.sort_by_key(|l| l.order);

        let (kpath, ktext, kraw) = kinds;
        let kind_names: Vec<String> = kraw.keys().cloned().collect();
        for (name, k) in kraw {
            spec.check_feature(&k.feature, &kpath, &ktext, &mut diags);
            if let Some(sa) = &k.spell_as {
                if !kind_names.contains(sa.get_ref()) {
                    diags.push(unknown_in_spec(
                        &kpath,
                        &ktext,
                        sa,
                        "kind",
                        kind_names.iter().map(String::as_str),
                    ));
                }
            }
            spec.kinds.insert(
                name.clone(),
                Kind {
                    name,
                    feature: k.feature.into_inner(),
                    lifecycle: k.lifecycle,
                    spell_as: k.spell_as.map(Spanned::into_inner),
                    summary: k.summary,
                    source: k.source,
                },
            );
        }

        let (opath, otext, oraw) = observables;
        for (name, o) in oraw.0 {
            let domain = match Domain::parse(o.domain.get_ref()) {
                Some(d) => d,
                None => {
                    diags.push(
                        Diagnostic::at(
                            &opath,
                            &otext,
                            Some(o.domain.span().start),
                            format!("unknown domain `{}`", o.domain.get_ref()),
                        )
                        .with_help("use one of bool, int, str, state, object, value"),
                    );
                    Domain::Value
                }
            };
            let mut spellings = BTreeMap::new();
            let header = locate(&otext, &format!("[{name}]"), 0);
            for (layer, per_kind) in o.layers {
                let at = locate(&otext, &format!("{layer}."), header.unwrap_or(0)).or(header);
                if spec.layer(&layer).is_none() {
                    let d = Diagnostic::at(
                        &opath,
                        &otext,
                        at,
                        format!("unknown layer `{layer}` in observable `{name}`"),
                    );
                    diags.push(did_you_mean(
                        d,
                        &layer,
                        "layer",
                        spec.layers.iter().map(|l| l.name.as_str()),
                    ));
                    continue;
                }
                let mut map = BTreeMap::new();
                for (kind, sp) in per_kind {
                    if kind != "*" && !spec.kinds.contains_key(&kind) {
                        let at =
                            locate(&otext, &format!("{layer}.{kind}"), header.unwrap_or(0)).or(at);
                        let d = Diagnostic::at(
                            &opath,
                            &otext,
                            at,
                            format!("unknown kind `{kind}` in observable `{name}`"),
                        );
                        diags.push(did_you_mean(
                            d,
                            &kind,
                            "kind",
                            spec.kinds.keys().map(String::as_str),
                        ));
                    }
                    if !spec.features.contains_key(&sp.feature) {
                        let at =
                            locate(&otext, &format!("\"{}\"", sp.feature), header.unwrap_or(0))
                                .or(at);
                        let d = Diagnostic::at(
                            &opath,
                            &otext,
                            at,
                            format!("unknown feature `{}` in observable `{name}`", sp.feature),
                        );
                        diags.push(did_you_mean(
                            d,
                            &sp.feature,
                            "feature",
                            spec.features.keys().map(String::as_str),
                        ));
                    }
                    let read = match read::parse_read(&sp.read) {
                        Ok(r) => r,
                        Err(e) => {
                            let at = locate(&otext, &sp.read, header.unwrap_or(0)).or(at);
                            diags.push(Diagnostic::at(&opath, &otext, at, e));
                            Vec::new()
                        }
                    };
                    for key in sp.values.keys() {
                        if !STATES.contains(&key.as_str()) {
                            diags.push(Diagnostic::at(
                                &opath,
                                &otext,
                                at,
                                format!("`values` of `{name}` names `{key}`, which is not a state"),
                            ));
                        }
                    }
                    map.insert(
                        kind,
                        Spelling {
                            read_text: sp.read,
                            read,
                            feature: sp.feature,
                            values: sp.values,
                            source: sp.source,
                        },
                    );
                }
                spellings.insert(layer, map);
            }
            spec.observables.push(Observable {
                name,
                section: o.section,
                domain,
                summary: o.summary,
                source: o.source,
                spellings,
            });
        }

        let (spath, stext, sraw) = states;
        for (name, s) in sraw.states {
            if !STATES.contains(&name.as_str()) {
                diags.push(Diagnostic::file(
                    &spath,
                    format!("state `{name}` is not one of the four states"),
                ));
            }
            let invariants = spec.parse_invariants(s.invariants, &spath, &stext, &mut diags);
            let mut invariant_sources = BTreeMap::new();
            for (obs, src) in s.invariant_sources {
                if invariants.iter().any(|(o, _)| o == obs.get_ref()) {
                    invariant_sources.insert(obs.into_inner(), src);
                } else {
                    let names: Vec<&str> = invariants.iter().map(|(o, _)| o.as_str()).collect();
                    diags.push(
                        Diagnostic::at(
                            &spath,
                            &stext,
                            Some(obs.span().start),
                            format!(
                                "invariant_sources names `{}`, which is not an invariant of state `{name}`",
                                obs.get_ref()
                            ),
                        )
                        .with_help(format!("name one of: {}", names.join(", "))),
                    );
                }
            }
            let mut kind_invariants = BTreeMap::new();
            for (kind, ki) in s.kinds {
                if !spec.kinds.contains_key(kind.get_ref()) {
                    diags.push(unknown_in_spec(
                        &spath,
                        &stext,
                        &kind,
                        "kind",
                        spec.kinds.keys().map(String::as_str),
                    ));
                    continue;
                }
                let list = spec.parse_invariants(ki.invariants, &spath, &stext, &mut diags);
                kind_invariants.insert(kind.into_inner(), list);
            }
            spec.states.insert(
                name.clone(),
                State {
                    name,
                    summary: s.summary,
                    source: s.source,
                    invariants,
                    kind_invariants,
                    invariant_source: s.invariant_source,
                    invariant_sources,
                },
            );
        }
        for t in sraw.transitions {
            for st in [Some(&t.from), Some(&t.to), t.finish.as_ref()]
                .into_iter()
                .flatten()
            {
                if !STATES.contains(&st.get_ref().as_str()) {
                    diags.push(unknown_in_spec(&spath, &stext, st, "state", STATES));
                }
            }
            for k in &t.kinds {
                if !spec.kinds.contains_key(k.get_ref()) {
                    diags.push(unknown_in_spec(
                        &spath,
                        &stext,
                        k,
                        "kind",
                        spec.kinds.keys().map(String::as_str),
                    ));
                }
            }
            spec.transitions.push(Transition {
                op: t.op,
                from: t.from.into_inner(),
                to: t.to.into_inner(),
                finish: t.finish.map(Spanned::into_inner),
                raises: t.raises,
                body: t.body,
                kinds: t.kinds.into_iter().map(Spanned::into_inner).collect(),
                source: t.source,
            });
        }

        if diags.is_empty() {
            Ok(spec)
        } else {
            Err(Diagnostics(diags))
        }
    }

    /// Observable = pattern pairs of a state's invariants, checked against the observables.
    fn parse_invariants(
        &self,
        raw: BTreeMap<Spanned<String>, toml::Value>,
        file: &Path,
        text: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Vec<(String, Pattern)> {
        let mut out = Vec::new();
        for (obs, value) in raw {
            match self.observable(obs.get_ref()) {
                None => diags.push(unknown_in_spec(
                    file,
                    text,
                    &obs,
                    "observable",
                    self.observables.iter().map(|o| o.name.as_str()),
                )),
                Some(o) => match Pattern::from_toml(&value, o.domain) {
                    Ok(p) => out.push((obs.into_inner(), p)),
                    Err(e) => diags.push(Diagnostic::at(file, text, Some(obs.span().start), e)),
                },
            }
        }
        out
    }

    fn check_feature(
        &self,
        name: &Spanned<String>,
        file: &Path,
        text: &str,
        diags: &mut Vec<Diagnostic>,
    ) {
        if !self.features.contains_key(name.get_ref()) {
            diags.push(unknown_in_spec(
                file,
                text,
                name,
                "feature",
                self.features.keys().map(String::as_str),
            ));
        }
    }

    /// The transition of `op` from state `from` for an object of `kind`: the one naming the
    /// kind in its `kinds`, else the one naming no kind.
    pub fn transition(&self, op: &str, from: &str, kind: &str) -> Option<&Transition> {
        transition_in(&self.transitions, op, from, kind)
    }

    pub fn observable(&self, name: &str) -> Option<&Observable> {
        self.observables.iter().find(|o| o.name == name)
    }

    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// The spelling of `observable` in `layer` for `kind`: the kind's own entry, else its
    /// `spell_as` kind's, else the `*` entry.
    pub fn spelling<'a>(
        &self,
        observable: &'a Observable,
        layer: &str,
        kind: &str,
    ) -> Option<&'a Spelling> {
        let per_kind = observable.spellings.get(layer)?;
        if let Some(s) = per_kind.get(kind) {
            return Some(s);
        }
        if let Some(sa) = self.kinds.get(kind).and_then(|k| k.spell_as.as_deref()) {
            if let Some(s) = per_kind.get(sa) {
                return Some(s);
            }
        }
        per_kind.get("*")
    }

    /// Whether a column has a feature.
    pub fn has_feature(&self, name: &str, column: &Availability) -> bool {
        let Some(f) = self.features.get(name) else {
            return false;
        };
        if let Some(p) = &f.provided_by {
            return column.provides.iter().any(|c| c == p);
        }
        let v = &column.language;
        f.since.as_ref().is_some_and(|s| v >= s) && f.until.as_ref().is_none_or(|u| v < u)
    }
}

fn parse_version(
    s: &Spanned<String>,
    file: &Path,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Version> {
    match Version::parse(s.get_ref()) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(Diagnostic::at(file, text, Some(s.span().start), e));
            None
        }
    }
}

/// [`Spec::transition`] over any list of transitions (a model may change a copy).
pub fn transition_in<'a>(
    transitions: &'a [Transition],
    op: &str,
    from: &str,
    kind: &str,
) -> Option<&'a Transition> {
    let mut general = None;
    for t in transitions.iter().filter(|t| t.op == op && t.from == from) {
        if t.kinds.iter().any(|k| k == kind) {
            return Some(t);
        }
        if t.kinds.is_empty() && general.is_none() {
            general = Some(t);
        }
    }
    general
}

/// The byte offset of `needle` in `text`, searching from `from`.
pub fn locate(text: &str, needle: &str, from: usize) -> Option<usize> {
    text.get(from..)?.find(needle).map(|i| i + from)
}

/// Add "did you mean" (or the list of known names) to a diagnostic.
pub fn did_you_mean<'a>(
    d: Diagnostic,
    name: &str,
    what: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> Diagnostic {
    match diag::closest(name, known.clone()) {
        Some(c) => d.with_help(format!("did you mean `{c}`?")),
        None => {
            let list: Vec<&str> = known.into_iter().collect();
            d.with_help(format!("known {what}s: {}", list.join(", ")))
        }
    }
}

/// "unknown X `name`" in a spec file (a few names in a small file), with a did-you-mean.
fn unknown_in_spec<'a>(
    file: &Path,
    text: &str,
    name: &Spanned<String>,
    what: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> Diagnostic {
    let d = Diagnostic::at(
        file,
        text,
        Some(name.span().start),
        format!("unknown {what} `{}`", name.get_ref()),
    );
    did_you_mean(d, name.get_ref(), what, known)
}

/// "unknown X `name`", located with the file's line index (a binary search, not a rescan of
/// the text), with a did-you-mean from candidates prepared once ([`diag::Candidates`]): a
/// file of thousands of unknown names is checked in time linear in their number.
pub fn unknown(
    file: &Path,
    lines: &diag::LineIndex,
    name: &Spanned<String>,
    known: &diag::Candidates,
) -> Diagnostic {
    let d = lines.at(
        file,
        Some(name.span().start),
        format!("unknown {} `{}`", known.what(), name.get_ref()),
    );
    known.help(d, name.get_ref(), &[])
}

/// Read and parse one TOML file; on failure push a located diagnostic.
pub fn load_file<T: for<'de> Deserialize<'de>>(
    dir: &Path,
    name: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(PathBuf, String, T)> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::file(&path, format!("cannot read: {e}")));
            return None;
        }
    };
    match toml::from_str::<T>(&text) {
        Ok(v) => Some((path, text, v)),
        Err(e) => {
            diags.push(Diagnostic::from_toml(&path, &text, &e));
            None
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeature {
    since: Option<Spanned<String>>,
    until: Option<Spanned<String>>,
    provided_by: Option<String>,
    summary: String,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    order: i64,
    #[serde(default)]
    optional: bool,
    summary: String,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKind {
    feature: Spanned<String>,
    lifecycle: bool,
    spell_as: Option<Spanned<String>>,
    summary: String,
    source: String,
}

#[derive(Deserialize)]
#[serde(transparent)]
struct RawObservables(indexmap_like::Ordered<RawObservable>);

#[derive(Deserialize)]
struct RawObservable {
    section: String,
    domain: Spanned<String>,
    summary: String,
    source: String,
    #[serde(flatten)]
    layers: BTreeMap<String, BTreeMap<String, RawSpelling>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpelling {
    read: String,
    feature: String,
    #[serde(default)]
    values: BTreeMap<String, String>,
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStates {
    states: BTreeMap<String, RawState>,
    #[serde(default)]
    transitions: Vec<RawTransition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    summary: String,
    source: String,
    invariants: BTreeMap<Spanned<String>, toml::Value>,
    invariant_source: String,
    /// Per-invariant sources, for invariants `invariant_source` does not state.
    #[serde(default)]
    invariant_sources: BTreeMap<Spanned<String>, String>,
    /// Per-kind replacements of invariants, with why.
    #[serde(default)]
    kinds: BTreeMap<Spanned<String>, RawKindInvariants>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKindInvariants {
    invariants: BTreeMap<Spanned<String>, toml::Value>,
    #[allow(dead_code)]
    why: String,
    #[allow(dead_code)]
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransition {
    op: String,
    from: Spanned<String>,
    to: Spanned<String>,
    finish: Option<Spanned<String>>,
    raises: Option<String>,
    #[serde(default)]
    body: bool,
    #[serde(default)]
    kinds: Vec<Spanned<String>>,
    source: String,
}

/// A map that keeps the file's order of keys (serde + toml give tables in sorted order
/// unless asked; this keeps observables in the order their file declares them).
mod indexmap_like {
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
    use std::fmt;
    use std::marker::PhantomData;

    pub struct Ordered<V>(pub Vec<(String, V)>);

    impl<V> IntoIterator for Ordered<V> {
        type Item = (String, V);
        type IntoIter = std::vec::IntoIter<(String, V)>;
        fn into_iter(self) -> Self::IntoIter {
            self.0.into_iter()
        }
    }

    impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V2<V>(PhantomData<V>);
            impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
                type Value = Ordered<V>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a table")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = m.next_entry::<String, V>()? {
                        out.push((k, v));
                    }
                    Ok(Ordered(out))
                }
            }
            d.deserialize_map(V2(PhantomData))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec")
    }

    #[test]
    fn the_shipped_spec_loads() {
        let spec = Spec::load(&spec_dir()).unwrap_or_else(|e| panic!("{e}"));
        let frame = spec.observable("frame").unwrap();
        assert_eq!(
            spec.spelling(frame, "attributes", "coroutine")
                .unwrap()
                .read_text,
            ".cr_frame"
        );
        // spell_as: a types.coroutine generator is read like a generator
        assert_eq!(
            spec.spelling(frame, "attributes", "iterable_coroutine")
                .unwrap()
                .read_text,
            ".gi_frame"
        );
        let col = Availability {
            language: Version::new(3, 10, 0),
            provides: vec![],
        };
        assert!(!spec.has_feature("gi_suspended", &col));
        assert!(spec.has_feature("gi_yieldfrom", &col));
        assert!(!spec.has_feature("proposal", &col));
        let col = Availability {
            language: Version::new(3, 10, 0),
            provides: vec!["reference".into()],
        };
        assert!(spec.has_feature("proposal", &col));
    }

    #[test]
    fn an_invariant_the_seed_does_not_state_names_its_own_source() {
        let spec = Spec::load(&spec_dir()).unwrap_or_else(|e| panic!("{e}"));
        let seed = "https://bugs.python.org/issue31230#msg300475";
        for name in STATES {
            let state = &spec.states[name];
            assert_eq!(state.invariant_source, seed, "state {name}");
            // msg300475 speaks of __running__ and __frame__ only: `suspended` (gi_suspended,
            // 3.11) and `delegate` are stated elsewhere, and say where.
            for (obs, _) in &state.invariants {
                let src = state.invariant_source_of(obs);
                match obs.as_str() {
                    "running" | "frame" => assert_eq!(src, seed, "{name}.{obs}"),
                    _ => assert_ne!(
                        src, seed,
                        "{name}.{obs} cites msg300475, which says nothing of it"
                    ),
                }
            }
        }
    }

    #[test]
    fn an_invariant_source_for_no_invariant_is_a_located_error() {
        let dir = std::env::temp_dir().join(format!("introspec-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(spec_dir()).unwrap().flatten() {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
        let states = std::fs::read_to_string(dir.join("states.toml")).unwrap();
        let broken = states.replacen(
            "invariant_sources = { ",
            "invariant_sources = { origin = \"https://example.invalid/\", ",
            1,
        );
        assert_ne!(
            broken, states,
            "states.toml has an invariant_sources table to break"
        );
        std::fs::write(dir.join("states.toml"), broken).unwrap();
        let Err(err) = Spec::load(&dir) else {
            panic!("the broken spec must not load")
        };
        std::fs::remove_dir_all(&dir).unwrap();
        let d = err
            .0
            .iter()
            .find(|d| d.message.contains("invariant_sources names `origin`"))
            .unwrap_or_else(|| panic!("no diagnostic for `origin`: {err}"));
        assert!(d.file.ends_with("states.toml"));
        assert!(d.line.is_some(), "the error names its line: {d}");
        assert!(d.help.as_deref().unwrap_or("").contains("running"), "{d}");
    }
}
