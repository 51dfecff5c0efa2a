//! `pep-evidence-appendix.rst`: the full per-check data behind `pep-evidence.rst`: the runtime
//! builds, every spelling per kind and layer with what each column showed, the state
//! semantics with every distinct difference observed, the proposal and delegation layers
//! per runtime, every case, and each distinct known deviation once, as a citation the cells
//! name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use introspec_results::Results;
use introspec_spec::Spec;

use super::sources::Origin;
use super::{case_groups, heading, layer_sum, provenance, table, table_row};
use crate::markdown::notes::Notes;
use crate::matrix::{counts_for, CellState, Matrix, Row, BEHAVIOUR_LAYER};
use crate::text::{rst, rst_code};

/// The most distinct failing observations shown per spelling.
const MAX_DIFFERENCES: usize = 12;
/// The most places (column, case, step) shown per observation.
const MAX_PLACES: usize = 6;

/// The sections whose observables describe the state of an operation.
const STATE_SECTIONS: [&str; 4] = ["frame", "running", "state", "delegation"];
/// The section of the events observables (spec/observables.toml), shown apart.
const EVENTS_SECTION: &str = "events";

/// Render the appendix of the combined results (`results`, `origins`).
pub fn render(m: &Matrix, results: &Results, origins: &[Origin], spec: &Spec) -> String {
    let mut s = String::new();
    let title = "Appendix: every check behind the PEP material for bpo-31230";
    let bar = "=".repeat(title.chars().count());
    let _ = writeln!(s, ".. This file is made by `introspec report` from the results files named below; edit the spec,");
    let _ = writeln!(
        s,
        "   the cases or the report code instead, then run `introspec report`.\n"
    );
    let _ = writeln!(s, "{bar}\n{title}\n{bar}\n");
    provenance(&mut s, m, results, origins);
    let _ = writeln!(
        s,
        ":Document: `{} <{}>`__\n",
        super::DOCUMENT,
        super::DOCUMENT
    );
    let _ = writeln!(
        s,
        "Every number below is a count of checks: one expectation of one case, read through one spelling, at one \
         snapshot (after a step, or from inside the running body). Each table names the columns (see \
         `Runtime builds`_) and the cases it counts; the cases live in ``cases/`` of the harness at the commits above. \
         ``[Dn]`` names a known deviation, listed once under `Known deviations`_.\n"
    );
    let notes = Notes::new(m);
    builds(&mut s, m);
    spellings(&mut s, m, spec, &notes);
    semantics(&mut s, m, results, &notes);
    proposal(
        &mut s,
        m,
        results,
        "proposal",
        "What the proposed protocol changes",
        false,
    );
    proposal(
        &mut s,
        m,
        results,
        "delegation",
        "The delegation layer (optional, contested)",
        true,
    );
    events(&mut s, m, results, &notes);
    cases(&mut s, m, results);
    deviation_list(&mut s, &notes);
    s
}

fn builds(s: &mut String, m: &Matrix) {
    heading(s, "Runtime builds", '=');
    let _ = writeln!(s, "The columns of the matrix: a runtime build, the observer that read it, the compiler of the cases where they were compiled (Cython, mypyc, Nuitka), and whether the reference implementation of the proposal was loaded.\n");
    table(
        s,
        &[18, 14, 8, 26, 10, 10, 8],
        &[
            "column",
            "implementation",
            "Python",
            "build",
            "observer",
            "cases compiled with",
            "reference",
        ],
    );
    for c in &m.columns {
        let build = c.build_label();
        table_row(
            s,
            &[
                rst_code(&c.name),
                rst(&format!(
                    "{} {}",
                    c.implementation, c.implementation_version
                )),
                rst(&c.version),
                rst(&build),
                rst(c.observer.name()),
                rst(&crate::markdown::compiled_with(c)),
                (if c.reference { "loaded" } else { "no" }).to_string(),
            ],
        );
    }
    s.push('\n');
    let n = &m.not_run;
    if !(n.absent.is_empty() && n.unusable.is_empty() && n.broken.is_empty()) {
        let _ = writeln!(s, "Not in the evidence:\n");
        for a in &n.absent {
            let _ = writeln!(
                s,
                "* ``{}``: not installed on the machine that ran (``{}``)",
                a.name, a.install
            );
        }
        for u in &n.unusable {
            let _ = writeln!(s, "* ``{}``: unusable: {}", u.path, rst(&u.why));
        }
        for b in &n.broken {
            let _ = writeln!(s, "* ``{}``: could not start: {}", b.column, rst(&b.why));
        }
        s.push('\n');
    }
}

