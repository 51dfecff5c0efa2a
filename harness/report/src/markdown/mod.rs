//! `matrix.md` and `matrix/*.md`: the matrix as a summary that reads well on a code host.
//!
//! `matrix.md` is the index (provenance, columns, totals, the sections, runtimes not run);
//! each section is one table in `matrix/<section>.md` and the known deviations are listed
//! once each in `matrix/known-deviations.md`. Columns fold into families and adjacent
//! versions that show the same into one group ([`groups`]), so the files stay far below the
//! size above which a code host stops rendering Markdown; matrix.html and matrix.json keep
//! every column and check apart.

pub mod groups;
pub mod notes;
pub mod section;

use std::fmt::Write as _;

use crate::matrix::{CellState, Matrix, MatrixColumn};
use crate::text::{md, md_code};
use groups::Family;
use notes::Notes;

/// The index file, relative to the reports directory.
pub const INDEX: &str = "matrix.md";
/// The directory of the per-section files, relative to the reports directory.
pub const DIR: &str = "matrix";
/// The deviations' file name inside [`DIR`].
pub const NOTES_FILE: &str = "known-deviations.md";

/// The file name inside [`DIR`] of a section: its name made safe for a path.
pub fn section_file(name: &str) -> String {
    let mut slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if slug.is_empty() || format!("{slug}.md") == NOTES_FILE {
        slug.push_str("-section");
    }
    format!("{slug}.md")
}

/// Every Markdown file of the matrix: `(path relative to the reports directory, contents)`,
/// the index first, then the sections in order, then the deviations.
pub fn render(m: &Matrix) -> Vec<(String, String)> {
    let families = groups::families(&m.columns);
    let names = Notes::new(m);
    let mut out = vec![(INDEX.to_string(), index(m, &families, &names))];
    for sec in &m.sections {
        out.push((
            format!("{DIR}/{}", section_file(&sec.name)),
            section::render(m, sec, &families, &names, "../matrix.md", NOTES_FILE),
        ));
    }
    out.push((
        format!("{DIR}/{NOTES_FILE}"),
        notes::render(m, &names, &families, "../matrix.md"),
    ));
    out
}

fn index(m: &Matrix, families: &[Family], names: &Notes) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Compatibility matrix\n");
    let _ = writeln!(
        s,
        "What every runtime does with each observable of the asynchronous operation introspection protocol \
         ([bpo-31230](https://bugs.python.org/issue31230)), per naming layer and object kind. Made by `introspec report` \
         from {} (`{}`) of harness {} at commit `{}` (spec digest `{}`); `introspec run` remakes it.{}\n",
        m.results_file
            .as_deref()
            .map(md_code)
            .unwrap_or_else(|| "a results file".into()),
        m.results_schema,
        m.harness.version,
        m.harness.commit,
        m.harness.spec_digest,
        if m.interrupted { " **The run was interrupted: only the trials finished before are counted.**" } else { "" }
    );
    let _ = writeln!(
        s,
        "This is a summary: each section is one table, with a column per family of columns (below) and one cell \
         per group of adjacent versions that show the same (`3.9–3.13: pass`). Every column apart, with the cases \
         behind each cell, is in [matrix.html](matrix.html) and [matrix.json](matrix.json).\n"
    );
    let _ = writeln!(
        s,
        "Cells: **pass** every check passed · **partial** some checks failed · **fail** no check passed · \
         **absent** the spelling does not exist there (per the spec's feature versions, confirmed by the run) or nothing was observed · \
         **n/a** the kind does not exist there. `Dn` links a known deviation (reason and source in \
         [known deviations]({DIR}/{NOTES_FILE})). \
         The `delegation` layer is the contested part of the proposal and is reported apart from `proposal`.\n"
    );
    sections_table(&mut s, m);
    let _ = writeln!(
        s,
        "[Known deviations]({DIR}/{NOTES_FILE}): {} distinct, behind {} notes.\n",
        names.entries.len(),
        m.deviations.len()
    );
    families_table(&mut s, m, families);
    columns_table(&mut s, m);
    totals_table(&mut s, m);
    not_run(&mut s, m);
    s
}

