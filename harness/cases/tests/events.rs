//! The events observables (issue 15) are read, and so traced, only in the cases that expect
//! one: every other case's steps run with no tracer and no sys.monitoring tool.

use std::path::{Path, PathBuf};

use introspec_cases::{compile, compile::asks_for_events, Corpus};
use introspec_protocol::Segment;
use introspec_spec::Spec;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn only_cases_that_expect_events_read_them() {
    let root = root();
    let spec = Spec::load(&root.join("spec")).expect("the spec loads");
    let corpus = Corpus::load(&root.join("cases"), &spec);
    let (mut asking, mut not) = (0, 0);
    for case in &corpus.cases {
        let (request, _) = compile(case, &spec);
        let reads_events = request
            .targets
            .iter()
            .flat_map(|t| &t.reads)
            .any(|r| r.iter().any(|s| matches!(s, Segment::Events(_))));
        let asks = asks_for_events(case, &spec);
        assert_eq!(reads_events, asks, "{}", case.id);
        assert_eq!(asks, case.id.starts_with("events."), "{}", case.id);
        if asks {
            asking += 1;
        } else {
            not += 1;
        }
    }
    assert!(
        asking > 0 && not > 0,
        "{asking} cases ask for events, {not} do not"
    );
}
