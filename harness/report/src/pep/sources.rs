//! What the PEP material is made from besides the main results file and the spec: the other
//! committed results files (columns no CI job can run), what each case is about, and the
//! usage-in-the-wild report. The CLI reads them from the checkout; the library takes them
//! as values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use introspec_cases::Corpus;
use introspec_results::Results;
use introspec_spec::Spec;
use serde::Deserialize;

use crate::ReportError;

/// The committed results files of a checkout, in `reports/results/`, by name: every
/// `*.json` there but `latest.json` (which `introspec run` writes and no commit holds).
pub fn committed_results(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("reports/results"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .filter(|p| p.file_name().is_some_and(|n| n != "latest.json"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

impl Sources {
    /// The sources of a checkout at `root` for the results read from `file`: the committed
    /// results files but `file`, the cases' titles and conditions from `corpus`, and
    /// `reports/usage-in-the-wild.json` if it exists. Files are named relative to `root`.
    pub fn from_checkout(
        root: &Path,
        corpus: &Corpus,
        file: &Path,
    ) -> Result<Sources, ReportError> {
        let named = |p: &Path| {
            p.strip_prefix(root)
                .map(|r| r.display().to_string())
                .unwrap_or_else(|_| p.display().to_string())
        };
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        let mut more = Vec::new();
        for p in committed_results(root)
            .into_iter()
            .filter(|p| !same(p, file))
        {
            more.push((named(&p), crate::load::results(&p)?));
        }
        let cases = corpus
            .cases
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    CaseNote {
                        title: c.title.clone(),
                        python: c.python.as_ref().map(|p| p.as_str().to_string()),
                        source: c.source.clone(),
                    },
                )
            })
            .collect();
        let usage_file = root.join("reports/usage-in-the-wild.json");
        let usage = if usage_file.exists() {
            Some(load_usage(&usage_file)?)
        } else {
            None
        };
        let suites_file = root.join("reports/cpython-test-suites.json");
        let suites = if suites_file.exists() {
            Some(load_suites(&suites_file)?)
        } else {
            None
        };
        Ok(Sources {
            results_file: named(file),
            more,
            cases,
            usage,
            suites,
        })
    }
}

/// Load the corpus the sources read titles from (its diagnostics are `introspec check`'s).
pub fn corpus(root: &Path, spec: &Spec) -> Corpus {
    Corpus::load(&root.join("cases"), spec)
}

/// Everything the PEP documents take besides the main results and the spec.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The main results file, as the documents name it (`reports/results/latest.json`).
    pub results_file: String,
    /// Other results files whose columns the main one lacks, `(name, results)`, in order.
    pub more: Vec<(String, Results)>,
    /// Per case id: what the case is about.
    pub cases: BTreeMap<String, CaseNote>,
    /// `reports/usage-in-the-wild.json`, when it exists.
    pub usage: Option<Usage>,
    /// `reports/cpython-test-suites.json`, when it exists.
    pub suites: Option<Suites>,
}

/// What a case is about, from `cases/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseNote {
    pub title: String,
    /// The case's `python` condition as written (`>=3.11,<3.13`), if any.
    pub python: Option<String>,
    pub source: String,
}

/// The part of `introspec-usage/1` the PEP material reads (harness/usage writes it).
#[derive(Debug, Clone, Deserialize)]
pub struct Usage {
    pub schema: String,
    pub pins: String,
    pub scanner: String,
    pub patterns: Vec<String>,
    pub packages: Vec<UsagePackage>,
}

/// One pinned package of the usage report.
#[derive(Debug, Clone, Deserialize)]
pub struct UsagePackage {
    pub name: String,
    pub version: String,
    pub places: Vec<UsagePlace>,
}

/// One place that reads an attribute.
#[derive(Debug, Clone, Deserialize)]
pub struct UsagePlace {
    pub file: String,
    pub line: u64,
    pub pattern: String,
    pub test: bool,
}

/// The schema the usage report must have.
pub const USAGE_SCHEMA: &str = "introspec-usage/1";

/// Read a usage report (`introspec-usage/1`).
pub fn load_usage(path: &Path) -> Result<Usage, ReportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ReportError::io(path, "cannot read the usage report", &e))?;
    let u: Usage = serde_json::from_str(&text).map_err(|e| {
        ReportError::new(
            path,
            format!("is not an {USAGE_SCHEMA} report: {e}"),
            "rerun `introspec usage`, which writes it",
        )
    })?;
    if u.schema != USAGE_SCHEMA {
        return Err(ReportError::new(
            path,
            format!("has schema {:?}, not {USAGE_SCHEMA}", u.schema),
            "rerun `introspec usage` with this checkout's harness",
        ));
    }
    Ok(u)
}

/// The part of `introspec-cpython-tests/1` the PEP material reads (harness/testsuites
/// writes it: `introspec cpython-tests`).
#[derive(Debug, Clone, Deserialize)]
pub struct Suites {
    pub schema: String,
    pub commit: String,
    pub reference_module: String,
    pub reference_source: String,
    pub command: String,
    pub suites: Vec<String>,
    pub versions: Vec<SuitesVersion>,
}

/// One CPython of the test-suites report.
#[derive(Debug, Clone, Deserialize)]
pub struct SuitesVersion {
    pub name: String,
    pub version: String,
    pub suites: Vec<SuiteRun>,
    pub missing: Vec<String>,
    pub stdlib_probes: Vec<StdlibProbe>,
}

