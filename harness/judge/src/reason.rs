//! Why a trial has the status it has, where no check says it: the facts the harness acts on
//! (an interruption, the memory limit, the timeout) as variants, anything else in words.
//! Each is recorded in the results file as its text, exactly as before these were types.

use introspec_protocol::clip;

/// The reason of a verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// The run was interrupted before the case finished: not a result, never recorded.
    Interrupted,
    /// The case ran into the worker's memory limit (CRASH).
    MemoryLimit {
        /// The limit, as `INTROSPEC_MEMORY` would spell it (`2 GiB`).
        limit: String,
        /// Where the MemoryError was raised (`at step 3`, `in its setup`).
        at: String,
    },
    /// No answer within the timeout the case was given (TIMEOUT); the worker was killed.
    Timeout {
        /// The timeout given, not the time taken: the same run twice records the same.
        seconds: f64,
        /// `; its last stderr lines: …`, or empty.
        stderr_tail: String,
    },
    /// The column cannot run at all (its cases could not be built, its worker does not
    /// start): ERROR for the trials of `cargo test`; `introspec run`'s results keep the
    /// column's one `broken` entry instead of these.
    ColumnBroken {
        /// The column's name.
        column: String,
        /// Why.
        why: String,
    },
    /// Anything else, in words.
    Text(String),
}

impl Reason {
    /// The same with its free text [`clip`]ped, as results hold every message.
    pub fn clipped(self) -> Reason {
        match self {
            Reason::Text(t) => Reason::Text(clip(t)),
            Reason::ColumnBroken { column, why } => Reason::ColumnBroken {
                column,
                why: clip(why),
            },
            Reason::Timeout {
                seconds,
                stderr_tail,
            } => Reason::Timeout {
                seconds,
                stderr_tail: clip(stderr_tail),
            },
            other => other,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Interrupted => f.write_str("interrupted before the case finished"),
            Reason::MemoryLimit { limit, at } => write!(
                f,
                "memory limit ({limit}): the case raised MemoryError {at} (INTROSPEC_MEMORY sets the limit)"
            ),
            Reason::Timeout {
                seconds,
                stderr_tail,
            } => write!(
                f,
                "no answer within {seconds} s; the worker was killed and will be restarted{stderr_tail}"
            ),
            Reason::ColumnBroken { column, why } => write!(f, "column {column} cannot run: {why}"),
            Reason::Text(t) => f.write_str(t),
        }
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Reason {
        Reason::Text(text)
    }
}

impl From<&str> for Reason {
    fn from(text: &str) -> Reason {
        Reason::Text(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_they_always_have() {
        assert_eq!(
            Reason::Interrupted.to_string(),
            "interrupted before the case finished"
        );
        assert_eq!(
            Reason::Timeout {
                seconds: 0.5,
                stderr_tail: String::new()
            }
            .to_string(),
            "no answer within 0.5 s; the worker was killed and will be restarted"
        );
        assert_eq!(
            Reason::MemoryLimit {
                limit: "2 GiB".into(),
                at: "at step 2".into()
            }
            .to_string(),
            "memory limit (2 GiB): the case raised MemoryError at step 2 (INTROSPEC_MEMORY sets the limit)"
        );
    }
}
