//! Cython: every case translated to C against the shared utility module (`--shared`, Cython
//! 3.1+), the C cached by Cython version and source (it does not depend on the runtime),
//! every object and the utility module linked into one shared library.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::gcc::{self, Unit};
use crate::util::{move_into_place, run, write_atomic, Account, Digest, Lock};
use crate::{Compiler, Ctx, Products, Step};

const TRANSLATE: Account = Account {
    compiler: Compiler::Cython,
    step: Step::Translate,
};

/// The shared utility module's name (and its C file's stem).
const SHARED: &str = "introspec_cyshared";
/// The library every case is linked into.
const LIBRARY: &str = "cython-cases.so";
/// Cython's command line as a script: unknown names are looked up at run time, as Python does
/// (cases use names such as `observe` that the observer puts in the namespace), instead of
/// Cython's default compile-time error.
pub(crate) const DRIVER: &str = "import sys
from Cython.Compiler import Options
Options.error_on_unknown_names = False
from Cython.Compiler.Main import main
sys.argv[0] = 'cython'
main(command_line=1)
";
const ARGS: [&str; 2] = ["-3", "--shared=introspec_cyshared"];

pub(crate) fn build(ctx: &Ctx) -> Result<Products, String> {
    let cdir = ctx
        .cache
        .join("compiled")
        .join("cython-c")
        .join(ctx.pin.version);
    let key = |module: &str, code: &str| {
        let mut d = Digest::new();
        d.add(ctx.pin.version)
            .add(DRIVER)
            .add(ARGS.join(" "))
            .add(module)
            .add(code);
        d.hex()
    };
    let keyed: Vec<(String, String, String)> = ctx
        .sources
        .iter()
        .map(|(_, m, code)| (m.clone(), code.clone(), key(m, code)))
        .collect();
    let done =
        |k: &str| cdir.join(format!("{k}.c")).is_file() || cdir.join(format!("{k}.err")).is_file();
    let shared_c = cdir.join(format!("{SHARED}.c"));
    if !shared_c.is_file() || keyed.iter().any(|(_, _, k)| !done(k)) {
        let _lock = Lock::acquire(&cdir.join(".lock"))?;
        let missing: Vec<&(String, String, String)> =
            keyed.iter().filter(|(_, _, k)| !done(k)).collect();
        ctx.report.step(Step::Translate, 0, missing.len());
        translate(ctx, &cdir, &missing)?;
        ctx.report
            .step(Step::Translate, missing.len(), missing.len());
        if !shared_c.is_file() {
            generate_shared(ctx, &cdir)?;
        }
    }
    let mut products = Products::default();
    let objects_dir = ctx
        .cache
        .join("compiled")
        .join("objects")
        .join(crate::venv::runtime_key(ctx.rt));
    let objkey = format!(
        "cython {} {}",
        ctx.pin.version,
        crate::venv::runtime_key(ctx.rt)
    );
    let flags = flags(ctx);
    let with_header = gcc::precompile(
        ctx.opts,
        Compiler::Cython,
        PRELUDE,
        &flags,
        &objects_dir,
        &objkey,
    );
    let flags_for = |c: &Path| -> Vec<String> {
        let mut f = flags.clone();
        if let Some(h) = &with_header {
            if starts_with_prelude(c) {
                f.extend(h.iter().cloned());
            }
        }
        f
    };
    let mut units = vec![Unit {
        flags: flags_for(&shared_c),
        source: shared_c,
        extra_key: vec![],
    }];
    let mut unit_modules = vec![SHARED.to_string()];
    for (m, _, k) in &keyed {
        let c = cdir.join(format!("{k}.c"));
        if c.is_file() {
            units.push(Unit {
                flags: flags_for(&c),
                source: c,
                extra_key: vec![],
            });
            unit_modules.push(m.clone());
        } else {
            let why = std::fs::read_to_string(cdir.join(format!("{k}.err")))
                .unwrap_or_else(|e| format!("no C and no message ({e})"));
            products.errors.insert(
                m.clone(),
                format!(
                    "Cython {} rejected the case:\n{}",
                    ctx.pin.version,
                    why.trim()
                ),
            );
        }
    }
    let t = std::time::Instant::now();
    let total = units.len();
    ctx.report.step(Step::Compile, 0, total);
    let results = gcc::compile_all(
        ctx.opts,
        Compiler::Cython,
        &units,
        &objects_dir,
        &objkey,
        &|n| ctx.report.step(Step::Compile, n, total),
    );
    ctx.opts.log(format_args!(
        "{}: gcc {} cython units, {:.1} s",
        ctx.rt.name,
        units.len(),
        t.elapsed().as_secs_f64()
    ));
    let mut objects = Vec::new();
    for (m, r) in unit_modules.iter().zip(results) {
        match r {
            Ok(o) => objects.push(o),
            Err(e) if m == SHARED => {
                return Err(format!(
                    "Cython's shared utility module does not compile for {}: {e}",
                    ctx.rt.name
                ))
            }
            Err(e) => {
                products.errors.insert(
                    m.clone(),
                    format!(
                        "the C that Cython {} made does not compile: {e}",
                        ctx.pin.version
                    ),
                );
            }
        }
    }
    ctx.report.step(Step::Link, 0, 1);
    gcc::link(ctx.opts, Compiler::Cython, &objects, &ctx.dir.join(LIBRARY))?;
    for (m, _, _) in &keyed {
        if !products.errors.contains_key(m) {
            products.libraries.insert(m.clone(), LIBRARY.into());
        }
    }
    products.libraries.insert(SHARED.into(), LIBRARY.into());
    products.preload.push(SHARED.into());
    Ok(products)
}

