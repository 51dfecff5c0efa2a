//! The compatibility matrix as data (`introspec-matrix/1`, documented in reports/SCHEMA.md):
//! one row per (section, observable, kind, layer), one column per column of the results,
//! each cell summarising the checks of every trial of that column on that row. The
//! Markdown, HTML and reStructuredText reports are renderings of this one model.

use std::collections::{BTreeMap, BTreeSet};

use introspec_judge::{CheckKind, Status};
use introspec_results::identity::compiled_with;
use introspec_results::{Column, Compiler, Observer, Results, TrialRecord};
use introspec_spec::{Availability, Spec};
use serde::{Deserialize, Serialize};

mod build;

/// The schema name written in `matrix.json`.
pub const SCHEMA: &str = "introspec-matrix/1";

/// The layer name given to rows of operation outcomes (checks with no naming layer).
pub const BEHAVIOUR_LAYER: &str = "behaviour";

/// The most deviation ids a cell shows in Markdown and HTML (the rest: `+N`, all of them in
/// `matrix.json` and in the HTML page's note on click).
pub const SHOWN_DEVIATIONS: usize = 2;

/// The section holding operation outcomes, after the spec's own sections.
pub const OPERATIONS_SECTION: &str = "operations";

/// The whole matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The schema of the results file the matrix was made from.
    pub results_schema: String,
    /// The results file, as the reports name it (`reports/results/latest.json`), when the
    /// renderer was told (`render_reports_with`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_file: Option<String>,
    /// The harness that produced the results: version, commit, spec digest.
    pub harness: Harness,
    /// True when the run was interrupted (the matrix holds the trials finished before).
    pub interrupted: bool,
    pub columns: Vec<MatrixColumn>,
    /// The spec's sections in the order of spec/observables.toml, then `operations`.
    pub sections: Vec<Section>,
    /// Per column (same order as `columns`).
    pub totals: Vec<Totals>,
    /// Every known deviation applied somewhere in the matrix; cells refer to them by `id`.
    pub deviations: Vec<DeviationNote>,
    /// Runtimes that are not columns, or columns that could not run.
    pub not_run: NotRun,
    /// Every case id in the results, sorted.
    pub cases: Vec<String>,
}

impl MatrixColumn {
    /// The runtime's build as the column tables name it: the build string, then what sets
    /// it apart (`default (free-threaded)`, `… (debug)`).
    pub fn build_label(&self) -> String {
        let mut build = self.build.clone();
        if self.free_threaded {
            build.push_str(" (free-threaded)");
        }
        if self.debug {
            build.push_str(" (debug)");
        }
        build
    }

    /// What a header says under the name: the observer, the compiler of compiled columns,
    /// and `ref` when the reference implementation is loaded (`pyo3 · cython · ref`).
    pub fn subtitle(&self) -> String {
        let mut parts = vec![self.observer.name().to_string()];
        if let Some(compiler) = self.compiler {
            parts.push(
                self.compiler_version
                    .clone()
                    .unwrap_or_else(|| compiler.name().into()),
            );
        }
        if self.reference {
            parts.push("ref".into());
        }
        parts.join(" · ")
    }
}

/// Where the results came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Harness {
    pub version: String,
    pub commit: String,
    pub spec_digest: String,
}

/// A column's identity: which runtime build, which observer, whether the reference is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixColumn {
    pub name: String,
    /// The runtime's name (the base column's name).
    pub runtime: String,
    pub implementation: String,
    pub implementation_version: String,
    /// The Python language version it implements, `3.12.1`.
    pub version: String,
    pub build: String,
    pub free_threaded: bool,
    pub debug: bool,
    /// `pyo3` or `portable`.
    pub observer: Observer,
    /// `cython`, `mypyc`; `None` for the runtime's own objects, spelt `cpython`.
    #[serde(with = "compiled_with")]
    pub compiler: Option<Compiler>,
    /// The compiler's release for compiled columns (`cython 3.3.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiler_version: Option<String>,
    /// The reference implementation of the proposal is loaded.
    pub reference: bool,
}

/// One spec section and its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub name: String,
    pub rows: Vec<Row>,
}

