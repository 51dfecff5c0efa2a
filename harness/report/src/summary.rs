//! `introspec report --summary FILE`: a Markdown job summary (for `$GITHUB_STEP_SUMMARY`):
//! the trials per column and status, then the trials that fail the run, each with the case
//! file and line that shows it.

use std::fmt::Write as _;

use introspec_judge::Status;
use introspec_results::Results;

use crate::ci::{self, CaseLocations};
use crate::text::{md, md_code};

/// The most failing trials listed (a job summary is limited to 1 MiB).
pub const LIST_LIMIT: usize = 100;

/// The summary.
pub fn render(results: &Results, locations: &CaseLocations) -> String {
    let mut s = String::new();
    let bad: Vec<_> = results
        .trials
        .iter()
        .filter(|t| ci::is_problem(t.status))
        .collect();
    let _ = writeln!(s, "### introspec: {}\n", verdict(results, bad.len()));
    let _ = writeln!(
        s,
        "{} trials on {} columns (harness `{}`, spec `{}`){}.\n",
        results.trials.len(),
        results.columns.len(),
        results.harness.commit,
        results.harness.spec_digest,
        if results.interrupted {
            "; **the run was interrupted**: these are the trials finished before"
        } else {
            ""
        }
    );
    let statuses: Vec<Status> = Status::ALL
        .into_iter()
        .filter(|st| results.trials.iter().any(|t| t.status == *st))
        .collect();
    let _ = write!(s, "| column |");
    for st in &statuses {
        let _ = write!(s, " {} |", st.name());
    }
    let _ = write!(s, " total |\n|---|");
    for _ in &statuses {
        s.push_str("--:|");
    }
    s.push_str("--:|\n");
    for c in &results.columns {
        let trials: Vec<_> = results
            .trials
            .iter()
            .filter(|t| t.column == c.name)
            .collect();
        let _ = write!(s, "| {} |", md_code(&c.name));
        for st in &statuses {
            let n = trials.iter().filter(|t| t.status == *st).count();
            let _ = write!(
                s,
                " {} |",
                if n == 0 { String::new() } else { n.to_string() }
            );
        }
        let _ = writeln!(s, " {} |", trials.len());
    }
    s.push('\n');
    for b in &results.broken {
        let _ = writeln!(s, "- column {} broken: {}", md_code(&b.column), md(&b.why));
    }
    if !results.broken.is_empty() {
        s.push('\n');
    }
    if bad.is_empty() {
        return s;
    }
    let _ = writeln!(s, "#### Trials that fail the run\n");
    let _ = writeln!(
        s,
        "| status | column | case | where | why |\n|---|---|---|---|---|"
    );
    for t in bad.iter().take(LIST_LIMIT) {
        let at = match locations.of_trial(t) {
            Some((f, l)) => md_code(&format!("{}:{l}", f.display())),
            None => "—".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {at} | {} |",
            t.status.name(),
            md_code(&t.column),
            md_code(&t.case),
            md(&ci::trial_message(t))
        );
    }
    if bad.len() > LIST_LIMIT {
        let _ = writeln!(
            s,
            "\n… and {} more (see the results file).",
            bad.len() - LIST_LIMIT
        );
    }
    s
}

fn verdict(results: &Results, bad: usize) -> String {
    let trials = |n: usize| match n {
        1 => "1 trial fails the run".to_string(),
        n => format!("{n} trials fail the run"),
    };
    let columns = |n: usize| match n {
        1 => "1 broken column".to_string(),
        n => format!("{n} broken columns"),
    };
    match (bad, results.broken.len()) {
        (0, 0) => "every trial passed, was skipped or failed as known".into(),
        (n, 0) => trials(n),
        (0, b) => columns(b),
        (n, b) => format!("{}, {}", trials(n), columns(b)),
    }
}
