//! The committed `reports/cpython-test-suites.json`: of a clean commit, of the reference
//! implementation's sources as they are in this checkout, of every suite, with the proposal
//! in effect in every process of every installed run, and read by the committed PEP material.

use std::path::{Path, PathBuf};

use introspec_testsuites::{command_text, source_digest, Report, SCHEMA, SUITES};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

fn committed() -> Report {
    let file = root().join("reports/cpython-test-suites.json");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: run `introspec cpython-tests` on a clean commit",
            file.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{} is not an {SCHEMA} report: {e}: run `introspec cpython-tests`",
            file.display()
        )
    })
}

#[test]
fn the_committed_suites_report_is_of_a_clean_commit_and_of_this_reference_implementation() {
    let r = committed();
    assert_eq!(r.schema, SCHEMA);
    assert!(
        !r.commit.ends_with("-dirty") && r.commit != "unknown",
        "reports/cpython-test-suites.json comes from an uncommitted checkout ({}): run `introspec cpython-tests` on a clean commit",
        r.commit
    );
    let here = source_digest(&root().join("harness/reference")).unwrap();
    assert_eq!(
        r.reference_source, here,
        "reports/cpython-test-suites.json was made with another harness/reference (sources {}, here {here}): run `introspec cpython-tests` again and commit reports/cpython-test-suites.json",
        r.reference_source
    );
    assert_eq!(
        r.command,
        command_text(),
        "the regrtest command changed since the run: run `introspec cpython-tests`"
    );
    assert_eq!(
        r.suites,
        SUITES.to_vec(),
        "not every suite of issue 18 item 2 was run"
    );
    assert!(!r.versions.is_empty());
    for v in &r.versions {
        for s in &v.suites {
            let p =
                s.installed.probe.as_ref().unwrap_or_else(|| {
                    panic!("{} {}: the installed run has no probe", v.name, s.name)
                });
            // a subinterpreter a test starts imports the sitecustomize too, and a PyO3 module
            // refuses to load there (3.13's test_types): the one exception the PEP text names
            let subinterpreters = p
                .failures
                .iter()
                .all(|f| f.ends_with("does not support loading in subinterpreters"));
            assert!(
                p.workers >= 1
                    && p.workers_in_effect >= 1
                    && (p.every_process || subinterpreters),
                "{} {}: the proposal was not in effect in every process of the installed run: {p:?}",
                v.name,
                s.name
            );
            assert!(s.bare.probe.is_none());
        }
    }
}

#[test]
fn the_pep_material_is_rendered_from_the_committed_suites_report() {
    let r = committed();
    let rst = std::fs::read_to_string(root().join("reports/pep-evidence.rst")).unwrap();
    let line = format!(
        "at commit ``{}``, reference module ``{}`` (sources ``{}``)",
        r.commit, r.reference_module, r.reference_source
    );
    assert!(
        rst.contains(&line),
        "reports/pep-evidence.rst does not show reports/cpython-test-suites.json of commit {}: run `introspec report`",
        r.commit
    );
}
