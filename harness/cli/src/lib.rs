//! Shared by the `introspec` binary and the `cargo test` harness.

use std::path::{Path, PathBuf};

/// The project root: `--root`, else the nearest directory above the current one holding
/// `spec/features.toml` and `cases/`, else the checkout this binary was built from.
pub fn project_root(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Ok(mut dir) = std::env::current_dir() {
        loop {
            if dir.join("spec/features.toml").is_file() && dir.join("cases").is_dir() {
                return dir;
            }
            if !dir.pop() {
                break;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// The jobs to use: every core unless bounded.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
