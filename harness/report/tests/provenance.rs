//! One provenance: the committed reports all come from one results file of one clean
//! commit and say so; every other committed results file the PEP material draws on is named
//! there with its own commit and spec digest; the screenshot is of the page as committed;
//! and where the results file is on this machine, the reports are its rendering to the byte.

mod common;

use std::path::{Path, PathBuf};

use introspec_report::load;
use introspec_report::pep::sources::{self, Sources};
use introspec_report::render_reports_with;

fn reports() -> PathBuf {
    common::root().join("reports")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha256(path: &Path) -> String {
    introspec_report::screenshot::sha256_of(path).unwrap()
}

/// `(commit, spec digest)` the committed matrix.json names.
fn committed_harness() -> (String, String) {
    let m: serde_json::Value = serde_json::from_str(&read(&reports().join("matrix.json"))).unwrap();
    (
        m["harness"]["commit"].as_str().unwrap().to_string(),
        m["harness"]["spec_digest"].as_str().unwrap().to_string(),
    )
}

/// Every report `introspec report` writes, as committed.
fn committed_reports() -> Vec<PathBuf> {
    let dir = reports();
    let mut out: Vec<PathBuf> = introspec_report::REPORT_FILES
        .iter()
        .map(|f| dir.join(f))
        .collect();
    let mut md: Vec<PathBuf> = std::fs::read_dir(dir.join(introspec_report::markdown::DIR))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    md.sort();
    out.extend(md);
    out
}

/// The committed results files besides the main one (`latest.json` is never committed).
fn committed_results() -> Vec<PathBuf> {
    sources::committed_results(&common::root())
}

#[test]
fn every_committed_report_names_one_clean_commit_and_spec_digest() {
    let (commit, digest) = committed_harness();
    assert!(
        !commit.ends_with("-dirty") && commit != "unknown",
        "the committed reports come from a run of an uncommitted checkout ({commit}): run `introspec run` on a clean commit, then `introspec report`"
    );
    for path in committed_reports() {
        let text = read(&path);
        assert!(
            text.contains(&commit) && text.contains(&digest),
            "{} does not name commit {commit} and spec digest {digest} as matrix.json does: the reports are of different runs; run `introspec report` to write them all from one results file",
            path.display()
        );
    }
}

#[test]
fn the_pep_material_names_each_committed_results_file_it_draws_on() {
    let (_, digest) = committed_harness();
    for doc in ["pep-evidence.rst", "pep-evidence-appendix.rst"] {
        let text = read(&reports().join(doc));
        for file in committed_results() {
            let r = load::results(&file).unwrap_or_else(|e| panic!("{e}"));
            let name = format!(
                "reports/results/{}",
                file.file_name().unwrap().to_string_lossy()
            );
            let used = format!(
                "``{name}``: commit ``{}``, spec digest ``{}``",
                r.harness.commit, r.harness.spec_digest
            );
            if r.harness.spec_digest == digest {
                assert!(
                    text.contains(&used),
                    "{doc} does not say it draws on {name} (commit {}): run `introspec report`",
                    r.harness.commit
                );
            } else {
                assert!(
                    !text.contains(&used),
                    "{doc} draws on {name}, whose spec digest {} is not the reports' {digest}",
                    r.harness.spec_digest
                );
            }
        }
    }
}

/// Whether chromium is installed (`INTROSPEC_CHROMIUM`, else `chromium` or
/// `chromium-browser` on `PATH`), so that the writing of the reports retakes the screenshot.
fn chromium_here() -> bool {
    introspec_report::screenshot::find_chromium(
        std::env::var_os("INTROSPEC_CHROMIUM").map(PathBuf::from),
        std::env::var_os("PATH"),
    )
    .is_some()
}

#[test]
fn the_screenshot_is_of_the_page_as_committed() {
    let dir = reports();
    let record: introspec_report::screenshot::Record =
        serde_json::from_str(&read(&dir.join("matrix.png.json"))).unwrap();
    let (commit, digest) = committed_harness();
    assert_eq!(
        record.png_sha256,
        sha256(&dir.join("matrix.png")),
        "reports/matrix.png is not the picture reports/matrix.png.json records: run `introspec report` with chromium installed"
    );
    let of_this_page = (record.commit.as_str(), record.spec_digest.as_str())
        == (commit.as_str(), digest.as_str())
        && record.page_sha256 == sha256(&dir.join("matrix.html"));
    if !of_this_page {
        // every writing of the reports (`introspec run`, `introspec report`) retakes it where
        // chromium is installed: there, and on CI (.ci/run installs chromium), a screenshot of
        // another page fails; elsewhere (a user's run rewrote the page, and nothing here can
        // take a picture of it) this says so
        let msg = format!(
            "reports/matrix.png shows the page of commit {} (spec digest {}), not reports/matrix.html of commit {commit} (spec digest {digest}): run `introspec report` with chromium installed",
            record.commit, record.spec_digest
        );
        if std::env::var_os("CI").is_none() && !chromium_here() {
            eprintln!(
                "note: {msg} (no chromium here: apt-get install -y chromium; this fails on CI)"
            );
            return;
        }
        panic!("{msg}");
    }
}

/// Where the main results file of the committed reports is on this machine (it is made by
/// `introspec run` and never committed), the committed reports are its rendering, byte for
/// byte. Elsewhere this says why it checked nothing more.
#[test]
fn the_committed_reports_are_the_rendering_of_their_results_where_those_are_here() {
    let root = common::root();
    let file = root.join("reports/results/latest.json");
    let (commit, _) = committed_harness();
    let Ok(results) = load::results(&file) else {
        eprintln!("note: no reports/results/latest.json here: the byte-for-byte check of the committed reports needs the run they come from");
        return;
    };
    if results.harness.commit != commit {
        eprintln!(
            "note: reports/results/latest.json is of commit {}, the committed reports of {commit}: not compared",
            results.harness.commit
        );
        return;
    }
    let spec = common::spec();
    let corpus = sources::corpus(&root, &spec);
    let src = Sources::from_checkout(&root, &corpus, &file).unwrap_or_else(|e| panic!("{e}"));
    for (name, body) in render_reports_with(&results, &spec, &src) {
        let committed = read(&reports().join(&name));
        assert!(
            committed == body,
            "reports/{name} is not the rendering of reports/results/latest.json (commit {commit}): run `introspec report` and commit the result"
        );
    }
}

/// Every citation (`[D12]_`) that the committed PEP material names is defined in the same file
/// (`.. [D12]`): reStructuredText leaves an undefined one as an error in the rendered page.
#[test]
fn every_citation_of_the_pep_material_is_defined_in_its_file() {
    for name in ["pep-evidence.rst", "pep-evidence-appendix.rst"] {
        let text = read(&reports().join(name));
        let labels = |open: &str, close: &str| -> std::collections::BTreeSet<String> {
            text.match_indices(open)
                .filter_map(|(at, _)| {
                    let rest = &text[at + open.len()..];
                    let end = rest.find(close)?;
                    let label = &rest[..end];
                    (label.len() > 1
                        && label.starts_with('D')
                        && label[1..].bytes().all(|b| b.is_ascii_digit()))
                    .then(|| label.to_string())
                })
                .collect()
        };
        let cited = labels("[", "]_");
        let defined = labels(".. [", "]");
        let missing: Vec<&String> = cited.difference(&defined).collect();
        assert!(
            missing.is_empty(),
            "reports/{name} cites {missing:?} but defines none of them: run `introspec report`"
        );
    }
}

#[test]
fn the_committed_pep_material_is_a_few_hundred_lines() {
    // issue 18: a document to paste from, not a data dump; the per-check data is the appendix's
    let text = read(&reports().join("pep-evidence.rst"));
    let lines = text.lines().count();
    assert!(
        lines < 500,
        "reports/pep-evidence.rst has {lines} lines: move per-check detail to the appendix"
    );
}
