//! `introspec bench fuzz` (filled in below).

use std::path::Path;

/// Measure; `Ok(true)` when every CPython reaches the target ratio.
pub fn bench(_root: &Path, _runtimes: &[String], _seconds: f64) -> Result<bool, String> {
    Err("not yet".into())
}
