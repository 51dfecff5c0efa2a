//! `introspec runtimes`: the interpreters found, their columns, and why any cannot be used.

use super::*;

/// `introspec runtimes --json`: `introspec-runtimes/1`.
#[derive(serde::Serialize)]
struct RuntimesJson {
    schema: &'static str,
    runtimes: Vec<RuntimeJson>,
    /// Compiled columns the compilers asked for cannot make, and why.
    not_compiled: Vec<NotCompiled>,
    unusable: Vec<introspec_runtimes::Unusable>,
    absent: Vec<introspec_runtimes::Absent>,
}

#[derive(serde::Serialize)]
struct RuntimeJson {
    /// The base column's name (`cpython-3.12.1`); the group of columns a CI job runs.
    name: String,
    path: PathBuf,
    found_by: String,
    implementation: String,
    version: String,
    free_threaded: bool,
    debug: bool,
    prefix: String,
    observer: introspec_runner::Observer,
    /// Every column of this runtime: plain, `+ref`, compiled.
    columns: Vec<ColumnJson>,
}

#[derive(serde::Serialize)]
struct ColumnJson {
    name: String,
    reference: bool,
    compiler: Option<introspec_runner::Compiler>,
    compiler_version: Option<String>,
}

#[derive(serde::Serialize)]
struct NotCompiled {
    runtime: String,
    compiler: introspec_runner::Compiler,
    why: String,
}

pub(crate) fn runtimes(root: &std::path::Path, json: bool, python: Vec<PathBuf>) -> ExitCode {
    let settings = settings_or_exit!().with_pythons(python, None);
    let project = match load_with(root, &settings) {
        Ok(p) => p,
        Err(c) => return c,
    };
    if json {
        let d = project.discover();
        let cols = columns::all(&d.runtimes, &project.cache, &project.settings.compilers);
        let mut not_compiled = Vec::new();
        for rt in &d.runtimes {
            for compiler in &project.settings.compilers {
                if let Err(why) = columns::compiled(rt, *compiler) {
                    not_compiled.push(NotCompiled {
                        runtime: rt.name.clone(),
                        compiler: *compiler,
                        why,
                    });
                }
            }
        }
        let out = RuntimesJson {
            schema: "introspec-runtimes/1",
            runtimes: d
                .runtimes
                .iter()
                .map(|rt| RuntimeJson {
                    name: rt.name.clone(),
                    path: rt.path.clone(),
                    found_by: rt.found_by.clone(),
                    implementation: rt.identity.implementation.clone(),
                    version: rt.identity.version.to_string(),
                    free_threaded: rt.identity.free_threaded,
                    debug: rt.identity.debug,
                    prefix: rt.identity.prefix.clone(),
                    observer: introspec_worker::observers::preferred(&rt.identity),
                    columns: cols
                        .iter()
                        .filter(|c| c.runtime.name == rt.name)
                        .map(|c| ColumnJson {
                            name: c.name.clone(),
                            reference: c.reference,
                            compiler: c.compiler,
                            compiler_version: c.compiler_version.clone(),
                        })
                        .collect(),
                })
                .collect(),
            not_compiled,
            unusable: d.unusable,
            absent: d.absent,
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap());
        return ExitCode::SUCCESS;
    }
    let d = project.discover();
    println!(
        "{:<22} {:<9} {:<7} {:<10} {:<18} path",
        "column", "observer", "ref", "build", "found by"
    );
    for rt in &d.runtimes {
        let obs = introspec_worker::observers::preferred(&rt.identity);
        let reference = if introspec_worker::reference_supports(&rt.identity).is_ok() {
            "yes"
        } else {
            "no"
        };
        let mut build = String::new();
        if rt.identity.free_threaded {
            build.push_str("free-thr ");
        }
        if rt.identity.debug {
            build.push_str("debug");
        }
        if build.is_empty() {
            build.push_str("default");
        }
        println!(
            "{:<22} {:<9} {:<7} {:<10} {:<18} {}",
            rt.name,
            obs.name(),
            reference,
            build.trim(),
            rt.found_by,
            rt.path.display()
        );
    }
    // the compiled columns: the cases compiled with Cython and mypyc (harness/compilers),
    // built on first use into the cache directory (see introspec_runner::Settings::cache), compiled/
    for rt in &d.runtimes {
        for compiler in &project.settings.compilers {
            match columns::compiled(rt, *compiler) {
                Ok(c) => println!(
                    "compiled: {} ({}, {} observer)",
                    c.name,
                    c.compiler_version.unwrap_or_default(),
                    c.observer
                ),
                Err(why) => println!("no {} column for {}: {why}", compiler.name(), rt.name),
            }
        }
    }
    for u in &d.unusable {
        println!("unusable: {} ({}): {}", u.path.display(), u.found_by, u.why);
    }
    for a in &d.absent {
        println!(
            "absent: {} is not installed; install it with: {}",
            a.name, a.install
        );
    }
    ExitCode::SUCCESS
}
