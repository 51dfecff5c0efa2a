//! The reference state machine, derived from spec/: its states and, for each operation from
//! each state, what `spec/states.toml`'s `[[transitions]]` say (`to`, `finish`, `raises`,
//! `body`). Where a transition has `body = true`, a small interpreter of the generated body
//! decides between `to` (the body suspends) and `finish` (it returns or raises) and what the
//! operation returns or raises, with the semantics of PEP 342 (send/throw/close,
//! GeneratorExit, an ignored GeneratorExit), PEP 380 (delegation, return values in
//! `StopIteration.value`, `close()` of the delegate first) and PEP 492 (`await`).
//!
//! The prediction is an ordinary [`Case`]: an outcome per step, the `state` of every object
//! after each step and at each `observe()`, and the `delegate` of each suspended object. The
//! invariants of each named state are added by the loader's own code
//! ([`introspec_cases::load::add_invariants`]), so the judge checks a generated case in
//! every layer exactly as it checks a hand-written one.

use std::collections::BTreeSet;
use std::path::PathBuf;

use introspec_cases::{Case, Expect, ExpectFrom, OutcomeExpect, Step};
use introspec_protocol as proto;
use introspec_spec::{Pattern, Spec, Specifier, Transition};

use crate::program::{Act, Catch, Exc, Func, Kind, Object, Op, Program, ReOp, ReTarget, Stmt, Val};

mod machine;
mod predict;

use machine::*;

/// One of the four states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum St {
    /// Waiting to start.
    Created,
    /// Executing.
    Running,
    /// Paused at a yield or await.
    Suspended,
    /// Finished.
    Closed,
}

impl St {
    /// The spec's name.
    pub fn name(self) -> &'static str {
        match self {
            St::Created => "created",
            St::Running => "running",
            St::Suspended => "suspended",
            St::Closed => "closed",
        }
    }

    /// Parse a spec state name.
    pub fn parse(s: &str) -> Option<St> {
        Some(match s {
            "created" => St::Created,
            "running" => St::Running,
            "suspended" => St::Suspended,
            "closed" => St::Closed,
            _ => return None,
        })
    }
}

/// A Python value of the body language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PyV {
    /// `None`.
    None,
    /// An int.
    Int(i64),
}

impl PyV {
    fn pattern(self) -> Pattern {
        match self {
            PyV::None => Pattern::None,
            PyV::Int(i) => Pattern::Int(i),
        }
    }
}

/// What an operation does, as the model predicts it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Returns this value.
    Returned(PyV),
    /// Returns something the spec does not pin down (close() of a body that returns a value:
    /// None before Python 3.13, the value from 3.13).
    ReturnedAny,
    /// Raises; for StopIteration, with its value.
    Raised(Exc, Option<PyV>),
}

/// The operations of spec/states.toml's transitions table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecOp {
    /// `next()`, `send(None)`, `asend(None)`.
    Resume,
    /// `send(v)` with v not None.
    SendValue(i64),
    /// `throw(E)`.
    Throw(Exc),
    /// `close()`.
    Close,
}

impl SpecOp {
    /// The `op` name in the transitions table.
    pub fn name(self) -> &'static str {
        match self {
            SpecOp::Resume => "resume",
            SpecOp::SendValue(_) => "send_value",
            SpecOp::Throw(_) => "throw",
            SpecOp::Close => "close",
        }
    }
}

/// A change to the model, to show that the fuzzer finds and shrinks a wrong prediction:
/// `OP.FROM.FIELD=VALUE` sets one field (`to`, `finish`, `raises`, `body`) of the transition
/// for OP from FROM (`close.created.to=suspended`, `send_value.created.raises=none`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plant {
    /// The transition's `op`.
    pub op: String,
    /// The transition's `from` state.
    pub from: String,
    /// The field changed: `to`, `finish`, `raises` or `body`.
    pub field: String,
    /// Its new value (`none` for no value).
    pub value: String,
}

impl Plant {
    /// Parse `OP.FROM.FIELD=VALUE`.
    pub fn parse(s: &str) -> Result<Plant, String> {
        let (lhs, value) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: a plant is OP.FROM.FIELD=VALUE"))?;
        let parts: Vec<&str> = lhs.split('.').collect();
        let [op, from, field] = parts[..] else {
            return Err(format!(
                "`{s}`: a plant is OP.FROM.FIELD=VALUE, e.g. close.created.to=suspended"
            ));
        };
        if !["to", "finish", "raises", "body"].contains(&field) {
            return Err(format!("`{s}`: FIELD is one of to, finish, raises, body"));
        }
        Ok(Plant {
            op: op.into(),
            from: from.into(),
            field: field.into(),
            value: value.into(),
        })
    }

    /// The plant a setting names (`INTROSPEC_FUZZ_PLANT`, read by the `introspec` binary),
    /// if any: unset or blank is none.
    pub fn from_setting(value: Option<&str>) -> Result<Option<Plant>, String> {
        match value.map(str::trim) {
            Some(s) if !s.is_empty() => Plant::parse(s).map(Some),
            _ => Ok(None),
        }
    }

