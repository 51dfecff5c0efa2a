//! Shared by the report tests: the fixture results, the project spec, scratch directories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use introspec_results::Results;
use introspec_spec::Spec;

/// The project root (holding spec/).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the project root exists")
}

/// A results file made by a real run, trimmed to a few cases and columns, with a crash, an
/// absent, a broken and an unusable runtime added so that every branch of the reports renders.
pub fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results.json")
}

pub fn fixture() -> Results {
    introspec_report::load::results(&fixture_path()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn spec() -> Spec {
    Spec::load(&root().join("spec"))
        .unwrap_or_else(|d| panic!("the project spec does not load:\n{d}"))
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("introspec-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    dir
}
