//! State-transition fuzzing of the introspection protocol (issue 6).
//!
//! * [`program`]: the generated programs (bodies that suspend, catch, re-raise, return
//!   values, ignore GeneratorExit, delegate through chains of `yield from`/`await`, observe
//!   themselves and re-enter themselves) and the operations applied to them, with proptest
//!   strategies that shrink.
//! * [`model`]: the reference machine derived from `spec/states.toml` with a small
//!   interpreter of the bodies; its prediction of a program is an ordinary case.
//! * [`campaign`]: the system under test (the real objects, through each column's worker,
//!   several cases per write), the judge, shrinking and findings.
//! * [`cli`]: `introspec fuzz`.
//! * [`emit`]: a finding as a case file under `cases/regressions/`.
//! * [`bench`]: transitions per second, against a Hypothesis state machine doing the same
//!   checks in the same interpreter (`harness/fuzz/hypothesis_machine.py`).

#![warn(missing_docs)]

pub mod bench;
pub mod campaign;
pub mod cli;
pub mod emit;
pub mod model;
pub mod program;

pub use campaign::{Campaign, Finding, Lane, Settings, Stats};
pub use model::{Model, Plant, Prediction};
pub use program::{Kind, Program, Shape};
