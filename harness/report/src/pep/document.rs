//! `pep-evidence.rst`: material a PEP author pastes from, in the order of a PEP's sections
//! (abstract, motivation, the attribute table, the semantic decisions, the bugs found, the
//! reference implementation, backwards compatibility). The fixed prose is `prose.toml`;
//! every version, count, case id and outcome is computed here from the results.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use introspec_judge::Status;
use introspec_results::{Results, TrialRecord};

use super::prose::{Decision, Prose};
use super::sources::{Origin, Sources, SuiteSide, Suites, Usage};
use super::{heading, provenance, simple_table, source_label, version_parts, APPENDIX};
use crate::markdown::groups::{families, runs, Family};
use crate::markdown::notes::Notes;
use crate::matrix::{CellState, Matrix, MatrixColumn, Row};
use crate::text::{rst, rst_code};

/// The kinds a PEP's table is about, in order.
const KINDS: [&str; 4] = ["function", "generator", "coroutine", "async_generator"];

/// The questions of the motivation's table: label and observable.
const QUESTIONS: [(&str, &str); 6] = [
    ("code", "code"),
    ("frame", "frame"),
    ("running", "running"),
    ("suspended", "suspended"),
    ("delegation", "delegate"),
    ("state", "state"),
];

/// Trial statuses in the order a line names them, with the words it uses.
const WORDS: [(Status, &str); 8] = [
    (Status::Pass, "pass"),
    (Status::Xfail, "known deviation"),
    (Status::Fail, "FAIL"),
    (Status::Xpass, "XPASS"),
    (Status::Crash, "crash"),
    (Status::Timeout, "timeout"),
    (Status::Error, "error"),
    (Status::Flaky, "flaky"),
];

/// Everything the document's sections read.
struct Ctx<'a> {
    m: &'a Matrix,
    results: &'a Results,
    sources: &'a Sources,
    fams: Vec<Family>,
    trials: HashMap<(&'a str, &'a str), &'a TrialRecord>,
    notes: Notes,
    /// The labels (`D12`) the document defines as citations: deviations of the runtimes
    /// themselves and of the reference implementation.
    defined: BTreeSet<String>,
}

impl<'a> Ctx<'a> {
    /// The citation label of a deviation, by its reason and link.
    fn label(&self, reason: &str, link: &str) -> Option<&str> {
        self.notes
            .entries
            .iter()
            .find(|e| e.reason == reason && e.link == link)
            .map(|e| e.ids[0].as_str())
    }

