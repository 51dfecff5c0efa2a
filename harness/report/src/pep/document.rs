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

mod compatibility;
mod findings;
mod tables;

use compatibility::{compatibility, testsuites};
use findings::{bugs_section, reference_section, runtime_deviations};
use tables::{attribute_table, compiled_rows, motivation};

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

    /// `[D12]_` for the deviations of a trial that the document defines, once each, then
    /// `(appendix D40, D41)` for those only the appendix defines (another runtime's).
    fn cite(&self, labels: &BTreeSet<String>) -> String {
        let (here, there): (Vec<&String>, Vec<&String>) =
            labels.iter().partition(|l| self.defined.contains(*l));
        let mut parts: Vec<String> = here.iter().map(|l| format!("[{l}]_")).collect();
        if !there.is_empty() {
            let names: Vec<&str> = there.iter().map(|l| l.as_str()).collect();
            parts.push(format!("(appendix {})", names.join(", ")));
        }
        parts.join(" ")
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
        .filter(|d| findings::defined_here(&ctx, d))
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
