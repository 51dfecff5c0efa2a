//! `introspec`: the conformance suite's command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

use clap::{Parser, Subcommand};
use introspec::{default_jobs, project_root};
use introspec_judge::Status;
use introspec_runner::{columns, git_commit, Project, Results, Session};

mod report_cmd;

/// mimalloc: the harness allocates and frees many small strings per case (cases, checks,
/// decoded results) across threads, where glibc's allocator spent a third of the fuzzer's
/// time (perf, `introspec fuzz`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "introspec",
    version,
    about = "Conformance suite for Python's generator, coroutine and async generator introspection"
)]
struct Cli {
    /// The project directory (holding spec/ and cases/); found from the current directory by default.
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every case on every runtime found; write reports/results/latest.json.
    Run {
        /// Worker threads (default: every core).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Only columns whose name contains this text.
        #[arg(long)]
        column: Vec<String>,
        /// Only cases whose id contains this text.
        #[arg(long)]
        case: Vec<String>,
        /// Where to write the results.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Leave out the columns with the reference implementation loaded.
        #[arg(long)]
        no_reference: bool,
    },
    /// List the interpreters found, and why any cannot be used.
    Runtimes,
    /// Validate spec/ and cases/ without running anything.
    Check,
    /// Write the reports (matrix.md, matrix.html, matrix.json, pep-evidence.rst) from a results file; reruns nothing.
    Report {
        /// The results file (default: reports/results/latest.json).
        #[arg(long)]
        results: Option<PathBuf>,
        /// Where to write the reports (default: reports/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Markdown for a review comment: the trials that changed from OLD to NEW results.
    Compare {
        /// The earlier results file.
        old: PathBuf,
        /// The later results file.
        new: PathBuf,
    },
    /// Combine results made on several machines into one results file.
    Merge {
        /// The results files to combine.
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Where to write the merged results.
        #[arg(long)]
        out: PathBuf,
    },
    /// State-transition fuzzing: random programs and operations, predicted from spec/, run on
    /// every column asked; findings are shrunk and written under cases/regressions/.
    Fuzz {
        /// Columns whose name contains this text (all when not given).
        #[arg(long)]
        runtime: Vec<String>,
        /// How long to run.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// The campaign seed (printed; a fresh one when not given).
        #[arg(long)]
        seed: Option<u64>,
        /// Stop after this many generated programs.
        #[arg(long)]
        cases: Option<usize>,
        /// Subject kinds: generator, coroutine, iterable_coroutine, async_generator.
        #[arg(long)]
        kind: Vec<String>,
        /// Where findings are written as case files (default: cases/regressions/).
        #[arg(long)]
        regressions: Option<PathBuf>,
        /// Leave out the columns with the reference implementation loaded.
        #[arg(long)]
        no_reference: bool,
        /// Generate nothing: run the case files under this path (a regression) on the columns
        /// and explain every check that fails.
        #[arg(long)]
        replay: Option<PathBuf>,
    },
    /// Measure the matrix against the floor of starting the interpreters; writes reports/bench.json.
    /// `introspec bench fuzz` measures the fuzzer against Hypothesis instead.
    Bench {
        #[command(subcommand)]
        what: Option<BenchWhat>,
        /// Worker threads (default: every core).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Corpus multiplication factors for the scale measurement.
        #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
        scale: Vec<usize>,
        /// Seconds of repeated runs per runtime for the case-steps rate.
        #[arg(long, default_value_t = 1.0)]
        rate_seconds: f64,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Transitions executed and checked per second per runtime, against a Hypothesis
    /// RuleBasedStateMachine doing the same checks in the same interpreter.
    Fuzz {
        /// Columns whose name contains this text (every runtime's base column when not given).
        #[arg(long)]
        runtime: Vec<String>,
        /// Seconds of each measurement.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

/// Held while the results file is written: a second Ctrl-C, which quits at once, waits for it.
static RESULTS_WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = project_root(cli.root.as_deref());
    match cli.command {
        Command::Runtimes => runtimes(&root),
        Command::Check => check(&root),
        Command::Report { results, out } => report_cmd::report(&root, results, out),
        Command::Compare { old, new } => report_cmd::compare(&old, &new),
        Command::Merge { files, out } => report_cmd::merge(&files, &out),
        Command::Run {
            jobs,
            column,
            case,
            out,
            no_reference,
        } => run(&root, jobs, &column, &case, out, no_reference),
        Command::Fuzz {
            runtime,
            replay: Some(path),
            no_reference,
            ..
        } => match introspec_fuzz::cli::replay(&root, &path, &runtime, no_reference) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Fuzz {
            runtime,
            seconds,
            seed,
            cases,
            kind,
            regressions,
            no_reference,
            ..
        } => {
            let opts = introspec_fuzz::cli::FuzzOptions {
                runtimes: runtime,
                seconds,
                seed,
                cases,
                kinds: kind,
                regressions: regressions.unwrap_or_else(|| root.join("cases/regressions")),
                no_reference,
            };
            match introspec_fuzz::cli::fuzz(&root, &opts) {
                Ok(false) => ExitCode::SUCCESS,
                Ok(true) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Bench {
            what: Some(BenchWhat::Fuzz { runtime, seconds }),
            ..
        } => match introspec_fuzz::bench::bench(&root, &runtime, seconds) {
            Ok(ok) => {
                if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Bench {
            jobs,
            scale,
            rate_seconds,
            ..
        } => bench(&root, jobs, scale, rate_seconds),
    }
}

fn bench(
    root: &std::path::Path,
    jobs: Option<usize>,
    factors: Vec<usize>,
    rate_seconds: f64,
) -> ExitCode {
    let opts = introspec_bench::Options {
        jobs: jobs.unwrap_or_else(default_jobs),
        factors,
        rate_seconds,
    };
    match introspec_bench::run(root, &opts, &|m| eprintln!("{m}")) {
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

fn load(root: &std::path::Path) -> Result<Project, ExitCode> {
    Project::load(root).map_err(|d| {
        eprintln!("{d}");
        ExitCode::from(2)
    })
}

fn check(root: &std::path::Path) -> ExitCode {
    let project = match load(root) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let c = &project.corpus;
    for d in &c.diagnostics {
        eprintln!("{d}");
    }
    println!(
        "spec: {} features, {} kinds, {} observables, {} layers; cases: {} valid in {} files, {} deviation records, {} problems",
        project.spec.features.len(),
        project.spec.kinds.len(),
        project.spec.observables.len(),
        project.spec.layers.len(),
        c.cases.len(),
        c.files,
        c.deviations.len() + c.cases.iter().map(|x| x.deviations.len()).sum::<usize>(),
        c.diagnostics.len()
    );
    if c.diagnostics.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn runtimes(root: &std::path::Path) -> ExitCode {
    let project = match load(root) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let d = project.discover();
    println!(
        "{:<22} {:<9} {:<7} {:<10} {:<18} path",
        "column", "observer", "ref", "build", "found by"
    );
    for rt in &d.runtimes {
        let obs = introspec_worker::Observer::preferred(&rt.identity);
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
    // built on first use into the cache directory (see introspec_worker::default_cache), compiled/
    let compilers = columns::compilers_enabled();
    for rt in &d.runtimes {
        for compiler in &compilers {
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

fn run(
    root: &std::path::Path,
    jobs: Option<usize>,
    only_columns: &[String],
    only_cases: &[String],
    out: Option<PathBuf>,
    no_reference: bool,
) -> ExitCode {
    let started = Instant::now();
    let mut project = match load(root) {
        Ok(p) => p,
        Err(c) => return c,
    };
    for d in &project.corpus.diagnostics {
        eprintln!("{d}");
    }
    let dropped_input: Vec<String> = project
        .corpus
        .diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect();
    if !only_cases.is_empty() {
        project
            .corpus
            .cases
            .retain(|c| only_cases.iter().any(|f| c.id.contains(f.as_str())));
    }
    let discovery = project.discover();
    for u in &discovery.unusable {
        eprintln!(
            "unusable runtime {} ({}): {}",
            u.path.display(),
            u.found_by,
            u.why
        );
    }
    for a in &discovery.absent {
        eprintln!("absent runtime {}: install it with `{}`", a.name, a.install);
    }
    let mut cols = columns::all(&discovery.runtimes, &project.cache);
    if no_reference {
        cols.retain(|c| !c.reference);
    }
    if !only_columns.is_empty() {
        cols.retain(|c| only_columns.iter().any(|f| c.name.contains(f.as_str())));
    }
    let session = Session::new(&project, cols);
    let stop = session.stop.clone();
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            // quitting at once drops no worker: kill each, and what its cases started
            introspec_worker::procs::kill_all();
            // never in the middle of writing the results (which is atomic, and short): a
            // temporary file would be left beside them
            let _writing = RESULTS_WRITE.lock();
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping the workers and writing the results so far (Ctrl-C again to quit at once)");
    });
    let jobs = jobs.unwrap_or_else(default_jobs);
    eprintln!(
        "introspec: {} cases × {} columns, {} jobs",
        session.compiled.len(),
        session.columns.len(),
        jobs
    );
    session.run_all(jobs, &|done, total, trials| {
        eprintln!(
            "[{done}/{total} columns] {trials} trials, {:.1} s",
            started.elapsed().as_secs_f64()
        );
    });
    let interrupted = session.stop.load(Ordering::SeqCst);
    session.kill_all();
    let results = session.results(&discovery, &git_commit(root), interrupted);
    print_summary(&results);
    let out = out.unwrap_or_else(|| root.join("reports/results/latest.json"));
    // atomic: an interrupt while writing leaves the previous results whole; a second Ctrl-C
    // waits for the write to end (RESULTS_WRITE) before it quits
    let written = {
        let _writing = RESULTS_WRITE.lock();
        introspec_cache::write_atomic(
            &out,
            serde_json::to_string_pretty(&results).unwrap().as_bytes(),
        )
    };
    match written {
        Ok(()) => eprintln!(
            "results: {} ({:.1} s)",
            out.display(),
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("cannot write {}: {e}", out.display());
            return ExitCode::from(2);
        }
    }
    // the reports are the whole matrix's: a run narrowed to some columns or cases (or
    // written elsewhere) leaves them alone; `introspec report --results FILE` makes its own
    let whole = only_columns.is_empty()
        && only_cases.is_empty()
        && !interrupted
        && out == root.join("reports/results/latest.json");
    if whole {
        if let Err(code) = report_cmd::write(root, &results, &root.join("reports")) {
            return code;
        }
    } else {
        eprintln!("reports/ left as it was (a narrowed or interrupted run); `introspec report --results {}` writes reports from it", out.display());
    }
    if interrupted {
        return ExitCode::from(130);
    }
    if results.trials.iter().any(|t| t.status.fails_run()) {
        ExitCode::from(1)
    } else if !dropped_input.is_empty() {
        // a case file that failed to load is input silently dropped: it fails the run
        eprintln!(
            "{} input problem(s) above: the cases they name were not run (`introspec check` lists them)",
            dropped_input.len()
        );
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runtimes × result states, with every problem listed below.
fn print_summary(r: &Results) {
    let states = Status::ALL;
    print!("{:<24}", "column");
    for s in states {
        print!("{:>8}", s.name());
    }
    println!("{:>8}", "total");
    for col in &r.columns {
        print!("{:<24}", col.name);
        let trials: Vec<_> = r.trials.iter().filter(|t| t.column == col.name).collect();
        for s in states {
            print!("{:>8}", trials.iter().filter(|t| t.status == s).count());
        }
        println!("{:>8}", trials.len());
    }
    let bad: Vec<_> = r.trials.iter().filter(|t| t.status.fails_run()).collect();
    if !bad.is_empty() {
        println!("\n{} trials need attention:", bad.len());
        for t in bad.iter().take(40) {
            println!(
                "  {} {}::{} {}",
                t.status.name(),
                t.column,
                t.case,
                t.reason
                    .clone()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
        if bad.len() > 40 {
            println!("  … and {} more (see the results file)", bad.len() - 40);
        }
    }
}
