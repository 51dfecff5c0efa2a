//! Python versions and version conditions, exactly as PEP 440 defines them, by the
//! `pep440_rs` crate: every operator (`>=`, `<=`, `>`, `<`, `==`, `!=`, `~=`, `===`, the
//! `.*` prefix forms), pre-releases (`3.15.0a3`, `3.14.0rc1`), and PEP 440's ordering
//! (`3.15.0a3 < 3.15.0rc1 < 3.15.0`; `<3.15` does not admit `3.15.0a3`, and neither does
//! `>=3.15`: a condition that means a pre-release names it, `>=3.15.0a1`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Python version: `3.12.1`, `2.7.18`, `3.15.0a3`. Ordered as PEP 440 orders versions.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(pep440_rs::Version);

impl Version {
    /// The final release `major.minor.micro`.
    pub fn new(major: u64, minor: u64, micro: u64) -> Version {
        Version(pep440_rs::Version::new([major, minor, micro]))
    }

    pub fn parse(text: &str) -> Result<Version, String> {
        let text = text.trim();
        pep440_rs::Version::from_str(text)
            .map(Version)
            .map_err(|e| {
                format!("`{text}` is not a PEP 440 version like 3.12, 3.12.1 or 3.15.0a3: {e}")
            })
    }

    /// `(major, minor, micro)`, missing parts 0, whatever the release level: the
    /// language a pre-release implements (`3.15.0a3` → `(3, 15, 0)`).
    pub fn release(&self) -> (u64, u64, u64) {
        let r = self.0.release();
        let at = |i: usize| r.get(i).copied().unwrap_or(0);
        (at(0), at(1), at(2))
    }

    /// A final release (no pre-, post- or dev-release part, no local label).
    pub fn is_final(&self) -> bool {
        self.0.is_stable() && !self.0.is_post() && !self.0.is_local()
    }

    /// How a report names the language of a column: `3.12` for a final release, the whole
    /// version (`3.15.0a3`) for any other, whose behaviour may not be that of the release.
    pub fn language(&self) -> String {
        if self.is_final() {
            let (major, minor, _) = self.release();
            format!("{major}.{minor}")
        } else {
            self.to_string()
        }
    }

    /// The crate's version, for code that works with PEP 440 directly.
    pub fn as_pep440(&self) -> &pep440_rs::Version {
        &self.0
    }
}

impl Default for Version {
    /// `0`: below every Python.
    fn default() -> Version {
        Version(pep440_rs::Version::new([0u64]))
    }
}

/// The normalized PEP 440 form, as written (`3.12` stays `3.12`, `3.12.1` stays `3.12.1`).
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({})", self.0)
    }
}

impl FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Version, String> {
        Version::parse(s)
    }
}

/// A version condition: PEP 440 specifiers joined by commas, all of which must hold, such
/// as `>=3.6,<3.11` or `~=3.12.0` or `==3.15.0a3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specifier {
    text: String,
    specifiers: pep440_rs::VersionSpecifiers,
}

/// A condition that parses but likely does not say what its author meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    pub message: String,
    /// The condition as it should probably be written.
    pub fix: String,
}

impl Specifier {
    pub fn parse(text: &str) -> Result<Specifier, String> {
        let trimmed = text.trim();
        // the crate reads "" as "any version": a condition that is empty or has an empty
        // clause is a typo here, not a wish to match everything
        if trimmed.split(',').any(|c| c.trim().is_empty()) {
            return Err(format!("empty clause in version condition `{trimmed}`"));
        }
        let specifiers = pep440_rs::VersionSpecifiers::from_str(trimmed).map_err(|e| {
            // the crate's message is a line, then the condition with a caret line under it
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("").trim_end_matches(':');
            let first = first
                .strip_prefix("Failed to parse version: ")
                .unwrap_or(first);
            format!("`{trimmed}` is not a PEP 440 version condition: {first}")
        })?;
        Ok(Specifier {
            text: trimmed.to_string(),
            specifiers,
        })
    }

