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

mod case;
mod raw;

pub use case::add_invariants;
use case::*;
use raw::*;

/// Implementations and compilers a selector may name.
pub const IMPLEMENTATIONS: [&str; 6] = [
    "cpython",
    "pypy",
    "graalpy",
    "rustpython",
    "ironpython",
    "jython",
];
pub const COMPILERS: [&str; 4] = ["cpython", "cython", "mypyc", "nuitka"];

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
