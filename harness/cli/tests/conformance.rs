//! `cargo test`: every case on every column found, one named trial each
//! (`COLUMN::CASE`, so `cargo test -- cpython-3.12` or `cargo test -- generator.state`
//! filter as expected), plus `check::corpus` (the spec and cases validate) and
//! `snapshot::COLUMN` (each column's full record of observations, with insta). Listing
//! (`--list`) starts no interpreter: runtime identities are cached.

use std::sync::Arc;

use introspec_judge::{explain, Reason, Status};
use introspec_runner::{columns, Project, Session};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

mod snapshot;

fn main() {
    let args = Arguments::from_args();
    let root = introspec::project_root(None);
    let project = match Project::load(
        &root,
        &introspec_runner::Settings::from_env().expect("the settings are valid"),
    ) {
        Ok(p) => p,
        Err(d) => {
            let msg = d.to_string();
            let trial = Trial::test("check::spec", move || Err(Failed::from(msg)));
            libtest_mimic::run(&args, vec![trial]).exit();
        }
    };
    let project: &'static Project = Box::leak(Box::new(project));
    let mut trials = Vec::new();

    let diags: Vec<String> = project
        .corpus
        .diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect();
    trials.push(Trial::test("check::corpus", move || {
        if diags.is_empty() {
            Ok(())
        } else {
            Err(Failed::from(diags.join("\n")))
        }
    }));

    let discovery = project.discover();
    for a in &discovery.absent {
        let why = format!(
            "{} is absent from this machine; install it with `{}`",
            a.name, a.install
        );
        trials.push(Trial::ignorable_test(
            format!("runtime::{}", a.name),
            move || Ok(Completion::ignored_with(why)),
        ));
    }
    for u in &discovery.unusable {
        let why = format!(
            "{} ({}) cannot be used: {}",
            u.path.display(),
            u.found_by,
            u.why
        );
        trials.push(Trial::ignorable_test(
            format!("runtime::{}", u.path.display()),
            move || Ok(Completion::ignored_with(why)),
        ));
    }

    let cols = columns::all(
        &discovery.runtimes,
        &project.cache,
        &project.settings.compilers,
    );
    let session: &'static Session<'static> = Box::leak(Box::new(Session::new(project, cols)));
    let session = Arc::new(session);
    // cargo nextest runs every trial in a process of its own: there, running the whole column
    // first (as `cargo test` does, so that every worker has imported the same things before
    // each case) would rerun the column once per trial, so each trial runs its own case only
    let whole_columns =
        std::env::var("NEXTEST_EXECUTION_MODE").as_deref() != Ok("process-per-test");
    // whether this run's filters (`cargo test -- FILTER`, `--skip`, `--exact`) keep the trial
    // `name`, as libtest-mimic decides
    let selected = |name: &str| {
        let hit = |f: &String| {
            if args.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        args.filter.as_ref().is_none_or(hit) && !args.skip.iter().any(hit)
    };
    let column_trial_runs: Arc<Vec<bool>> = Arc::new(
        session
            .columns
            .iter()
            .map(|c| selected(&format!("column::{}", c.name)))
            .collect(),
    );
    // a column that cannot run at all (its cases cannot be compiled, its interpreter does not
    // start) is one failure, `column::NAME` with why; its cases' trials are then ignored with
    // a pointer to it, not one ERROR each (unless a filter leaves `column::NAME` out: then
    // they fail, so that a filtered run never hides it)
    for col in 0..session.columns.len() {
        let name = format!("column::{}", session.columns[col].name);
        let s = session.clone();
        trials.push(Trial::test(name, move || {
            s.start_column(col).map_err(|why| {
                Failed::from(format!("column {} is broken: {why}", s.columns[col].name))
            })
        }));
    }
    // case-major order: consecutive trials hit different columns, so threads rarely wait on
    // the same worker
    for case in 0..session.compiled.len() {
        for col in 0..session.columns.len() {
            let name = format!("{}::{}", session.columns[col].name, session.case(case).id);
            let s = session.clone();
            let column_trial_runs = column_trial_runs.clone();
            trials.push(Trial::ignorable_test(name, move || {
                if whole_columns {
                    s.run_column_once(col);
                }
                let out = s.trial(case, col);
                let v = &out.verdict;
                if let Some(Reason::ColumnBroken { column, .. }) = &v.reason {
                    if column_trial_runs[col] {
                        return Ok(Completion::ignored_with(format!(
                            "column {column} cannot run: its one failure is the trial column::{column}"
                        )));
                    }
                }
                match v.status {
                    Status::Pass | Status::Xfail => Ok(Completion::Completed),
                    Status::Skip => Ok(Completion::ignored_with(v.reason_text())),
                    _ => Err(Failed::from(format!(
                        "{}\n{}",
                        v.status.name(),
                        explain(s.case(case), v)
                    ))),
                }
            }));
        }
    }
    trials.extend(snapshot::trials(*session, &root, column_trial_runs));
    libtest_mimic::run(&args, trials).exit();
}