/// What every C file of Cython 3.2 and 3.3 reads first, compiled once per runtime into a
/// precompiled header (about a seventh of a case's gcc time is the runtime's headers).
const PRELUDE: &str = "#define PY_SSIZE_T_CLEAN\n#include \"Python.h\"\n";

/// Whether a C file defines nothing but what [`PRELUDE`] defines before it includes
/// `Python.h`, so that reading the precompiled prelude first gives the same object (a
/// macro defined before `Python.h` may change what it declares). A file that does anything
/// else is compiled without the header.
fn starts_with_prelude(c: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(c) else {
        return false;
    };
    let Some(at) = text.find("#include \"Python.h\"") else {
        return false;
    };
    let mut defines = text[..at]
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("#define "))
        .map(|d| d.split_whitespace().next().unwrap_or(""));
    // CYTHON_LIMITED_API is defined only under Py_LIMITED_API, which these builds never set
    let allowed = ["PY_SSIZE_T_CLEAN", "CYTHON_LIMITED_API"];
    let mut clean = false;
    let only_allowed = defines.all(|d| {
        clean |= d == "PY_SSIZE_T_CLEAN";
        allowed.contains(&d)
    });
    only_allowed && clean
}

/// The flags of every object: no optimisation (the objects are run once, compiled often),
/// the runtime's headers, and the two semantics flags CPython's own builds use.
fn flags(ctx: &Ctx) -> Vec<String> {
    let c = &ctx.venv.config;
    let mut f: Vec<String> = ["-O0", "-g0", "-w", "-fwrapv", "-fno-strict-aliasing"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    f.push(format!("-I{}", c.include));
    if c.platinclude != c.include {
        f.push(format!("-I{}", c.platinclude));
    }
    f
}

fn work_dir(cdir: &Path) -> Result<PathBuf, String> {
    let w = crate::util::temp_beside(&cdir.join("work"));
    std::fs::create_dir_all(&w).map_err(|e| format!("cannot create {}: {e}", w.display()))?;
    Ok(w)
}

fn generate_shared(ctx: &Ctx, cdir: &Path) -> Result<(), String> {
    let work = work_dir(cdir)?;
    let mut cmd = Command::new(&ctx.venv.python);
    cmd.arg("-c")
        .arg(DRIVER)
        .arg(format!("--generate-shared={SHARED}.c"))
        .current_dir(&work);
    let out = gcc::with_permit(ctx.opts, || run(&mut cmd, None, TRANSLATE));
    let made = work.join(format!("{SHARED}.c"));
    let r = if out.ok && made.is_file() {
        move_into_place(&made, &cdir.join(format!("{SHARED}.c")))
    } else {
        Err(format!(
            "Cython {} could not generate its shared utility module ({}): {}",
            ctx.pin.version,
            out.status,
            out.tail(6)
        ))
    };
    let _ = std::fs::remove_dir_all(&work);
    r
}

/// Translate the missing cases in at most [`BuildOptions::jobs`](crate::BuildOptions::jobs) Cython processes; each C file (or
/// the error that stopped it) goes to the cache under its key.
fn translate(ctx: &Ctx, cdir: &Path, missing: &[&(String, String, String)]) -> Result<(), String> {
    if missing.is_empty() {
        return Ok(());
    }
    let chunks: Vec<Vec<&(String, String, String)>> = {
        let n = ctx.opts.jobs.min(missing.len()).max(1);
        let mut c = vec![Vec::new(); n];
        for (i, m) in missing.iter().enumerate() {
            c[i % n].push(*m);
        }
        c
    };
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let hs: Vec<_> = chunks
            .iter()
            .map(|chunk| s.spawn(move || translate_chunk(ctx, cdir, chunk, true)))
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a Cython thread panicked".into()))
            })
            .collect()
    });
    results.into_iter().collect()
}

