//! Errors that name the file, line and column, and say how to fix the input.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a problem is: an error leaves the input out; a warning (a lint) loads it as
/// written and says what was probably meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Severity {
    #[default]
    Error,
    Warning,
}

/// One problem in an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based line and column, where known.
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem in `file` at byte offset `span_start` of `text` (if any).
    pub fn at(
        file: &Path,
        text: &str,
        span_start: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        let (line, col) = match span_start {
            Some(offset) => {
                let (l, c) = line_col(text, offset);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line,
            col,
            message: message.into(),
            help: None,
        }
    }

    /// A problem with a whole file (unreadable, say).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic::at(file, "", None, message)
    }

    /// A TOML syntax or shape error, located where the parser says.
    pub fn from_toml(file: &Path, text: &str, err: &toml::de::Error) -> Self {
        let mut message = err.message().trim().to_string();
        if message.is_empty() {
            message = err.to_string();
        }
        Diagnostic::at(file, text, err.span().map(|s| s.start), message)
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The same problem, as a warning.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, ": {level}: {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// The byte offset, at or after `from`, of `key` written as a TOML key (bare or quoted, then
/// `=` or `.`): where a diagnostic about that key points. Keys are found by their text, so
/// `from` should be the start of the table that holds the key.
pub fn key_offset(text: &str, from: usize, key: &str) -> Option<usize> {
    let first = key.chars().next()?.len_utf8();
    let bytes = text.as_bytes();
    let mut at = from.min(text.len());
    while let Some(i) = text.get(at..)?.find(key) {
        let (mut start, mut end) = (at + i, at + i + key.len());
        if start > 0 && bytes.get(end) == Some(&b'"') && bytes[start - 1] == b'"' {
            (start, end) = (start - 1, end + 1);
        }
        let before = start.checked_sub(1).map(|j| bytes[j]);
        let before_ok = before.is_none_or(|b| b" \t\r\n{,.".contains(&b));
        let after = text[end..].trim_start_matches([' ', '\t']);
        if before_ok && (after.starts_with('=') || after.starts_with('.')) {
            return Some(start);
        }
        at = at + i + first;
    }
    None
}

/// The byte offset of the value of `key` (see [`key_offset`]).
pub fn value_offset(text: &str, from: usize, key: &str) -> Option<usize> {
    let k = key_offset(text, from, key)?;
    let eq = k + text[k..].find('=')?;
    let after = &text[eq + 1..];
    Some(eq + 1 + (after.len() - after.trim_start_matches([' ', '\t']).len()))
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A text with the offsets its lines start at: [`LineIndex::line_col`] is a binary search, so
/// locating every case and step of a file of ten thousand cases stays linear in its size
/// ([`line_col`] rescans the text from its start).
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// 1-based line and column (in characters) of a byte offset, as [`line_col`] gives.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|s| *s <= offset);
        let start = self.starts[line - 1];
        let col = self.text[start..offset].chars().count() + 1;
        (line, col)
    }

    /// [`Diagnostic::at`], located with the index.
    pub fn at(&self, file: &Path, offset: Option<usize>, message: impl Into<String>) -> Diagnostic {
        let (line, col) = match offset {
            Some(o) => {
                let (l, c) = self.line_col(o);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        Diagnostic {
            file: file.to_path_buf(),
            line,
            col,
            message: message.into(),
            help: None,
            severity: Severity::Error,
        }
    }
}

/// Many diagnostics, shown one per paragraph.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Suggest the closest of `candidates` to `name`, for "did you mean" help.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let a: Vec<char> = name.chars().collect();
    let mut rows = (Vec::new(), Vec::new());
    candidates
        .into_iter()
        .filter_map(|c| {
            let limit = (c.len().max(name.len()) / 3).max(2);
            let b: Vec<char> = c.chars().collect();
            within(&a, &b, limit, &mut rows).map(|d| (d, c))
        })
        .min()
        .map(|(_, c)| c)
}

/// The names a "did you mean" chooses from, prepared once for many diagnostics: each name's
/// characters, and the list that the help gives when no name is close. A file with thousands
/// of misspelt names costs one comparison per name and candidate, and no candidate list is
/// built or joined again per diagnostic.
#[derive(Debug, Clone)]
pub struct Candidates {
    what: String,
    names: Vec<(String, Vec<char>)>,
    list: String,
}

impl Candidates {
    /// `what` names the kind of name in the help (`known {what}s: …`).
    pub fn new<'a>(what: &str, names: impl IntoIterator<Item = &'a str>) -> Candidates {
        let names: Vec<(String, Vec<char>)> = names
            .into_iter()
            .map(|n| (n.to_string(), n.chars().collect()))
            .collect();
        let list = names
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Candidates {
            what: what.to_string(),
            names,
            list,
        }
    }

    /// The kind of name (`feature`, `kind`, `observable`).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The closest name to `name` among these and `extra` (as [`closest`] over both).
    pub fn closest<'a>(&'a self, name: &str, extra: &[&'a str]) -> Option<&'a str> {
        let a: Vec<char> = name.chars().collect();
        let mut rows = (Vec::new(), Vec::new());
        let mut best: Option<(usize, &str)> = None;
        let mut consider = |c: &'a str, b: &[char]| {
            let limit = (c.len().max(name.len()) / 3).max(2);
            if let Some(d) = within(&a, b, limit, &mut rows) {
                if best.is_none_or(|x| (d, c) < x) {
                    best = Some((d, c));
                }
            }
        };
        for (c, b) in &self.names {
            consider(c, b);
        }
        for c in extra {
            let b: Vec<char> = c.chars().collect();
            consider(c, &b);
        }
        best.map(|(_, c)| c)
    }

    /// Add "did you mean" (or the list of known names, these and then `extra`) to `d`.
    pub fn help(&self, d: Diagnostic, name: &str, extra: &[&str]) -> Diagnostic {
        match self.closest(name, extra) {
            Some(c) => d.with_help(format!("did you mean `{c}`?")),
            None => {
                let mut list = self.list.clone();
                for e in extra {
                    if !list.is_empty() {
                        list.push_str(", ");
                    }
                    list.push_str(e);
                }
                d.with_help(format!("known {}s: {list}", self.what))
            }
        }
    }
}

