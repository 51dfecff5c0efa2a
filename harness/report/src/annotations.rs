//! `introspec report --annotations`: GitHub Actions workflow commands that put each problem
//! on the line of the case that shows it.
//!
//! One `::error file=…,line=…,title=…::message` per case, status and message among the
//! trials that fail a run (FAIL, XPASS, FLAKY, CRASH, TIMEOUT, ERROR): the trials of one
//! case that fail the same way on several columns share one annotation naming those
//! columns, since GitHub shows at most 10 error annotations per step. The line is that of
//! the step whose check failed first, else the case's `[[case]]` line; a case the corpus no
//! longer has is annotated without a file. A column that could not start is one
//! annotation without a file.

use std::fmt::Write as _;

use introspec_judge::Status;
use introspec_results::Results;

use crate::ci::{self, CaseLocations};

/// A workflow command's message: `%`, CR and LF escaped as GitHub reads them.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as [`escape_data`], and `:` and `,` too.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

struct Group<'a> {
    case: &'a str,
    status: Status,
    message: String,
    columns: Vec<&'a str>,
    at: Option<(String, usize)>,
}

/// Every annotation, one per line, in the order of the results' trials.
pub fn render(results: &Results, locations: &CaseLocations) -> String {
    let mut groups: Vec<Group> = Vec::new();
    for t in results.trials.iter().filter(|t| ci::is_problem(t.status)) {
        let message = ci::trial_message(t);
        let at = locations
            .of_trial(t)
            .map(|(f, l)| (f.display().to_string(), l));
        match groups
            .iter_mut()
            .find(|g| g.case == t.case && g.status == t.status && g.message == message)
        {
            Some(g) => g.columns.push(&t.column),
            None => groups.push(Group {
                case: &t.case,
                status: t.status,
                message,
                columns: vec![&t.column],
                at,
            }),
        }
    }
    let mut out = String::new();
    for g in &groups {
        let title = format!("{} {} on {}", g.status.name(), g.case, g.columns.join(", "));
        let place = match &g.at {
            Some((file, line)) => format!("file={},line={line},", escape_property(file)),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "::error {place}title={}::{}",
            escape_property(&title),
            escape_data(&g.message)
        );
    }
    for b in &results.broken {
        let _ = writeln!(
            out,
            "::error title={}::{}",
            escape_property(&format!("column {} broken", b.column)),
            escape_data(&format!("the column could not start: {}", b.why))
        );
    }
    out
}
