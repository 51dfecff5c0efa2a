//! `snapshot::COLUMN`: one trial per column that renders the column's full record of
//! observations (every case that applies to it, in case order, through
//! `introspec_runner::record::render`) and asserts it with insta as the named snapshot
//! `reports/snapshots/COLUMN.snap`. A runtime absent from the machine has no column, so its
//! committed snapshot is left alone. CI never accepts snapshots (insta's default with
//! `CI=true`); see the README for the review workflow.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use introspec_runner::{record, Session};
use libtest_mimic::{Completion, Failed, Trial};

/// Where the snapshots live: `reports/snapshots` of the project.
pub fn dir(root: &Path) -> PathBuf {
    root.join("reports/snapshots")
}

/// The full record of one column: every applicable case in case order.
pub fn render(s: &Session<'_>, col: usize, redact: &[(&str, &str)]) -> String {
    let mut out = String::new();
    s.run_column_once(col);
    for case in 0..s.compiled.len() {
        if s.skip_reason(case, col).is_some() {
            continue;
        }
        let t = s.trial(case, col);
        match &t.result {
            Some(r) => out.push_str(&record::render(
                s.case(case),
                &s.compiled[case].plan,
                r,
                redact,
            )),
            None => {
                let _ = writeln!(
                    out,
                    "== {}\nno result: {}",
                    s.case(case).id,
                    t.verdict.status.name()
                );
            }
        }
    }
    out
}

/// One trial per column.
/// One trial per column. A column that cannot run (`column_trial_runs[col]`: its
/// `column::NAME` trial runs and says why) has no snapshot to compare: ignored, with a
/// pointer to that trial.
pub fn trials(
    session: &'static Session<'static>,
    root: &Path,
    column_trial_runs: Arc<Vec<bool>>,
) -> Vec<Trial> {
    (0..session.columns.len())
        .map(|col| {
            let s = session;
            let root = root.to_path_buf();
            let name = session.columns[col].name.clone();
            let column_trial_runs = column_trial_runs.clone();
            Trial::ignorable_test(format!("snapshot::{name}"), move || {
                if column_trial_runs[col] && s.start_column(col).is_err() {
                    return Ok(Completion::ignored_with(format!(
                        "column {name} cannot run: its one failure is the trial column::{name}"
                    )));
                }
                let home = std::env::var("HOME").unwrap_or_default();
                let root_text = root.display().to_string();
                let mut redact: Vec<(&str, &str)> = vec![(root_text.as_str(), "<root>")];
                if home.len() > 1 {
                    redact.push((home.as_str(), "<home>"));
                }
                let text = render(s, col, &redact);
                let c = &s.columns[col];
                let mut settings = insta::Settings::clone_current();
                settings.set_snapshot_path(dir(&root));
                settings.set_prepend_module_to_snapshot(false);
                settings.set_omit_expression(true);
                settings.set_description(format!(
                    "{} {} (Python {}{}), read by the {} observer{}",
                    c.runtime.identity.implementation,
                    c.runtime.identity.implementation_version,
                    c.runtime.identity.version,
                    if c.runtime.identity.free_threaded { ", free-threaded" } else { "" },
                    c.observer,
                    if c.reference { ", reference implementation loaded" } else { "" }
                ));
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    settings.bind(|| insta::assert_snapshot!(name.as_str(), text));
                }));
                outcome.map(|()| Completion::Completed).map_err(|_| {
                    Failed::from(format!(
                        "the observations of {name} differ from reports/snapshots/{name}.snap (the diff is above). \
                         If the change is intended, accept it with `cargo insta review`, or with \
                         `INSTA_UPDATE=always cargo test -- snapshot::` and then review `git diff reports/snapshots`"
                    ))
                })
            })
        })
        .collect()
}