/// The edit distance of `a` and `b` if it is at most `limit`: two names whose lengths differ
/// by more are not compared at all. `rows` are reused buffers.
fn within(
    a: &[char],
    b: &[char],
    limit: usize,
    rows: &mut (Vec<usize>, Vec<usize>),
) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let d = edit_distance(a, b, rows);
    (d <= limit).then_some(d)
}

fn edit_distance(a: &[char], b: &[char], rows: &mut (Vec<usize>, Vec<usize>)) -> usize {
    let (prev, cur) = rows;
    prev.clear();
    prev.extend(0..=b.len());
    for (i, ca) in a.iter().enumerate() {
        cur.clear();
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        std::mem::swap(prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_index_agrees_with_line_col() {
        let t = "a\nbé c\n\n\nlast é line\n";
        let idx = LineIndex::new(t);
        for offset in (0..=t.len() + 3).filter(|o| t.is_char_boundary((*o).min(t.len()))) {
            assert_eq!(idx.line_col(offset), line_col(t, offset), "offset {offset}");
        }
    }

    #[test]
    fn keys_are_found_as_keys() {
        let t = "[[case.step]]\ncode = 'fram = 1'\nexpect = { fram = 1, \"x y\".z = 2 }\n";
        assert_eq!(line_col(t, key_offset(t, 0, "fram").unwrap()), (3, 12));
        assert_eq!(line_col(t, key_offset(t, 0, "x y").unwrap()), (3, 22));
        assert_eq!(line_col(t, value_offset(t, 0, "fram").unwrap()), (3, 19));
        assert_eq!(key_offset(t, 0, "expec"), None);
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn closest_suggests_near_names_only() {
        assert_eq!(closest("fram", ["frame", "code"]), Some("frame"));
        assert_eq!(closest("zzzzzz", ["frame", "code"]), None);
    }
}
