//! `cases/`: scenarios as data. This crate loads them, checks every name they use against
//! the spec (observables, kinds, features, layers, implementations), and compiles each into
//! a worker request and a check plan.

pub mod compile;
pub mod files;
pub mod load;
pub mod model;

pub use compile::{compile, skip_reason, Plan, PlanTarget, PlannedRead};
pub use load::Corpus;
pub use model::*;
