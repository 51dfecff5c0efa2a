//! Columns of the matrix: a runtime, the observer that reads it, and what is loaded into it
//! (nothing, the reference implementation of the proposal, or the cases compiled with Cython
//! or mypyc).

use std::path::Path;

use introspec_protocol::LoadRequest;
pub use introspec_results::Column;
use introspec_results::Compiler;
use introspec_runtimes::Runtime;
use introspec_worker::{observers, reference_supports};

/// The base column of a runtime, read by its preferred observer.
pub fn base(rt: &Runtime, cache: &Path) -> Column {
    Column {
        name: rt.name.clone(),
        runtime: rt.clone(),
        observer: observers::preferred_built(&rt.identity, &rt.path, cache),
        compiler: None,
        compiler_version: None,
        reference: false,
        loads: vec![],
    }
}

/// The same runtime with the reference implementation loaded and installed, if it loads there.
pub fn with_reference(rt: &Runtime, cache: &Path) -> Option<Column> {
    reference_supports(&rt.identity).ok()?;
    let dir = observers::reference_dir_for(&rt.identity, &rt.path, cache).ok()?;
    Some(Column {
        name: format!("{}+ref", rt.name),
        runtime: rt.clone(),
        observer: observers::preferred_built(&rt.identity, &rt.path, cache),
        compiler: None,
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
    let pin = introspec_compilers::pin(compiler, &rt.identity)?;
    Ok(Column {
        name: format!("{}+{}", rt.name, compiler.name()),
        runtime: rt.clone(),
        observer: observers::preferred(&rt.identity),
        compiler: Some(compiler),
        compiler_version: Some(pin.describe()),
        reference: false,
        loads: vec![],
    })
}

/// Every column for the runtimes found: each base column, then each with the reference, then
/// each compiled one of `compilers` the runtime supports (`Settings::compilers`, from
/// `INTROSPEC_COMPILERS`).
pub fn all(runtimes: &[Runtime], cache: &Path, compilers: &[Compiler]) -> Vec<Column> {
    let mut out = Vec::new();
    for rt in runtimes {
        out.push(base(rt, cache));
        if let Some(c) = with_reference(rt, cache) {
            out.push(c);
        }
        for compiler in compilers {
            if let Ok(c) = compiled(rt, *compiler) {
                out.push(c);
            }
        }
    }
    out
}
