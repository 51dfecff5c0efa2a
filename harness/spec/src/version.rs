//! Python versions and PEP 440 version specifiers (the subset a conformance suite needs:
//! `>=`, `<=`, `>`, `<`, `==`, `!=`, `==X.Y.*`, `!=X.Y.*`, joined by commas).

use std::fmt;

/// A release version, `major.minor.micro` (missing parts are 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    pub fn parse(text: &str) -> Result<Version, String> {
        let text = text.trim();
        let parts: Vec<&str> = text.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(format!("`{text}` is not a version like 3.12 or 3.12.1"));
        }
        let mut nums = [0u32; 3];
        for (i, p) in parts.iter().enumerate() {
            nums[i] = p
                .parse()
                .map_err(|_| format!("`{text}` is not a version like 3.12 or 3.12.1"))?;
        }
        Ok(Version(nums[0], nums[1], nums[2]))
    }

    /// The language version, `3.12`.
    pub fn language(&self) -> String {
        format!("{}.{}", self.0, self.1)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Le,
    Gt,
    Lt,
    Eq,
    Ne,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    op: Op,
    version: Version,
    /// `==3.11.*`: compare only the given parts.
    prefix_parts: Option<usize>,
}

/// A set of clauses that must all hold, such as `>=3.6,<3.11`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specifier {
    text: String,
    clauses: Vec<Clause>,
}

impl Specifier {
    pub fn parse(text: &str) -> Result<Specifier, String> {
        let mut clauses = Vec::new();
        for raw in text.split(',') {
            let raw = raw.trim();
            if raw.is_empty() {
                return Err(format!("empty clause in version condition `{text}`"));
            }
            let (op, rest) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                ("==", Op::Eq),
                ("!=", Op::Ne),
                (">", Op::Gt),
                ("<", Op::Lt),
            ]
            .iter()
            .find_map(|(p, op)| raw.strip_prefix(p).map(|r| (*op, r)))
            .ok_or_else(|| {
                format!("`{raw}` in `{text}` must start with one of >=, <=, >, <, ==, !=")
            })?;
            let rest = rest.trim();
            let (vtext, prefix_parts) = match rest.strip_suffix(".*") {
                Some(v) if matches!(op, Op::Eq | Op::Ne) => (v, Some(v.split('.').count())),
                Some(_) => {
                    return Err(format!("`.*` is allowed only with == and != (in `{text}`)"))
                }
                None => (rest, None),
            };
            let version = Version::parse(vtext).map_err(|e| format!("{e} (in `{text}`)"))?;
            clauses.push(Clause {
                op,
                version,
                prefix_parts,
            });
        }
        Ok(Specifier {
            text: text.trim().to_string(),
            clauses,
        })
    }

    pub fn contains(&self, v: Version) -> bool {
        self.clauses.iter().all(|c| {
            let ord = v.cmp(&c.version);
            match (c.op, c.prefix_parts) {
                (Op::Eq, Some(n)) => prefix_eq(v, c.version, n),
                (Op::Ne, Some(n)) => !prefix_eq(v, c.version, n),
                (Op::Ge, _) => ord.is_ge(),
                (Op::Le, _) => ord.is_le(),
                (Op::Gt, _) => ord.is_gt(),
                (Op::Lt, _) => ord.is_lt(),
                (Op::Eq, None) => ord.is_eq(),
                (Op::Ne, None) => ord.is_ne(),
            }
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn prefix_eq(a: Version, b: Version, parts: usize) -> bool {
    let a = [a.0, a.1, a.2];
    let b = [b.0, b.1, b.2];
    a[..parts] == b[..parts]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifiers() {
        let s = Specifier::parse(">=3.6, <3.11").unwrap();
        assert!(s.contains(Version(3, 6, 0)));
        assert!(s.contains(Version(3, 10, 13)));
        assert!(!s.contains(Version(3, 11, 0)));
        assert!(!s.contains(Version(2, 7, 18)));
        let s = Specifier::parse("==3.11.*").unwrap();
        assert!(s.contains(Version(3, 11, 7)));
        assert!(!s.contains(Version(3, 12, 0)));
        assert!(Specifier::parse("~=3.1").is_err());
        assert!(Specifier::parse(">=3.x").is_err());
        assert!(Specifier::parse(">=3.6,").is_err());
    }
}