/// Columns grouped by the state of their cell in a row: `pass: a, b; absent: c`, the
/// largest group said as "the other N columns" when it is long; the known deviations of the
/// row's cells named once each at the end.
fn by_state(m: &Matrix, r: &Row, notes: &Notes) -> String {
    let mut groups: BTreeMap<CellState, Vec<String>> = BTreeMap::new();
    let mut cited: Vec<&str> = Vec::new();
    for (i, c) in r.cells.iter().enumerate() {
        let mut name = m.columns[i].name.clone();
        if c.state == CellState::Partial || c.state == CellState::Fail {
            name = format!("{name} ({}/{})", c.pass, c.pass + c.fail + c.xfail);
        }
        for id in &c.deviations {
            let n = notes.name(id);
            if !cited.contains(&n) {
                cited.push(n);
            }
        }
        groups.entry(c.state).or_default().push(name);
    }
    let largest = groups
        .iter()
        .max_by_key(|(st, v)| (v.len(), std::cmp::Reverse(**st)))
        .map(|(st, _)| *st);
    let several = groups.len() > 1;
    let mut out = groups
        .iter()
        .map(|(st, cols)| {
            let who = if Some(*st) == largest && cols.len() > 3 {
                if several {
                    format!("the other {} columns", cols.len())
                } else {
                    format!("all {} columns", cols.len())
                }
            } else {
                rst(&cols.join(", "))
            };
            format!("**{}**: {who}", st.name())
        })
        .collect::<Vec<_>>()
        .join("; ");
    if !cited.is_empty() {
        let _ = write!(
            out,
            "; known: {}",
            cited
                .iter()
                .map(|n| format!("[{n}]_"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    out
}

fn row_cases(m: &Matrix, r: &Row) -> String {
    case_groups(r.cells.iter().flat_map(|c| m.cell_cases(c)))
}

/// "a generator", "an async_generator".
fn article(kind: &str) -> String {
    let an = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {}", if an { "an" } else { "a" }, rst(kind))
}

fn spellings(s: &mut String, m: &Matrix, spec: &Spec, notes: &Notes) {
    heading(s, "Spellings and the versions that have them", '=');
    let _ = writeln!(
        s,
        "For each observable, each spelling per kind and layer: from which Python version the spec says it exists \
         (``spec/features.toml``, with its source), and what the runs showed on each column. *absent* means the \
         spelling is missing there, as the spec says for that version, and the run confirmed it.\n"
    );
    for o in &spec.observables {
        let rows: Vec<&Row> = m.rows().filter(|r| r.observable == o.name).collect();
        if rows.is_empty() {
            continue;
        }
        heading(s, &format!("``{}``", o.name), '-');
        let _ = writeln!(
            s,
            "{} (`source <{}>`__). Section *{}*.\n",
            rst(&o.summary),
            o.source,
            rst(&o.section)
        );
        table(
            s,
            &[12, 10, 22, 10, 30, 16],
            &[
                "kind",
                "layer",
                "spelling",
                "exists from",
                "the runs showed",
                "cases",
            ],
        );
        for r in rows {
            let since = match (r.since.as_deref(), r.until.as_deref()) {
                (Some("reference"), _) => "the reference implementation only".to_string(),
                (Some(v), Some(u)) => format!("{v} until {u}"),
                (Some(v), None) => v.to_string(),
                _ => String::new(),
            };
            let spelling = match &r.spelling {
                Some(sp) if !r.source.is_empty() => {
                    format!("{} (`source <{}>`__)", rst_code(sp), r.source)
                }
                Some(sp) => rst_code(sp),
                None => String::new(),
            };
            table_row(
                s,
                &[
                    rst(&r.kind),
                    rst(&layer_label(r)),
                    spelling,
                    since,
                    by_state(m, r, notes),
                    row_cases(m, r),
                ],
            );
        }
        s.push('\n');
    }
}

fn layer_label(r: &Row) -> String {
    if r.optional {
        format!("{} (optional)", r.layer)
    } else {
        r.layer.clone()
    }
}

/// Each distinct known deviation once, as a citation the cells name.
fn deviation_list(s: &mut String, notes: &Notes) {
    heading(s, "Known deviations", '=');
    if notes.entries.is_empty() {
        let _ = writeln!(s, "None applied.\n");
        return;
    }
    let _ = writeln!(
        s,
        "Each distinct deviation once: its reason, source, and where it is recorded (``cases/deviations/`` or the case).\n"
    );
    for e in &notes.entries {
        let mut at: Vec<&str> = e.origins.iter().map(|(_, o)| o.as_str()).collect();
        at.dedup();
        let shown: Vec<&str> = at.iter().take(4).copied().collect();
        let more = if at.len() > shown.len() {
            format!(" and {} more", at.len() - shown.len())
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            ".. [{}] {} (`source <{}>`__; recorded in {}{more})\n",
            e.ids[0],
            rst(&e.reason),
            e.link,
            shown
                .iter()
                .map(|o| rst_code(o))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

fn semantics(s: &mut String, m: &Matrix, results: &Results, notes: &Notes) {
    heading(s, "State semantics per version", '=');
    let _ = writeln!(
        s,
        "The frame, running, suspended, state and delegation observables through the life of each kind (created, \
         running, suspended, closed; ``spec/states.toml``). For each spelling: on how many columns every check held \
         as the cases expect, and, where a column differs, what it showed instead (expected against observed, with \
         the case and step). Cases are grouped by prefix; ``matrix.json`` lists every one per cell.\n"
    );
    section_semantics(s, m, results, notes, &STATE_SECTIONS);
}

/// The events layer apart (issue 15): what debuggers and profilers receive.
fn events(s: &mut String, m: &Matrix, results: &Results, notes: &Notes) {
    if !m.sections.iter().any(|x| x.name == EVENTS_SECTION) {
        return;
    }
    heading(s, "What tools receive: the events layer", '=');
    let _ = writeln!(
        s,
        "The events ``sys.settrace`` (every version) and ``sys.monitoring`` (PEP 669, 3.12+) deliver during each \
         step, normalised as ``harness/PROTOCOL.md`` (\"Events\") says, against what the documentation and PEPs say \
         (``cases/events/``). Counted and shown as the state semantics above.\n"
    );
    section_semantics(s, m, results, notes, &[EVENTS_SECTION]);
}

/// For each row of these sections: where it held, and what differed.
fn section_semantics(s: &mut String, m: &Matrix, results: &Results, notes: &Notes, names: &[&str]) {
    let sections = m
        .sections
        .iter()
        .filter(|x| names.contains(&x.name.as_str()));
    for sec in sections {
        for r in sec.rows.iter().filter(|r| r.layer != BEHAVIOUR_LAYER) {
            let checked: Vec<usize> = (0..m.columns.len())
                .filter(|i| r.cells[*i].pass + r.cells[*i].fail + r.cells[*i].xfail > 0)
                .collect();
            if checked.is_empty() {
                continue;
            }
            let held: Vec<&str> = checked
                .iter()
                .filter(|i| matches!(r.cells[**i].state, CellState::Pass | CellState::Absent))
                .map(|i| m.columns[*i].name.as_str())
                .collect();
            let spelling = r
                .spelling
                .as_deref()
                .map(rst_code)
                .unwrap_or_else(|| "no spelling".into());
            let _ = writeln!(
                s,
                "* ``{}`` of {} in layer *{}* ({spelling}):\n",
                r.observable,
                article(&r.kind),
                rst(&layer_label(r)),
            );
            let missing = checked
                .iter()
                .filter(|i| !r.cells[**i].spelled && r.cells[**i].state == CellState::Absent)
                .count();
            let who = if held.len() == checked.len() {
                format!("all {} columns that checked it", held.len())
            } else if held.len() > 3 {
                format!(
                    "{} of the {} columns that checked it",
                    held.len(),
                    checked.len()
                )
            } else {
                rst(&held.join(", "))
            };
            if !held.is_empty() {
                let absent = if missing > 0 {
                    format!(" (on {missing} of them the spelling is missing, as the spec says)")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    s,
                    "  - holds as the cases expect on {who}{absent}; cases {}",
                    row_cases(m, r)
                );
            }
            let specific = version_specific(m, r, &checked);
            if !specific.is_empty() {
                let _ = writeln!(
                    s,
                    "  - cases that apply to some versions only: {}",
                    specific.join("; ")
                );
            }
            let diffs = differences(m, r, results, notes);
            for (what, at) in diffs.iter().take(MAX_DIFFERENCES) {
                let mut shown: Vec<String> = at.iter().take(MAX_PLACES).cloned().collect();
                if at.len() > MAX_PLACES {
                    shown.push(format!("and {} more", at.len() - MAX_PLACES));
                }
                let _ = writeln!(s, "  - {what}: {}", rst(&shown.join(", ")));
            }
            if diffs.len() > MAX_DIFFERENCES {
                let _ = writeln!(
                    s,
                    "  - and {} more distinct observations (every failing check is in the results file)",
                    diffs.len() - MAX_DIFFERENCES
                );
            }
            s.push('\n');
        }
    }
}

/// The cases of a row that ran on only some of the runtimes that checked it (version
/// conditions, features), grouped by the runtimes they ran on: where the semantics change by
/// version. Only bare runtime columns count (compiled and `+ref` columns run fewer cases for
/// reasons of their own).
fn version_specific(m: &Matrix, r: &Row, checked: &[usize]) -> Vec<String> {
    let base: Vec<usize> = checked
        .iter()
        .copied()
        .filter(|i| m.columns[*i].compiler.is_none() && !m.columns[*i].reference)
        .collect();
    let mut ids: BTreeSet<u32> = BTreeSet::new();
    for i in &base {
        ids.extend(r.cells[*i].cases.iter().copied());
    }
    let mut groups: Vec<(Vec<usize>, Vec<&str>)> = Vec::new();
    for id in ids {
        let on: Vec<usize> = base
            .iter()
            .copied()
            .filter(|i| r.cells[*i].cases.contains(&id))
            .collect();
        if on.len() == base.len() {
            continue;
        }
        let case = m.cases[id as usize].as_str();
        match groups.iter_mut().find(|(cols, _)| *cols == on) {
            Some((_, cases)) => cases.push(case),
            None => groups.push((on, vec![case])),
        }
    }
    groups
        .into_iter()
        .map(|(on, cases)| {
            let names: Vec<&str> = on.iter().map(|i| m.columns[*i].name.as_str()).collect();
            let cases: Vec<String> = cases.into_iter().map(rst_code).collect();
            format!("{} on {}", cases.join(", "), rst(&names.join(", ")))
        })
        .collect()
}

/// The distinct failing observations of a row, each with the columns (and case, step) that showed it.
fn differences(
    m: &Matrix,
    r: &Row,
    results: &Results,
    notes: &Notes,
) -> Vec<(String, Vec<String>)> {
    let tally_layer = if r.layer == BEHAVIOUR_LAYER {
        ""
    } else {
        r.layer.as_str()
    };
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, c) in r.cells.iter().enumerate() {
        if c.fail + c.xfail == 0 {
            continue;
        }
        let col = &m.columns[i].name;
        let ids: Vec<&str> = m.cell_cases(c).collect();
        for t in results
            .trials
            .iter()
            .filter(|t| t.column == *col && ids.contains(&t.case.as_str()))
        {
            if !t.tally.iter().any(|ta| {
                ta.target_kind == r.kind
                    && ta.layer == tally_layer
                    && counts_for(&r.observable, &ta.kind)
                    && ta.fail + ta.xfail > 0
            }) {
                continue;
            }
            for p in t
                .problems
                .iter()
                .filter(|p| p.layer == tally_layer && counts_for(&r.observable, &p.kind))
            {
                let known = p
                    .deviation
                    .and_then(|d| t.deviations.get(d))
                    .and_then(|d| {
                        notes
                            .entries
                            .iter()
                            .find(|e| e.reason == d.reason && e.link == d.link)
                    })
                    .map(|e| format!(" (known: [{}]_)", e.ids[0]))
                    .unwrap_or_default();
                let key = format!(
                    "expected {} ({}), observed {}{}",
                    rst_code(&p.expected),
                    rst(&p.why),
                    rst_code(&p.observed),
                    known
                );
                let at = format!("{col} at {} step {} {}", t.case, p.step, p.at);
                let v = out.entry(key).or_default();
                if !v.contains(&at) {
                    v.push(at);
                }
            }
        }
    }
    out.into_iter().collect()
}

fn proposal(
    s: &mut String,
    m: &Matrix,
    results: &Results,
    layer: &str,
    title: &str,
    optional: bool,
) {
    heading(s, title, '=');
    if optional {
        let _ = writeln!(
            s,
            "``__delegated_to__`` and ``__returns_to__`` (`msg300477 <https://bugs.python.org/issue31230#msg300477>`__) \
             are the contested part of the proposal; they are counted here apart from the unified names, and nothing \
             above depends on them.\n"
        );
    } else {
        let _ = writeln!(
            s,
            "The unified names (``__code__``, ``__frame__``, ``__running__``, ``inspect.getasyncstate()``; \
             `msg300475 <https://bugs.python.org/issue31230#msg300475>`__) exist in no released Python. On a bare \
             runtime the checks of this layer confirm that each spelling is missing; with the reference implementation \
             loaded (``+ref``) the same expectations are read through the new names, and each is also checked to agree \
             with today's spelling of the same observable at the same snapshot. The fourth column shows whether loading \
             the reference changed anything in today's layers (``attributes`` and ``inspect``).\n"
        );
    }
    table(
        s,
        &[16, 16, 16, 14, 18, 20],
        &[
            "runtime",
            "bare",
            "with the reference",
            "agreement with today",
            "today's layers bare → +ref",
            "cases",
        ],
    );
    let mut any = false;
    for (i, c) in m.columns.iter().enumerate() {
        if c.reference {
            continue;
        }
        let Some(j) = m.with_reference(i) else {
            continue;
        };
        let rc = &m.columns[j];
        let bare = layer_sum(results, &c.name, &[layer]);
        let with = layer_sum(results, &rc.name, &[layer]);
        let today_bare = layer_sum(results, &c.name, &["attributes", "inspect"]);
        let today_ref = layer_sum(results, &rc.name, &["attributes", "inspect"]);
        let today = if today_bare.counts() == today_ref.counts() {
            format!("unchanged ({})", today_bare.counts())
        } else {
            format!("{} → {}", today_bare.counts(), today_ref.counts())
        };
        let cases: BTreeSet<&str> = bare
            .cases
            .iter()
            .chain(with.cases.iter())
            .map(String::as_str)
            .collect();
        let agree = if with.agreement_total == 0 {
            "no agreement checks".to_string()
        } else {
            format!("{} of {} agree", with.agreement_pass, with.agreement_total)
        };
        table_row(
            s,
            &[
                format!("{} / {}", rst_code(&c.name), rst_code(&rc.name)),
                bare.counts(),
                with.counts(),
                agree,
                today,
                case_groups(cases),
            ],
        );
        any = true;
    }
    if !any {
        let mut cells = vec!["no runtime ran both bare and with the reference".to_string()];
        cells.extend(std::iter::repeat_n(String::new(), 5));
        table_row(s, &cells);
    }
    s.push('\n');
    let rows: Vec<&Row> = m.rows().filter(|r| r.layer == layer).collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(s, "Per observable and kind, with the reference loaded:\n");
    let refs: Vec<usize> = (0..m.columns.len())
        .filter(|i| m.columns[*i].reference)
        .collect();
    for r in rows {
        let passing = refs
            .iter()
            .filter(|i| r.cells[**i].state == CellState::Pass)
            .count();
        let other: Vec<String> = refs
            .iter()
            .filter(|i| r.cells[**i].state != CellState::Pass)
            .map(|i| {
                let cell = &r.cells[*i];
                let total = cell.pass + cell.fail + cell.xfail;
                format!(
                    "{} {} ({}/{total})",
                    m.columns[*i].name,
                    cell.state.name(),
                    cell.pass
                )
            })
            .collect();
        let said = if refs.is_empty() {
            "no column with the reference".to_string()
        } else if other.is_empty() {
            format!("pass on all {passing} columns with the reference")
        } else {
            format!(
                "pass on {passing} of {}; {}",
                refs.len(),
                rst(&other.join(", "))
            )
        };
        let spelling = r.spelling.as_deref().map(rst_code).unwrap_or_default();
        let _ = writeln!(
            s,
            "* ``{}`` of {} as {spelling}: {said}",
            r.observable,
            article(&r.kind)
        );
    }
    s.push('\n');
}

fn cases(s: &mut String, m: &Matrix, results: &Results) {
    heading(s, "Cases behind the numbers", '=');
    let _ = writeln!(s, "Every case in the results, with the trials it ran (passing, failing, skipped and otherwise, over all columns).\n");
    table(
        s,
        &[40, 12, 12, 12, 12],
        &["case", "pass", "fail", "skip", "other"],
    );
    for case in &m.cases {
        let (mut p, mut f, mut k, mut o) = (0, 0, 0, 0);
        for t in results.trials.iter().filter(|t| t.case == *case) {
            match t.status {
                introspec_judge::Status::Pass | introspec_judge::Status::Xfail => p += 1,
                introspec_judge::Status::Fail | introspec_judge::Status::Xpass => f += 1,
                introspec_judge::Status::Skip => k += 1,
                _ => o += 1,
            }
        }
        table_row(
            s,
            &[
                rst_code(case),
                p.to_string(),
                f.to_string(),
                k.to_string(),
                o.to_string(),
            ],
        );
    }
    s.push('\n');
}
