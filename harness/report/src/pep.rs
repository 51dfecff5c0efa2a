//! The PEP material for bpo-31230, in reStructuredText as PEPs are written:
//! `pep-evidence.rst` ([`document`]), in the order of a PEP's sections, a few hundred lines
//! to paste from, and `pep-evidence-appendix.rst` ([`appendix`]), the full per-check data it
//! is drawn from. Both are made from the main results file plus the other committed results
//! files ([`sources`]), the spec, the cases' titles and the usage-in-the-wild report; the
//! fixed prose is [`prose`]'s.

pub mod appendix;
pub mod document;
pub mod prose;
pub mod sources;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use introspec_results::Results;
use introspec_spec::Spec;

use crate::matrix::Matrix;
use crate::text::rst_code;
use sources::{Origin, Sources};

/// The document, relative to the reports directory.
pub const DOCUMENT: &str = "pep-evidence.rst";
/// Its appendix, beside it.
pub const APPENDIX: &str = "pep-evidence-appendix.rst";

/// Both documents: `[(DOCUMENT, text), (APPENDIX, text)]`.
pub fn render(results: &Results, spec: &Spec, sources: &Sources) -> [(String, String); 2] {
    let (all, origins) = sources::combine(results, sources);
    let m = Matrix::build(&all, spec);
    let prose = prose::prose();
    [
        (
            DOCUMENT.to_string(),
            document::render(&m, &all, &origins, sources, &prose),
        ),
        (
            APPENDIX.to_string(),
            appendix::render(&m, &all, &origins, spec),
        ),
    ]
}

