//! The Markdown summary: small enough for a code host to render, its links resolve, and
//! adjacent versions that show the same fold into one group while different ones do not.

mod common;

use std::collections::BTreeMap;

use introspec_report::markdown;
use introspec_report::matrix::{
    Cell, CellState, DeviationNote, Harness, Matrix, MatrixColumn, NotRun, Row, Section, Totals,
};
use introspec_report::{render_reports, write_reports, REPORT_FILES};

/// GitHub renders no Markdown above 512 KB; the summary keeps a wide margin.
const MAX_BYTES: usize = 400 * 1024;

/// The matrix of the committed reports (reports/matrix.json, the real data of a full run).
fn committed() -> Matrix {
    let path = common::root().join("reports/matrix.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_markdown_file_of_the_committed_matrix_is_under_400_kb() {
    let m = committed();
    assert!(m.columns.len() > 20, "the committed matrix is a full run");
    let files = markdown::render(&m);
    assert!(files.len() >= m.sections.len() + 2);
    for (name, body) in &files {
        println!("{name}: {} bytes", body.len());
        assert!(
            body.len() < MAX_BYTES,
            "{name} is {} bytes, over {MAX_BYTES}: fold more or split it",
            body.len()
        );
    }
    println!(
        "all: {} bytes",
        files.iter().map(|(_, b)| b.len()).sum::<usize>()
    );
}

/// `path` relative to the directory of `from`, with `..` applied: `matrix/x.md` + `../a` = `a`.
fn resolve(from: &str, target: &str) -> String {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for p in target.split('/') {
        match p {
            ".." => {
                assert!(
                    parts.pop().is_some(),
                    "{target} in {from} leaves the reports"
                );
            }
            "." | "" => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Every relative link in `files` names one of `known` (and, with a fragment, an anchor
/// of a generated file); returns how many links were checked.
fn check_links(files: &[(String, String)], known: &[&str]) -> usize {
    let by_name: BTreeMap<&str, &str> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_str()))
        .collect();
    let mut checked = 0;
    for (name, body) in files.iter().filter(|(n, _)| n.ends_with(".md")) {
        let mut rest = body.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let end = rest.find(')').expect("a link closes");
            let link = &rest[..end];
            if link.contains("://") {
                continue;
            }
            let (path, frag) = link.split_once('#').unwrap_or((link, ""));
            let target = if path.is_empty() {
                name.clone()
            } else {
                resolve(name, path)
            };
            assert!(
                by_name.contains_key(target.as_str()) || known.contains(&target.as_str()),
                "{name} links to {link}, which is no generated file"
            );
            if !frag.is_empty() {
                let body = by_name
                    .get(target.as_str())
                    .unwrap_or_else(|| panic!("{name} links to {link}: no such file rendered"));
                assert!(
                    body.contains(&format!("<a id=\"{frag}\"></a>")),
                    "{name} links to {link}: {target} has no such anchor"
                );
            }
            checked += 1;
        }
    }
    checked
}

#[test]
fn every_link_between_the_markdown_files_resolves() {
    // the committed matrix: the Markdown alone, beside the other reports
    let files = markdown::render(&committed());
    let n = check_links(&files, &REPORT_FILES);
    assert!(n > 100, "only {n} links checked");
    // the fixture: every report rendered
    let reports = render_reports(&common::fixture(), &common::spec());
    assert!(check_links(&reports, &[]) > 10);
    // the index links every other Markdown file
    let index = &files[0];
    assert_eq!(index.0, "matrix.md");
    for (name, _) in &files[1..] {
        assert!(
            index.1.contains(&format!("]({name})")),
            "matrix.md does not link {name}"
        );
    }
}

#[test]
fn writing_replaces_the_markdown_of_sections_no_longer_there() {
    let dir = common::scratch("stale-md");
    std::fs::create_dir_all(dir.join("matrix")).unwrap();
    std::fs::write(dir.join("matrix/gone.md"), "an old section").unwrap();
    std::fs::write(dir.join("matrix/notes.txt"), "not a report").unwrap();
    write_reports(&common::fixture(), &common::spec(), &dir).unwrap();
    assert!(!dir.join("matrix/gone.md").exists());
    assert!(dir.join("matrix/notes.txt").exists());
    assert!(dir.join("matrix/frame.md").exists() && dir.join("matrix.md").exists());
    let _ = std::fs::remove_dir_all(dir);
}

fn column(name: &str, version: &str, reference: bool) -> MatrixColumn {
    MatrixColumn {
        name: name.into(),
        runtime: name.split('+').next().unwrap().into(),
        implementation: "cpython".into(),
        implementation_version: version.into(),
        version: version.into(),
        build: String::new(),
        free_threaded: false,
        debug: false,
        observer: introspec_results::Observer::Pyo3,
        compiler: None,
        compiler_version: None,
        reference,
    }
}

fn cell(state: CellState, pass: u32, xfail: u32, deviations: &[&str]) -> Cell {
    Cell {
        state,
        pass,
        fail: 0,
        xfail,
        incomplete: 0,
        spelled: true,
        deviations: deviations.iter().map(|d| d.to_string()).collect(),
        cases: Vec::new(),
    }
}

fn row(observable: &str, cells: Vec<Cell>) -> Row {
    Row {
        id: format!("s/{observable}/generator/attributes"),
        section: "s".into(),
        observable: observable.into(),
        summary: String::new(),
        kind: "generator".into(),
        layer: "attributes".into(),
        optional: false,
        spelling: None,
        feature: None,
        since: None,
        until: None,
        source: String::new(),
        cells,
    }
}

fn note(id: &str, reason: &str, origin: &str) -> DeviationNote {
    DeviationNote {
        id: id.into(),
        reason: reason.into(),
        link: "https://example.org/issue".into(),
        origin: origin.into(),
    }
}

/// Four columns of one family (3.9, 3.10, 3.11, 3.12) and one with the reference loaded.
fn small() -> Matrix {
    let columns = vec![
        column("cpython-3.9.18", "3.9.18", false),
        column("cpython-3.10.13", "3.10.13", false),
        column("cpython-3.11.7", "3.11.7", false),
        column("cpython-3.12.1", "3.12.1", false),
        column("cpython-3.12.1+ref", "3.12.1", true),
    ];
    use CellState::{Absent, Partial, Pass};
    let rows = vec![
        // 3.9 and 3.10 identical: one group; 3.11 differs; 3.12 again like 3.9 (not adjacent)
        row(
            "same-then-different",
            vec![
                cell(Pass, 3, 0, &[]),
                cell(Pass, 3, 0, &[]),
                cell(Partial, 1, 2, &["D1"]),
                cell(Pass, 3, 0, &[]),
                cell(Pass, 3, 0, &[]),
            ],
        ),
        // the same state with other counts is another thing shown
        row(
            "counts-differ",
            vec![
                cell(Partial, 1, 1, &["D1"]),
                cell(Partial, 2, 1, &["D1"]),
                cell(Absent, 0, 0, &[]),
                cell(Absent, 0, 0, &[]),
                cell(Absent, 0, 0, &[]),
            ],
        ),
        // D2 has D1's reason and source (recorded elsewhere): the same deviation, one group;
        // D3 is another deviation: another group
        row(
            "deviations",
            vec![
                cell(Partial, 1, 1, &["D1"]),
                cell(Partial, 1, 1, &["D2"]),
                cell(Partial, 1, 1, &["D3"]),
                cell(Partial, 1, 1, &["D3"]),
                cell(Pass, 2, 0, &[]),
            ],
        ),
    ];
    let totals = columns
        .iter()
        .map(|c| Totals {
            column: c.name.clone(),
            rows: BTreeMap::new(),
            checks_pass: 0,
            checks_fail: 0,
            checks_xfail: 0,
            trials: BTreeMap::new(),
        })
        .collect();
    Matrix {
        schema: introspec_report::matrix::SCHEMA.into(),
        results_schema: "introspec-results/1".into(),
        results_file: None,
        harness: Harness {
            version: "0".into(),
            commit: "abc".into(),
            spec_digest: "def".into(),
        },
        interrupted: false,
        columns,
        sections: vec![Section {
            name: "s".into(),
            rows,
        }],
        totals,
        deviations: vec![
            note("D1", "gi_running is an int", "cases/deviations/a.toml:3"),
            note("D2", "gi_running is an int", "cases/deviations/a.toml:9"),
            note("D3", "something else", "cases/deviations/b.toml:1"),
        ],
        not_run: NotRun::default(),
        cases: Vec::new(),
    }
}

#[test]
fn adjacent_versions_showing_the_same_fold_into_one_group_and_others_do_not() {
    let files = markdown::render(&small());
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["matrix.md", "matrix/s.md", "matrix/known-deviations.md"]
    );
    let section = &files[1].1;
    let line = |obs: &str| {
        section
            .lines()
            .find(|l| l.starts_with(&format!("| `{obs}` |")))
            .unwrap_or_else(|| panic!("no row {obs} in:\n{section}"))
    };
    assert!(
        section.contains("| cpython<br><sub>3.9–3.12</sub> | cpython+ref<br><sub>3.12</sub> |"),
        "{section}"
    );
    let d1 = "[D1](known-deviations.md#d1)";
    let d3 = "[D3](known-deviations.md#d3)";
    assert_eq!(
        line("same-then-different"),
        format!(
            "| `same-then-different` | generator | attributes |  | \
             3.9–3.10: pass<br>3.11: partial 1/3 {d1}<br>3.12: pass | pass |"
        )
    );
    assert_eq!(
        line("counts-differ"),
        format!(
            "| `counts-differ` | generator | attributes |  | \
             3.9: partial 1/2 {d1}<br>3.10: partial 2/3 {d1}<br>3.11–3.12: absent | absent |"
        )
    );
    assert_eq!(
        line("deviations"),
        format!(
            "| `deviations` | generator | attributes |  | \
             3.9–3.10: partial 1/2 {d1}<br>3.11–3.12: partial 1/2 {d3} | pass |"
        )
    );
    // one entry per distinct deviation, every id anchored, every place that records it
    let notes = &files[2].1;
    assert!(notes.contains(
        "- <a id=\"d1\"></a><a id=\"d2\"></a>**D1** gi\\_running is an int — \
         [source](https://example.org/issue) · recorded in `cases/deviations/a.toml` \
         lines 3 (D1), 9 (D2) · applies in: cpython 3.9–3.11\n"
    ));
    assert!(notes.contains("**D3** something else"));
    assert!(notes.contains("applies in: cpython 3.11–3.12\n"));
}
