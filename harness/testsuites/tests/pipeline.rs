//! The whole pipeline on a real regrtest run, on the newest CPython where the reference
//! implementation loads: a fixture suite with one case per outcome and one case that fails
//! only with the proposal installed, which must be the one difference found, reproduced on
//! its rerun, and passing with the module imported only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use introspec_testsuites::{Inputs, Interpreter, Outcome};

fn python() -> Interpreter {
    let d = introspec_runtimes::discover(&introspec_runtimes::Options {
        search: Some(introspec_runtimes::Search::from_vars(|k| {
            std::env::var_os(k)
        })),
        ..Default::default()
    });
    let r = d
        .runtimes
        .into_iter()
        .filter(|r| {
            r.identity.implementation == "cpython" && !r.identity.debug && !r.identity.free_threaded
        })
        .filter(|r| introspec_worker::reference_supports(&r.identity).is_ok())
        .max_by(|a, b| a.identity.version.cmp(&b.identity.version))
        .expect("a CPython 3.9+ on this machine (pyenv install 3.13.0)");
    Interpreter {
        name: r.name.clone(),
        version: r.identity.version.to_string(),
        path: r.path.clone(),
    }
}

#[test]
fn the_one_case_the_proposal_breaks_is_found_and_reproduced() {
    let cache = tempfile_dir();
    let reference_dir = introspec_worker::observers::reference_dir(&cache).unwrap();
    let inputs = Inputs {
        reference_module: "test".into(),
        reference_source: "test".into(),
        commit: "test".into(),
        cache: cache.clone(),
        reference_dir,
        memory_limit: Some(2 << 30),
        run_timeout: Duration::from_secs(300),
        suites: vec!["test_fixture_proposal".into()],
        testdir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture")),
    };
    let py = python();
    let report = introspec_testsuites::run(std::slice::from_ref(&py), &inputs, &|_| {}).unwrap();
    let suite = &report.versions[0].suites[0];
    let c = &suite.bare.counts;
    // passes, fails, errors, skipped, expected failure, subtest fails, no __code__
    assert_eq!(
        (
            c.cases,
            c.passed,
            c.failures,
            c.errors,
            c.skipped,
            c.expected_failures
        ),
        (7, 2, 2, 1, 1, 1),
        "{py:?}: {c:?}"
    );
    let i = &suite.installed.counts;
    assert_eq!((i.cases, i.passed, i.failures), (7, 1, 3), "{i:?}");
    let probe = suite.installed.probe.as_ref().unwrap();
    assert!(probe.every_process && probe.workers >= 1, "{probe:?}");
    assert_eq!(probe.workers, probe.workers_in_effect);
    assert_eq!(suite.differences.len(), 1, "{:?}", suite.differences);
    let d = &suite.differences[0];
    assert!(
        d.test.ends_with("Outcomes.test_generator_has_no_code"),
        "{}",
        d.test
    );
    assert_eq!((d.bare, d.installed), (Outcome::Passed, Outcome::Failure));
    assert_eq!(
        (d.rerun_bare, d.rerun_loaded, d.rerun_installed),
        (Outcome::Passed, Outcome::Passed, Outcome::Failure)
    );
    assert!(d.reproduced);
    // the standard library's probes: hasattr(x, "__code__") flips, dis reads the same code
    let probes = &report.versions[0].stdlib_probes;
    let row = |call: &str| {
        probes
            .iter()
            .find(|p| p.call == call)
            .unwrap_or_else(|| panic!("no probe {call:?} in {probes:?}"))
    };
    let h = row("hasattr(generator, \"__code__\")");
    assert_eq!((h.bare.as_str(), h.installed.as_str()), ("False", "True"));
    let d = row("dis.dis(generator): its output");
    assert_eq!(d.bare, d.installed);
    assert!(d.bare.contains(" lines, character sum "), "{d:?}");
    // the runs are cached: a second report is the same, and costs no regrtest run
    let mut ran = Vec::new();
    let again = {
        let log = std::cell::RefCell::new(&mut ran);
        introspec_testsuites::run(std::slice::from_ref(&py), &inputs, &|m| {
            log.borrow_mut().push(m.to_string())
        })
        .unwrap()
    };
    assert_eq!(again, report);
    assert!(
        ran.iter()
            .all(|m| m.ends_with("from the cache") || m.ends_with("stdlib probes")),
        "{ran:?}"
    );
    let json = introspec_testsuites::json(&report);
    assert!(
        !json.contains(&*cache.to_string_lossy()),
        "a path in the report"
    );
    let _ = std::fs::remove_dir_all(&cache);
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "introspec-testsuites-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
