//! Usage in the wild (issue 18 item 3): a pinned list of PyPI packages and one interpreter's
//! standard library, downloaded into the cache and checked against their pinned sha256,
//! scanned with Python's `ast` for the places that read the generator, coroutine and async
//! generator introspection attributes; the counts and places as a deterministic report
//! (`reports/usage-in-the-wild.md` and `.json`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod fetch;
pub mod pins;
pub mod render;
pub mod scan;

pub use pins::{Package, Pins, Stdlib};
pub use scan::{Finding, Form, Kind, Pattern, Source, Unparsed};

/// The schema of `usage-in-the-wild.json`.
pub const SCHEMA: &str = "introspec-usage/1";

/// An interpreter the harness found, typed by the caller's discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    pub path: PathBuf,
    /// `3.13.0`
    pub version: String,
}

/// What a run needs besides the pins.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The per-user cache; files go to `usage/` in it.
    pub cache: PathBuf,
    /// The interpreter whose `ast` parses every file (the newest CPython found).
    pub scanner: Interpreter,
    /// The interpreter of the pinned `[stdlib]`, when there is one.
    pub stdlib: Option<Interpreter>,
    /// How the report names the pin file (a path relative to the project).
    pub pins_name: String,
}

/// One place, as the report records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Place {
    pub file: String,
    pub line: u32,
    pub pattern: Pattern,
    pub form: Form,
    /// In a test file (a `test`, `tests`, `testing` or `idle_test` directory, a `test_*.py`,
    /// `*_test.py` or `conftest.py`).
    pub test: bool,
}

/// One scanned package or standard library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scanned {
    pub name: String,
    pub version: String,
    /// The PyPI file, or `Lib of CPython X.Y.Z`.
    pub origin: String,
    /// The PyPI file's sha256 (none for a standard library).
    pub sha256: Option<String>,
    pub tree_sha256: String,
    pub files: usize,
    pub unparsed: Vec<Unparsed>,
    pub places: Vec<Place>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub pins: String,
    /// `CPython 3.13.0`: the `ast` every file was parsed with.
    pub scanner: String,
    pub patterns: Vec<Pattern>,
    pub packages: Vec<Scanned>,
}

/// Whether a path is a test file.
pub fn is_test_path(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    let file = parts.pop().unwrap_or("");
    parts
        .iter()
        .any(|d| matches!(*d, "test" | "tests" | "testing" | "idle_test"))
        || file.starts_with("test_")
        || file.ends_with("_test.py")
        || file == "conftest.py"
}

/// Fetch, verify and scan everything pinned; `progress` hears what is downloaded.
pub fn run(pins: &Pins, inputs: &Inputs, progress: &dyn Fn(&str)) -> Result<Report, String> {
    let mut sources = Vec::new();
    let mut meta = Vec::new();
    if let Some(s) = &pins.stdlib {
        let python = inputs.stdlib.as_ref().ok_or_else(|| {
            format!(
                "{}:{}: [stdlib] python = {:?}: that CPython was not given",
                pins.path.display(),
                s.line,
                s.python
            )
        })?;
        let dir = introspec_runtimes::stdlib_dir(&python.path)?;
        sources.push(Source {
            name: s.name.clone(),
            kind: Kind::Dir {
                exclude: vec!["site-packages".into(), "dist-packages".into()],
            },
            path: dir,
        });
        meta.push((
            s.python.clone(),
            format!("Lib of CPython {}", s.python),
            None,
        ));
    }
    for p in &pins.packages {
        let (path, how) = fetch::fetch(&inputs.cache, &pins.path, p, &inputs.scanner.path)?;
        if how == fetch::Fetched::Downloaded {
            progress(&format!("downloaded {} ({})", p.file, p.url));
        }
        let kind = if p.file.ends_with(".whl") {
            Kind::Wheel
        } else if p.file.ends_with(".zip") {
            Kind::SdistZip
        } else {
            Kind::Sdist
        };
        sources.push(Source {
            name: p.name.clone(),
            kind,
            path,
        });
        meta.push((p.version.clone(), p.file.clone(), Some(p.sha256.clone())));
    }
    progress(&format!(
        "scanning {} sources with CPython {}",
        sources.len(),
        inputs.scanner.version
    ));
    let scanned = scan::scan(&inputs.scanner.path, &sources)?;
    if let (Some(s), Some(first)) = (&pins.stdlib, scanned.first()) {
        check_tree(pins, s, first)?;
    }
    let packages = scanned
        .into_iter()
        .zip(meta)
        .map(|(s, (version, origin, sha256))| {
            let mut places: Vec<Place> = s
                .findings
                .into_iter()
                .map(|f| Place {
                    test: is_test_path(&f.file),
                    file: f.file,
                    line: f.line,
                    pattern: f.pattern,
                    form: f.form,
                })
                .collect();
            places.sort();
            Scanned {
                name: s.name,
                version,
                origin,
                sha256,
                tree_sha256: s.tree_sha256,
                files: s.files,
                unparsed: s.unparsed,
                places,
            }
        })
        .collect();
    Ok(Report {
        schema: SCHEMA.into(),
        pins: inputs.pins_name.clone(),
        scanner: format!("CPython {}", inputs.scanner.version),
        patterns: Pattern::ALL.to_vec(),
        packages,
    })
}

/// A pinned standard library must be the scanned one.
fn check_tree(pins: &Pins, s: &Stdlib, scanned: &scan::Scanned) -> Result<(), String> {
    match &s.tree_sha256 {
        Some(t) if *t != scanned.tree_sha256 => Err(format!(
            "{}:{}: [stdlib] CPython {}'s Lib here has tree_sha256 {}, not the pinned {t}: \
             this interpreter's standard library differs from the one pinned (another build \
             or a patched Lib); scan the pinned build, or pin this one by setting tree_sha256 \
             (and say why in the commit)",
            pins.path.display(),
            s.line,
            s.python,
            scanned.tree_sha256
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_standard_library_other_than_the_pinned_one_is_refused() {
        let text = format!(
            "[stdlib]\nname = \"cpython-stdlib\"\npython = \"3.13.0\"\ntree_sha256 = \"{}\"\n",
            "a".repeat(64)
        );
        let pins = Pins::parse(Path::new("reports/usage/packages.toml"), &text).unwrap();
        let s = pins.stdlib.clone().unwrap();
        let scanned = |tree: &str| scan::Scanned {
            name: s.name.clone(),
            files: 0,
            unparsed: vec![],
            findings: vec![],
            tree_sha256: tree.into(),
        };
        assert!(check_tree(&pins, &s, &scanned(&"a".repeat(64))).is_ok());
        let e = check_tree(&pins, &s, &scanned(&"b".repeat(64))).unwrap_err();
        assert!(
            e.starts_with("reports/usage/packages.toml:1: [stdlib] CPython 3.13.0's Lib here has tree_sha256 bbbb"),
            "{e}"
        );
        assert!(e.contains("scan the pinned build"), "{e}");
    }
}