/// One (observable, kind, layer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `section/observable/kind/layer`: unique, stable.
    pub id: String,
    pub section: String,
    pub observable: String,
    pub summary: String,
    pub kind: String,
    /// A spec layer, or `behaviour` for operation outcomes.
    pub layer: String,
    /// The layer is optional in the spec (`delegation`: reported apart).
    pub optional: bool,
    /// How the spec spells the observable in this layer for this kind (`.gi_frame`).
    pub spelling: Option<String>,
    /// The feature (spec/features.toml) the spelling needs.
    pub feature: Option<String>,
    /// From which language version the feature exists, or `reference` for the proposal.
    pub since: Option<String>,
    /// The first version without the feature, if any.
    pub until: Option<String>,
    /// The source of the spelling (the feature's, unless the spelling names its own).
    pub source: String,
    /// Same order as the matrix's columns.
    pub cells: Vec<Cell>,
}

/// The state of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CellState {
    /// Every check passed.
    #[serde(rename = "pass")]
    Pass,
    /// Some checks passed, some failed (or are known deviations, or trials did not finish).
    #[serde(rename = "partial")]
    Partial,
    /// No check passed.
    #[serde(rename = "fail")]
    Fail,
    /// The spelling does not exist in this column (per the spec's feature versions, and the
    /// run agrees), or nothing was observed.
    #[serde(rename = "absent")]
    Absent,
    /// The kind itself does not exist in this column.
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl CellState {
    /// Every state, in display order.
    pub const ALL: [CellState; 5] = [
        CellState::Pass,
        CellState::Partial,
        CellState::Fail,
        CellState::Absent,
        CellState::NotApplicable,
    ];

    /// The word shown in a cell.
    pub fn name(self) -> &'static str {
        match self {
            CellState::Pass => "pass",
            CellState::Partial => "partial",
            CellState::Fail => "fail",
            CellState::Absent => "absent",
            CellState::NotApplicable => "n/a",
        }
    }

    /// A CSS-safe class name.
    pub fn class(self) -> &'static str {
        match self {
            CellState::NotApplicable => "na",
            s => s.name(),
        }
    }
}

/// One row in one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub state: CellState,
    /// Checks that passed, failed, failed as a known deviation says.
    pub pass: u32,
    pub fail: u32,
    pub xfail: u32,
    /// Trials that would have checked this row but crashed, timed out, erred or were flaky.
    pub incomplete: u32,
    /// The spec says the spelling exists in this column.
    pub spelled: bool,
    /// Ids of the deviations (in [`Matrix::deviations`]) behind this cell's xfail checks.
    pub deviations: Vec<String>,
    /// The cases behind the numbers: indices into [`Matrix::cases`], ascending.
    pub cases: Vec<u32>,
}

/// A known deviation (cases/deviations or a case's own), as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviationNote {
    /// `D1`, `D2`, … in order of first use (sections, rows, columns).
    pub id: String,
    pub reason: String,
    pub link: String,
    /// Where the deviation is recorded, relative to the checkout (`cases/deviations/cpython-2.7.toml:3`).
    pub origin: String,
}

/// Per-column totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub column: String,
    /// Rows in each cell state (keys: the state names).
    pub rows: BTreeMap<String, u32>,
    pub checks_pass: u32,
    pub checks_fail: u32,
    pub checks_xfail: u32,
    /// Trials in each status (keys: lower-case status names, every status present).
    pub trials: BTreeMap<String, u32>,
}

/// What is not in the matrix, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NotRun {
    /// Runtimes the project expects that are not installed, with the install command.
    pub absent: Vec<AbsentRuntime>,
    /// Interpreters found that cannot be used.
    pub unusable: Vec<UnusableRuntime>,
    /// Columns whose worker could not start.
    pub broken: Vec<BrokenRuntime>,
}

/// A runtime not installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbsentRuntime {
    pub name: String,
    pub install: String,
}

/// An interpreter that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnusableRuntime {
    pub path: String,
    pub found_by: String,
    pub why: String,
}

/// A column that could not start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenRuntime {
    pub column: String,
    pub why: String,
}

/// The order kinds are shown in: the four kinds of the issue, then the others by name.
pub fn kind_order(spec: &Spec) -> Vec<String> {
    let main = ["function", "generator", "coroutine", "async_generator"];
    let mut out: Vec<String> = main
        .iter()
        .filter(|k| spec.kinds.contains_key(**k))
        .map(|k| k.to_string())
        .collect();
    out.extend(
        spec.kinds
            .keys()
            .filter(|k| !main.contains(&k.as_str()))
            .cloned(),
    );
    out
}

