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
pub mod summary;
pub mod text;

use std::path::{Path, PathBuf};

use introspec_runner::Results;
use introspec_spec::Spec;

pub use error::ReportError;
pub use matrix::Matrix;

/// The files [`write_reports`] writes, by name, in the order written.
pub const REPORT_FILES: [&str; 4] = [
    "matrix.md",
    "matrix.html",
    "matrix.json",
    "pep-evidence.rst",
];

/// Every report of one results file, rendered in memory: `(file name, contents)`.
pub fn render_reports(results: &Results, spec: &Spec) -> Vec<(&'static str, String)> {
    let m = Matrix::build(results, spec);
    vec![
        ("matrix.md", markdown::render(&m)),
        ("matrix.html", html::render(&m)),
        ("matrix.json", m.to_json()),
        ("pep-evidence.rst", pep::render(&m, results, spec)),
    ]
}

/// Write every report of `results` into `dir` (created if needed); returns the paths written.
pub fn write_reports(
    results: &Results,
    spec: &Spec,
    dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ReportError::io(dir, "cannot create the reports directory", &e))?;
    let mut written = Vec::new();
    for (name, body) in render_reports(results, spec) {
        let path = dir.join(name);
        std::fs::write(&path, body)
            .map_err(|e| ReportError::io(&path, "cannot write the report", &e))?;
        written.push(path);
    }
    Ok(written)
}
