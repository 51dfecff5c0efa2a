//! `introspec bench`: the matrix against the start-up floor, cold and warm, and the local loop.

use super::*;

pub(crate) fn bench(
    root: &std::path::Path,
    jobs: Option<usize>,
    factors: Vec<usize>,
    rate_seconds: f64,
    cold_repeats: Option<usize>,
) -> ExitCode {
    let opts = introspec_bench::Options {
        jobs: jobs.unwrap_or_else(default_jobs),
        factors,
        rate_seconds,
        cold: cold_repeats.map(|repeats| introspec_bench::cold::ColdOptions {
            scratch: std::env::temp_dir()
                .join(format!("introspec-bench-cold-{}", std::process::id())),
            repeats,
        }),
        exe: std::env::current_exe().ok(),
    };
    match introspec_bench::run(root, &settings_or_exit!(), &opts, &|m| eprintln!("{m}")) {
        Ok(report) => {
            print!("{}", introspec_bench::render(&report));
            let out = root.join("reports/bench.json");
            if let Err(e) = introspec_cache::write_atomic(
                &out,
                serde_json::to_string_pretty(&report).unwrap().as_bytes(),
            ) {
                eprintln!("cannot write {}: {e}", out.display());
                return ExitCode::from(2);
            }
            eprintln!("written: {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// `introspec bench local-loop`: the one figure, merged into reports/bench.json.
pub(crate) fn bench_local_loop(
    root: &std::path::Path,
    python: Option<PathBuf>,
    repeats: usize,
) -> ExitCode {
    let python = match python {
        Some(p) => p,
        None => {
            let project = match load(root) {
                Ok(p) => p,
                Err(c) => return c,
            };
            match introspec_bench::local_loop_python(&project.discover().runtimes) {
                Some(p) => p,
                None => {
                    eprintln!("no CPython 3.9 or newer found for the local loop; give one with --python PATH");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find the introspec binary: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = introspec_bench::local_loop::LocalLoopOptions {
        exe,
        python,
        repeats,
        scratch: std::env::temp_dir().join(format!("introspec-bench-local-{}", std::process::id())),
    };
    let figure = match introspec_bench::local_loop::local_loop(root, &opts, &|m| eprintln!("{m}")) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let _ = std::fs::remove_dir_all(&opts.scratch);
    print!("{}", introspec_bench::local_loop::render(&figure));
    // its own file: reports/bench.json's other figures stay as their run wrote them
    let out = root.join("reports/bench-local-loop.json");
    if let Err(e) = introspec_cache::write_atomic(
        &out,
        serde_json::to_string_pretty(&figure).unwrap().as_bytes(),
    ) {
        eprintln!("cannot write {}: {e}", out.display());
        return ExitCode::from(2);
    }
    eprintln!("written: {}", out.display());
    ExitCode::SUCCESS
}
