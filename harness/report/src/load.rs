//! Reading a results file, with errors that say which file and what to do.

use std::path::Path;

use introspec_results::{Results, SCHEMA};

use crate::error::ReportError;

/// Read and check a results file (`introspec-results/1`).
pub fn results(path: &Path) -> Result<Results, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ReportError::new(
            path,
            format!("cannot read the results file: {e}"),
            "make one with `introspec run` (it writes reports/results/latest.json), or pass another with --results",
        )
    })?;
    let schema = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_string));
    match schema.as_deref() {
        Some(SCHEMA) => {}
        Some(other) => {
            return Err(ReportError::new(
                path,
                format!("schema `{other}` is not `{SCHEMA}`, the one this introspec reads"),
                "rerun `introspec run` with this checkout to make a results file it can read",
            ))
        }
        None => {}
    }
    serde_json::from_str(&text).map_err(|e| {
        ReportError::new(
            path,
            format!("not an {SCHEMA} results file: {e}"),
            "pass a file written by `introspec run` or `introspec merge` (reports/SCHEMA.md describes the format)",
        )
    })
}
