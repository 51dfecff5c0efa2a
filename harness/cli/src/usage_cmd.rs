//! `introspec usage`: the settings and interpreters (read here, at the edge), then
//! introspec-usage's fetch, scan and report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use introspec_usage::{render, Interpreter, Pins};

/// The CPythons found (no free-threaded or debug build: their Lib is the same, their `ast` too).
fn cpythons(
    root: &Path,
    settings: &introspec_runner::Settings,
) -> Vec<introspec_runtimes::Runtime> {
    // only CPythons are used, so nothing is installed for them (INTROSPEC_INSTALL names
    // other runtimes: RustPython would be minutes of build for nothing)
    let opts = introspec_runtimes::Options {
        install: Vec::new(),
        ..settings.discovery(root)
    };
    let d = introspec_runtimes::discover(&opts);
    let mut found: Vec<_> = d
        .runtimes
        .into_iter()
        .filter(|r| {
            r.identity.implementation == "cpython" && !r.identity.free_threaded && !r.identity.debug
        })
        .collect();
    found.sort_by(|a, b| a.identity.version.cmp(&b.identity.version));
    found
}

fn interpreter(r: &introspec_runtimes::Runtime) -> Interpreter {
    Interpreter {
        path: r.path.clone(),
        version: r.identity.version.to_string(),
    }
}

fn inputs(root: &Path, pins: &Pins) -> Result<introspec_usage::Inputs, String> {
    let settings = introspec_runner::Settings::from_env()?;
    let found = cpythons(root, &settings);
    let scanner = found
        .iter()
        .rev()
        .find(|r| r.identity.version.release().0 == 3)
        .ok_or("no CPython 3 found to scan with; install one (pyenv install 3.13.0) or name it in INTROSPEC_PYTHONS")?;
    let stdlib = match &pins.stdlib {
        None => None,
        Some(s) => Some(
            found
                .iter()
                .find(|r| r.identity.version.to_string() == s.python)
                .map(interpreter)
                .ok_or_else(|| {
                    let names: Vec<String> =
                        found.iter().map(|r| r.identity.version.to_string()).collect();
                    format!(
                        "{}:{}: [stdlib] python = {:?}: no such CPython here (found {}); install it (pyenv install {}) or add it to INTROSPEC_PYTHONS",
                        pins.path.display(),
                        s.line,
                        s.python,
                        names.join(", "),
                        s.python
                    )
                })?,
        ),
    };
    let pins_name = pins
        .path
        .strip_prefix(root)
        .unwrap_or(&pins.path)
        .display()
        .to_string();
    Ok(introspec_usage::Inputs {
        cache: settings.cache(root),
        scanner: interpreter(scanner),
        stdlib,
        pins_name,
    })
}

/// Fetch, scan and write `usage-in-the-wild.md` and `.json` into `out` (default `reports/`).
pub fn usage(root: &Path, pins: Option<PathBuf>, out: Option<PathBuf>) -> ExitCode {
    let pins_path = pins.unwrap_or_else(|| root.join("reports/usage/packages.toml"));
    let out = out.unwrap_or_else(|| root.join("reports"));
    let done = Pins::load(&pins_path)
        .and_then(|pins| Ok((inputs(root, &pins)?, pins)))
        .and_then(|(inputs, pins)| {
            introspec_usage::run(&pins, &inputs, &|m| eprintln!("usage: {m}"))
        })
        .and_then(|report| {
            for (name, bytes) in [
                ("usage-in-the-wild.md", render::markdown(&report)),
                ("usage-in-the-wild.json", render::json(&report)),
            ] {
                introspec_cache::write_if_changed(&out.join(name), bytes.as_bytes())?;
                eprintln!("written: {}", out.join(name).display());
            }
            Ok(report)
        });
    match done {
        Ok(report) => {
            for (p, total, tests, users) in render::totals(&report).into_iter().take(5) {
                let s = if users == 1 { "" } else { "s" };
                println!(
                    "{:<32} {total:>6} places ({tests} in tests) in {users} package{s}",
                    p.name()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
