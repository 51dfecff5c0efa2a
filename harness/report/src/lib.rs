//! Reports made from a results file alone (`introspec-results/1`), never by rerunning
//! anything: the compatibility matrix as Markdown, one self-contained HTML page and
//! versioned JSON (`introspec-matrix/1`), the PEP evidence as reStructuredText, the
//! comparison of two results files for a review comment, and the merge of results made on
//! several machines, and CI output (JUnit XML, GitHub Actions annotations, a Markdown job
//! summary). Every output is a pure function of its inputs: the same results file
//! and spec give the same bytes.

pub mod annotations;
pub mod ci;
pub mod compare;
pub mod error;
pub mod html;
pub mod json;
pub mod junit;
pub mod load;
pub mod markdown;
pub mod matrix;
pub mod merge;
pub mod pep;
pub mod screenshot;
pub mod summary;
pub mod text;

use std::path::{Path, PathBuf};

use introspec_results::Results;
use introspec_spec::Spec;

pub use error::ReportError;
pub use matrix::Matrix;

/// The files [`write_reports`] always writes at the top of the reports directory, in the
/// order written; the Markdown's per-section files go into [`markdown::DIR`] besides.
pub const REPORT_FILES: [&str; 5] = [
    markdown::INDEX,
    "matrix.html",
    "matrix.json",
    pep::DOCUMENT,
    pep::APPENDIX,
];

/// Every report of one results file, rendered in memory: `(path relative to the reports
/// directory, contents)`: the Markdown files (index, sections, deviations), then the HTML
/// page, the JSON, the PEP material and its appendix. The PEP material has no other source
/// than `results` here (see [`render_reports_with`]).
pub fn render_reports(results: &Results, spec: &Spec) -> Vec<(String, String)> {
    render_reports_with(results, spec, &pep::sources::Sources::default())
}

/// [`render_reports`], the PEP material also drawing on `sources` (the other committed
/// results files, the cases' titles, the usage report).
pub fn render_reports_with(
    results: &Results,
    spec: &Spec,
    sources: &pep::sources::Sources,
) -> Vec<(String, String)> {
    let mut m = Matrix::build(results, spec);
    if !sources.results_file.is_empty() {
        m.results_file = Some(sources.results_file.clone());
    }
    let mut out = markdown::render(&m);
    out.push(("matrix.html".into(), html::render(&m)));
    out.push(("matrix.json".into(), m.to_json()));
    out.extend(pep::render(results, spec, sources));
    out
}

/// Write every report of `results` into `dir` (created if needed), removing Markdown files
/// of [`markdown::DIR`] that this rendering does not have (a section gone from the spec);
/// returns the paths written.
pub fn write_reports(
    results: &Results,
    spec: &Spec,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    write_reports_with(results, spec, &pep::sources::Sources::default(), dir)
}

/// [`write_reports`] with the PEP material's other `sources`.
pub fn write_reports_with(
    results: &Results,
    spec: &Spec,
    sources: &pep::sources::Sources,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let reports = render_reports_with(results, spec, sources);
    let mut written = Vec::new();
    for (name, body) in &reports {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| ReportError::io(parent, "cannot create the reports directory", &e))?;
        }
        std::fs::write(&path, body)
            .map_err(|e| ReportError::io(&path, "cannot write the report", &e))?;
        written.push(path);
    }
    remove_stale(&dir.join(markdown::DIR), &written)?;
    Ok(written)
}

/// Remove the `*.md` files of `sub` that are not among `written`.
fn remove_stale(sub: &Path, written: &[PathBuf]) -> Result<(), ReportError> {
    let entries = std::fs::read_dir(sub)
        .map_err(|e| ReportError::io(sub, "cannot list the Markdown reports directory", &e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "md") && !written.contains(&path) {
            std::fs::remove_file(&path)
                .map_err(|e| ReportError::io(&path, "cannot remove a stale report", &e))?;
        }
    }
    Ok(())
}
