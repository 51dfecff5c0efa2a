//! The results schema, `introspec-results/1` (reports/SCHEMA.md): what `introspec run`
//! writes and every report reads. A crate of its own so that the reports depend on the
//! schema alone, not on the runner, its workers or the PyO3 build.

pub mod column;
pub mod identity;
pub mod results;

pub use column::Column;
pub use identity::{Compiler, Observer, NOT_COMPILED};
pub use results::{BrokenColumn, HarnessInfo, Results, Tally, TrialRecord, SCHEMA};
