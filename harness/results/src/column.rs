//! A column of the matrix: a runtime, the observer that reads it, and what is loaded into it
//! (nothing, the reference implementation of the proposal, or the cases compiled with Cython
//! or mypyc). harness/runner makes them (`introspec_runner::columns`).

use introspec_cases::ColumnFacts;
use introspec_protocol::LoadRequest;
use introspec_runtimes::Runtime;
use introspec_spec::Availability;
use serde::{Deserialize, Serialize};

use crate::identity::{compiled_with, Compiler, Observer};

/// One column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub runtime: Runtime,
    pub observer: Observer,
    /// The compiler of a compiled column (`cython`, `mypyc`); `None` for the runtime's own
    /// objects, spelt `cpython` in the results file.
    #[serde(with = "compiled_with")]
    pub compiler: Option<Compiler>,
    /// The compiler release of a compiled column (`cython 3.3.1`), installed from PyPI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiler_version: Option<String>,
    /// The reference implementation of the proposal is loaded.
    pub reference: bool,
    #[serde(skip)]
    pub loads: Vec<LoadRequest>,
}

impl Column {
    pub fn facts(&self) -> ColumnFacts {
        ColumnFacts {
            name: self.name.clone(),
            implementation: self.runtime.identity.implementation.clone(),
            language: self.runtime.language(),
            compiler: Compiler::selector_name(self.compiler).into(),
            reference: self.reference,
        }
    }

    pub fn availability(&self) -> Availability {
        Availability {
            language: self.runtime.language(),
            provides: [
                (self.reference, "reference"),
                (self.runtime.identity.free_threaded, "free-threaded"),
            ]
            .into_iter()
            .filter(|(has, _)| *has)
            .map(|(_, name)| name.to_string())
            .collect(),
        }
    }
}