/// A standard-library call on one kind, before and after `install()`.
#[derive(Debug, Clone, Deserialize)]
pub struct StdlibProbe {
    pub call: String,
    pub bare: String,
    pub installed: String,
}

/// One suite on one CPython, bare and installed.
#[derive(Debug, Clone, Deserialize)]
pub struct SuiteRun {
    pub name: String,
    pub bare: SuiteSide,
    pub installed: SuiteSide,
    pub differences: Vec<SuiteDifference>,
}

/// One side of a suite.
#[derive(Debug, Clone, Deserialize)]
pub struct SuiteSide {
    pub result: Option<String>,
    pub timed_out: bool,
    pub counts: SuiteCounts,
    pub probe: Option<SuiteProbe>,
}

/// The outcomes of one run, summed.
#[derive(Debug, Clone, Deserialize)]
pub struct SuiteCounts {
    pub cases: usize,
    pub passed: usize,
    pub failures: usize,
    pub errors: usize,
    pub skipped: usize,
    pub expected_failures: usize,
    pub unexpected_successes: usize,
}

/// What the installed run's processes said of the proposal.
#[derive(Debug, Clone, Deserialize)]
pub struct SuiteProbe {
    pub workers: usize,
    pub workers_in_effect: usize,
    pub every_process: bool,
    pub failures: Vec<String>,
}

/// A test case whose outcome differed.
#[derive(Debug, Clone, Deserialize)]
pub struct SuiteDifference {
    pub test: String,
    pub bare: String,
    pub installed: String,
    pub rerun_loaded: String,
    pub reproduced: bool,
}

/// The schema the test-suites report must have.
pub const SUITES_SCHEMA: &str = "introspec-cpython-tests/1";

/// Read a test-suites report (`introspec-cpython-tests/1`).
pub fn load_suites(path: &Path) -> Result<Suites, ReportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ReportError::io(path, "cannot read the test-suites report", &e))?;
    let u: Suites = serde_json::from_str(&text).map_err(|e| {
        ReportError::new(
            path,
            format!("is not an {SUITES_SCHEMA} report: {e}"),
            "rerun `introspec cpython-tests`, which writes it",
        )
    })?;
    if u.schema != SUITES_SCHEMA {
        return Err(ReportError::new(
            path,
            format!("has schema {:?}, not {SUITES_SCHEMA}", u.schema),
            "rerun `introspec cpython-tests` with this checkout's harness",
        ));
    }
    Ok(u)
}

/// Where each column of the combined results comes from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The results file's name as the documents give it.
    pub file: String,
    pub commit: String,
    pub spec_digest: String,
    pub columns: Vec<String>,
    pub trials: usize,
    /// False for a file left out because it was made against another spec.
    pub used: bool,
    /// The file's columns that the main results have too (theirs are used): a committed
    /// file of the columns a default run leaves out, beside a run that had them.
    pub superseded: Vec<String>,
}

/// The main results with the columns of `more` that the main results lack, and where each
/// column comes from (first the main file). Nothing is merged that the main file has: a
/// column of the same name stays the main file's. A file made against another spec (its
/// spec digest differs) is left out, and its origin says so.
pub fn combine(results: &Results, sources: &Sources) -> (Results, Vec<Origin>) {
    let mut all = results.clone();
    let name = if sources.results_file.is_empty() {
        "the results file".to_string()
    } else {
        sources.results_file.clone()
    };
    let mut origins = vec![Origin {
        file: name,
        commit: results.harness.commit.clone(),
        spec_digest: results.harness.spec_digest.clone(),
        columns: results.columns.iter().map(|c| c.name.clone()).collect(),
        trials: results.trials.len(),
        used: true,
        superseded: Vec::new(),
    }];
    for (file, more) in &sources.more {
        // what this file adds, as its origin says it
        let origin =
            |columns: Vec<String>, trials: usize, used: bool, superseded: Vec<String>| Origin {
                file: file.clone(),
                commit: more.harness.commit.clone(),
                spec_digest: more.harness.spec_digest.clone(),
                columns,
                trials,
                used,
                superseded,
            };
        if more.harness.spec_digest != results.harness.spec_digest {
            origins.push(origin(Vec::new(), 0, false, Vec::new()));
            continue;
        }
        let new: Vec<String> = more
            .columns
            .iter()
            .filter(|c| !all.columns.iter().any(|a| a.name == c.name))
            .map(|c| c.name.clone())
            .collect();
        let superseded: Vec<String> = more
            .columns
            .iter()
            .filter(|c| !new.contains(&c.name))
            .map(|c| c.name.clone())
            .collect();
        if new.is_empty() {
            origins.push(origin(Vec::new(), 0, true, superseded));
            continue;
        }
        all.columns.extend(
            more.columns
                .iter()
                .filter(|c| new.contains(&c.name))
                .cloned(),
        );
        let trials: Vec<_> = more
            .trials
            .iter()
            .filter(|t| new.contains(&t.column))
            .cloned()
            .collect();
        origins.push(origin(new, trials.len(), true, superseded));
        all.trials.extend(trials);
        all.interrupted |= more.interrupted;
    }
    all.absent
        .retain(|a| !all.columns.iter().any(|c| c.runtime.name == a.name));
    (all, origins)
}
