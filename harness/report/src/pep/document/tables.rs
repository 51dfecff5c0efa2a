//! The Motivation (each question's spellings per kind, the snippet a tool writes today and
//! what it gets wrong) and the attribute table.

use super::*;

pub(super) fn motivation(s: &mut String, ctx: &Ctx, prose: &Prose) {
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
            compiled_summary(&mut sub, ctx, &p.observables);
            for line in sub.lines() {
                let _ = writeln!(s, "{}", indent(line, 3));
            }
        }
    }
}

pub(super) fn indent(line: &str, n: usize) -> String {
    if line.is_empty() {
        String::new()
    } else {
        format!("{}{line}", " ".repeat(n))
    }
}

/// One bullet per compiled family: which of the attributes of `observables` (the three
/// kinds' own spellings) pass every check on each of its versions, pass some, pass none, or
/// are missing; the attribute table has the cells.
pub(super) fn compiled_summary(s: &mut String, ctx: &Ctx, observables: &[String]) {
    let fams = ctx.families_of(|c| c.compiler.is_some() && !c.reference);
    if fams.is_empty() {
        let _ = writeln!(s, "No compiled column was run.\n");
        return;
    }
    let rows: Vec<&Row> = ctx
        .m
        .rows()
        .filter(|r| {
            observables.contains(&r.observable)
                && r.layer == "attributes"
                && KINDS[1..].contains(&r.kind.as_str())
                && r.spelling.is_some()
        })
        .collect();
    for f in fams {
        let mut by: BTreeMap<u8, Vec<String>> = BTreeMap::new();
        for r in &rows {
            let states: Vec<CellState> = f.columns.iter().map(|ci| r.cells[*ci].state).collect();
            let all = |ok: &dyn Fn(CellState) -> bool| states.iter().all(|st| ok(*st));
            let rank = if all(&|st| matches!(st, CellState::Absent | CellState::NotApplicable)) {
                3
            } else if all(&|st| matches!(st, CellState::Pass | CellState::NotApplicable)) {
                0
            } else if all(&|st| {
                matches!(
                    st,
                    CellState::Fail | CellState::Absent | CellState::NotApplicable
                )
            }) {
                2
            } else {
                1
            };
            by.entry(rank)
                .or_default()
                .push(rst_code(r.spelling.as_deref().unwrap_or_default()));
        }
        let words = ["*pass*", "*partial*", "*fail*", "*absent*"];
        let parts: Vec<String> = by
            .iter()
            .map(|(rank, spellings)| format!("{}: {}", words[*rank as usize], spellings.join(", ")))
            .collect();
        let _ = writeln!(
            s,
            "* {} {}: {}.",
            f.name,
            f.range(0, f.columns.len() - 1),
            parts.join("; ")
        );
    }
    let _ = writeln!(
        s,
        "\n(*pass*: every check held on every version of the family; *partial*: some did; *fail*: none did; \
         *absent*: the attribute is missing there. The attribute table below has the cells per version.)\n"
    );
}

/// One line per (observable, kind, layer) of the compiled families: their cells folded by
/// version, and how many rows pass on every compiled column.
pub(super) fn compiled_rows(s: &mut String, ctx: &Ctx, observables: &[String], layers: &[&str]) {
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

pub(super) fn attribute_table(s: &mut String, ctx: &Ctx) {
    let m = ctx.m;
    heading(s, "The attribute table", '=');
    let _ = writeln!(
        s,
        "One row per observable (and per layer where ``inspect`` spells it apart), one column per kind: each \
         kind's spelling in today's attributes and ``inspect`` functions, the first Python version that has it \
         (``spec/features.toml``) and its source. The last column names, per kind, the families of columns \
         (implementation, compiler) whose runs did not pass every check of the cell, with the versions; the \
         builtin objects of every other column ran as the spec says. The appendix has every cell.\n"
    );
    // (observable, layer) in the matrix's order, each with its row per kind
    let mut keys: Vec<(&str, &str)> = Vec::new();
    let mut by_key: HashMap<(&str, &str), Vec<&Row>> = HashMap::new();
    for r in m.rows().filter(|r| {
        (r.layer == "attributes" || r.layer == "inspect")
            && KINDS.contains(&r.kind.as_str())
            && r.spelling.is_some()
    }) {
        let key = (r.observable.as_str(), r.layer.as_str());
        if !by_key.contains_key(&key) {
            keys.push(key);
        }
        by_key.entry(key).or_default().push(r);
    }
    let two_layers = |obs: &str| keys.iter().filter(|(o, _)| *o == obs).count() > 1;
    let fams = ctx.families_of(|c| !c.reference);
    let mut rows = Vec::new();
    for key in &keys {
        let (obs, layer) = *key;
        let of_kind = &by_key[key];
        let mut row = vec![if two_layers(obs) && layer == "inspect" {
            format!("{obs} (inspect)")
        } else {
            obs.to_string()
        }];
        let mut differs = Vec::new();
        for kind in KINDS {
            let Some(r) = of_kind.iter().find(|r| r.kind == kind) else {
                row.push("—".into());
                continue;
            };
            let since = match (r.since.as_deref(), r.until.as_deref()) {
                (Some(v), Some(u)) => format!(" {v}–{u}"),
                (Some(v), None) => format!(" {v}"),
                _ => String::new(),
            };
            let source = if r.source.is_empty() {
                String::new()
            } else {
                format!(" `{} <{}>`__", source_label(&r.source), r.source)
            };
            row.push(format!(
                "{}{since}{source}",
                rst_code(r.spelling.as_deref().unwrap_or_default())
            ));
            let mut here = Vec::new();
            for f in &fams {
                let bad = f
                    .columns
                    .iter()
                    .any(|ci| matches!(r.cells[*ci].state, CellState::Partial | CellState::Fail));
                if bad {
                    here.push(format!("{} {}", f.name, ctx.family_cell(r, f, true)));
                }
            }
            if !here.is_empty() {
                differs.push(format!("*{kind}*: {}", rst(&here.join("; "))));
            }
        }
        row.push(if differs.is_empty() {
            "—".into()
        } else {
            differs.join("; ")
        });
        rows.push(row);
    }
    simple_table(
        s,
        &[
            "observable",
            "function",
            "generator",
            "coroutine",
            "async generator",
            "where runs differ",
        ],
        &rows,
    );
}
