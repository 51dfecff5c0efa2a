//! What a results file says it comes from: the spec's digest and the checkout's commit.

use super::*;

/// A digest of spec/ (BLAKE3 over the files in name order, 16 hex digits): which spec the
/// results are of.
pub fn spec_digest(root: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("spec"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut d = introspec_cache::Digest::new();
    for f in files {
        d.add(std::fs::read(&f).unwrap_or_default());
    }
    d.short()
}

/// The commit of the project checkout, with `-dirty` when it has changes (or `unknown`).
pub fn git_commit(root: &Path) -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short=12", "HEAD"]) {
        Some(c) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c}-dirty")
            } else {
                c
            }
        }
        None => "unknown".into(),
    }
}
