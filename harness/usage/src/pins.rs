//! The pin file (`reports/usage/packages.toml`): the packages and the standard library
//! scanned, each exactly: a PyPI file by name, URL and sha256, an interpreter by version.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// One PyPI file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// The file name as PyPI lists it (`trio-0.35.0.tar.gz`); also its name in the cache.
    pub file: String,
    /// 64 lowercase hex digits, PyPI's `digests.sha256`.
    pub sha256: String,
    pub url: String,
    /// The line of its `[[package]]` entry in the pin file, for errors.
    pub line: usize,
}

/// The standard library of one installed CPython.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stdlib {
    pub name: String,
    /// The exact `X.Y.Z` of the interpreter whose Lib is scanned.
    pub python: String,
    /// The sha256 the scanner computes over the scanned files (paths and bytes), when pinned.
    pub tree_sha256: Option<String>,
    pub line: usize,
}

/// The whole pin file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    pub path: PathBuf,
    pub stdlib: Option<Stdlib>,
    pub packages: Vec<Package>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPins {
    stdlib: Option<Spanned<RawStdlib>>,
    #[serde(default)]
    package: Vec<Spanned<RawPackage>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStdlib {
    name: String,
    python: String,
    tree_sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackage {
    name: String,
    version: String,
    file: String,
    sha256: String,
    url: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A sha256 as PyPI writes it.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Pins {
    /// Read and validate a pin file; every error names the file, the line and the fix.
    pub fn load(path: &Path) -> Result<Pins, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read the pin file: {e}", path.display()))?;
        Pins::parse(path, &text)
    }

    /// The same from text (tests).
    pub fn parse(path: &Path, text: &str) -> Result<Pins, String> {
        let raw: RawPins = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            format!("{}:{line}: {}", path.display(), e.message())
        })?;
        let at = |line: usize| format!("{}:{line}", path.display());
        let stdlib = raw.stdlib.map(|s| {
            let line = line_of(text, s.span().start);
            let s = s.into_inner();
            Stdlib {
                name: s.name,
                python: s.python,
                tree_sha256: s.tree_sha256,
                line,
            }
        });
        if let Some(s) = &stdlib {
            let parts: Vec<&str> = s.python.split('.').collect();
            if parts.len() != 3 || parts.iter().any(|p| p.parse::<u32>().is_err()) {
                return Err(format!("{}: [stdlib] python = {:?} is not an exact X.Y.Z version; write the version of one installed CPython, for example \"3.13.0\"", at(s.line), s.python));
            }
            if let Some(t) = s.tree_sha256.as_deref().filter(|t| !is_sha256(t)) {
                return Err(format!("{}: [stdlib] tree_sha256 = {t:?} is not 64 lowercase hex digits; copy the tree_sha256 `introspec usage` reports, or remove the line", at(s.line)));
            }
        }
        let mut packages = Vec::new();
        for p in raw.package {
            let line = line_of(text, p.span().start);
            let p = p.into_inner();
            let package = Package {
                name: p.name,
                version: p.version,
                file: p.file,
                sha256: p.sha256,
                url: p.url,
                line,
            };
            package
                .validate()
                .map_err(|why| format!("{}: {why}", at(line)))?;
            if let Some(q) = packages.iter().find(|q: &&Package| q.name == package.name) {
                return Err(format!(
                    "{}: package {:?} is pinned twice (also at line {}); keep one entry",
                    at(line),
                    package.name,
                    q.line
                ));
            }
            packages.push(package);
        }
        Ok(Pins {
            path: path.to_path_buf(),
            stdlib,
            packages,
        })
    }
}

impl Package {
    fn validate(&self) -> Result<(), String> {
        let who = format!("package {:?}", self.name);
        if self.name.is_empty() || self.version.is_empty() {
            return Err(format!("{who}: name and version must not be empty"));
        }
        if !is_sha256(&self.sha256) {
            return Err(format!("{who}: sha256 = {:?} is not 64 lowercase hex digits; copy digests.sha256 of {} from https://pypi.org/pypi/{}/{}/json", self.sha256, self.file, self.name, self.version));
        }
        if self.file.is_empty() || self.file.contains('/') || self.file.starts_with('.') {
            return Err(format!(
                "{who}: file = {:?} must be a plain file name as PyPI lists it",
                self.file
            ));
        }
        let archive = [".tar.gz", ".zip", ".whl"]
            .iter()
            .any(|e| self.file.ends_with(e));
        if !archive {
            return Err(format!("{who}: file = {:?} is neither an sdist (.tar.gz, .zip) nor a wheel (.whl); pin the sdist or the py3-none-any wheel", self.file));
        }
        if !self.url.ends_with(&format!("/{}", self.file)) {
            return Err(format!(
                "{who}: url = {:?} does not end in /{}; copy the url PyPI lists for that file",
                self.url, self.file
            ));
        }
        Ok(())
    }

    /// How the scanner opens the file.
    pub fn archive_kind(&self) -> &'static str {
        if self.file.ends_with(".tar.gz") {
            "tar"
        } else {
            "zip"
        }
    }
}
