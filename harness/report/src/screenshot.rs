//! `reports/matrix.png`: a screenshot of `matrix.html` in headless chromium (1600×1000), and
//! its record `reports/matrix.png.json` (the sha256 of the page it was taken of and of the
//! picture, the commit and spec digest the page names), which
//! `harness/report/tests/provenance.rs` checks. Every writing of the reports retakes it where
//! chromium is installed, so that the picture is never of another run than the page.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The picture's file name in the reports directory.
pub const PNG: &str = "matrix.png";
/// Its record's file name.
pub const RECORD: &str = "matrix.png.json";
/// How long chromium may take to render the page and write the picture.
const TIMEOUT: Duration = Duration::from_secs(90);

/// What `matrix.png.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The page, relative to the project root.
    pub page: String,
    /// sha256 of the page the picture was taken of.
    pub page_sha256: String,
    /// sha256 of the picture.
    pub png_sha256: String,
    /// The commit the page names (`matrix.json`'s `harness.commit`).
    pub commit: String,
    /// The spec digest the page names.
    pub spec_digest: String,
    /// How it was taken.
    pub how: String,
}

/// The browser: `explicit` (`INTROSPEC_CHROMIUM`) if given, else `chromium` or
/// `chromium-browser` on `path` (`PATH`).
pub fn find_chromium(explicit: Option<PathBuf>, path: Option<OsString>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p);
    }
    std::env::split_paths(&path?)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// The hex sha256 of a file's bytes.
pub fn sha256_of(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// Take `dir/matrix.png` of `dir/matrix.html` with `browser` and write its record, naming the
/// commit and spec digest `dir/matrix.json` names.
pub fn take(dir: &Path, browser: &Path) -> Result<Record, String> {
    let page = dir.join("matrix.html");
    let png = dir.join(PNG);
    // chromium writes PNG only to a name that ends in `.png`
    let tmp = dir.join(format!(".matrix.{}.tmp.png", std::process::id()));
    // a profile of its own, removed after (two runs at once never share one)
    let profile = Profile::new()?;
    let page_abs = std::fs::canonicalize(&page)
        .map_err(|e| format!("cannot find the page {}: {e}", page.display()))?;
    let tmp_abs = std::path::absolute(&tmp).unwrap_or_else(|_| tmp.clone());
    // no background networking: chromium's own connections (component updates, sync, QUIC)
    // would only be refused on a closed network, many at a time
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1600,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg(format!("--screenshot={}", tmp_abs.display()))
        .arg(format!("file://{}", page_abs.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", browser.display()))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if started.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_file(&tmp);
                return Err(format!(
                    "{} took over {} s to take the screenshot",
                    browser.display(),
                    TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("cannot wait for {}: {e}", browser.display())),
        }
    };
    if !status.success() || !tmp.is_file() {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "{} wrote no screenshot ({status})",
            browser.display()
        ));
    }
    std::fs::rename(&tmp, &png)
        .map_err(|e| format!("cannot move the screenshot to {}: {e}", png.display()))?;
    let matrix: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("matrix.json"))
            .map_err(|e| format!("cannot read {}: {e}", dir.join("matrix.json").display()))?,
    )
    .map_err(|e| format!("{}: {e}", dir.join("matrix.json").display()))?;
    let field = |k: &str| {
        matrix["harness"][k]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let record = Record {
        page: "reports/matrix.html".into(),
        page_sha256: sha256_of(&page)?,
        png_sha256: sha256_of(&png)?,
        commit: field("commit"),
        spec_digest: field("spec_digest"),
        how: "headless chromium, 1600x1000, retaken by every writing of the reports (introspec run, introspec report)".into(),
    };
    let mut json = serde_json::to_string_pretty(&record).expect("a record serializes");
    json.push('\n');
    introspec_cache::write_atomic(&dir.join(RECORD), json.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", dir.join(RECORD).display()))?;
    Ok(record)
}

/// A fresh browser profile directory under the system's temporary directory, removed on drop.
struct Profile(PathBuf);

impl Profile {
    fn new() -> Result<Profile, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("introspec-chromium-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot make a browser profile {}: {e}", dir.display()))?;
        Ok(Profile(dir))
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