fn sections_table(s: &mut String, m: &Matrix) {
    let _ = writeln!(s, "## Sections\n");
    let _ = write!(s, "| section | observables | rows |");
    for st in CellState::ALL {
        let _ = write!(s, " cells {} |", st.name());
    }
    let _ = write!(s, "\n|---|---|--:|");
    for _ in CellState::ALL {
        s.push_str("--:|");
    }
    s.push('\n');
    for sec in &m.sections {
        let mut obs: Vec<&str> = Vec::new();
        for r in &sec.rows {
            if !obs.contains(&r.observable.as_str()) {
                obs.push(&r.observable);
            }
        }
        let obs: Vec<String> = obs.iter().map(|o| md_code(o)).collect();
        let _ = write!(
            s,
            "| [`{}`]({DIR}/{}) | {} | {} |",
            sec.name,
            section_file(&sec.name),
            obs.join(", "),
            sec.rows.len()
        );
        for st in CellState::ALL {
            let n = sec
                .rows
                .iter()
                .flat_map(|r| &r.cells)
                .filter(|c| c.state == st)
                .count();
            let _ = write!(s, " {n} |");
        }
        s.push('\n');
    }
    s.push('\n');
}

fn families_table(s: &mut String, m: &Matrix, families: &[Family]) {
    let _ = writeln!(s, "## Families of columns\n");
    let _ = writeln!(s, "| family | versions | columns |\n|---|---|---|");
    for f in families {
        let cols: Vec<String> = f.columns.iter().map(|c| md(&m.columns[*c].name)).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            md(&f.name),
            f.labels.join(", "),
            cols.join(", ")
        );
    }
    s.push('\n');
}

fn columns_table(s: &mut String, m: &Matrix) {
    let _ = writeln!(s, "## Columns\n");
    let _ = writeln!(s, "| column | implementation | Python | observer | cases compiled with | reference loaded | build |\n|---|---|---|---|---|---|---|");
    for c in &m.columns {
        let build = c.build_label();
        let _ = writeln!(
            s,
            "| {} | {} {} | {} | {} | {} | {} | {} |",
            md(&c.name),
            md(&c.implementation),
            md(&c.implementation_version),
            md(&c.version),
            md(c.observer.name()),
            md(&compiled_with(c)),
            if c.reference { "yes" } else { "no" },
            md(&build)
        );
    }
    s.push('\n');
}

/// `—` for the runtime's own objects, else the compiler (and its release).
pub fn compiled_with(c: &MatrixColumn) -> String {
    match c.compiler {
        None => "—".to_string(),
        Some(compiler) => c
            .compiler_version
            .clone()
            .unwrap_or_else(|| compiler.name().into()),
    }
}

/// A row per column: its rows in each state, its checks, its trials in each status.
fn totals_table(s: &mut String, m: &Matrix) {
    let _ = writeln!(s, "## Totals per column\n");
    // trial statuses that occur anywhere, in the judge's order
    let order = introspec_judge::Status::ALL.map(|x| x.name().to_lowercase());
    let statuses: Vec<&String> = order
        .iter()
        .filter(|k| {
            m.totals
                .iter()
                .any(|t| t.trials.get(*k).copied().unwrap_or(0) > 0)
        })
        .collect();
    let _ = write!(s, "| column |");
    for st in CellState::ALL {
        let _ = write!(s, " rows {} |", st.name());
    }
    s.push_str(" checks passed | checks failed | checks failed as known |");
    for k in &statuses {
        let _ = write!(s, " trials {} |", k.to_uppercase());
    }
    s.push_str("\n|---|");
    for _ in 0..CellState::ALL.len() + 3 + statuses.len() {
        s.push_str("--:|");
    }
    s.push('\n');
    for t in &m.totals {
        let _ = write!(s, "| {} |", md(&t.column));
        for st in CellState::ALL {
            let _ = write!(s, " {} |", t.rows.get(st.name()).copied().unwrap_or(0));
        }
        let _ = write!(
            s,
            " {} | {} | {} |",
            t.checks_pass, t.checks_fail, t.checks_xfail
        );
        for k in &statuses {
            let _ = write!(s, " {} |", t.trials.get(*k).copied().unwrap_or(0));
        }
        s.push('\n');
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
