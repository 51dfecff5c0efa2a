//! `matrix.md`: the matrix as Markdown that reads well on a code host.

use std::fmt::Write as _;

use crate::matrix::{Cell, CellState, Matrix, MatrixColumn};
use crate::text::{md, md_code};

/// Render the whole Markdown report.
pub fn render(m: &Matrix) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Compatibility matrix\n");
    let _ = writeln!(
        s,
        "What every runtime does with each observable of the asynchronous operation introspection protocol \
         ([bpo-31230](https://bugs.python.org/issue31230)), per naming layer and object kind. Made by `introspec report` \
         from a results file (`{}`) of harness {} at commit `{}` (spec digest `{}`); `introspec run` remakes it.{}\n",
        m.results_schema,
        m.harness.version,
        m.harness.commit,
        m.harness.spec_digest,
        if m.interrupted { " **The run was interrupted: only the trials finished before are counted.**" } else { "" }
    );
    let _ = writeln!(
        s,
        "Cells: **pass** every check passed · **partial** some checks failed · **fail** no check passed · \
         **absent** the spelling does not exist there (per the spec's feature versions, confirmed by the run) or nothing was observed · \
         **n/a** the kind does not exist there. `Dn` links a known deviation (reason and source below). \
         The `delegation` layer is the contested part of the proposal and is reported apart from `proposal`.\n"
    );
    columns_table(&mut s, m);
    totals_table(&mut s, m);
    for sec in &m.sections {
        let _ = writeln!(s, "## Section `{}`\n", sec.name);
        let _ = write!(s, "| observable | kind | layer | spelling |");
        for c in &m.columns {
            let _ = write!(s, " {} |", header(c));
        }
        let _ = write!(s, "\n|---|---|---|---|");
        for _ in &m.columns {
            s.push_str(":-:|");
        }
        s.push('\n');
        for r in &sec.rows {
            let layer = if r.optional {
                format!("{} (optional)", r.layer)
            } else {
                r.layer.clone()
            };
            let spelling = match (&r.spelling, r.source.is_empty()) {
                (Some(sp), false) => format!(
                    "[{}]({}){}",
                    md_code(sp),
                    r.source,
                    since(r.since.as_deref(), r.until.as_deref())
                ),
                (Some(sp), true) => md_code(sp),
                (None, false) => format!("[source]({})", r.source),
                (None, true) => String::new(),
            };
            let _ = write!(
                s,
                "| {} | {} | {} | {} |",
                md_code(&r.observable),
                md(&r.kind),
                md(&layer),
                spelling
            );
            for c in &r.cells {
                let _ = write!(s, " {} |", cell(c));
            }
            s.push('\n');
        }
        s.push('\n');
    }
    deviations(&mut s, m);
    not_run(&mut s, m);
    s
}

fn since(since: Option<&str>, until: Option<&str>) -> String {
    match (since, until) {
        (Some("reference"), _) => " (reference only)".into(),
        (Some(v), Some(u)) => format!(" ({v}–{u})"),
        (Some(v), None) => format!(" ({v}+)"),
        _ => String::new(),
    }
}

/// A column's header: its name, the observer that read it, whether the reference is loaded.
fn header(c: &MatrixColumn) -> String {
    format!("{}<br><sub>{}</sub>", md(&c.name), md(&c.subtitle()))
}

fn cell(c: &Cell) -> String {
    let total = c.pass + c.fail + c.xfail;
    let mut out = match c.state {
        CellState::Pass => "pass".to_string(),
        CellState::Partial => format!("partial {}/{}", c.pass, total),
        CellState::Fail => format!("**fail** {}/{}", c.pass, total),
        CellState::Absent => "absent".to_string(),
        CellState::NotApplicable => "n/a".to_string(),
    };
    for d in c.deviations.iter().take(crate::matrix::SHOWN_DEVIATIONS) {
        let _ = write!(out, " [{d}](#{})", d.to_lowercase());
    }
    if c.deviations.len() > crate::matrix::SHOWN_DEVIATIONS {
        let _ = write!(
            out,
            " +{}",
            c.deviations.len() - crate::matrix::SHOWN_DEVIATIONS
        );
    }
    if c.incomplete > 0 {
        let _ = write!(out, " ({} unfinished)", c.incomplete);
    }
    out
}

