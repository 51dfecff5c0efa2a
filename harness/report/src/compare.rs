//! `introspec compare OLD NEW`: what changed between two results files, as Markdown for a
//! review comment: trials that became fixed, broken, newly crashing, newly skipped, new and
//! removed trials, per column.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use introspec_judge::Status;
use introspec_results::{Results, TrialRecord};

/// How a trial changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Failed (or crashed, erred…) before, passes now.
    Fixed,
    /// Passed or was skipped before, fails now.
    Broken,
    /// Crashes or times out now, did not before.
    NewlyCrashing,
    /// Skipped now, ran before.
    NewlySkipped,
    /// Only in the new results.
    New,
    /// Only in the old results.
    Removed,
    /// Any other change of status.
    Other,
}

impl Change {
    /// Every change, in the order a review reads them.
    pub const ALL: [Change; 7] = [
        Change::Broken,
        Change::NewlyCrashing,
        Change::Fixed,
        Change::NewlySkipped,
        Change::New,
        Change::Removed,
        Change::Other,
    ];

    /// The heading of the change.
    pub fn label(self) -> &'static str {
        match self {
            Change::Fixed => "fixed",
            Change::Broken => "broken",
            Change::NewlyCrashing => "newly crashing",
            Change::NewlySkipped => "newly skipped",
            Change::New => "new",
            Change::Removed => "removed",
            Change::Other => "other changes",
        }
    }
}

fn good(s: Status) -> bool {
    matches!(s, Status::Pass | Status::Xfail)
}

fn crashing(s: Status) -> bool {
    matches!(s, Status::Crash | Status::Timeout)
}

fn bad(s: Status) -> bool {
    matches!(
        s,
        Status::Fail | Status::Xpass | Status::Error | Status::Flaky
    )
}

/// Classify the change of one trial (`None` when its status did not change).
pub fn classify(old: Option<Status>, new: Option<Status>) -> Option<Change> {
    match (old, new) {
        (None, None) => None,
        (None, Some(_)) => Some(Change::New),
        (Some(_), None) => Some(Change::Removed),
        (Some(o), Some(n)) if o == n => None,
        (Some(o), Some(n)) if crashing(n) && !crashing(o) => Some(Change::NewlyCrashing),
        (Some(_), Some(Status::Skip)) => Some(Change::NewlySkipped),
        (Some(o), Some(n)) if good(n) && (bad(o) || crashing(o)) => Some(Change::Fixed),
        (Some(o), Some(n)) if bad(n) && !bad(o) => Some(Change::Broken),
        _ => Some(Change::Other),
    }
}

/// One changed trial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub column: String,
    pub case: String,
    pub old: Option<Status>,
    pub new: Option<Status>,
    pub change: Change,
    /// The new (or, if removed, old) trial's reason, first line.
    pub reason: String,
}

/// Every changed trial, in column order (the new file's, then columns only in the old one) and case order.
pub fn changes(old: &Results, new: &Results) -> Vec<Changed> {
    fn index(r: &Results) -> BTreeMap<(String, String), &TrialRecord> {
        r.trials
            .iter()
            .map(|t| ((t.column.clone(), t.case.clone()), t))
            .collect()
    }
    let (oi, ni) = (index(old), index(new));
    let mut keys: Vec<&(String, String)> = oi.keys().chain(ni.keys()).collect();
    keys.sort();
    keys.dedup();
    let order = column_order(old, new);
    let rank = |c: &str| order.iter().position(|x| x == c).unwrap_or(usize::MAX);
    keys.sort_by(|a, b| (rank(&a.0), &a.1).cmp(&(rank(&b.0), &b.1)));
    keys.into_iter()
        .filter_map(|k| {
            let (o, n) = (oi.get(k), ni.get(k));
            let change = classify(o.map(|t| t.status), n.map(|t| t.status))?;
            let reason = n
                .or(o)
                .and_then(|t| t.reason.as_deref())
                .and_then(|r| r.lines().next())
                .unwrap_or("")
                .to_string();
            Some(Changed {
                column: k.0.clone(),
                case: k.1.clone(),
                old: o.map(|t| t.status),
                new: n.map(|t| t.status),
                change,
                reason,
            })
        })
        .collect()
}

