//! Columns of the matrix: a runtime, the observer that reads it, and what is loaded into it
//! (nothing, the reference implementation of the proposal, or the cases compiled with Cython
//! or mypyc).

use std::path::Path;

use introspec_cases::ColumnFacts;
use introspec_compilers::Compiler;
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

    /// The compiler of a compiled column (`None` for the runtime's own objects).
    pub fn compiled_with(&self) -> Option<Compiler> {
        Compiler::parse(&self.compiler)
    }
}

/// The base column of a runtime, read by its preferred observer.
pub fn base(rt: &Runtime) -> Column {
    Column {
        name: rt.name.clone(),
        runtime: rt.clone(),
        observer: Observer::preferred(&rt.identity).name().into(),
        compiler: "cpython".into(),
        compiler_version: None,
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
        compiler_version: None,
        reference: true,
        loads: vec![LoadRequest {
            module: "async_introspection".into(),
            path: Some(dir.display().to_string()),
            call: Some("install".into()),
        }],
    })
}

/// The runtime's cases compiled with `compiler` (`RUNTIME+cython`, `RUNTIME+mypyc`), if the
/// compiler supports the runtime. Nothing is built here: the session builds the cases when
/// the column first runs (harness/compilers).
pub fn compiled(rt: &Runtime, compiler: Compiler) -> Result<Column, String> {
    let pin = compiler.pin(&rt.identity)?;
    Ok(Column {
        name: format!("{}+{}", rt.name, compiler.name()),
        runtime: rt.clone(),
        observer: Observer::preferred(&rt.identity).name().into(),
        compiler: compiler.name().into(),
        compiler_version: Some(pin.describe()),
        reference: false,
        loads: vec![],
    })
}

/// The compilers whose columns are made: `INTROSPEC_COMPILERS` (`cython,mypyc`, or `none`),
/// else both.
pub fn compilers_enabled() -> Vec<Compiler> {
    match std::env::var("INTROSPEC_COMPILERS") {
        Ok(s) => s
            .split([',', ' '])
            .filter_map(|x| Compiler::parse(x.trim()))
            .collect(),
        Err(_) => Compiler::ALL.to_vec(),
    }
}

/// Every column for the runtimes found: each base column, then each with the reference, then
/// each compiled one the runtime supports (see [`compilers_enabled`]).
pub fn all(runtimes: &[Runtime], cache: &Path) -> Vec<Column> {
    let compilers = compilers_enabled();
    let mut out = Vec::new();
    for rt in runtimes {
        out.push(base(rt));
        if let Some(c) = with_reference(rt, cache) {
            out.push(c);
        }
        for compiler in &compilers {
            if let Ok(c) = compiled(rt, *compiler) {
                out.push(c);
            }
        }
    }
    out
}
