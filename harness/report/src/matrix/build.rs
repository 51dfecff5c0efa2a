//! Building the matrix from a results file: a row per (section, observable, kind, layer),
//! a cell per column, each a summary of the checks of that column's trials on the row.

use super::*;

impl Matrix {
    /// Build the matrix of `results` against `spec`.
    pub fn build(results: &Results, spec: &Spec) -> Matrix {
        let columns: Vec<MatrixColumn> = results.columns.iter().map(column_identity).collect();
        let by_col = trials_by_column(results);
        let case_rows = rows_per_case(results);
        let keys = row_keys(results, spec);
        let case_ids: Vec<String> = results
            .trials
            .iter()
            .map(|t| t.case.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut deviations: Vec<DeviationNote> = Vec::new();
        let mut sections = Vec::new();
        for sname in section_order(spec, &keys) {
            let rows: Vec<Row> = section_entries(spec, &keys, &sname)
                .into_iter()
                .map(|(obs, (kind, layer))| {
                    build_row(
                        spec,
                        results,
                        &by_col,
                        &case_rows,
                        &case_ids,
                        &sname,
                        obs,
                        kind,
                        layer,
                        &mut deviations,
                    )
                })
                .collect();
            if !rows.is_empty() {
                sections.push(Section { name: sname, rows });
            }
        }
        let totals = results
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| column_totals(i, &c.name, &sections, &by_col[i]))
            .collect();
        Matrix {
            schema: SCHEMA.into(),
            results_schema: results.schema.clone(),
            results_file: None,
            harness: Harness {
                version: results.harness.version.clone(),
                commit: results.harness.commit.clone(),
                spec_digest: results.harness.spec_digest.clone(),
            },
            interrupted: results.interrupted,
            columns,
            sections,
            totals,
            deviations,
            not_run: not_run(results),
            cases: case_ids,
        }
    }
}

/// (target kind, observable, layer): one row of the matrix.
type RowKey = (String, String, String);

/// The trials of each column, in the columns' order.
fn trials_by_column(results: &Results) -> Vec<Vec<&TrialRecord>> {
    results
        .columns
        .iter()
        .map(|c| {
            results
                .trials
                .iter()
                .filter(|t| t.column == c.name)
                .collect()
        })
        .collect()
}

/// The rows each case checks on any column (what a trial that did not finish would have
/// checked).
fn rows_per_case(results: &Results) -> BTreeMap<&str, BTreeSet<RowKey>> {
    let mut case_rows: BTreeMap<&str, BTreeSet<RowKey>> = BTreeMap::new();
    for t in &results.trials {
        for ta in &t.tally {
            case_rows.entry(t.case.as_str()).or_default().insert((
                ta.target_kind.clone(),
                ta.kind.name().to_string(),
                layer_name(&ta.layer),
            ));
        }
    }
    case_rows
}

/// The rows, per (section, observable): the spec's spellings with an explicit kind, plus
/// whatever the runs checked, as (kind, layer).
fn row_keys(
    results: &Results,
    spec: &Spec,
) -> BTreeMap<(String, String), BTreeSet<(String, String)>> {
    let mut keys: BTreeMap<(String, String), BTreeSet<(String, String)>> = BTreeMap::new();
    for o in &spec.observables {
        let set = keys.entry((o.section.clone(), o.name.clone())).or_default();
        for (layer, per_kind) in &o.spellings {
            for kind in per_kind.keys().filter(|k| *k != "*") {
                set.insert((kind.clone(), layer.clone()));
            }
        }
    }
    for t in &results.trials {
        for ta in &t.tally {
            let obs = ta.kind.name();
            let section = match spec.observable(obs) {
                Some(o) => o.section.clone(),
                None if ta.layer.is_empty() => OPERATIONS_SECTION.to_string(),
                None => "other".to_string(),
            };
            keys.entry((section, obs.to_string()))
                .or_default()
                .insert((ta.target_kind.clone(), layer_name(&ta.layer)));
        }
    }
    keys
}

/// The sections in the spec's order, then the operations and "other" where rows have them.
fn section_order(
    spec: &Spec,
    keys: &BTreeMap<(String, String), BTreeSet<(String, String)>>,
) -> Vec<String> {
    let mut section_names: Vec<String> = Vec::new();
    for o in &spec.observables {
        if !section_names.contains(&o.section) {
            section_names.push(o.section.clone());
        }
    }
    for extra in [OPERATIONS_SECTION, "other"] {
        if keys.keys().any(|(s, _)| s == extra) && !section_names.iter().any(|s| s == extra) {
            section_names.push(extra.to_string());
        }
    }
    section_names
}

