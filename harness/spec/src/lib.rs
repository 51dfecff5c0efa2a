//! `spec/`: the protocol declared as data. This crate loads and validates it: features with
//! their first versions, naming layers, object kinds, observables and their spellings per
//! layer and kind, the four states with their invariants, and the transitions.

pub mod diag;
mod load;
pub mod pattern;
pub mod read;
pub mod version;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use load::load_file;
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
