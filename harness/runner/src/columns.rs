//! Columns of the matrix: a runtime, the observer that reads it, and what is loaded into it
//! (nothing, or the reference implementation of the proposal).

use std::path::Path;

use introspec_cases::ColumnFacts;
use introspec_protocol::LoadRequest;
use introspec_runtimes::Runtime;
use introspec_spec::Availability;
use introspec_worker::{observers, reference_supports, Observer};
use serde::{Deserialize, Serialize};

/// One column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub runtime: Runtime,
    pub observer: String,
    /// `cpython` (the runtime's own objects), `cython` or `mypyc` (compiled cases).
    pub compiler: String,
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
            compiler: self.compiler.clone(),
            reference: self.reference,
        }
    }

    pub fn availability(&self) -> Availability {
        Availability {
            language: self.runtime.language(),
            provides: if self.reference {
                vec!["reference".into()]
            } else {
                vec![]
            },
        }
    }

    pub fn observer(&self) -> Observer {
        Observer::parse(&self.observer).unwrap_or(Observer::Portable)
    }
}

/// The base column of a runtime, read by its preferred observer.
pub fn base(rt: &Runtime) -> Column {
    Column {
        name: rt.name.clone(),
        runtime: rt.clone(),
        observer: Observer::preferred(&rt.identity).name().into(),
        compiler: "cpython".into(),
        reference: false,
        loads: vec![],
    }
}

/// The same runtime with the reference implementation loaded and installed, if it loads there.
pub fn with_reference(rt: &Runtime, cache: &Path) -> Option<Column> {
    reference_supports(&rt.identity).ok()?;
    let dir = observers::reference_dir(cache).ok()?;
    Some(Column {
        name: format!("{}+ref", rt.name),
        runtime: rt.clone(),
        observer: Observer::preferred(&rt.identity).name().into(),
        compiler: "cpython".into(),
        reference: true,
        loads: vec![LoadRequest {
            module: "async_introspection".into(),
            path: Some(dir.display().to_string()),
            call: Some("install".into()),
        }],
    })
}

/// Every column for the runtimes found: each base column, then each with the reference.
pub fn all(runtimes: &[Runtime], cache: &Path) -> Vec<Column> {
    let mut out = Vec::new();
    for rt in runtimes {
        out.push(base(rt));
        if let Some(c) = with_reference(rt, cache) {
            out.push(c);
        }
    }
    out
}
