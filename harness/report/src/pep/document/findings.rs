//! The sections on what the runs found: the bugs and deviations of CPython and PyPy, and the
//! reference implementation's results (with what it cannot do from outside).

use super::*;

/// A distinct deviation as the document defines it.
pub(super) struct Defined {
    pub(super) label: String,
    pub(super) reason: String,
    pub(super) link: String,
    pub(super) cases: BTreeSet<String>,
    /// Column indices where it applied.
    pub(super) columns: BTreeSet<usize>,
}

/// The distinct deviations applied on non-compiled columns: the runtimes' own, and the
/// reference implementation's (recorded in `cases/deviations/reference.toml`).
pub(super) fn runtime_deviations(ctx: &Ctx) -> (Vec<Defined>, Vec<Defined>) {
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
pub(super) fn citation(s: &mut String, ctx: &Ctx, d: &Defined) {
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
pub(super) const BUG_IMPLEMENTATIONS: [&str; 2] = ["cpython", "pypy"];

/// The implementations whose columns a deviation applied on.
fn implementations<'m>(ctx: &Ctx<'m>, d: &Defined) -> BTreeSet<&'m str> {
    d.columns
        .iter()
        .map(|ci| ctx.m.columns[*ci].implementation.as_str())
        .collect()
}

/// Whether the document defines deviation `d` as a footnote: one seen on CPython or PyPy
/// (the other runtimes' are the appendix's, cited there by label).
pub(super) fn defined_here(ctx: &Ctx, d: &Defined) -> bool {
    implementations(ctx, d)
        .iter()
        .any(|i| BUG_IMPLEMENTATIONS.contains(i))
}

pub(super) fn bugs_section(s: &mut String, ctx: &Ctx, prose: &Prose, bugs: &[Defined]) {
    heading(s, "Bugs and deviations found in CPython and PyPy", '=');
    let _ = writeln!(s, "{}\n", prose.bugs.intro.trim());
    let mut by_impl: BTreeMap<String, Vec<&Defined>> = BTreeMap::new();
    let mut elsewhere: BTreeMap<&str, usize> = BTreeMap::new();
    for d in bugs {
        let impls = implementations(ctx, d);
        if !defined_here(ctx, d) {
            for i in impls {
                *elsewhere.entry(i).or_default() += 1;
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
    if !elsewhere.is_empty() {
        let others: Vec<String> = elsewhere
            .iter()
            .map(|(i, n)| format!("{i}'s {n}"))
            .collect();
        let _ = writeln!(
            s,
            "The other runtimes' own deviations ({}) are in the appendix, with every other known deviation; the sections above name them by their label there (*appendix D12*).\n",
            others.join(", ")
        );
    }
}

pub(super) fn reference_section(s: &mut String, ctx: &Ctx, prose: &Prose, reference: &[Defined]) {
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
