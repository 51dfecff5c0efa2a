//! `introspec cpython-tests`: the settings, the CPythons and the reference module (found and
//! written here, at the edge), then introspec-testsuites' runs and report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use introspec_testsuites::{Interpreter, SUITES};

/// The CPythons the abi3 reference implementation loads into (the `+ref` columns but those
/// of free-threaded builds, which load a build of their own), oldest first.
fn interpreters(
    root: &Path,
    settings: &introspec_runner::Settings,
    only: &[String],
) -> Vec<Interpreter> {
    let d = introspec_runtimes::discover(&settings.discovery(root));
    let mut found: Vec<_> = d
        .runtimes
        .into_iter()
        .filter(|r| {
            r.identity.implementation == "cpython" && !r.identity.debug && !r.identity.free_threaded
        })
        .filter(|r| introspec_worker::reference_supports(&r.identity).is_ok())
        .filter(|r| only.is_empty() || only.iter().any(|o| r.name.contains(o.as_str())))
        .collect();
    found.sort_by(|a, b| {
        (a.identity.version.clone(), &a.name).cmp(&(b.identity.version.clone(), &b.name))
    });
    found
        .into_iter()
        .map(|r| Interpreter {
            name: r.name.clone(),
            version: r.identity.version.to_string(),
            path: r.path.clone(),
        })
        .collect()
}

/// Run the suites and write `cpython-test-suites.json` into `out` (default `reports/`).
pub fn cpython_tests(
    root: &Path,
    runtime: &[String],
    suites: &[String],
    out: Option<PathBuf>,
) -> ExitCode {
    let out = out.unwrap_or_else(|| root.join("reports"));
    let done = (|| -> Result<introspec_testsuites::Report, String> {
        for s in suites {
            if !SUITES.contains(&s.as_str()) {
                return Err(format!(
                    "--suite {s}: not one of issue 18's suites ({})",
                    SUITES.join(", ")
                ));
            }
        }
        let settings = introspec_runner::Settings::from_env()?;
        let cache = settings.cache(root);
        let reference_dir = introspec_worker::observers::reference_dir(&cache).map_err(|e| {
            format!(
                "cannot write the reference module into {}: {e}",
                cache.display()
            )
        })?;
        let reference_module = reference_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let inputs = introspec_testsuites::Inputs {
            cache,
            reference_dir,
            reference_module,
            reference_source: introspec_testsuites::source_digest(&root.join("harness/reference"))?,
            commit: introspec_runner::git_commit(root),
            memory_limit: settings.memory_limit,
            run_timeout: Duration::from_secs(3600),
            suites: if suites.is_empty() {
                SUITES.iter().map(|s| s.to_string()).collect()
            } else {
                suites.to_vec()
            },
            testdir: None,
        };
        let pythons = interpreters(root, &settings, runtime);
        if pythons.is_empty() {
            return Err("no CPython where the reference implementation loads (3.9 or newer, not free-threaded); install one (pyenv install 3.13.0) or name it in INTROSPEC_PYTHONS".into());
        }
        let report =
            introspec_testsuites::run(&pythons, &inputs, &|m| eprintln!("cpython-tests: {m}"))?;
        let file = out.join("cpython-test-suites.json");
        introspec_cache::write_if_changed(&file, introspec_testsuites::json(&report).as_bytes())?;
        eprintln!("written: {}", file.display());
        Ok(report)
    })();
    match done {
        Ok(report) => {
            for v in &report.versions {
                for s in &v.suites {
                    let real: Vec<_> = s.differences.iter().filter(|d| d.reproduced).collect();
                    println!(
                        "{:<18} {:<18} bare {:>5} cases {:>3} failed {:>3} errors | installed {:>5} cases {:>3} failed {:>3} errors | {} differ ({} reproduced)",
                        v.name,
                        s.name,
                        s.bare.counts.cases,
                        s.bare.counts.failures,
                        s.bare.counts.errors,
                        s.installed.counts.cases,
                        s.installed.counts.failures,
                        s.installed.counts.errors,
                        s.differences.len(),
                        real.len()
                    );
                    for d in real {
                        println!("    {} {} -> {}", d.test, d.bare.name(), d.installed.name());
                    }
                }
                if !v.missing.is_empty() {
                    println!(
                        "{:<18} not in its Lib/test: {}",
                        v.name,
                        v.missing.join(", ")
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