/// The field list that says where the numbers come from: each results file with its
/// commit, spec digest, trials and columns.
pub(crate) fn provenance(s: &mut String, m: &Matrix, results: &Results, origins: &[Origin]) {
    let _ = writeln!(s, ":Harness: introspec {}", m.harness.version);
    for (i, o) in origins.iter().enumerate() {
        if !o.used {
            let _ = writeln!(
                s,
                ":Not used: ``{}``: commit ``{}``, made against spec digest ``{}``, not ``{}``",
                o.file, o.commit, o.spec_digest, m.harness.spec_digest
            );
            continue;
        }
        if o.columns.is_empty() && !o.superseded.is_empty() {
            let _ = writeln!(
                s,
                ":Also committed: ``{}``: commit ``{}``, spec digest ``{}``: its {} column(s) are in the main results too, whose trials are used",
                o.file,
                o.commit,
                o.spec_digest,
                o.superseded.len()
            );
            continue;
        }
        let columns = if i == 0 {
            format!("{} columns", o.columns.len())
        } else {
            format!(
                "{} columns ({})",
                o.columns.len(),
                o.columns
                    .iter()
                    .map(|c| rst_code(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let _ = writeln!(
            s,
            ":{}: ``{}``: commit ``{}``, spec digest ``{}``, ``{}``, {} trials on {columns}",
            if i == 0 { "Results" } else { "More results" },
            o.file,
            o.commit,
            o.spec_digest,
            m.results_schema,
            o.trials
        );
    }
    let _ = writeln!(
        s,
        ":Cases: {}{}",
        m.cases.len(),
        if results.interrupted {
            " (a run was interrupted: its trials are those finished)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        ":Issue: `bpo-31230 <https://bugs.python.org/issue31230>`__"
    );
}

pub(crate) fn heading(s: &mut String, text: &str, ch: char) {
    let _ = writeln!(
        s,
        "{text}\n{}\n",
        ch.to_string().repeat(text.chars().count())
    );
}

/// Start a list-table with these header cells.
pub(crate) fn table(s: &mut String, widths: &[u32], header: &[&str]) {
    let _ = writeln!(s, ".. list-table::\n   :header-rows: 1");
    let _ = writeln!(
        s,
        "   :widths: {}\n",
        widths
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    table_row(s, &header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
}

pub(crate) fn table_row(s: &mut String, cells: &[String]) {
    for (i, c) in cells.iter().enumerate() {
        let lead = if i == 0 { "   * - " } else { "     - " };
        if c.is_empty() {
            let _ = writeln!(s, "{}", lead.trim_end());
        } else {
            let _ = writeln!(s, "{lead}{c}");
        }
    }
}

/// A reStructuredText simple table: one line per row. Every column is as wide as its widest
/// cell; an empty cell is written `—` (an empty first cell would continue the row above).
pub(crate) fn simple_table(s: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let cell = |c: &str| {
        if c.trim().is_empty() {
            "—".to_string()
        } else {
            c.replace('\n', " ")
        }
    };
    let header: Vec<String> = header.iter().map(|h| cell(h)).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .chain(std::iter::once(&header[i]))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(1)
        })
        .collect();
    let border = widths
        .iter()
        .map(|w| "=".repeat(*w))
        .collect::<Vec<_>>()
        .join("  ");
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(c);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.trim_end().to_string()
    };
    let _ = writeln!(s, "{border}\n{}\n{border}", line(&header));
    for r in &rows {
        let _ = writeln!(s, "{}", line(r));
    }
    let _ = writeln!(s, "{border}\n");
}

/// Case ids grouped by their first two components: ``generator.state.*`` (17); a group of
/// one is written out in full.
pub fn case_groups<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for id in ids {
        let parts: Vec<&str> = id.splitn(3, '.').collect();
        let key = if parts.len() == 3 {
            format!("{}.{}", parts[0], parts[1])
        } else {
            id.to_string()
        };
        let v = groups.entry(key).or_default();
        if !v.contains(&id) {
            v.push(id);
        }
    }
    groups
        .into_iter()
        .map(|(k, v)| {
            if v.len() == 1 {
                rst_code(v[0])
            } else {
                format!("{} ({})", rst_code(&format!("{k}.*")), v.len())
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A short name for a source link: `GH-30633`, `gh-143999`, `msg300475`, `PEP 492`,
/// `cython#7448`, `genobject.c@3.10`, `docs: inspect`.
pub fn source_label(url: &str) -> String {
    let rest = url
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let parts: Vec<&str> = rest.split('/').collect();
    let num = |s: &str| s.split(['#', '?']).next().unwrap_or_default().to_string();
    match parts.as_slice() {
        ["github.com", "python", "cpython", "pull", n, ..] => format!("GH-{}", num(n)),
        ["github.com", "python", "cpython", "issues", n, ..] => format!("gh-{}", num(n)),
        ["github.com", _, repo, "issues" | "pull", n, ..] => format!("{repo}#{}", num(n)),
        ["github.com", _, repo, "commit", sha, ..] => {
            format!("{repo}@{}", &sha[..sha.len().min(7)])
        }
        ["github.com", _, _, "blob", "branches", r, .., file]
        | ["github.com", _, _, "blob", r, .., file] => {
            let r = if r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit()) {
                &r[..12]
            } else {
                r
            };
            format!("{}@{r}", num(file))
        }
        ["bugs.python.org", issue, ..] => match issue.split_once('#') {
            Some((_, msg)) => msg.to_string(),
            None => format!("bpo-{}", issue.trim_start_matches("issue")),
        },
        ["peps.python.org", pep, ..] => format!(
            "PEP {}",
            pep.trim_start_matches("pep-").trim_start_matches('0')
        ),
        ["docs.python.org", .., page] => format!(
            "docs: {}",
            page.split(['#', '.']).next().unwrap_or_default()
        ),
        [host, ..] => host.to_string(),
        [] => "source".into(),
    }
}

/// `3.14.7` as `[3, 14, 7]` (the leading digits of each part), for comparing versions.
pub fn version_parts(v: &str) -> Vec<u64> {
    v.split('.')
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        })
        .collect()
}

/// The checks of some layers in one column.
pub(crate) struct LayerSum {
    pub pass: u32,
    pub fail: u32,
    pub xfail: u32,
    pub agreement_pass: u32,
    pub agreement_total: u32,
    pub cases: BTreeSet<String>,
}

impl LayerSum {
    /// "12 of 14 pass, 2 fail".
    pub fn counts(&self) -> String {
        let mut out = format!(
            "{} of {} pass",
            self.pass,
            self.pass + self.fail + self.xfail
        );
        if self.fail > 0 {
            let _ = write!(out, ", {} fail", self.fail);
        }
        if self.xfail > 0 {
            let _ = write!(out, ", {} known", self.xfail);
        }
        out
    }
}

/// Sum the checks of `layers` in `column`, agreement checks apart.
pub(crate) fn layer_sum(results: &Results, column: &str, layers: &[&str]) -> LayerSum {
    let mut sum = LayerSum {
        pass: 0,
        fail: 0,
        xfail: 0,
        agreement_pass: 0,
        agreement_total: 0,
        cases: BTreeSet::new(),
    };
    for t in results.trials.iter().filter(|t| t.column == column) {
        for ta in t
            .tally
            .iter()
            .filter(|ta| layers.contains(&ta.layer.as_str()))
        {
            sum.pass += ta.pass;
            sum.fail += ta.fail;
            sum.xfail += ta.xfail;
            if ta.kind.is_agreement() {
                sum.agreement_pass += ta.pass;
                sum.agreement_total += ta.pass + ta.fail + ta.xfail;
            }
            sum.cases.insert(t.case.clone());
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_labels_name_the_change() {
        for (url, want) in [
            ("https://github.com/python/cpython/pull/30633", "GH-30633"),
            (
                "https://github.com/python/cpython/issues/143999",
                "gh-143999",
            ),
            (
                "https://github.com/cython/cython/issues/7448",
                "cython#7448",
            ),
            ("https://github.com/pypy/pypy/issues/3995", "pypy#3995"),
            (
                "https://github.com/python/cpython/commit/7e2c9bdc989a2e10e093a18287a107aac7750091",
                "cpython@7e2c9bd",
            ),
            (
                "https://github.com/python/cpython/blob/3.10/Objects/frameobject.c",
                "frameobject.c@3.10",
            ),
            ("https://bugs.python.org/issue31230#msg300475", "msg300475"),
            (
                "https://github.com/pypy/pypy/blob/branches/py3.9/pypy/interpreter/generator.py",
                "generator.py@py3.9",
            ),
            ("https://bugs.python.org/issue30773", "bpo-30773"),
            ("https://peps.python.org/pep-0492/", "PEP 492"),
            (
                "https://docs.python.org/3/library/inspect.html#inspect.getgeneratorstate",
                "docs: inspect",
            ),
        ] {
            assert_eq!(source_label(url), want, "{url}");
        }
    }

    #[test]
    fn simple_tables_pad_every_column_and_never_leave_a_first_cell_empty() {
        let mut s = String::new();
        simple_table(
            &mut s,
            &["a", "bb"],
            &[vec!["xyz".into(), "1".into()], vec!["".into(), "22".into()]],
        );
        assert_eq!(s, "===  ==\na    bb\n===  ==\nxyz  1\n—    22\n===  ==\n\n");
    }

    #[test]
    fn versions_compare_by_number() {
        assert!(version_parts("3.14.7") < version_parts("3.15"));
        assert!(version_parts("3.9.18") < version_parts("3.10"));
        assert!(version_parts("3.15.0a1") >= version_parts("3.15"));
    }
}
