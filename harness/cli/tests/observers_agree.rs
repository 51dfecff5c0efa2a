//! Where two observers run on the same runtime (CPython 3.9+, and a free-threaded 3.14+
//! with its own build of the PyO3 observer: the PyO3 observer and the portable one), they must give identical observations for every
//! case: the portable observer's columns (2.7, 3.6-3.8, PyPy) are then as trustworthy as
//! the PyO3 ones.

mod common;

use introspec_runner::{columns, Session};
use introspec_worker::Observer;

#[test]
fn both_observers_give_identical_observations_for_every_case() {
    let project = common::project();
    let discovery = project.discover();
    let mut cols = Vec::new();
    for rt in &discovery.runtimes {
        if introspec_worker::observers::supports(Observer::Pyo3, &rt.identity).is_err() {
            continue;
        }
        let pyo3 = columns::base(rt, &project.cache);
        if pyo3.observer != Observer::Pyo3 {
            continue; // a free-threaded build whose PyO3 observer could not be built
        }
        let mut portable = pyo3.clone();
        portable.observer = Observer::Portable;
        portable.name = format!("{}@portable", rt.name);
        cols.push(pyo3);
        cols.push(portable);
    }
    if cols.is_empty() {
        eprintln!("no runtime runs both observers here (CPython 3.9+ needed): nothing to compare");
        return;
    }
    let session = Session::new(&project, cols);
    // run every column batched first (pipelined); the comparison below reads the results
    session.run_all(introspec::default_jobs(), &|_| {});
    let mut compared = 0;
    let mut differences = Vec::new();
    for pair in (0..session.columns.len()).step_by(2) {
        for case in 0..session.compiled.len() {
            if session.skip_reason(case, pair).is_some() {
                continue;
            }
            let a = session.trial(case, pair);
            let b = session.trial(case, pair + 1);
            compared += 1;
            if a.result != b.result {
                let step = introspec_runner::divergence(a.result.as_ref(), b.result.as_ref());
                differences.push(format!(
                    "{} on {}: the observers differ (first at step {:?})\n  pyo3:     {:?}\n  portable: {:?}",
                    session.case(case).id,
                    session.columns[pair].runtime.name,
                    step,
                    step.and_then(|s| a.result.as_ref().and_then(|r| r.steps.get(s - 1))).or(None),
                    step.and_then(|s| b.result.as_ref().and_then(|r| r.steps.get(s - 1))).or(None),
                ));
            }
        }
    }
    eprintln!("compared {compared} (case, runtime) pairs through both observers");
    assert!(compared > 0);
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