/// The rows of one section as (observable, (kind, layer)), in the spec's order of
/// observables, kinds and layers (names break ties; unknown ones go last).
fn section_entries<'k>(
    spec: &Spec,
    keys: &'k BTreeMap<(String, String), BTreeSet<(String, String)>>,
    section: &str,
) -> Vec<(&'k String, &'k (String, String))> {
    let kinds = kind_order(spec);
    let kind_rank = |k: &str| kinds.iter().position(|x| x == k).unwrap_or(kinds.len());
    let layer_rank = |l: &str| {
        spec.layers
            .iter()
            .position(|x| x.name == l)
            .unwrap_or(spec.layers.len())
    };
    let obs_rank = |o: &str| {
        spec.observables
            .iter()
            .position(|x| x.name == o)
            .unwrap_or(usize::MAX)
    };
    let mut entries: Vec<(&String, &(String, String))> = keys
        .iter()
        .filter(|((s, _), _)| s == section)
        .flat_map(|((_, o), set)| set.iter().map(move |kl| (o, kl)))
        .collect();
    entries.sort_by(|a, b| {
        (
            obs_rank(a.0),
            a.0,
            kind_rank(&a.1 .0),
            &a.1 .0,
            layer_rank(&a.1 .1),
            &a.1 .1,
        )
            .cmp(&(
                obs_rank(b.0),
                b.0,
                kind_rank(&b.1 .0),
                &b.1 .0,
                layer_rank(&b.1 .1),
                &b.1 .1,
            ))
    });
    entries
}

/// Column `i`'s totals: its cells per state, its checks, its trials per status.
fn column_totals(i: usize, column: &str, sections: &[Section], trials: &[&TrialRecord]) -> Totals {
    let mut rows: BTreeMap<String, u32> = CellState::ALL
        .iter()
        .map(|s| (s.name().to_string(), 0))
        .collect();
    let (mut p, mut f, mut x) = (0, 0, 0);
    for r in sections.iter().flat_map(|s| &s.rows) {
        let cell = &r.cells[i];
        *rows.entry(cell.state.name().to_string()).or_default() += 1;
        p += cell.pass;
        f += cell.fail;
        x += cell.xfail;
    }
    let mut by_status: BTreeMap<String, u32> = Status::ALL
        .iter()
        .map(|s| (s.name().to_lowercase(), 0))
        .collect();
    for t in trials {
        *by_status.entry(t.status.name().to_lowercase()).or_default() += 1;
    }
    Totals {
        column: column.to_string(),
        rows,
        checks_pass: p,
        checks_fail: f,
        checks_xfail: x,
        trials: by_status,
    }
}

/// Statuses of trials that ended without a verdict on their checks.
fn incomplete(s: Status) -> bool {
    matches!(
        s,
        Status::Crash | Status::Timeout | Status::Error | Status::Flaky
    )
}

fn layer_name(tally_layer: &str) -> String {
    if tally_layer.is_empty() {
        BEHAVIOUR_LAYER.to_string()
    } else {
        tally_layer.to_string()
    }
}

fn not_run(r: &Results) -> NotRun {
    let mut absent: Vec<AbsentRuntime> = r
        .absent
        .iter()
        .map(|a| AbsentRuntime {
            name: a.name.clone(),
            install: a.install.clone(),
        })
        .collect();
    absent.sort_by(|a, b| a.name.cmp(&b.name));
    let mut unusable: Vec<UnusableRuntime> = r
        .unusable
        .iter()
        .map(|u| UnusableRuntime {
            path: u.path.display().to_string(),
            found_by: u.found_by.clone(),
            why: u.why.clone(),
        })
        .collect();
    unusable.sort_by(|a, b| a.path.cmp(&b.path));
    let mut broken: Vec<BrokenRuntime> = r
        .broken
        .iter()
        .map(|b| BrokenRuntime {
            column: b.column.clone(),
            why: b.why.clone(),
        })
        .collect();
    broken.sort_by(|a, b| a.column.cmp(&b.column));
    NotRun {
        absent,
        unusable,
        broken,
    }
}

