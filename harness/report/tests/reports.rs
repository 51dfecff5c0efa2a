//! The reports from a results file: deterministic to the byte, and each says what it must.

mod common;

use introspec_report::matrix::{CellState, Matrix, SCHEMA};
use introspec_report::{render_reports, write_reports, REPORT_FILES};

#[test]
fn the_same_results_give_the_same_bytes_twice() {
    let (results, spec) = (common::fixture(), common::spec());
    let a = common::scratch("det-a");
    let b = common::scratch("det-b");
    write_reports(&results, &spec, &a).unwrap();
    // a second load of the file, not the same value, as a second `introspec report` would
    write_reports(&common::fixture(), &common::spec(), &b).unwrap();
    let names: Vec<String> = render_reports(&results, &spec)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for top in REPORT_FILES {
        assert!(names.iter().any(|n| n == top), "{top} is not rendered");
    }
    assert!(names.iter().any(|n| n.starts_with("matrix/")));
    for name in &names {
        let x = std::fs::read(a.join(name)).unwrap();
        let y = std::fs::read(b.join(name)).unwrap();
        assert!(!x.is_empty(), "{name} is empty");
        assert!(
            x == y,
            "{name} differs between two renderings of the same results"
        );
    }
    let _ = std::fs::remove_dir_all(a);
    let _ = std::fs::remove_dir_all(b);
}

#[test]
fn the_matrix_json_is_versioned_and_reads_back() {
    let m = Matrix::build(&common::fixture(), &common::spec());
    let back: Matrix = serde_json::from_str(&m.to_json()).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.schema, SCHEMA);
    assert_eq!(back.columns.len(), 7);
    for r in back.rows() {
        assert_eq!(
            r.cells.len(),
            back.columns.len(),
            "row {} has a cell per column",
            r.id
        );
    }
}

#[test]
fn cells_say_pass_partial_fail_absent_and_na() {
    let m = Matrix::build(&common::fixture(), &common::spec());
    let col = |name: &str| m.columns.iter().position(|c| c.name == name).unwrap();
    let row = |id: &str| {
        m.rows()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no row {id}"))
    };
    // the proposal's spelling does not exist on a bare runtime: the run confirms it is missing
    let frame = row("frame/frame/generator/proposal");
    assert_eq!(frame.cells[col("cpython-3.12.1")].state, CellState::Absent);
    assert!(frame.cells[col("cpython-3.12.1")].pass > 0);
    assert_eq!(
        frame.cells[col("cpython-3.12.1+ref")].state,
        CellState::Pass
    );
    // no coroutines in Python 2.7
    assert_eq!(
        row("frame/frame/coroutine/attributes").cells[col("cpython-2.7.18")].state,
        CellState::NotApplicable
    );
    // gi_running reads 0/1 on 2.7: a known deviation, linked from the cell
    let running = &row("running/running/generator/attributes").cells[col("cpython-2.7.18")];
    assert!(
        matches!(running.state, CellState::Fail | CellState::Partial),
        "{running:?}"
    );
    assert!(!running.deviations.is_empty());
    let d = m.deviation(&running.deviations[0]).unwrap();
    assert!(d.reason.contains("gi_running") && d.link.starts_with("https://"));
    // the crashed trial leaves its rows unfinished on that column
    let c38 = col("cpython-3.8.18");
    assert!(m.rows().any(|r| r.cells[c38].incomplete > 0));
    assert_eq!(m.totals[c38].trials["crash"], 1);
}

#[test]
fn the_markdown_has_sections_columns_totals_and_runtimes_not_run() {
    let reports = render_reports(&common::fixture(), &common::spec());
    let file = |name: &str| {
        &reports
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} rendered"))
            .1
    };
    let index = file("matrix.md");
    for want in [
        "## Sections",
        "| [`frame`](matrix/frame.md) |",
        "| [`running`](matrix/running.md) |",
        "## Families of columns",
        "| cpython+ref | 3.12, 3.13 | cpython-3.12.1+ref, cpython-3.13.0+ref |",
        "## Totals per column",
        "| column | rows pass |",
        "[Known deviations](matrix/known-deviations.md)",
        "install it with `apt-get install -y graalpy",
        "**broken** `cpython-3.14.0`",
        "**unusable** `/opt/python-2.6/bin/python`",
    ] {
        assert!(index.contains(want), "matrix.md lacks {want:?}");
    }
    let frame = file("matrix/frame.md");
    for want in [
        "# Section `frame`",
        "cpython+ref<br><sub>3.12–3.13</sub>",
        "[`.gi_frame`](",
    ] {
        assert!(frame.contains(want), "matrix/frame.md lacks {want:?}");
    }
    assert!(file("matrix/known-deviations.md").contains("# Known deviations"));
    // every table row has as many cells as its header
    for (name, md) in reports.iter().filter(|(n, _)| n.ends_with(".md")) {
        for block in md.split("\n\n").filter(|b| b.starts_with("| ")) {
            let pipes = |l: &str| {
                l.char_indices()
                    .filter(|(i, c)| *c == '|' && !l[..*i].ends_with('\\'))
                    .count()
            };
            let widths: Vec<usize> = block.lines().map(pipes).collect();
            assert!(
                widths.iter().all(|w| *w == widths[0]),
                "ragged table in {name}:\n{block}"
            );
        }
    }
}