    pub fn contains(&self, v: &Version) -> bool {
        self.specifiers.contains(&v.0)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `==3.12` matches 3.12.0 alone (PEP 440 pads the shorter release with zeros), never
    /// 3.12.1: an `==` or `!=` clause naming a final release of fewer than three parts was
    /// almost surely meant as the prefix match `==3.12.*`.
    pub fn lints(&self) -> Vec<Lint> {
        use pep440_rs::{Operator, VersionSpecifier};
        let raw: Vec<&str> = self.text.split(',').map(str::trim).collect();
        let mut out = Vec::new();
        for (i, clause) in raw.iter().enumerate() {
            let Ok(c) = VersionSpecifier::from_str(clause) else {
                continue;
            };
            let op = match c.operator() {
                Operator::Equal => "==",
                Operator::NotEqual => "!=",
                _ => continue,
            };
            let v = c.version();
            if v.release().len() >= 3 || !Version(v.clone()).is_final() {
                continue;
            }
            let mut fixed = raw.clone();
            let star = format!("{op}{v}.*");
            fixed[i] = &star;
            out.push(Lint {
                message: format!(
                    "`{clause}` in `{}` matches {v}.0 alone (PEP 440 pads a release with zeros), not {v}.1 or later",
                    self.text
                ),
                fix: fixed.join(","),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn specifiers() {
        let s = Specifier::parse(">=3.6, <3.11").unwrap();
        assert!(s.contains(&v("3.6")));
        assert!(s.contains(&v("3.10.13")));
        assert!(!s.contains(&v("3.11.0")));
        assert!(!s.contains(&v("2.7.18")));
        let s = Specifier::parse("==3.11.*").unwrap();
        assert!(s.contains(&v("3.11.7")));
        assert!(s.contains(&v("3.11.0b1")));
        assert!(!s.contains(&v("3.12.0")));
        assert!(Specifier::parse(">=3.x").is_err());
        assert!(Specifier::parse(">=3.6,").is_err());
        assert!(Specifier::parse("").is_err());
        assert!(Specifier::parse("3.6").is_err());
    }

    #[test]
    fn compatible_and_arbitrary_equality() {
        let s = Specifier::parse("~=3.12.0").unwrap();
        assert!(s.contains(&v("3.12.0")) && s.contains(&v("3.12.9")));
        assert!(!s.contains(&v("3.13.0")) && !s.contains(&v("3.11.9")));
        let s = Specifier::parse("~=3.12").unwrap();
        assert!(s.contains(&v("3.12.1")) && s.contains(&v("3.14.0")));
        assert!(!s.contains(&v("4.0")) && !s.contains(&v("3.11.9")));
        // `~=3` has no release to be compatible with
        assert!(Specifier::parse("~=3").is_err());
        let s = Specifier::parse("===3.12.1").unwrap();
        assert!(s.contains(&v("3.12.1")));
        assert!(!s.contains(&v("3.12.1.0")), "=== compares the strings");
    }

    #[test]
    fn pre_releases() {
        assert!(v("3.15.0a3") < v("3.15.0b1"));
        assert!(v("3.15.0b1") < v("3.14.0rc1").max(v("3.15.0rc1")));
        assert!(v("3.14.0rc1") < v("3.14.0"));
        assert!(v("3.14.0rc1") > v("3.13.9"));
        assert!(Specifier::parse(">=3.15.0a1")
            .unwrap()
            .contains(&v("3.15.0a3")));
        assert!(!Specifier::parse(">=3.15").unwrap().contains(&v("3.15.0a3")));
        // PEP 440: `<V` admits no pre-release of V itself
        assert!(!Specifier::parse("<3.15").unwrap().contains(&v("3.15.0a3")));
        assert!(Specifier::parse("<3.15").unwrap().contains(&v("3.14.0rc1")));
        assert!(Specifier::parse("==3.14.0rc1")
            .unwrap()
            .contains(&v("3.14.0rc1")));
        assert!(Specifier::parse("==3.14.*")
            .unwrap()
            .contains(&v("3.14.0rc1")));
    }

    #[test]
    fn versions_print_and_name_their_language() {
        assert_eq!(v("3.12.1").to_string(), "3.12.1");
        assert_eq!(v("3.12").to_string(), "3.12");
        assert_eq!(v("3.15.0a3").to_string(), "3.15.0a3");
        assert_eq!(v("3.12.1").language(), "3.12");
        assert_eq!(v("3.15.0a3").language(), "3.15.0a3");
        assert_eq!(v("3.15.0a3").release(), (3, 15, 0));
        assert_eq!(Version::new(3, 6, 0), v("3.6"));
        assert!(Version::default() < v("2.7"));
        let json = serde_json_like(&v("3.14.0rc1"));
        assert_eq!(json, "3.14.0rc1");
    }

    fn serde_json_like(v: &Version) -> String {
        // a TOML round trip stands in for JSON (this crate has toml, not serde_json)
        #[derive(Serialize, Deserialize)]
        struct W {
            v: Version,
        }
        let text = toml::to_string(&W { v: v.clone() }).unwrap();
        let back: W = toml::from_str(&text).unwrap();
        assert_eq!(&back.v, v);
        back.v.to_string()
    }

    #[test]
    fn equality_on_a_short_release_is_linted() {
        let l = Specifier::parse("==3.12").unwrap().lints();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].fix, "==3.12.*");
        let l = Specifier::parse(">=3.8,!=3.10").unwrap().lints();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].fix, ">=3.8,!=3.10.*");
        for fine in ["==3.12.*", "==3.12.0", ">=3.12", "==3.15.0a3", "===3.12"] {
            assert!(Specifier::parse(fine).unwrap().lints().is_empty(), "{fine}");
        }
    }
}
