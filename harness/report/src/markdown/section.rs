//! One section of the matrix as one Markdown table: a row per spelling (observable, kind,
//! layer), a column per family, each cell folded into version groups.

use std::fmt::Write as _;

use super::groups::Family;
use super::notes::{anchor, Notes};
use crate::matrix::{Cell, CellState, Matrix, Row, Section, SHOWN_DEVIATIONS};
use crate::text::{md, md_code};

/// What one cell of one column shows; equal texts fold into one version group. Deviations
/// are named by their entry ([`Notes::name`]), so notes of one deviation recorded in
/// several places read the same. `notes` is the file the deviation links point into.
pub fn cell_text(c: &Cell, names: &Notes, notes: &str) -> String {
    let total = c.pass + c.fail + c.xfail;
    let mut out = match c.state {
        CellState::Pass => "pass".to_string(),
        CellState::Partial => format!("partial {}/{}", c.pass, total),
        // no check passed: how many there were varies with the cases a version runs, so
        // the summary leaves it to matrix.html and folds the versions
        CellState::Fail => "**fail**".to_string(),
        CellState::Absent => "absent".to_string(),
        CellState::NotApplicable => "n/a".to_string(),
    };
    let mut shown: Vec<&str> = Vec::new();
    for d in &c.deviations {
        let n = names.name(d);
        if !shown.contains(&n) {
            shown.push(n);
        }
    }
    for d in shown.iter().take(SHOWN_DEVIATIONS) {
        let _ = write!(out, " [{d}]({notes}#{})", anchor(d));
    }
    if shown.len() > SHOWN_DEVIATIONS {
        let _ = write!(out, " +{}", shown.len() - SHOWN_DEVIATIONS);
    }
    if c.incomplete > 0 {
        let _ = write!(out, " ({} unfinished)", c.incomplete);
    }
    out
}

/// `(3.9+)`, `(3.5–3.13)`, `(reference only)` after a spelling.
fn since(since: Option<&str>, until: Option<&str>) -> String {
    match (since, until) {
        (Some("reference"), _) => " (reference only)".into(),
        (Some(v), Some(u)) => format!(" ({v}–{u})"),
        (Some(v), None) => format!(" ({v}+)"),
        _ => String::new(),
    }
}

/// The spelling cell: the spelling linked to its source, and the versions that have it.
fn spelling(r: &Row) -> String {
    match (&r.spelling, r.source.is_empty()) {
        (Some(sp), false) => format!(
            "[{}]({}){}",
            md_code(sp),
            r.source,
            since(r.since.as_deref(), r.until.as_deref())
        ),
        (Some(sp), true) => md_code(sp),
        (None, false) => format!("[source]({})", r.source),
        (None, true) => String::new(),
    }
}

/// A family's header cell: its name and the versions it has.
pub fn family_header(f: &Family) -> String {
    format!(
        "{}<br><sub>{}</sub>",
        md(&f.name),
        f.range(0, f.columns.len() - 1)
    )
}

/// The table of one section, with `heading` as the line above it.
pub fn table(s: &mut String, sec: &Section, families: &[Family], names: &Notes, notes: &str) {
    let _ = write!(s, "| observable | kind | layer | spelling |");
    for f in families {
        let _ = write!(s, " {} |", family_header(f));
    }
    let _ = write!(s, "\n|---|---|---|---|");
    for _ in families {
        s.push_str(":-:|");
    }
    s.push('\n');
    for r in &sec.rows {
        let layer = if r.optional {
            format!("{} (optional)", r.layer)
        } else {
            r.layer.clone()
        };
        let _ = write!(
            s,
            "| {} | {} | {} | {} |",
            md_code(&r.observable),
            md(&r.kind),
            md(&layer),
            spelling(r)
        );
        for f in families {
            let texts: Vec<String> = f
                .columns
                .iter()
                .map(|c| cell_text(&r.cells[*c], names, notes))
                .collect();
            let _ = write!(s, " {} |", f.cell(&texts));
        }
        s.push('\n');
    }
    s.push('\n');
}

/// The file of one section; `back` links to the index, `notes` to the deviations' file.
pub fn render(
    m: &Matrix,
    sec: &Section,
    families: &[Family],
    names: &Notes,
    back: &str,
    notes: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Section `{}`\n", sec.name);
    let _ = writeln!(
        s,
        "[← the matrix]({back}) · [known deviations]({notes}) · from a results file of commit `{}` \
         (spec digest `{}`). A column per family of columns, a cell per group of adjacent versions \
         that show the same; every column apart, with each check, is in matrix.html and matrix.json.\n",
        m.harness.commit, m.harness.spec_digest
    );
    let mut seen: Vec<&str> = Vec::new();
    for r in &sec.rows {
        if !seen.contains(&r.observable.as_str()) {
            seen.push(&r.observable);
            if r.summary.is_empty() {
                let _ = writeln!(s, "- {}", md_code(&r.observable));
            } else {
                let _ = writeln!(s, "- {}: {}", md_code(&r.observable), md(&r.summary));
            }
        }
    }
    s.push('\n');
    table(&mut s, sec, families, names, notes);
    s
}