fn columns_table(s: &mut String, m: &Matrix) {
    let _ = writeln!(s, "## Columns\n");
    let _ = writeln!(s, "| column | implementation | Python | observer | cases compiled with | reference loaded | build |\n|---|---|---|---|---|---|---|");
    for c in &m.columns {
        let mut build = c.build.clone();
        if c.free_threaded {
            build.push_str(" (free-threaded)");
        }
        if c.debug {
            build.push_str(" (debug)");
        }
        let _ = writeln!(
            s,
            "| {} | {} {} | {} | {} | {} | {} | {} |",
            md(&c.name),
            md(&c.implementation),
            md(&c.implementation_version),
            md(&c.version),
            md(&c.observer),
            md(&compiled_with(c)),
            if c.reference { "yes" } else { "no" },
            md(&build)
        );
    }
    s.push('\n');
}

/// `—` for the runtime's own objects, else the compiler (and its release).
pub fn compiled_with(c: &MatrixColumn) -> String {
    if c.compiler == "cpython" {
        "—".to_string()
    } else {
        c.compiler_version
            .clone()
            .unwrap_or_else(|| c.compiler.clone())
    }
}

fn totals_table(s: &mut String, m: &Matrix) {
    let _ = writeln!(s, "## Totals per column\n");
    let _ = write!(s, "| |");
    for c in &m.columns {
        let _ = write!(s, " {} |", header(c));
    }
    let _ = write!(s, "\n|---|");
    for _ in &m.columns {
        s.push_str("--:|");
    }
    s.push('\n');
    for st in CellState::ALL {
        let _ = write!(s, "| rows {} |", st.name());
        for t in &m.totals {
            let _ = write!(s, " {} |", t.rows.get(st.name()).copied().unwrap_or(0));
        }
        s.push('\n');
    }
    type Count = fn(&crate::matrix::Totals) -> u32;
    let lines: [(&str, Count); 3] = [
        ("checks passed", |t| t.checks_pass),
        ("checks failed", |t| t.checks_fail),
        ("checks failed as known", |t| t.checks_xfail),
    ];
    for (label, f) in lines {
        let _ = write!(s, "| {label} |");
        for t in &m.totals {
            let _ = write!(s, " {} |", f(t));
        }
        s.push('\n');
    }
    // trial statuses that occur anywhere, in the judge's order
    let statuses: Vec<&String> = m
        .totals
        .first()
        .map(|t| t.trials.keys().collect())
        .unwrap_or_default();
    let order = introspec_judge::Status::ALL.map(|x| x.name().to_lowercase());
    let mut shown: Vec<&String> = statuses
        .into_iter()
        .filter(|k| {
            m.totals
                .iter()
                .any(|t| t.trials.get(*k).copied().unwrap_or(0) > 0)
        })
        .collect();
    shown.sort_by_key(|k| order.iter().position(|o| o == *k));
    for k in shown {
        let _ = write!(s, "| trials {} |", k.to_uppercase());
        for t in &m.totals {
            let _ = write!(s, " {} |", t.trials.get(k).copied().unwrap_or(0));
        }
        s.push('\n');
    }
    s.push('\n');
}

fn deviations(s: &mut String, m: &Matrix) {
    if m.deviations.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Known deviations\n");
    for d in &m.deviations {
        let cols: Vec<&str> = m
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| m.rows().any(|r| r.cells[*i].deviations.contains(&d.id)))
            .map(|(_, c)| c.name.as_str())
            .collect();
        let _ = writeln!(
            s,
            "- <a id=\"{}\"></a>**{}** {} — [source]({}) (recorded in `{}`; applies in: {})",
            d.id.to_lowercase(),
            d.id,
            md(&d.reason),
            d.link,
            d.origin,
            cols.join(", ")
        );
    }
    s.push('\n');
}

fn not_run(s: &mut String, m: &Matrix) {
    let n = &m.not_run;
    let _ = writeln!(s, "## Runtimes not in the matrix\n");
    if n.absent.is_empty() && n.unusable.is_empty() && n.broken.is_empty() {
        let _ = writeln!(
            s,
            "None: every runtime the project looks for was found and ran."
        );
        return;
    }
    for a in &n.absent {
        let _ = writeln!(
            s,
            "- **absent** `{}`: not installed on the machine that ran; install it with `{}`",
            a.name, a.install
        );
    }
    for u in &n.unusable {
        let _ = writeln!(
            s,
            "- **unusable** `{}` (found by {}): {}",
            u.path,
            u.found_by,
            md(&u.why)
        );
    }
    for b in &n.broken {
        let _ = writeln!(
            s,
            "- **broken** `{}`: its worker could not start: {}",
            b.column,
            md(&b.why)
        );
    }
}