    /// `[D12]_` for the deviations of a trial that the document defines, once each.
    fn cite(&self, labels: &BTreeSet<String>) -> String {
        labels
            .iter()
            .filter(|l| self.defined.contains(*l))
            .map(|l| format!("[{l}]_"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The runtime's own columns and the reference's (not compiled code).
    fn families_of(&self, keep: impl Fn(&MatrixColumn) -> bool) -> Vec<&Family> {
        self.fams
            .iter()
            .filter(|f| keep(&self.m.columns[f.columns[0]]))
            .collect()
    }

    /// How one case came out on the columns of `fams`: `pass on cpython 3.9–3.14; known
    /// deviation [D3]_ on pypy 3.11`. Columns where the case does not apply are left out.
    fn outcome(&self, case: &str, fams: &[&Family]) -> String {
        let mut parts = Vec::new();
        for (status, word) in WORDS {
            let mut on = Vec::new();
            let mut labels = BTreeSet::new();
            for f in fams {
                let here = |ci: usize| {
                    self.trials
                        .get(&(case, self.m.columns[ci].name.as_str()))
                        .is_some_and(|t| t.status == status)
                };
                let ranges = f.ranges_where(here);
                if ranges.is_empty() {
                    continue;
                }
                for ci in &f.columns {
                    if let Some(t) = self.trials.get(&(case, self.m.columns[*ci].name.as_str())) {
                        // the deviations of a trial are those that matched it; only one
                        // that failed as they say (XFAIL) is explained by them
                        if t.status == status && status == Status::Xfail {
                            for d in &t.deviations {
                                if let Some(l) = self.label(&d.reason, &d.link) {
                                    labels.insert(l.to_string());
                                }
                            }
                        }
                    }
                }
                on.push(format!("{} {ranges}", f.name));
            }
            if on.is_empty() {
                continue;
            }
            let cite = self.cite(&labels);
            let word = if cite.is_empty() {
                word.to_string()
            } else {
                format!("{word} {cite}")
            };
            parts.push(format!("{word} on {}", on.join(", ")));
        }
        if parts.is_empty() {
            "ran on no column".into()
        } else {
            parts.join("; ")
        }
    }

    /// The cases matching `globs`, grouped by identical outcome, one bullet per group.
    fn case_lines(&self, s: &mut String, globs: &[String], fams: &[&Family]) -> usize {
        let ids: Vec<&str> = self
            .m
            .cases
            .iter()
            .map(String::as_str)
            .filter(|id| globs.iter().any(|g| introspec_cases::glob(g, id)))
            .collect();
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for id in &ids {
            let o = self.outcome(id, fams);
            match groups.iter_mut().find(|(x, _)| *x == o) {
                Some((_, v)) => v.push(id),
                None => groups.push((o, vec![id])),
            }
        }
        for (outcome, cases) in &groups {
            let named: Vec<String> = cases.iter().map(|c| self.case_name(c)).collect();
            let _ = writeln!(s, "* {}: {outcome}", named.join(", "));
        }
        if !groups.is_empty() {
            s.push('\n');
        }
        ids.len()
    }

    /// ``id`` with its version condition, if any.
    fn case_name(&self, id: &str) -> String {
        match self.sources.cases.get(id).and_then(|c| c.python.as_deref()) {
            Some(p) => format!("{} (Python ``{p}``)", rst_code(id)),
            None => rst_code(id),
        }
    }

    /// A row's cells on the columns of one family as `3.8–3.10: pass; 3.11–3.13: partial
    /// (5/9)`, or one text when every version shows the same. With `differing`, only the
    /// versions whose checks did not all pass (partial, fail, unfinished).
    fn family_cell(&self, r: &Row, f: &Family, differing: bool) -> String {
        let texts: Vec<String> = f
            .columns
            .iter()
            .map(|ci| {
                let c = &r.cells[*ci];
                let checks = c.pass + c.fail + c.xfail;
                match c.state {
                    CellState::Partial | CellState::Fail if checks == 0 => "unfinished".into(),
                    CellState::Partial | CellState::Fail => {
                        format!("{} ({}/{checks})", c.state.name(), c.pass)
                    }
                    st => st.name().to_string(),
                }
            })
            .collect();
        let fine = |t: &str| matches!(t, "pass" | "absent" | "n/a");
        let groups = runs(&texts);
        if groups.len() == 1 && !differing {
            return texts[0].clone();
        }
        groups
            .into_iter()
            .filter(|(a, _)| !differing || !fine(&texts[*a]))
            .map(|(a, b)| format!("{}: {}", f.range(a, b), texts[a]))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Render `pep-evidence.rst` from the combined results (`results`, `origins`).
pub fn render(
    m: &Matrix,
    results: &Results,
    origins: &[Origin],
    sources: &Sources,
    prose: &Prose,
) -> String {
    let trials = results
        .trials
        .iter()
        .map(|t| ((t.case.as_str(), t.column.as_str()), t))
        .collect();
    let mut ctx = Ctx {
        m,
        results,
        sources,
        fams: families(&m.columns),
        trials,
        notes: Notes::new(m),
        defined: BTreeSet::new(),
    };
    let (bugs, reference) = runtime_deviations(&ctx);
    ctx.defined = bugs
        .iter()
        .chain(reference.iter())
        .map(|d| d.label.clone())
        .collect();

    let mut s = String::new();
    let _ = writeln!(
        s,
        ".. This file is made by `introspec report` from the results files named below; edit\n   \
         harness/report/src/pep/prose.toml, the spec, the cases or the report code instead.\n"
    );
    let bar = "=".repeat(prose.title.chars().count());
    let _ = writeln!(s, "{bar}\n{}\n{bar}\n", prose.title);
    provenance(&mut s, m, results, origins);
    let _ = writeln!(
        s,
        ":Appendix: `{APPENDIX} <{APPENDIX}>`__ (every check per column, the runtime builds, every case)\n"
    );
    heading(&mut s, "Abstract", '=');
    let _ = writeln!(s, "{}\n", prose.abstract_text.trim());
    motivation(&mut s, &ctx, prose);
    attribute_table(&mut s, &ctx);
    heading(&mut s, "Semantic decisions the PEP must make", '=');
    for d in &prose.decision {
        decision(&mut s, &ctx, d);
    }
    bugs_section(&mut s, &ctx, prose, &bugs);
    reference_section(&mut s, &ctx, prose, &reference);
    compatibility(&mut s, prose, sources.usage.as_ref());
    testsuites(&mut s, prose, sources.suites.as_ref());
    s
}

fn motivation(s: &mut String, ctx: &Ctx, prose: &Prose) {
    let m = ctx.m;
    heading(s, "Motivation", '=');
    let _ = writeln!(s, "{}\n", prose.motivation.intro.trim());
    let spelled = |obs: &str, kind: &str, layers: &[&str]| -> String {
        let mut out = Vec::new();
        for layer in layers {
            for r in m.rows().filter(|r| {
                r.observable == obs && r.kind == kind && r.layer == *layer && r.spelling.is_some()
            }) {
                let sp = rst_code(r.spelling.as_deref().unwrap_or_default());
                out.push(match r.since.as_deref() {
                    Some("reference") | None => sp,
                    Some(v) => format!("{sp} ({v})"),
                });
            }
        }
        if out.is_empty() {
            "—".into()
        } else {
            out.join(", ")
        }
    };
    let mut rows = Vec::new();
    for (label, obs) in QUESTIONS {
        let mut row = vec![label.to_string()];
        for kind in KINDS {
            row.push(spelled(obs, kind, &["attributes", "inspect"]));
        }
        let proposal = KINDS
            .iter()
            .skip(1)
            .map(|k| spelled(obs, k, &["proposal", "delegation"]))
            .find(|x| x != "—")
            .unwrap_or_else(|| "—".into());
        row.push(proposal);
        rows.push(row);
    }
    simple_table(
        s,
        &[
            "question",
            "function",
            "generator",
            "coroutine",
            "async generator",
            "proposal",
        ],
        &rows,
    );
    let _ = writeln!(s, "{}\n", prose.motivation.snippet_intro.trim());
    let _ = writeln!(s, ".. code-block:: python\n");
    for line in prose.motivation.snippet.trim_matches('\n').lines() {
        if line.is_empty() {
            s.push('\n');
        } else {
            let _ = writeln!(s, "   {line}");
        }
    }
    s.push('\n');
    let _ = writeln!(s, "{}\n", prose.motivation.pitfalls_intro.trim());
    let runtime = ctx.families_of(|c| c.compiler.is_none() && !c.reference);
    for (i, p) in prose.motivation.pitfall.iter().enumerate() {
        let _ = writeln!(s, "{}. It assumes {}.\n", i + 1, p.claim.trim());
        if !p.cases.is_empty() {
            let mut sub = String::new();
            if ctx.case_lines(&mut sub, &p.cases, &runtime) == 0 {
                let _ = writeln!(
                    sub,
                    "No case of the results matches {}.\n",
                    p.cases.join(", ")
                );
            }
            for line in sub.lines() {
                let _ = writeln!(s, "{}", indent(line, 3));
            }
        }
        if p.compiled {
            let mut sub = String::new();
            compiled_rows(&mut sub, ctx, &p.observables, &["attributes"]);
            for line in sub.lines() {
                let _ = writeln!(s, "{}", indent(line, 3));
            }
        }
    }
}

fn indent(line: &str, n: usize) -> String {
    if line.is_empty() {
        String::new()
    } else {
        format!("{}{line}", " ".repeat(n))
    }
}

/// One line per (observable, kind, layer) of the compiled families: their cells folded by
/// version, and how many rows pass on every compiled column.
fn compiled_rows(s: &mut String, ctx: &Ctx, observables: &[String], layers: &[&str]) {
    let fams = ctx.families_of(|c| c.compiler.is_some() && !c.reference);
    if fams.is_empty() {
        let _ = writeln!(s, "No compiled column was run.\n");
        return;
    }
    let mut rows = Vec::new();
    for r in ctx.m.rows().filter(|r| {
        observables.contains(&r.observable)
            && layers.contains(&r.layer.as_str())
            && KINDS[1..].contains(&r.kind.as_str())
            && r.spelling.is_some()
    }) {
        let mut row = vec![
            format!("{} of {}", r.observable, r.kind),
            rst_code(r.spelling.as_deref().unwrap_or_default()),
        ];
        for f in &fams {
            row.push(ctx.family_cell(r, f, false));
        }
        rows.push(row);
    }
    let mut header = vec!["observable".to_string(), "spelling".to_string()];
    header.extend(fams.iter().map(|f| f.name.clone()));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    simple_table(s, &header, &rows);
    let _ = writeln!(
        s,
        "(*pass*: every check held; *partial (p/n)*: p of n checks; the appendix names each known deviation.)\n"
    );
}

fn attribute_table(s: &mut String, ctx: &Ctx) {
    let m = ctx.m;
    heading(s, "The attribute table", '=');
    let _ = writeln!(
        s,
        "Each spelling of today's attributes and ``inspect`` functions per kind: the first Python version that has it \
         (``spec/features.toml``) and its source. The last column names the families of columns (implementation, \
         compiler) whose runs did not pass every check of the row, with the versions; the builtin objects of every \
         other column ran as the spec says. The appendix has every cell.\n"
    );
    let mut rows = Vec::new();
    for r in m.rows().filter(|r| {
        (r.layer == "attributes" || r.layer == "inspect")
            && KINDS.contains(&r.kind.as_str())
            && r.spelling.is_some()
    }) {
        let mut differs = Vec::new();
        for f in ctx.families_of(|c| !c.reference) {
            let bad = f
                .columns
                .iter()
                .any(|ci| matches!(r.cells[*ci].state, CellState::Partial | CellState::Fail));
            if bad {
                differs.push(format!("{} {}", f.name, ctx.family_cell(r, f, true)));
            }
        }
        let since = match (r.since.as_deref(), r.until.as_deref()) {
            (Some(v), Some(u)) => format!("{v}–{u}"),
            (Some(v), None) => v.to_string(),
            _ => "—".into(),
        };
        let source = if r.source.is_empty() {
            "—".into()
        } else {
            format!("`{} <{}>`__", source_label(&r.source), r.source)
        };
        rows.push(vec![
            r.observable.clone(),
            r.kind.clone(),
            rst_code(r.spelling.as_deref().unwrap_or_default()),
            since,
            source,
            if differs.is_empty() {
                "—".into()
            } else {
                rst(&differs.join("; "))
            },
        ]);
    }
    simple_table(
        s,
        &[
            "observable",
            "kind",
            "spelling",
            "from",
            "source",
            "where runs differ",
        ],
        &rows,
    );
}

fn decision(s: &mut String, ctx: &Ctx, d: &Decision) {
    let m = ctx.m;
    heading(s, d.title.trim(), '-');
    let _ = writeln!(s, "{}\n", d.question.trim());
    let runtime = ctx.families_of(|c| c.compiler.is_none());
    if !d.cases.is_empty() {
        let _ = writeln!(s, "Observed (runtimes bare and with the reference):\n");
        let n = ctx.case_lines(s, &d.cases, &runtime);
        if n == 0 {
            let _ = writeln!(
                s,
                "No case of the results matches {}.\n",
                d.cases.join(", ")
            );
        }
    }
    if d.compiled {
        let layers: Vec<&str> = d.layers.iter().map(String::as_str).collect();
        let _ = writeln!(s, "Observed on compiled code:\n");
        compiled_rows(s, ctx, &d.observables, &layers);
    }
    if let Some(feature) = &d.feature {
        feature_rows(s, ctx, feature);
    }
    if let Some(layer) = &d.layer {
        let _ = writeln!(
            s,
            "Checks of the *{layer}* layer per runtime, bare and with the reference loaded:\n"
        );
        layer_table(s, m, ctx.results, layer);
    }
    let _ = writeln!(s, "Options:\n");
    for (i, o) in d.options.iter().enumerate() {
        let _ = writeln!(s, "{}. {}", i + 1, o.trim());
    }
    s.push('\n');
}

/// The rows spelled through `feature`, what the runs showed of them, and whether any column
/// runs a version that has it.
fn feature_rows(s: &mut String, ctx: &Ctx, feature: &str) {
    let m = ctx.m;
    let rows: Vec<&Row> = m
        .rows()
        .filter(|r| r.feature.as_deref() == Some(feature))
        .collect();
    let Some(first) = rows.first() else {
        let _ = writeln!(
            s,
            "The spec spells nothing with the feature ``{feature}``.\n"
        );
        return;
    };
    let since = first.since.clone().unwrap_or_default();
    let mut spellings: Vec<String> = Vec::new();
    for sp in rows
        .iter()
        .filter_map(|r| r.spelling.as_deref().map(rst_code))
    {
        if !spellings.contains(&sp) {
            spellings.push(sp);
        }
    }
    let newest = m
        .columns
        .iter()
        .filter(|c| c.compiler.is_none() && c.implementation == "cpython" && !c.reference)
        .max_by_key(|c| version_parts(&c.version));
    let having: Vec<&str> = m
        .columns
        .iter()
        .filter(|c| version_parts(&c.version) >= version_parts(&since))
        .map(|c| c.name.as_str())
        .collect();
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    let mut cells = 0;
    for r in &rows {
        for c in &r.cells {
            *states.entry(c.state.name()).or_default() += 1;
            cells += 1;
        }
    }
    let said: Vec<String> = states.iter().map(|(k, v)| format!("{v} {k}")).collect();
    let _ = writeln!(
        s,
        "Observed: the spec gives {} from {since} (``{feature}``, `{} <{}>`__). Of their {cells} cells (rows × columns) \
         in the runs: {}. Columns of {since} or later: {}.\n",
        spellings.join(", "),
        source_label(&first.source),
        first.source,
        said.join(", "),
        if having.is_empty() {
            format!(
                "none (the newest CPython run is {})",
                newest.map(|c| rst_code(&c.name)).unwrap_or_else(|| "none".into())
            )
        } else {
            rst(&having.join(", "))
        }
    );
}

/// Checks of `layer` per runtime, bare against `+ref`.
fn layer_table(s: &mut String, m: &Matrix, results: &Results, layer: &str) {
    let mut rows = Vec::new();
    for (i, c) in m.columns.iter().enumerate() {
        if c.reference {
            continue;
        }
        let Some(j) = m.with_reference(i) else {
            continue;
        };
        let bare = super::layer_sum(results, &c.name, &[layer]);
        let with = super::layer_sum(results, &m.columns[j].name, &[layer]);
        let today_bare = super::layer_sum(results, &c.name, &["attributes", "inspect"]);
        let today_ref = super::layer_sum(results, &m.columns[j].name, &["attributes", "inspect"]);
        rows.push(vec![
            c.name.clone(),
            bare.counts(),
            with.counts(),
            if with.agreement_total == 0 {
                "—".into()
            } else {
                format!("{} of {}", with.agreement_pass, with.agreement_total)
            },
            if today_bare.counts() == today_ref.counts() {
                "unchanged".into()
            } else {
                format!("{} → {}", today_bare.counts(), today_ref.counts())
            },
        ]);
    }
    if rows.is_empty() {
        let _ = writeln!(s, "No runtime ran both bare and with the reference.\n");
        return;
    }
    simple_table(
        s,
        &[
            "runtime",
            "bare",
            "with the reference",
            "agree with today",
            "today's layers",
        ],
        &rows,
    );
}

/// A distinct deviation as the document defines it.
struct Defined {
    label: String,
    reason: String,
    link: String,
    cases: BTreeSet<String>,
    /// Column indices where it applied.
    columns: BTreeSet<usize>,
}

/// The distinct deviations applied on non-compiled columns: the runtimes' own, and the
/// reference implementation's (recorded in `cases/deviations/reference.toml`).
fn runtime_deviations(ctx: &Ctx) -> (Vec<Defined>, Vec<Defined>) {
    let m = ctx.m;
    let mut found: Vec<(usize, Defined)> = Vec::new();
    for t in &ctx.results.trials {
        let Some(ci) = m.columns.iter().position(|c| c.name == t.column) else {
            continue;
        };
        if m.columns[ci].compiler.is_some() {
            continue;
        }
        for d in &t.deviations {
            let Some(e) = ctx
                .notes
                .entries
                .iter()
                .position(|e| e.reason == d.reason && e.link == d.link)
            else {
                continue;
            };
            let at = match found.iter().position(|(x, _)| *x == e) {
                Some(at) => at,
                None => {
                    found.push((
                        e,
                        Defined {
                            label: ctx.notes.entries[e].ids[0].clone(),
                            reason: d.reason.clone(),
                            link: d.link.clone(),
                            cases: BTreeSet::new(),
                            columns: BTreeSet::new(),
                        },
                    ));
                    found.len() - 1
                }
            };
            found[at].1.cases.insert(t.case.clone());
            found[at].1.columns.insert(ci);
        }
    }
    found.sort_by_key(|(e, _)| *e);
    let is_reference = |e: usize| {
        ctx.notes.entries[e]
            .origins
            .iter()
            .any(|(_, o)| o.starts_with("cases/deviations/reference.toml"))
    };
    let mut bugs = Vec::new();
    let mut reference = Vec::new();
    for (e, d) in found {
        if is_reference(e) {
            reference.push(d);
        } else {
            bugs.push(d);
        }
    }
    (bugs, reference)
}

/// A deviation as a citation, one paragraph: reason, link, cases, where.
fn citation(s: &mut String, ctx: &Ctx, d: &Defined) {
    let mut on = Vec::new();
    for f in &ctx.fams {
        let r = f.ranges_where(|ci| d.columns.contains(&ci));
        if !r.is_empty() {
            on.push(format!("{} {r}", f.name));
        }
    }
    let _ = writeln!(
        s,
        ".. [{}] {} (`{} <{}>`__). Cases: {}; on {}.\n",
        d.label,
        rst(&d.reason),
        source_label(&d.link),
        d.link,
        crate::pep::case_groups(d.cases.iter().map(String::as_str)),
        rst(&on.join(", "))
    );
}

/// The implementations whose own deviations the document lists (those the PEP is about);
/// the others' (Jython, a Python 2.7 runtime) are in the appendix.
const BUG_IMPLEMENTATIONS: [&str; 2] = ["cpython", "pypy"];

fn bugs_section(s: &mut String, ctx: &Ctx, prose: &Prose, bugs: &[Defined]) {
    heading(s, "Bugs and deviations found in CPython and PyPy", '=');
    let _ = writeln!(s, "{}\n", prose.bugs.intro.trim());
    let mut by_impl: BTreeMap<String, Vec<&Defined>> = BTreeMap::new();
    let mut elsewhere: BTreeMap<&str, usize> = BTreeMap::new();
    // the other runtimes' deviations that the sections above cite are defined here all the
    // same (a citation the document names must resolve)
    let mut cited: BTreeMap<String, Vec<&Defined>> = BTreeMap::new();
    for d in bugs {
        let impls: BTreeSet<&str> = d
            .columns
            .iter()
            .map(|ci| ctx.m.columns[*ci].implementation.as_str())
            .collect();
        if !impls.iter().any(|i| BUG_IMPLEMENTATIONS.contains(i)) {
            let name = impls.iter().copied().collect::<Vec<_>>().join(" and ");
            for i in impls {
                *elsewhere.entry(i).or_default() += 1;
            }
            if s.contains(&format!("[{}]_", d.label)) {
                cited.entry(name).or_default().push(d);
            }
            continue;
        }
        by_impl
            .entry(impls.into_iter().collect::<Vec<_>>().join(" and "))
            .or_default()
            .push(d);
    }
    if by_impl.is_empty() {
        let _ = writeln!(
            s,
            "No known deviation applied on a runtime's own objects.\n"
        );
    }
    for (imp, ds) in by_impl {
        let title = format!("{imp} ({} distinct)", ds.len());
        heading(s, &title, '-');
        for d in ds {
            citation(s, ctx, d);
        }
    }
    for (imp, ds) in cited {
        heading(s, &format!("{imp}: the {} cited above", ds.len()), '-');
        for d in ds {
            citation(s, ctx, d);
        }
    }
    if !elsewhere.is_empty() {
        let others: Vec<String> = elsewhere
            .iter()
            .map(|(i, n)| format!("{i}'s {n}"))
            .collect();
        let _ = writeln!(
            s,
            "The other runtimes' own deviations ({}) are in the appendix, with every other known deviation.\n",
            others.join(", ")
        );
    }
}

fn reference_section(s: &mut String, ctx: &Ctx, prose: &Prose, reference: &[Defined]) {
    let m = ctx.m;
    heading(s, "Reference implementation", '=');
    let _ = writeln!(s, "{}\n", prose.reference.intro.trim());
    let _ = writeln!(s, "{}\n", prose.reference.adaptations_intro.trim());
    for a in &prose.reference.adaptations {
        let _ = writeln!(s, "* {}", a.trim());
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "Its results: the checks of the *proposal* layer per runtime, bare (where each spelling must be missing) and \
         with the reference loaded, how many of the proposal's reads agreed with today's spelling at the same snapshot, \
         and whether loading it changed the checks of today's layers (*attributes*, *inspect*).\n"
    );
    layer_table(s, m, ctx.results, "proposal");
    let ref_fams = ctx.families_of(|c| c.reference);
    let mut lines = Vec::new();
    for r in m
        .rows()
        .filter(|r| r.layer == "proposal" && r.spelling.is_some())
    {
        let mut labels = BTreeSet::new();
        let mut other = Vec::new();
        for f in &ref_fams {
            let texts: Vec<String> = f
                .columns
                .iter()
                .map(|ci| {
                    let c = &r.cells[*ci];
                    let n = c.pass + c.fail + c.xfail;
                    if c.state == CellState::Pass || n == 0 {
                        return String::new();
                    }
                    for id in &c.deviations {
                        labels.insert(ctx.notes.name(id).to_string());
                    }
                    let mut t = format!("{}/{n}", c.pass);
                    if c.xfail > 0 {
                        let _ = write!(t, " ({} known)", c.xfail);
                    }
                    if c.fail > 0 {
                        let _ = write!(t, " ({} FAIL)", c.fail);
                    }
                    t
                })
                .collect();
            for (a, b) in runs(&texts) {
                if !texts[a].is_empty() {
                    other.push(format!("{} {}: {}", f.name, f.range(a, b), texts[a]));
                }
            }
        }
        if other.is_empty() {
            continue;
        }
        let cite = ctx.cite(&labels);
        lines.push(format!(
            "* ``{}`` of {} as {}: {}{}",
            r.observable,
            r.kind,
            rst_code(r.spelling.as_deref().unwrap_or_default()),
            rst(&other.join("; ")),
            if cite.is_empty() {
                String::new()
            } else {
                format!("; {cite}")
            }
        ));
    }
    let refs: Vec<usize> = (0..m.columns.len())
        .filter(|i| m.columns[*i].reference)
        .collect();
    let checked = m
        .rows()
        .filter(|r| r.layer == "proposal" && r.spelling.is_some())
        .filter(|r| {
            refs.iter()
                .any(|i| r.cells[*i].pass + r.cells[*i].fail + r.cells[*i].xfail > 0)
        })
        .count();
    let _ = writeln!(
        s,
        "Of the {checked} rows of the proposal layer checked with the reference loaded, {} pass on every ``+ref`` column{}\n",
        checked - lines.len(),
        if lines.is_empty() {
            "."
        } else {
            ". The others, with the checks passed of all and the known deviations behind the rest (a runtime's own \
             deviation carries over to the new names, since they read the same objects):"
        }
    );
    for l in &lines {
        let _ = writeln!(s, "{l}");
    }
    if !lines.is_empty() {
        s.push('\n');
    }
    if !reference.is_empty() {
        let _ = writeln!(s, "What an extension module cannot do from outside the interpreter (``cases/deviations/reference.toml``):\n");
        for d in reference {
            citation(s, ctx, d);
        }
    }
}

fn compatibility(s: &mut String, prose: &Prose, usage: Option<&Usage>) {
    heading(s, "Backwards compatibility", '=');
    let c = &prose.compatibility;
    let _ = writeln!(s, "{}\n", c.intro.trim());
    match usage {
        None => {
            let _ = writeln!(s, "No usage report (``reports/usage-in-the-wild.json``) was given to this rendering: run ``introspec usage``.\n");
        }
        Some(u) => {
            let mut rows = Vec::new();
            for p in &u.patterns {
                let mut places = 0;
                let mut tests = 0;
                let mut pkgs = 0;
                for pk in &u.packages {
                    let n = pk.places.iter().filter(|x| x.pattern == *p).count();
                    places += n;
                    tests += pk
                        .places
                        .iter()
                        .filter(|x| x.pattern == *p && x.test)
                        .count();
                    if n > 0 {
                        pkgs += 1;
                    }
                }
                rows.push(vec![
                    rst_code(p),
                    places.to_string(),
                    tests.to_string(),
                    pkgs.to_string(),
                ]);
            }
            simple_table(s, &["attribute", "places", "in tests", "packages"], &rows);
            let pkgs: Vec<String> = u
                .packages
                .iter()
                .map(|p| format!("{} {}", p.name, p.version))
                .collect();
            let _ = writeln!(
                s,
                "Packages (``{}``, parsed with {}): {}.\n",
                u.pins,
                rst(&u.scanner),
                rst(&pkgs.join(", "))
            );
            let _ = writeln!(s, "Where the probes are:\n");
            for p in &c.probes {
                let mut at = Vec::new();
                for pk in &u.packages {
                    let places: Vec<String> = pk
                        .places
                        .iter()
                        .filter(|x| x.pattern == *p && !x.test)
                        .map(|x| format!("{}:{}", x.file, x.line))
                        .collect();
                    if !places.is_empty() {
                        at.push(format!("{} ({})", pk.name, places.len()));
                    }
                }
                let _ = writeln!(
                    s,
                    "* {} outside tests: {}",
                    rst_code(p),
                    if at.is_empty() {
                        "none".into()
                    } else {
                        rst(&at.join(", "))
                    }
                );
            }
            s.push('\n');
            let _ = writeln!(s, "{}\n", c.probes_note.trim());
        }
    }
}

fn testsuites(s: &mut String, prose: &Prose, suites: Option<&Suites>) {
    heading(s, "CPython's test suites with the proposal installed", '-');
    let c = &prose.compatibility;
    let Some(r) = suites else {
        let _ = writeln!(s, "{}\n", c.testsuite_missing.trim());
        return;
    };
    let _ = writeln!(s, "{}\n", c.testsuite_intro.trim());
    let pair = |b: usize, i: usize| {
        if b == i {
            b.to_string()
        } else {
            format!("{b} / {i}")
        }
    };
    let mut rows = Vec::new();
    type Key = (String, String, String, String);
    let mut reproduced: Vec<(Key, Vec<String>)> = Vec::new();
    let mut unreproduced: Vec<(Key, Vec<String>)> = Vec::new();
    let mut not_in_effect: Vec<String> = Vec::new();
    for v in &r.versions {
        // the suites that pass bare and installed with no difference, every worker with the
        // proposal in effect, are one row (their sums); every other suite is a row of its own
        let mut plain = (0usize, 0usize, 0usize, 0usize, 0usize);
        let first_row = rows.len();
        for x in &v.suites {
            let (b, i) = (&x.bare.counts, &x.installed.counts);
            let clean = |side: &SuiteSide| {
                side.result.as_deref() == Some("SUCCESS")
                    && !side.timed_out
                    && side.counts.failures + side.counts.errors == 0
            };
            let in_effect = x
                .installed
                .probe
                .as_ref()
                .is_none_or(|p| p.workers_in_effect == p.workers && p.failures.is_empty());
            if clean(&x.bare) && clean(&x.installed) && x.differences.is_empty() && in_effect {
                plain.0 += 1;
                plain.1 += b.cases;
                plain.2 += i.cases;
                plain.3 += b.skipped;
                plain.4 += i.skipped;
                continue;
            }
            let (b, i) = (&x.bare.counts, &x.installed.counts);
            let workers = match &x.installed.probe {
                Some(p) => format!("{}/{}", p.workers_in_effect, p.workers),
                None => String::new(),
            };
            let result = |side: &SuiteSide| {
                let r = side.result.clone().unwrap_or_else(|| "no result".into());
                if side.timed_out {
                    format!("{r} (timed out)")
                } else {
                    r
                }
            };
            let results = if result(&x.bare) == result(&x.installed) {
                result(&x.bare)
            } else {
                format!("{} / {}", result(&x.bare), result(&x.installed))
            };
            let real = x.differences.iter().filter(|d| d.reproduced).count();
            rows.push(vec![
                "..".into(),
                rst_code(&x.name),
                results,
                pair(b.cases, i.cases),
                pair(b.failures + b.errors, i.failures + i.errors),
                pair(b.skipped, i.skipped),
                workers,
                real.to_string(),
            ]);
            for d in &x.differences {
                let key = (
                    d.test.clone(),
                    d.bare.clone(),
                    d.installed.clone(),
                    d.rerun_loaded.clone(),
                );
                let list = if d.reproduced {
                    &mut reproduced
                } else {
                    &mut unreproduced
                };
                match list.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, vs)) => vs.push(v.version.clone()),
                    None => list.push((key, vec![v.version.clone()])),
                }
            }
            if let Some(p) = &x.installed.probe {
                for f in &p.failures {
                    not_in_effect.push(format!(
                        "{} ``{}``: {} of {} workers; {}",
                        v.version,
                        x.name,
                        p.workers_in_effect,
                        p.workers,
                        rst(f)
                    ));
                }
            }
        }
        if plain.0 > 0 {
            let others = rows.len() > first_row;
            rows.push(vec![
                "..".into(),
                match (others, plain.0) {
                    (false, n) => format!("all {n} suites"),
                    (true, 1) => "the other suite".into(),
                    (true, n) => format!("the other {n} suites"),
                },
                "SUCCESS".into(),
                pair(plain.1, plain.2),
                "0".into(),
                pair(plain.3, plain.4),
                "all".into(),
                "0".into(),
            ]);
        }
        if let Some(row) = rows.get_mut(first_row) {
            row[0] = v.version.clone();
        }
        if !v.missing.is_empty() {
            let names: Vec<String> = v.missing.iter().map(|m| rst_code(m)).collect();
            rows.push(vec![
                v.version.clone(),
                if v.missing.len() == r.suites.len() {
                    "all".into()
                } else {
                    names.join(", ")
                },
                "not in its Lib/test".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    simple_table(
        s,
        &[
            "CPython", "suite", "regrtest", "cases", "failed", "skipped", "workers", "differ",
        ],
        &rows,
    );
    let _ = writeln!(
        s,
        "Cells with two figures are bare / installed. \"failed\": failures and errors. The suites of a CPython that pass bare and installed, with no test that differs and the proposal in effect in every worker, are one row (their sums); the workers column is the installed run's workers with the proposal in effect. Command: ``{}``, at commit ``{}``, reference module ``{}`` (sources ``{}``); ``reports/cpython-test-suites.json`` has every figure.\n",
        r.command, r.commit, r.reference_module, r.reference_source
    );
    let bullet = |(test, bare, installed, loaded): &Key, versions: &[String]| {
        format!(
            "* {} ({}): {bare} bare, {installed} installed; rerun alone: {loaded} with the module imported only",
            rst_code(test),
            versions.join(", ")
        )
    };
    if !not_in_effect.is_empty() {
        let _ = writeln!(s, "{}\n", c.testsuite_not_in_effect.trim());
        for line in &not_in_effect {
            let _ = writeln!(s, "* {line}");
        }
        s.push('\n');
    }
    if reproduced.is_empty() {
        let _ = writeln!(s, "{}\n", c.testsuite_no_difference.trim());
    } else {
        let _ = writeln!(s, "The test cases whose outcome changes:\n");
        // one paragraph per explanation, after the cases it explains
        let why_of = |test: &str| {
            c.testsuite_explained
                .iter()
                .find(|e| e.test == test)
                .map(|e| e.why.trim().to_string())
                .unwrap_or_else(|| "Not yet explained.".into())
        };
        let mut whys: Vec<String> = Vec::new();
        for (k, _) in &reproduced {
            let w = why_of(&k.0);
            if !whys.contains(&w) {
                whys.push(w);
            }
        }
        for w in &whys {
            for (k, vs) in reproduced.iter().filter(|(k, _)| &why_of(&k.0) == w) {
                let _ = writeln!(s, "{}", bullet(k, vs));
            }
            let _ = writeln!(s, "\n{w}\n");
        }
    }
    let _ = writeln!(s, "{}\n", c.stdlib_probes_intro.trim());
    // per call: one row when every CPython gives the same bare and installed answers or
    // answers the same bare and installed, else a row per distinct answer
    // the call with its object named `x`, and the kind it was called on
    let split = |call: &str| -> (String, String) {
        for kind in ["async generator", "generator", "coroutine"] {
            if call.contains(&format!("({kind}")) {
                return (
                    call.replacen(&format!("({kind}"), "(x", 1),
                    kind.to_string(),
                );
            }
        }
        (call.to_string(), String::new())
    };
    let mut calls: Vec<String> = Vec::new();
    let mut kinds: Vec<String> = Vec::new();
    for v in &r.versions {
        for p in &v.stdlib_probes {
            let (call, kind) = split(&p.call);
            if !calls.contains(&call) {
                calls.push(call);
            }
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for call in &calls {
        // (bare, installed) -> (kinds, versions)
        let mut answers: Vec<(String, String, Vec<String>, Vec<String>)> = Vec::new();
        for v in &r.versions {
            for p in &v.stdlib_probes {
                let (c, kind) = split(&p.call);
                if &c != call {
                    continue;
                }
                match answers
                    .iter_mut()
                    .find(|a| a.0 == p.bare && a.1 == p.installed)
                {
                    Some(a) => {
                        if !a.2.contains(&kind) {
                            a.2.push(kind);
                        }
                        if !a.3.contains(&v.version) {
                            a.3.push(v.version.clone());
                        }
                    }
                    None => answers.push((
                        p.bare.clone(),
                        p.installed.clone(),
                        vec![kind],
                        vec![v.version.clone()],
                    )),
                }
            }
        }
        if answers.len() > 1 && answers.iter().all(|a| a.0 == a.1) {
            rows.push(vec![
                rst_code(call),
                "all".into(),
                "differs by kind or version".into(),
                "same".into(),
                "all".into(),
            ]);
            continue;
        }
        for (bare, installed, ks, versions) in answers {
            rows.push(vec![
                rst_code(call),
                if ks.len() == kinds.len() {
                    "all".into()
                } else {
                    ks.join(", ")
                },
                rst(&bare),
                if bare == installed {
                    "same".into()
                } else {
                    rst(&installed)
                },
                if versions.len() == r.versions.len() {
                    "all".into()
                } else {
                    versions.join(", ")
                },
            ]);
        }
    }
    simple_table(s, &["call", "x", "bare", "installed", "CPython"], &rows);
    let _ = writeln!(s, "{}\n", c.stdlib_probes_note.trim());
    if !unreproduced.is_empty() {
        let _ = writeln!(s, "{}\n", c.testsuite_unreproduced.trim());
        for (k, vs) in &unreproduced {
            let _ = writeln!(s, "{}", bullet(k, vs));
        }
        s.push('\n');
    }
}
