//! The scanner: `scan.py` run by one interpreter over every source at once, its answers read
//! into types.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// The embedded scanner (Python 3.8+: `ast.Constant`).
pub const SCANNER: &str = include_str!("scan.py");

/// What is counted: the table's rows, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Pattern {
    #[serde(rename = "gi_frame")]
    GiFrame,
    #[serde(rename = "gi_running")]
    GiRunning,
    #[serde(rename = "gi_code")]
    GiCode,
    #[serde(rename = "gi_yieldfrom")]
    GiYieldfrom,
    #[serde(rename = "gi_suspended")]
    GiSuspended,
    #[serde(rename = "cr_frame")]
    CrFrame,
    #[serde(rename = "cr_running")]
    CrRunning,
    #[serde(rename = "cr_code")]
    CrCode,
    #[serde(rename = "cr_await")]
    CrAwait,
    #[serde(rename = "cr_origin")]
    CrOrigin,
    #[serde(rename = "cr_suspended")]
    CrSuspended,
    #[serde(rename = "ag_frame")]
    AgFrame,
    #[serde(rename = "ag_running")]
    AgRunning,
    #[serde(rename = "ag_code")]
    AgCode,
    #[serde(rename = "ag_await")]
    AgAwait,
    #[serde(rename = "ag_suspended")]
    AgSuspended,
    #[serde(rename = "f_generator")]
    FGenerator,
    #[serde(rename = "f_lasti == -1")]
    FLastiMinusOne,
    #[serde(rename = "inspect.getgeneratorstate()")]
    GetGeneratorState,
    #[serde(rename = "inspect.getcoroutinestate()")]
    GetCoroutineState,
    #[serde(rename = "inspect.getasyncgenstate()")]
    GetAsyncgenState,
    #[serde(rename = "__code__")]
    Code,
    #[serde(rename = "hasattr(…, \"__code__\")")]
    HasattrCode,
    #[serde(rename = "getattr(…, \"__code__\", …)")]
    GetattrCodeDefault,
}

impl Pattern {
    pub const ALL: [Pattern; 24] = [
        Pattern::GiFrame,
        Pattern::GiRunning,
        Pattern::GiCode,
        Pattern::GiYieldfrom,
        Pattern::GiSuspended,
        Pattern::CrFrame,
        Pattern::CrRunning,
        Pattern::CrCode,
        Pattern::CrAwait,
        Pattern::CrOrigin,
        Pattern::CrSuspended,
        Pattern::AgFrame,
        Pattern::AgRunning,
        Pattern::AgCode,
        Pattern::AgAwait,
        Pattern::AgSuspended,
        Pattern::FGenerator,
        Pattern::FLastiMinusOne,
        Pattern::GetGeneratorState,
        Pattern::GetCoroutineState,
        Pattern::GetAsyncgenState,
        Pattern::Code,
        Pattern::HasattrCode,
        Pattern::GetattrCodeDefault,
    ];

    /// How the pattern is written in the reports (its serialized name).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// How a place reads the attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    /// `x.gi_frame`
    Attribute,
    /// `getattr(x, "gi_frame")`, `getattr(x, "gi_frame", None)`
    Getattr,
    /// `hasattr(x, "gi_frame")`
    Hasattr,
    /// a comparison (`f.f_lasti == -1`)
    Compare,
    /// a call (`inspect.getgeneratorstate(g)`)
    Call,
}

/// One place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    pub file: String,
    pub line: u32,
    pub pattern: Pattern,
    pub form: Form,
}

/// A file that did not parse, and the parser's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unparsed {
    pub file: String,
    pub why: String,
}

/// What the scanner found in one source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Scanned {
    pub name: String,
    /// `.py` files seen.
    pub files: usize,
    pub unparsed: Vec<Unparsed>,
    pub findings: Vec<Finding>,
    /// sha256 over the scanned files' paths and bytes, in path order.
    pub tree_sha256: String,
}

/// How a source is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An sdist `.tar.gz`: its paths lose their `NAME-VERSION/`.
    Sdist,
    /// An sdist `.zip`.
    SdistZip,
    /// A wheel (a zip whose paths are the installed ones).
    Wheel,
    /// A directory (a standard library), without the directories named.
    Dir { exclude: Vec<String> },
}

/// One thing to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub kind: Kind,
    pub path: PathBuf,
}

impl Source {
    fn request(&self) -> serde_json::Value {
        let (kind, strip, exclude) = match &self.kind {
            Kind::Sdist => ("tar", true, vec![]),
            Kind::SdistZip => ("zip", true, vec![]),
            Kind::Wheel => ("zip", false, vec![]),
            Kind::Dir { exclude } => ("dir", false, exclude.clone()),
        };
        serde_json::json!({"name": self.name, "kind": kind, "path": self.path,
                           "strip_top": strip, "exclude": exclude})
    }
}

/// Scan every source with `python` (one process), in order.
pub fn scan(python: &Path, sources: &[Source]) -> Result<Vec<Scanned>, String> {
    let request = serde_json::Value::Array(sources.iter().map(Source::request).collect());
    let mut child = Command::new(python)
        .arg("-I")
        .arg("-c")
        .arg(SCANNER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the scanner with {}: {e}", python.display()))?;
    let input = request.to_string();
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("the scanner ({}) failed: {e}", python.display()))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(format!(
            "the scanner (harness/usage/src/scan.py, run by {}) failed ({}): {}",
            python.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| format!("the scanner's output: {e}"))?;
    let scanned: Vec<Scanned> = text
        .lines()
        .map(|l| {
            serde_json::from_str(l).map_err(|e| format!("the scanner's output: {e}: {l:.200}"))
        })
        .collect::<Result<_, _>>()?;
    if scanned.len() != sources.len() {
        return Err(format!(
            "the scanner answered for {} of {} sources",
            scanned.len(),
            sources.len()
        ));
    }
    Ok(scanned)
}