fn column_order(old: &Results, new: &Results) -> Vec<String> {
    let mut order: Vec<String> = new.columns.iter().map(|c| c.name.clone()).collect();
    for c in &old.columns {
        if !order.contains(&c.name) {
            order.push(c.name.clone());
        }
    }
    for t in old.trials.iter().chain(&new.trials) {
        if !order.contains(&t.column) {
            order.push(t.column.clone());
        }
    }
    order
}

/// A class of change that `introspec compare --fail-on` exits 1 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailOn {
    /// Passed, failed as known or was skipped before; FAIL, XPASS, ERROR or FLAKY now.
    Broken,
    /// CRASH or TIMEOUT now, neither before.
    Crashing,
    /// XPASS now and not before: a known deviation no longer happens (its record is stale).
    Xpass,
    /// Failed (any way) before, PASS or XFAIL now.
    Fixed,
    /// SKIP now, ran before.
    Skipped,
    /// A trial only in the new results.
    New,
    /// A trial only in the old results.
    Removed,
    /// Any other change of status.
    Other,
}

impl FailOn {
    pub const ALL: [FailOn; 8] = [
        FailOn::Broken,
        FailOn::Crashing,
        FailOn::Xpass,
        FailOn::Fixed,
        FailOn::Skipped,
        FailOn::New,
        FailOn::Removed,
        FailOn::Other,
    ];

    /// The name given to `--fail-on`.
    pub fn name(self) -> &'static str {
        match self {
            FailOn::Broken => "broken",
            FailOn::Crashing => "crashing",
            FailOn::Xpass => "xpass",
            FailOn::Fixed => "fixed",
            FailOn::Skipped => "skipped",
            FailOn::New => "new",
            FailOn::Removed => "removed",
            FailOn::Other => "other",
        }
    }

    /// Whether a changed trial is of this class (`xpass` overlaps the others: a PASS that
    /// became XPASS is both broken and xpass).
    pub fn matches(self, c: &Changed) -> bool {
        match self {
            FailOn::Broken => c.change == Change::Broken,
            FailOn::Crashing => c.change == Change::NewlyCrashing,
            FailOn::Xpass => c.new == Some(Status::Xpass) && c.old != Some(Status::Xpass),
            FailOn::Fixed => c.change == Change::Fixed,
            FailOn::Skipped => c.change == Change::NewlySkipped,
            FailOn::New => c.change == Change::New,
            FailOn::Removed => c.change == Change::Removed,
            FailOn::Other => c.change == Change::Other,
        }
    }
}

impl std::str::FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<FailOn, String> {
        let s = s.trim();
        FailOn::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = FailOn::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "`{s}` is not a class of change; the classes are {}",
                    names.join(", ")
                )
            })
    }
}

/// The changed trials of any of the classes `on`, each with the first class it is of.
pub fn failing<'a>(changes: &'a [Changed], on: &[FailOn]) -> Vec<(&'a Changed, FailOn)> {
    changes
        .iter()
        .filter_map(|c| on.iter().find(|f| f.matches(c)).map(|f| (c, *f)))
        .collect()
}

/// The most trials listed per change and column (a review comment has a size limit).
pub const LIST_LIMIT: usize = 40;