fn translate_chunk(
    ctx: &Ctx,
    cdir: &Path,
    chunk: &[&(String, String, String)],
    isolate: bool,
) -> Result<(), String> {
    let work = work_dir(cdir)?;
    for (m, code, _) in chunk {
        write_atomic(&work.join(format!("{m}.py")), code.as_bytes())?;
    }
    let mut cmd = Command::new(&ctx.venv.python);
    cmd.arg("-c")
        .arg(DRIVER)
        .args(ARGS)
        .args(chunk.iter().map(|(m, _, _)| format!("{m}.py")))
        .current_dir(&work);
    let out = gcc::with_permit(ctx.opts, || run(&mut cmd, None, TRANSLATE));
    let errors = attribute(&out.stderr, chunk.iter().map(|(m, _, _)| m.as_str()));
    let mut unexplained = Vec::new();
    for entry in chunk {
        let (m, _, k) = entry;
        let made = work.join(format!("{m}.c"));
        if made.is_file() && !errors.contains_key(m.as_str()) {
            move_into_place(&made, &cdir.join(format!("{k}.c")))?;
        } else if let Some(e) = errors.get(m.as_str()) {
            write_atomic(&cdir.join(format!("{k}.err")), e.as_bytes())?;
        } else {
            unexplained.push(*entry);
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    if unexplained.is_empty() {
        return Ok(());
    }
    if isolate && chunk.len() > 1 {
        // the output does not say which case stopped Cython: translate those alone
        for one in unexplained {
            translate_chunk(ctx, cdir, &[one], false)?;
        }
        return Ok(());
    }
    for (_, _, k) in unexplained {
        let why = format!(
            "Cython stopped ({}) without naming the case:\n{}",
            out.status,
            out.tail(12)
        );
        write_atomic(&cdir.join(format!("{k}.err")), why.as_bytes())?;
    }
    Ok(())
}

/// Cython's "Error compiling Cython file" blocks, by the module they name (`m.py:L:C: …`).
fn attribute<'a>(
    stderr: &str,
    modules: impl Iterator<Item = &'a str>,
) -> BTreeMap<&'a str, String> {
    let modules: Vec<&str> = modules.collect();
    let mut out: BTreeMap<&str, String> = BTreeMap::new();
    for block in stderr.split("Error compiling Cython file:").skip(1) {
        let named = block.lines().find_map(|l| {
            let (file, rest) = l.split_once(".py:")?;
            let file = file.rsplit('/').next().unwrap_or(file);
            rest.starts_with(|c: char| c.is_ascii_digit())
                .then_some(())?;
            modules.iter().find(|m| **m == file).copied()
        });
        if let Some(m) = named {
            let e = out.entry(m).or_default();
            if !e.is_empty() {
                e.push('\n');
            }
            e.push_str(block.trim_matches('\n').trim_end());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_are_attributed_to_their_module() {
        let stderr = "\nError compiling Cython file:\n------\n...\n    yield\n------\nic_a.py:2:4: bad thing\n\
                      warning: ic_b.py:1:0: a warning\n\nError compiling Cython file:\n------\nic_c.py:9:1: other\n";
        let e = super::attribute(stderr, ["ic_a", "ic_b", "ic_c"].into_iter());
        assert!(e["ic_a"].contains("bad thing"));
        assert!(!e.contains_key("ic_b"));
        assert!(e["ic_c"].contains("other"));
    }
}