/// What a column has, for the spec's feature tests.
pub fn availability(c: &Column) -> Availability {
    c.availability()
}

/// Whether checks of `kind` count for a row of `row_obs` (its own and its agreement checks).
pub fn counts_for(row_obs: &str, kind: &CheckKind) -> bool {
    kind.name() == row_obs
}

impl Matrix {
    /// `matrix.json`: pretty JSON ending in a newline.
    pub fn to_json(&self) -> String {
        crate::json::pretty(&serde_json::to_value(self).expect("the matrix serialises"))
    }

    /// Every row, section after section.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.sections.iter().flat_map(|s| s.rows.iter())
    }

    /// The case ids behind a cell.
    pub fn cell_cases<'a>(&'a self, c: &'a Cell) -> impl Iterator<Item = &'a str> + 'a {
        c.cases
            .iter()
            .filter_map(|i| self.cases.get(*i as usize))
            .map(String::as_str)
    }

    /// The deviation note with this id.
    pub fn deviation(&self, id: &str) -> Option<&DeviationNote> {
        self.deviations.iter().find(|d| d.id == id)
    }

    /// The index of the column with `reference` loaded on the same runtime as column `i`.
    pub fn with_reference(&self, i: usize) -> Option<usize> {
        let c = &self.columns[i];
        self.columns.iter().position(|x| {
            x.reference && !c.reference && x.runtime == c.runtime && x.compiler == c.compiler
        })
    }
}

/// A column's identity as the matrix shows it.
pub fn column_identity(c: &Column) -> MatrixColumn {
    let id = &c.runtime.identity;
    MatrixColumn {
        name: c.name.clone(),
        runtime: c.runtime.name.clone(),
        implementation: id.implementation.clone(),
        implementation_version: id.implementation_version.clone(),
        version: id.version.to_string(),
        build: id.build.split_whitespace().collect::<Vec<_>>().join(" "),
        free_threaded: id.free_threaded,
        debug: id.debug,
        observer: c.observer,
        compiler: c.compiler,
        compiler_version: c.compiler_version.clone(),
        reference: c.reference,
    }
}

/// `cases/…` for a path inside a checkout's `cases/` (wherever the checkout was), else the path.
pub fn project_relative(origin: &str) -> String {
    match origin.rfind("/cases/") {
        Some(i) => origin[i + 1..].to_string(),
        None => origin.to_string(),
    }
}

/// A sentence saying what a cell means.
pub fn note(row: &Row, cell: &Cell) -> String {
    let spelling = row
        .spelling
        .as_deref()
        .map(|r| format!("`{r}`"))
        .unwrap_or_else(|| "this".to_string());
    let when = match (row.feature.as_deref(), row.since.as_deref()) {
        (Some(f), Some("reference")) => {
            format!(" (feature `{f}`, provided by the reference implementation only)")
        }
        (Some(f), Some(v)) => format!(" (feature `{f}`, from Python {v})"),
        _ => String::new(),
    };
    let (pass, fail, xfail) = (cell.pass, cell.fail, cell.xfail);
    let mut parts = Vec::new();
    match cell.state {
        CellState::NotApplicable => {
            return format!("there are no {} objects in this column", row.kind)
        }
        CellState::Absent if pass == 0 => {
            parts.push(format!("nothing observed for {spelling} here"))
        }
        CellState::Absent => parts.push(format!(
            "{spelling} is missing here as the spec says{when}: {pass} checks confirm it"
        )),
        _ => {
            let total = pass + fail + xfail;
            parts.push(format!("{pass} of {total} checks pass"));
            if fail > 0 {
                parts.push(format!("{fail} fail"));
            }
            if xfail > 0 {
                parts.push(format!("{xfail} fail as a known deviation says"));
            }
            if !cell.spelled {
                parts.push(format!("the spec says {spelling} is missing here{when}"));
            }
        }
    }
    if cell.incomplete > 0 {
        parts.push(format!(
            "{} trial(s) crashed, timed out, erred or were flaky",
            cell.incomplete
        ));
    }
    parts.join("; ")
}