/// The Markdown comment.
pub fn render(old: &Results, new: &Results, old_name: &str, new_name: &str) -> String {
    let all = changes(old, new);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### introspec: `{}` → `{}`\n",
        old.harness.commit, new.harness.commit
    );
    let _ = writeln!(
        s,
        "Comparing `{old_name}` ({} trials) with `{new_name}` ({} trials).\n",
        old.trials.len(),
        new.trials.len()
    );
    let only_new: Vec<&str> = new
        .columns
        .iter()
        .filter(|c| !old.columns.iter().any(|o| o.name == c.name))
        .map(|c| c.name.as_str())
        .collect();
    let only_old: Vec<&str> = old
        .columns
        .iter()
        .filter(|c| !new.columns.iter().any(|o| o.name == c.name))
        .map(|c| c.name.as_str())
        .collect();
    if !only_new.is_empty() {
        let _ = writeln!(
            s,
            "New columns: {}.\n",
            only_new
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !only_old.is_empty() {
        let _ = writeln!(
            s,
            "Columns no longer run: {}.\n",
            only_old
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if old.harness.spec_digest != new.harness.spec_digest {
        let _ = writeln!(
            s,
            "The spec changed between the two runs (digest `{}` → `{}`).\n",
            old.harness.spec_digest, new.harness.spec_digest
        );
    }
    if all.is_empty() {
        let _ = writeln!(s, "No trial changed.");
        return s;
    }
    let summary: Vec<String> = Change::ALL
        .iter()
        .map(|c| (c, all.iter().filter(|x| x.change == *c).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(c, n)| format!("{n} {}", c.label()))
        .collect();
    let _ = writeln!(s, "**{}**\n", summary.join(", "));
    let cols: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for c in &all {
            if !v.contains(&c.column) {
                v.push(c.column.clone());
            }
        }
        v
    };
    let _ = write!(s, "| column |");
    for c in Change::ALL {
        let _ = write!(s, " {} |", c.label());
    }
    let _ = write!(s, "\n|---|");
    for _ in Change::ALL {
        s.push_str("--:|");
    }
    s.push('\n');
    for col in &cols {
        let _ = write!(s, "| `{col}` |");
        for c in Change::ALL {
            let n = all
                .iter()
                .filter(|x| x.column == *col && x.change == c)
                .count();
            let _ = write!(
                s,
                " {} |",
                if n == 0 { String::new() } else { n.to_string() }
            );
        }
        s.push('\n');
    }
    s.push('\n');
    for col in &cols {
        let _ = writeln!(s, "#### `{col}`\n");
        for c in Change::ALL {
            let items: Vec<&Changed> = all
                .iter()
                .filter(|x| x.column == *col && x.change == c)
                .collect();
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(s, "- **{}**", c.label());
            for x in items.iter().take(LIST_LIMIT) {
                let from = x.old.map(|s| s.name()).unwrap_or("—");
                let to = x.new.map(|s| s.name()).unwrap_or("—");
                let reason = if x.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", x.reason.replace('|', "\\|"))
                };
                let _ = writeln!(s, "  - `{}` {from} → {to}{reason}", x.case);
            }
            if items.len() > LIST_LIMIT {
                let _ = writeln!(s, "  - … and {} more", items.len() - LIST_LIMIT);
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        use Status::*;
        assert_eq!(classify(Some(Fail), Some(Pass)), Some(Change::Fixed));
        assert_eq!(classify(Some(Crash), Some(Xfail)), Some(Change::Fixed));
        assert_eq!(classify(Some(Pass), Some(Fail)), Some(Change::Broken));
        assert_eq!(classify(Some(Skip), Some(Error)), Some(Change::Broken));
        assert_eq!(
            classify(Some(Pass), Some(Timeout)),
            Some(Change::NewlyCrashing)
        );
        assert_eq!(classify(Some(Pass), Some(Skip)), Some(Change::NewlySkipped));
        assert_eq!(classify(None, Some(Pass)), Some(Change::New));
        assert_eq!(classify(Some(Pass), None), Some(Change::Removed));
        assert_eq!(classify(Some(Pass), Some(Pass)), None);
        assert_eq!(classify(Some(Pass), Some(Xfail)), Some(Change::Other));
    }

    #[test]
    fn fail_on_classes() {
        use Status::*;
        let changed = |old, new| Changed {
            column: "c".into(),
            case: "x".into(),
            old,
            new,
            change: classify(old, new).unwrap(),
            reason: String::new(),
        };
        let classes = |old, new| -> Vec<&str> {
            FailOn::ALL
                .into_iter()
                .filter(|f| f.matches(&changed(old, new)))
                .map(FailOn::name)
                .collect()
        };
        assert_eq!(classes(Some(Pass), Some(Xpass)), ["broken", "xpass"]);
        assert_eq!(classes(Some(Fail), Some(Xpass)), ["xpass", "other"]);
        assert_eq!(classes(None, Some(Xpass)), ["xpass", "new"]);
        assert_eq!(classes(Some(Pass), Some(Crash)), ["crashing"]);
        assert_eq!(classes(Some(Fail), Some(Pass)), ["fixed"]);
        assert_eq!(classes(Some(Pass), None), ["removed"]);
        assert_eq!("XPASS".parse::<FailOn>(), Ok(FailOn::Xpass));
        assert!("crashed"
            .parse::<FailOn>()
            .unwrap_err()
            .contains("broken, crashing, xpass"));
    }
}