#[allow(clippy::too_many_arguments)]
fn build_row(
    spec: &Spec,
    results: &Results,
    by_col: &[Vec<&TrialRecord>],
    case_rows: &BTreeMap<&str, BTreeSet<(String, String, String)>>,
    case_ids: &[String],
    section: &str,
    obs: &str,
    kind: &str,
    layer: &str,
    deviations: &mut Vec<DeviationNote>,
) -> Row {
    let observable = spec.observable(obs);
    let spelling = observable.and_then(|o| spec.spelling(o, layer, kind));
    let feature = spelling.and_then(|s| spec.features.get(&s.feature));
    let source = spelling
        .and_then(|s| s.source.clone())
        .or_else(|| feature.map(|f| f.source.clone()))
        .or_else(|| spec.kinds.get(kind).map(|k| k.source.clone()))
        .unwrap_or_default();
    let summary = match observable {
        Some(o) => o.summary.clone(),
        None => match CheckKind::parse(obs) {
            CheckKind::Outcome => "What each operation returns or raises".to_string(),
            CheckKind::ObserveCalls => {
                "How many times the body's observe() ran during a step".to_string()
            }
            CheckKind::Observable(_) | CheckKind::Agreement(_) => String::new(),
        },
    };
    let tally_layer = if layer == BEHAVIOUR_LAYER { "" } else { layer };
    let row_key = (kind.to_string(), obs.to_string(), layer.to_string());
    let cells = results
        .columns
        .iter()
        .enumerate()
        .map(|(ci, col)| {
            let avail = availability(col);
            let kind_here = spec
                .kinds
                .get(kind)
                .is_none_or(|k| spec.has_feature(&k.feature, &avail));
            let spelled = spelling.is_none_or(|s| spec.has_feature(&s.feature, &avail));
            let (mut pass, mut fail, mut xfail, mut inc) = (0u32, 0u32, 0u32, 0u32);
            let mut cases = BTreeSet::new();
            let mut devs: Vec<String> = Vec::new();
            for t in &by_col[ci] {
                let mut hit = false;
                for ta in t.tally.iter().filter(|ta| {
                    ta.target_kind == kind && ta.layer == tally_layer && counts_for(obs, &ta.kind)
                }) {
                    pass += ta.pass;
                    fail += ta.fail;
                    xfail += ta.xfail;
                    hit = true;
                    if ta.xfail > 0 {
                        for p in t
                            .problems
                            .iter()
                            .filter(|p| p.layer == tally_layer && counts_for(obs, &p.kind))
                        {
                            if let Some(d) = p.deviation.and_then(|i| t.deviations.get(i)) {
                                let id = note_id(deviations, d);
                                if !devs.contains(&id) {
                                    devs.push(id);
                                }
                            }
                        }
                    }
                }
                if !hit
                    && t.tally.is_empty()
                    && incomplete(t.status)
                    && case_rows
                        .get(t.case.as_str())
                        .is_some_and(|s| s.contains(&row_key))
                {
                    inc += 1;
                    hit = true;
                }
                if hit {
                    if let Ok(i) = case_ids.binary_search(&t.case) {
                        cases.insert(i as u32);
                    }
                }
            }
            let checks = pass + fail + xfail;
            let bad = fail + xfail + inc;
            let state = if !kind_here && checks == 0 && inc == 0 {
                CellState::NotApplicable
            } else if (checks == 0 && inc == 0) || (!spelled && bad == 0) {
                // nothing observed, or missing as the spec says and the run confirms
                CellState::Absent
            } else if bad == 0 {
                CellState::Pass
            } else if pass > 0 {
                CellState::Partial
            } else {
                CellState::Fail
            };
            Cell {
                state,
                pass,
                fail,
                xfail,
                incomplete: inc,
                spelled,
                deviations: devs,
                cases: cases.into_iter().collect(),
            }
        })
        .collect();
    let layer_optional = spec.layer(layer).is_some_and(|l| l.optional);
    Row {
        id: format!("{section}/{obs}/{kind}/{layer}"),
        section: section.to_string(),
        observable: obs.to_string(),
        summary,
        kind: kind.to_string(),
        layer: layer.to_string(),
        optional: layer_optional,
        spelling: spelling.map(|s| s.read_text.clone()),
        feature: spelling.map(|s| s.feature.clone()),
        since: feature.and_then(|f| {
            f.since
                .as_ref()
                .map(|v| v.language())
                .or_else(|| f.provided_by.clone())
        }),
        until: feature.and_then(|f| f.until.as_ref().map(|v| v.language())),
        source,
        cells,
    }
}

/// The id of a deviation note, adding it on first use.
fn note_id(notes: &mut Vec<DeviationNote>, d: &introspec_judge::AppliedDeviation) -> String {
    if let Some(n) = notes.iter().find(|n| {
        n.reason == d.reason && n.link == d.link && n.origin == project_relative(&d.origin)
    }) {
        return n.id.clone();
    }
    let id = format!("D{}", notes.len() + 1);
    notes.push(DeviationNote {
        id: id.clone(),
        reason: d.reason.clone(),
        link: d.link.clone(),
        origin: project_relative(&d.origin),
    });
    id
}