    fn apply(&self, ts: &mut [Transition]) -> Result<(), String> {
        let t = ts
            .iter_mut()
            .find(|t| t.op == self.op && t.from == self.from && t.kinds.is_empty())
            .ok_or_else(|| {
                format!(
                    "no transition {} from {} in spec/states.toml to plant a bug in",
                    self.op, self.from
                )
            })?;
        let none = |v: &str| {
            if v == "none" {
                None
            } else {
                Some(v.to_string())
            }
        };
        match self.field.as_str() {
            "to" => t.to = self.value.clone(),
            "finish" => t.finish = none(&self.value),
            "raises" => t.raises = none(&self.value),
            _ => t.body = self.value == "true",
        }
        Ok(())
    }
}

/// The reference machine: the spec's transitions (possibly with a planted bug).
#[derive(Debug, Clone)]
pub struct Model {
    /// The transitions of spec/states.toml, as the model uses them.
    pub transitions: Vec<Transition>,
    /// The bug planted in them, if any.
    pub plant: Option<Plant>,
}

impl Model {
    /// The model of a spec.
    pub fn new(spec: &Spec, plant: Option<Plant>) -> Result<Model, String> {
        let mut transitions = spec.transitions.clone();
        if let Some(p) = &plant {
            p.apply(&mut transitions)?;
        }
        Ok(Model { transitions, plant })
    }

    /// The transition for `op` from `from`. `send(v)` with v not None uses the `send_value`
    /// transition where the spec has one, else `resume` (PEP 342: send(None) is next()).
    pub fn transition(&self, op: SpecOp, from: St, kind: Kind) -> Option<&Transition> {
        let find = |name: &str| {
            introspec_spec::transition_in(&self.transitions, name, from.name(), kind.spec_name())
        };
        match op {
            SpecOp::SendValue(_) => find("send_value").or_else(|| find("resume")),
            _ => find(op.name()),
        }
    }
}

/// A program and the case predicted for it.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// The predicted case.
    pub case: Case,
    /// The program with only the operations the spec has a transition for.
    pub program: Program,
    /// Operations applied (steps after `create`).
    pub transitions: usize,
    /// The spec transitions the case exercises, as (op, from).
    pub used: BTreeSet<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{Act, Func, Program, Stmt};

    fn spec() -> Spec {
        Spec::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec")).unwrap()
    }

    #[test]
    fn an_async_generator_driven_step_by_step_is_running_while_in_flight() {
        let spec = spec();
        let model = Model::new(&spec, None).unwrap();
        let p = Program {
            subject: Func {
                kind: Kind::AsyncGenerator,
                body: vec![Stmt::Await(Val::Int(5)), Stmt::Suspend(Val::Int(7))],
            },
            ops: vec![Act::subject(Op::Resume), Act::subject(Op::Resume)],
            via_await: false,
            step_agen: true,
        };
        let pred = model.predict(&spec, &p);
        let c = &pred.case;
        assert!(
            c.id.starts_with("async_generator.fuzz.in_flight."),
            "{}",
            c.id
        );
        assert_eq!(
            c.python.as_ref().map(|s| s.as_str().to_string()),
            Some(">=3.8".to_string())
        );
        // create, aw = subject.asend(None), aw.send(None), aw.send(None)
        assert_eq!(c.steps.len(), 4);
        assert_eq!(c.steps[2].outcome, OutcomeExpect::Returns(Pattern::Int(5)));
        let state = |i: usize| {
            c.steps[i]
                .after
                .iter()
                .find(|e| e.target == "subject" && e.observable == "state")
                .unwrap()
                .pattern
                .clone()
        };
        assert_eq!(state(2), Pattern::State("running".into()));
        assert_eq!(
            c.steps[3].outcome,
            OutcomeExpect::Raises {
                exc: "StopIteration".into(),
                message: None,
                value: Some(Pattern::Int(7))
            }
        );
        assert_eq!(state(3), Pattern::State("suspended".into()));
        assert_eq!(pred.transitions, 2);
    }

    #[test]
    fn a_planted_transition_changes_the_prediction() {
        let spec = spec();
        let p = Program {
            subject: Func {
                kind: Kind::Generator,
                body: vec![],
            },
            ops: vec![Act::subject(Op::Close)],
            via_await: false,
            step_agen: false,
        };
        let right = Model::new(&spec, None).unwrap().predict(&spec, &p);
        let wrong = Model::new(
            &spec,
            Some(Plant::parse("close.created.to=suspended").unwrap()),
        )
        .unwrap()
        .predict(&spec, &p);
        let state = |pr: &Prediction| {
            pr.case.steps[1]
                .after
                .iter()
                .find(|e| e.observable == "state")
                .unwrap()
                .pattern
                .clone()
        };
        assert_eq!(state(&right), Pattern::State("closed".into()));
        assert_eq!(state(&wrong), Pattern::State("suspended".into()));
    }
}
