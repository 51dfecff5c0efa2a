//! Loading `spec/`: each file read and parsed with its locations, then each part checked
//! against the parts loaded before it (a layer, kind or feature an observable names must
//! exist), every problem a diagnostic with its file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::{
    did_you_mean, locate, read, Diagnostic, Diagnostics, Domain, Feature, Kind, Layer, Observable,
    Pattern, Spec, Spelling, State, Transition, Version, STATES,
};

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

        let (spath, stext, sraw) = states;
        spec.add_features(features, &mut diags);
        spec.add_layers(layers);
        spec.add_kinds(kinds, &mut diags);
        spec.add_observables(observables, &mut diags);
        spec.add_states(&spath, &stext, sraw.states, &mut diags);
        spec.add_transitions(&spath, &stext, sraw.transitions, &mut diags);

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

    /// The features, with their versions or providers.
    fn add_features(
        &mut self,
        (fpath, ftext, fraw): (PathBuf, String, BTreeMap<String, RawFeature>),
        diags: &mut Vec<Diagnostic>,
    ) {
        for (name, f) in fraw {
            let since = f
                .since
                .as_ref()
                .map(|s| parse_version(s, &fpath, &ftext, diags));
            let until = f
                .until
                .as_ref()
                .map(|s| parse_version(s, &fpath, &ftext, diags));
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
            self.features.insert(
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
    }

    /// The naming layers, in their order.
    fn add_layers(&mut self, (_, _, lraw): (PathBuf, String, BTreeMap<String, RawLayer>)) {
        for (name, l) in lraw {
            self.layers.push(Layer {
                name,
                order: l.order,
                optional: l.optional,
                summary: l.summary,
                source: l.source,
            });
        }
        self.layers.sort_by_key(|l| l.order);
    }

    /// The object kinds; a `spell_as` must name another kind.
    fn add_kinds(
        &mut self,
        (kpath, ktext, kraw): (PathBuf, String, BTreeMap<String, RawKind>),
        diags: &mut Vec<Diagnostic>,
    ) {
        let kind_names: Vec<String> = kraw.keys().cloned().collect();
        for (name, k) in kraw {
            self.check_feature(&k.feature, &kpath, &ktext, diags);
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
            self.kinds.insert(
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
    }

    /// The observables and their spellings per layer and kind, each layer, kind and feature checked against those loaded before.
    fn add_observables(
        &mut self,
        (opath, otext, oraw): (PathBuf, String, RawObservables),
        diags: &mut Vec<Diagnostic>,
    ) {
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
                if self.layer(&layer).is_none() {
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
                        self.layers.iter().map(|l| l.name.as_str()),
                    ));
                    continue;
                }
                let mut map = BTreeMap::new();
                for (kind, sp) in per_kind {
                    if kind != "*" && !self.kinds.contains_key(&kind) {
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
                            self.kinds.keys().map(String::as_str),
                        ));
                    }
                    if !self.features.contains_key(&sp.feature) {
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
                            self.features.keys().map(String::as_str),
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
            self.observables.push(Observable {
                name,
                section: o.section,
                domain,
                summary: o.summary,
                source: o.source,
                spellings,
            });
        }
    }

    /// The four states with their invariants, per kind where a kind replaces one.
    fn add_states(
        &mut self,
        spath: &Path,
        stext: &str,
        states: BTreeMap<String, RawState>,
        diags: &mut Vec<Diagnostic>,
    ) {
        for (name, s) in states {
            if !STATES.contains(&name.as_str()) {
                diags.push(Diagnostic::file(
                    spath,
                    format!("state `{name}` is not one of the four states"),
                ));
            }
            let invariants = self.parse_invariants(s.invariants, spath, stext, diags);
            let mut invariant_sources = BTreeMap::new();
            for (obs, src) in s.invariant_sources {
                if invariants.iter().any(|(o, _)| o == obs.get_ref()) {
                    invariant_sources.insert(obs.into_inner(), src);
                } else {
                    let names: Vec<&str> = invariants.iter().map(|(o, _)| o.as_str()).collect();
                    diags.push(
                        Diagnostic::at(
                            spath,
                            stext,
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
                if !self.kinds.contains_key(kind.get_ref()) {
                    diags.push(unknown_in_spec(
                        spath,
                        stext,
                        &kind,
                        "kind",
                        self.kinds.keys().map(String::as_str),
                    ));
                    continue;
                }
                let list = self.parse_invariants(ki.invariants, spath, stext, diags);
                kind_invariants.insert(kind.into_inner(), list);
            }
            self.states.insert(
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
    }

    /// The transitions between states, their states and kinds checked.
    fn add_transitions(
        &mut self,
        spath: &Path,
        stext: &str,
        transitions: Vec<RawTransition>,
        diags: &mut Vec<Diagnostic>,
    ) {
        for t in transitions {
            for st in [Some(&t.from), Some(&t.to), t.finish.as_ref()]
                .into_iter()
                .flatten()
            {
                if !STATES.contains(&st.get_ref().as_str()) {
                    diags.push(unknown_in_spec(spath, stext, st, "state", STATES));
                }
            }
            for k in &t.kinds {
                if !self.kinds.contains_key(k.get_ref()) {
                    diags.push(unknown_in_spec(
                        spath,
                        stext,
                        k,
                        "kind",
                        self.kinds.keys().map(String::as_str),
                    ));
                }
            }
            self.transitions.push(Transition {
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
