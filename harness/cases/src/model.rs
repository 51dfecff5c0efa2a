//! The validated form of a case and of a known deviation.

use introspec_spec::{Pattern, Specifier};
use std::path::PathBuf;

/// One scenario: Python source, a subject, steps, and what each step must show.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub title: String,
    pub kind: String,
    /// Where the expected values come from (PEP, docs section, CPython issue).
    pub source: String,
    /// Why the source is read as it is, where the docs are silent.
    pub note: Option<String>,
    pub python: Option<Specifier>,
    pub features: Vec<String>,
    pub timeout_ms: Option<u64>,
    pub code: String,
    pub subject: String,
    /// Other objects observed at every snapshot, name → kind.
    pub objects: Vec<(String, String)>,
    pub steps: Vec<Step>,
    pub deviations: Vec<Deviation>,
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub op: introspec_protocol::Step,
    pub outcome: OutcomeExpect,
    /// Expectations after the step: per target, per observable, optionally per layer.
    pub after: Vec<Expect>,
    /// Expectations for each `observe()` call made during the step, in order.
    pub inside: Vec<Vec<Expect>>,
    pub line: usize,
}

/// What the operation itself must do.
#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeExpect {
    /// Return a value matching the pattern (`<any>` when the case says nothing).
    Returns(Pattern),
    Raises {
        exc: String,
        message: Option<String>,
        value: Option<Pattern>,
    },
}

/// One expectation on one observable of one target, in all layers or in one.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub target: String,
    pub observable: String,
    /// `None`: every layer that spells the observable.
    pub layer: Option<String>,
    pub pattern: Pattern,
    /// Where the expectation comes from: `case` or `state <name>` (an invariant).
    pub from: ExpectFrom,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectFrom {
    Case,
    Invariant(String),
}

/// Which columns a deviation (or a condition) applies to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    pub implementation: Option<String>,
    pub python: Option<Specifier>,
    /// `cpython` (no compiler), `cython`, `mypyc`.
    pub compiler: Option<String>,
    pub reference: Option<bool>,
    /// A glob on the column name.
    pub column: Option<String>,
}

/// A known deviation: where a runtime does not do what the spec says, with why and a link.
#[derive(Debug, Clone, PartialEq)]
pub struct Deviation {
    /// A glob on case ids (`*` for a case's own deviations).
    pub cases: String,
    pub when: Selector,
    pub step: Option<usize>,
    /// An observable name, or `outcome` for the operation's outcome, or `error` for a case
    /// that cannot run at all on the column.
    pub observable: Option<String>,
    pub layer: Option<String>,
    pub reason: String,
    pub link: String,
    /// For a case known to hang on these columns (`observable = "error"`): milliseconds
    /// without an answer that confirm the hang there, instead of the case's whole timeout.
    pub hang_confirmed_ms: Option<u64>,
    /// The covered reads give different values from run to run on these columns (an
    /// undefined read, a lookup by address): the judge records each covered check as
    /// expected to fail with its value replaced by `<varies>`, whatever was read, and never
    /// calls the record stale, so results and snapshots stay byte-identical between runs
    /// (web-platform-tests' `expected: [PASS, FAIL]`).
    pub varies: bool,
    pub file: PathBuf,
    pub line: usize,
}

/// The properties of a column that selectors look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnFacts {
    pub name: String,
    pub implementation: String,
    pub language: introspec_spec::Version,
    pub compiler: String,
    pub reference: bool,
}

impl Selector {
    pub fn matches(&self, c: &ColumnFacts) -> bool {
        self.implementation
            .as_ref()
            .is_none_or(|i| *i == c.implementation)
            && self.python.as_ref().is_none_or(|p| p.contains(&c.language))
            && self.compiler.as_ref().is_none_or(|x| *x == c.compiler)
            && self.reference.is_none_or(|r| r == c.reference)
            && self.column.as_ref().is_none_or(|g| glob(g, &c.name))
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn globs() {
        assert!(super::glob("generator.*", "generator.state.created"));
        assert!(!super::glob("generator.*", "coroutine.state"));
        assert!(super::glob("*", "x"));
        assert!(super::glob("*.state.*", "coroutine.state.created"));
        assert!(super::glob("exact", "exact"));
    }
}
