//! What a check compares: an operation's outcome, the body's `observe()` calls, an
//! observable of the spec, or the agreement of the proposal's spelling of an observable with
//! today's. The results file spells it as one string (`outcome`, `observe-calls`, `frame`,
//! `agreement:frame`, reports/SCHEMA.md), read and written here only.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of a check, and the observable it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// What an operation returned or raised (`outcome`).
    Outcome,
    /// How many times the body's `observe()` ran during a step (`observe-calls`).
    ObserveCalls,
    /// An observable of spec/observables.toml, read through one layer.
    Observable(String),
    /// The proposal's spelling of this observable agrees with today's (`agreement:OBS`).
    Agreement(String),
}

const OUTCOME: &str = "outcome";
const OBSERVE_CALLS: &str = "observe-calls";
const AGREEMENT: &str = "agreement:";

impl CheckKind {
    /// What the check is about, as a matrix row and a deviation's `observable` name it:
    /// `outcome`, `observe-calls`, or the observable (of an agreement check too).
    pub fn name(&self) -> &str {
        match self {
            CheckKind::Outcome => OUTCOME,
            CheckKind::ObserveCalls => OBSERVE_CALLS,
            CheckKind::Observable(o) | CheckKind::Agreement(o) => o,
        }
    }

    /// Whether this is an agreement check.
    pub fn is_agreement(&self) -> bool {
        matches!(self, CheckKind::Agreement(_))
    }

    /// The spelling of the results file.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            CheckKind::Agreement(o) => Cow::Owned(format!("{AGREEMENT}{o}")),
            other => Cow::Borrowed(other.name()),
        }
    }

    /// The kind the results file spells `text`.
    pub fn parse(text: &str) -> CheckKind {
        match text {
            OUTCOME => CheckKind::Outcome,
            OBSERVE_CALLS => CheckKind::ObserveCalls,
            _ => match text.strip_prefix(AGREEMENT) {
                Some(o) => CheckKind::Agreement(o.to_string()),
                None => CheckKind::Observable(text.to_string()),
            },
        }
    }
}

impl std::fmt::Display for CheckKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.text())
    }
}

/// Ordered as the results file spells them, so that tallies sort as they always have.
impl Ord for CheckKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text().cmp(&other.text())
    }
}

impl PartialOrd for CheckKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for CheckKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for CheckKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CheckKind, D::Error> {
        Ok(CheckKind::parse(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_their_spelling() {
        for (k, text) in [
            (CheckKind::Outcome, "outcome"),
            (CheckKind::ObserveCalls, "observe-calls"),
            (CheckKind::Observable("frame".into()), "frame"),
            (CheckKind::Agreement("frame".into()), "agreement:frame"),
        ] {
            assert_eq!(k.text(), text);
            assert_eq!(CheckKind::parse(text), k);
        }
        assert_eq!(CheckKind::Agreement("frame".into()).name(), "frame");
        let mut v = [
            CheckKind::Observable("frame".into()),
            CheckKind::Agreement("state".into()),
            CheckKind::Outcome,
        ];
        v.sort();
        assert_eq!(
            v.map(|k| k.text().into_owned()),
            ["agreement:state", "frame", "outcome"]
        );
    }
}