/// The reStructuredText headings of a document, each checked to be underlined to its length.
fn rst_headings(rst: &str) -> Vec<String> {
    let lines: Vec<&str> = rst.lines().collect();
    let mut out = Vec::new();
    for w in lines.windows(2) {
        if !w[1].is_empty()
            && w[1].chars().all(|c| c == '=' || c == '-')
            && !w[0].is_empty()
            && !w[0].starts_with(['=', '-'])
            && !w[1].contains(' ')
        {
            assert_eq!(
                w[0].chars().count(),
                w[1].chars().count(),
                "underline of {:?}",
                w[0]
            );
            out.push(w[0].to_string());
        }
    }
    out
}

#[test]
fn the_pep_material_is_restructuredtext_in_the_order_of_a_pep_with_provenance() {
    let reports = render_reports(&common::fixture(), &common::spec());
    let file = |name: &str| {
        reports
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} rendered"))
            .1
            .clone()
    };
    let rst = file("pep-evidence.rst");
    let appendix = file("pep-evidence-appendix.rst");
    let results = common::fixture();
    let provenance = format!(
        "commit ``{}``, spec digest ``{}``",
        results.harness.commit, results.harness.spec_digest
    );
    // the sections of a PEP, in a PEP's order
    let headings = rst_headings(&rst);
    let order = [
        "Abstract",
        "Motivation",
        "The attribute table",
        "Semantic decisions the PEP must make",
        "Bugs and deviations found in CPython and PyPy",
        "Reference implementation",
        "Backwards compatibility",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|h| {
            headings
                .iter()
                .position(|x| x == h)
                .unwrap_or_else(|| panic!("pep-evidence.rst has no section {h:?}: {headings:?}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "sections out of order: {headings:?}"
    );
    for want in [
        provenance.as_str(),
        "`pep-evidence-appendix.rst <pep-evidence-appendix.rst>`__",
        ".. code-block:: python",
        "frame.f_lasti == -1",
        "Options:",
        // generated from the fixture's trials: where the case ran, and how
        "* ``generator.frame.lasti.created_before_311``: pass on cpython 3.8, pypy 3.9; known deviation [D",
        // no test-suites report was given to the fixture's rendering: the document says so
        "No test-suites report (``reports/cpython-test-suites.json``) was given to this rendering",
    ] {
        assert!(rst.contains(want), "pep-evidence.rst lacks {want:?}");
    }
    // a few hundred lines, not a dump
    let lines = rst.lines().count();
    assert!(lines < 600, "pep-evidence.rst has {lines} lines");
    // every citation it makes is defined in it, once
    let cited: std::collections::BTreeSet<&str> = rst
        .match_indices("[D")
        .filter_map(|(i, _)| rst[i + 1..].split_once("]_").map(|(l, _)| l))
        .filter(|l| l.len() < 6 && l[1..].chars().all(|c| c.is_ascii_digit()))
        .collect();
    for l in &cited {
        assert_eq!(
            rst.matches(&format!(".. [{l}] ")).count(),
            1,
            "citation {l} is not defined exactly once"
        );
    }

    let headings = rst_headings(&appendix);
    for want in [
        "Runtime builds",
        "Spellings and the versions that have them",
        "State semantics per version",
        "What the proposed protocol changes",
        "The delegation layer (optional, contested)",
        "Cases behind the numbers",
        "Known deviations",
    ] {
        assert!(
            headings.iter().any(|h| h == want),
            "the appendix has no section {want:?}"
        );
    }
    for want in [
        provenance.as_str(),
        "``cpython-3.12.1`` / ``cpython-3.12.1+ref``",
        "``generator.lifecycle.close``",
    ] {
        assert!(appendix.contains(want), "the appendix lacks {want:?}");
    }
    // one footnote per distinct deviation: no reason is written twice
    let defs: Vec<&str> = appendix
        .lines()
        .filter(|l| l.starts_with(".. [D"))
        .map(|l| l.split_once("] ").unwrap().1)
        .collect();
    assert!(!defs.is_empty(), "the fixture has known deviations");
    let distinct: std::collections::BTreeSet<&&str> = defs.iter().collect();
    assert_eq!(distinct.len(), defs.len(), "a deviation is listed twice");
    let m = introspec_report::Matrix::build(&results, &common::spec());
    for d in &m.deviations {
        let reason = introspec_report::text::rst(&d.reason);
        assert_eq!(
            appendix.matches(reason.as_str()).count(),
            1,
            "the reason of {} is written {} times in the appendix",
            d.id,
            appendix.matches(reason.as_str()).count()
        );
    }
}

#[test]
fn the_html_page_is_self_contained() {
    let reports = render_reports(&common::fixture(), &common::spec());
    let html = &reports.iter().find(|(n, _)| n == "matrix.html").unwrap().1;
    assert!(html.starts_with("<!DOCTYPE html>"));
    for bad in ["<link", "src=\"http", "@import", "url(http"] {
        assert!(
            !html.contains(bad),
            "matrix.html loads an external asset ({bad})"
        );
    }
    assert!(
        html.contains("id=\"matrix\"")
            && html.contains("<tfoot>")
            && html.contains("id=\"filters\"")
    );
}

/// The fixture with its cpython-3.12.1 column copied as if its cases had been compiled with
/// Cython: the PEP material then shows the compiled family apart, from its cells.
#[test]
fn the_pep_material_shows_compiled_columns_apart_from_the_runtimes() {
    let mut results = common::fixture();
    let base = results
        .columns
        .iter()
        .find(|c| c.name == "cpython-3.12.1")
        .unwrap()
        .clone();
    let mut compiled = base.clone();
    compiled.name = "cpython-3.12.1+cython".into();
    compiled.compiler = Some(introspec_results::Compiler::Cython);
    compiled.compiler_version = Some("cython 3.3.1".into());
    let trials: Vec<_> = results
        .trials
        .iter()
        .filter(|t| t.column == base.name)
        .cloned()
        .map(|mut t| {
            t.column = compiled.name.clone();
            t
        })
        .collect();
    results.columns.push(compiled);
    results.trials.extend(trials);
    let reports = render_reports(&results, &common::spec());
    let rst = &reports
        .iter()
        .find(|(n, _)| n == "pep-evidence.rst")
        .unwrap()
        .1;
    assert!(!rst.contains("No compiled column was run."));
    // the compiled family is a column of the compiled rows, not a runtime of the case lines
    let table = rst
        .split("3. It assumes compiled generators")
        .nth(1)
        .expect("the compiled pitfall");
    assert!(table.contains("cpython+cython"), "{table}");
    let decisions = rst
        .split("Semantic decisions the PEP must make")
        .nth(1)
        .unwrap();
    for line in decisions.lines().filter(|l| l.starts_with("* ``")) {
        assert!(
            !line.contains("cpython+cython"),
            "a compiled column in a case line: {line}"
        );
    }
}

#[test]
fn every_report_names_the_results_file_it_was_made_from_when_told() {
    let sources = introspec_report::pep::sources::Sources {
        results_file: "reports/results/latest.json".into(),
        ..Default::default()
    };
    let reports =
        introspec_report::render_reports_with(&common::fixture(), &common::spec(), &sources);
    for name in [
        "matrix.md",
        "matrix.html",
        "matrix.json",
        "pep-evidence.rst",
        "pep-evidence-appendix.rst",
    ] {
        let body = &reports.iter().find(|(n, _)| n == name).unwrap().1;
        assert!(
            body.contains("reports/results/latest.json"),
            "{name} does not name its results file"
        );
    }
    // and without it, the matrix says nothing it does not know
    let plain = render_reports(&common::fixture(), &common::spec());
    let json = &plain.iter().find(|(n, _)| n == "matrix.json").unwrap().1;
    assert!(!json.contains("results_file"));
}
