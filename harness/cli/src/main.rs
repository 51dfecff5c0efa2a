//! `introspec`: the conformance suite's command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

use clap::{Parser, Subcommand};
use introspec::{default_jobs, project_root};
use introspec_judge::Status;
use introspec_runner::{columns, git_commit, Project, Results, RunEvent, Session, Settings};

mod progress;
mod report_cmd;
mod testsuites_cmd;
mod usage_cmd;

/// mimalloc: the harness allocates and frees many small strings per case (cases, checks,
/// decoded results) across threads, where glibc's allocator spent a third of the fuzzer's
/// time (perf, `introspec fuzz`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every environment variable the harness reads, for `--help` (README, "Settings").
const ENVIRONMENT: &str = "\
Environment (read once, at start; a bad value stops with the variable and the fix):
  INTROSPEC_CACHE        the per-user cache directory (default $XDG_CACHE_HOME/introspec, ~/.cache/introspec)
  INTROSPEC_TIMEOUT      seconds a case may take unless it sets `timeout` (0.001 to 86400; default 10)
  INTROSPEC_MEMORY       each worker's address-space limit: 2GiB, 512MiB, bytes, or `none` (default 2GiB)
  INTROSPEC_PYTHONS      interpreters to add, by path, `:`-separated (`run --python` replaces them)
  INTROSPEC_ONLY_LISTED  set: only INTROSPEC_PYTHONS and runtimes.toml, no search of pyenv and PATH
                         (`run --python PATH` does this for its paths)
  INTROSPEC_COMPILERS    compiled columns: none, or a list of cython, mypyc, nuitka (default
                         cython,mypyc: nuitka is opt-in; with `run --python`, none unless this or
                         --compilers is given)
  INTROSPEC_INSTALL      runtimes to install into the cache on first use: rustpython, or none
  INTROSPEC_BUILD_JOBS   C compilers run at once by the compiled columns' builds (a whole number
                         above 0; default 2)
  CC                     the C compiler of those builds (default gcc)
  INTROSPEC_BUILD_LOG    set: print every build step with its time
  INTROSPEC_FUZZ_PLANT   `fuzz`: a bug planted in the model, to see the fuzzer find it
  INTROSPEC_FUZZ_TIMING  set: `bench fuzz` prints where the time goes
  PYENV_ROOT, HOME, PATH where interpreters are searched; XDG_CACHE_HOME, HOME the cache's default
  INTROSPEC_CHROMIUM     the browser that takes reports/matrix.png whenever the reports are written
                         (default chromium or chromium-browser on PATH); the report tests use it too
Set by the harness for its own processes, never by you:
INTROSPEC_WORKER_TOKEN, INTROSPEC_FAULTS_*, and at build time INTROSPEC_PYO3_OBSERVER_SO,
INTROSPEC_REFERENCE_SO, INTROSPEC_PYEXT_TARGET_DIR (harness/worker/build.rs).";

#[derive(Parser)]
#[command(
    name = "introspec",
    version,
    about = "Conformance suite for Python's generator, coroutine and async generator introspection",
    after_help = ENVIRONMENT
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
    /// Run every case on every runtime found; write reports/results/latest.json and the reports.
    ///
    /// A narrowed run (--python, --column, --case, --no-reference, INTROSPEC_ONLY_LISTED)
    /// writes its results to --out, else target/introspec/results.json, and leaves reports/
    /// alone: the committed results and reports are the whole matrix's.
    #[command(after_help = ENVIRONMENT)]
    Run {
        /// Worker threads (default: every core).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Exactly this interpreter (repeatable): its plain and +ref columns, nothing searched,
        /// INTROSPEC_PYTHONS and runtimes.toml left out; compiled columns only with --compilers
        /// or INTROSPEC_COMPILERS. `introspec run --python ./python` for a local build.
        #[arg(long, value_name = "PATH")]
        python: Vec<PathBuf>,
        /// Compiled columns to make: none, or a list of cython, mypyc, nuitka (overrides
        /// INTROSPEC_COMPILERS).
        #[arg(long, value_name = "LIST", value_parser = parse_compilers_arg)]
        compilers: Option<Compilers>,
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
        /// Record each trial's wall time in the results (JUnit shows them). Off by default:
        /// without it two runs of one commit write byte-identical results.
        #[arg(long)]
        timings: bool,
    },
    /// List the interpreters found, and why any cannot be used.
    #[command(after_help = ENVIRONMENT)]
    Runtimes {
        /// As JSON (`introspec-runtimes/1`), for a CI job matrix: every runtime with its
        /// columns, the unusable and the absent ones.
        #[arg(long)]
        json: bool,
        /// Only these interpreters, as `run --python` takes them.
        #[arg(long, value_name = "PATH")]
        python: Vec<PathBuf>,
    },
    /// Validate spec/ and cases/ without running anything.
    Check,
    /// Write the reports (matrix.md with matrix/*.md, matrix.html, matrix.json, pep-evidence.rst and its appendix) from a results file and the committed ones in reports/results/; reruns nothing.
    ///
    /// With --junit, --annotations or --summary (CI output, from any results file, merged
    /// ones too) only those are written, and the reports too when --out is given.
    Report {
        /// The results file (default: reports/results/latest.json).
        #[arg(long)]
        results: Option<PathBuf>,
        /// Where to write the reports (default: reports/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write JUnit XML here: a testsuite per column, a testcase per trial; FAIL, XPASS,
        /// FLAKY are failures, CRASH, TIMEOUT, ERROR errors, SKIP skipped, XFAIL passed with
        /// the property introspec.status=XFAIL and its deviations in system-out.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Print GitHub Actions error annotations (`::error file=cases/….toml,line=N,…`) for
        /// the trials that fail a run, at the line of the case (its failing step) in cases/.
        #[arg(long)]
        annotations: bool,
        /// Write a Markdown job summary here (for $GITHUB_STEP_SUMMARY; appended to, as
        /// GitHub expects, when the file exists).
        #[arg(long, value_name = "FILE")]
        summary: Option<PathBuf>,
    },
    /// Markdown for a review comment: the trials that changed from OLD to NEW results.
    ///
    /// Exit 0 whatever changed, unless --fail-on names a class of change that occurs: then 1.
    /// Unreadable input: 2.
    Compare {
        /// The earlier results file.
        old: PathBuf,
        /// The later results file.
        new: PathBuf,
        /// Exit 1 when a trial changed in one of these classes (comma-separated):
        /// broken (PASS, XFAIL or SKIP before; FAIL, XPASS, ERROR or FLAKY now),
        /// crashing (CRASH or TIMEOUT now, neither before),
        /// xpass (XPASS now, not before: a known deviation no longer happens),
        /// fixed (failed before; PASS or XFAIL now), skipped (SKIP now, ran before),
        /// new (only in NEW), removed (only in OLD), other (any other change of status).
        #[arg(long, value_delimiter = ',', value_name = "CLASSES")]
        fail_on: Vec<introspec_report::compare::FailOn>,
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
        /// Also measure a new user's first run: a Rust build into an empty target directory,
        /// then `introspec run` on empty caches (interpreter columns, then every column, with
        /// the build log as a profile), then warm runs. Takes as long as a first run does.
        #[arg(long)]
        cold: bool,
        /// Warm runs per warm figure of `--cold` (the median is reported).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Usage in the wild: download the packages pinned in reports/usage/packages.toml from
    /// PyPI (into the cache, sha256-checked), scan them and the pinned standard library with
    /// Python's ast for reads of the introspection attributes; writes
    /// reports/usage-in-the-wild.md and .json.
    Usage {
        /// The pin file (default: reports/usage/packages.toml).
        #[arg(long)]
        pins: Option<PathBuf>,
        /// Where to write the two reports (default: reports/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// CPython's own test suites (Lib/test: test_inspect, test_generators, test_coroutines,
    /// test_asyncgen, test_types, test_dis, test_sys_settrace, test_asyncio) on every CPython
    /// where the reference implementation loads, run by regrtest bare and with
    /// async_introspection.install() done in every process; every test case whose outcome
    /// differs is rerun once. Writes reports/cpython-test-suites.json. Runs are cached.
    CpythonTests {
        /// Only the runtimes whose column name contains this text (repeatable).
        #[arg(long)]
        runtime: Vec<String>,
        /// Only these suites (repeatable; default: all eight).
        #[arg(long)]
        suite: Vec<String>,
        /// Where to write the report (default: reports/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// The local loop alone: `introspec run --python PATH` warm (one warm-up, then the
    /// median of --repeats runs; target under 2 s), written to reports/bench-local-loop.json
    /// (`introspec bench` measures it too, into reports/bench.json's `local_loop`).
    LocalLoop {
        /// The interpreter (default: the newest CPython found that has a +ref column).
        #[arg(long, value_name = "PATH")]
        python: Option<PathBuf>,
        /// Timed runs.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
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

/// `--compilers`' value.
#[derive(Clone, Debug)]
struct Compilers(Vec<introspec_runner::Compiler>);

fn parse_compilers_arg(text: &str) -> Result<Compilers, String> {
    introspec_runner::settings::parse_compilers(text)
        .map(Compilers)
        .map_err(|why| format!("{why}; give `none`, `cython`, `mypyc` or `cython,mypyc`"))
}

/// What `introspec run` was asked: which part of the matrix, and what it records.
struct RunChoices {
    columns: Vec<String>,
    cases: Vec<String>,
    no_reference: bool,
    /// `--timings`: each trial's wall time goes into the results.
    timings: bool,
}

/// Held while the results file is written: a second Ctrl-C, which quits at once, waits for it.
static RESULTS_WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The settings, or return from the calling function with exit status 2 when one is bad.
macro_rules! settings_or_exit {
    () => {
        match settings() {
            Ok(s) => s,
            Err(code) => return code,
        }
    };
}

// after the macro, which they use
mod bench_cmd;
mod run_cmd;
mod runtimes_cmd;

fn main() -> ExitCode {
    use introspec_worker::procs;
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == procs::GUARDIAN_ARG) {
        let prefix = args.next().unwrap_or_default();
        procs::guardian_main(&prefix.to_string_lossy());
    }
    let cli = Cli::parse();
    let root = project_root(cli.root.as_deref());
    if matches!(
        cli.command,
        Command::Run { .. } | Command::Fuzz { .. } | Command::Bench { .. }
    ) {
        // whatever kills this process, even SIGKILL, what its workers' cases started dies
        // with it (worker::procs)
        let started = std::env::current_exe().and_then(|exe| procs::start_guardian(&exe));
        if let Err(e) = started {
            eprintln!("introspec: cannot start the guardian process ({e}): a SIGKILL of the harness may leave processes of its cases behind");
        }
    }
    match cli.command {
        Command::Runtimes { json, python } => runtimes_cmd::runtimes(&root, json, python),
        Command::Check => check(&root),
        Command::Report {
            results,
            out,
            junit,
            annotations,
            summary,
        } => {
            let ci = report_cmd::CiOutput {
                junit,
                annotations,
                summary,
            };
            report_cmd::report(&root, results, out, &ci, chromium().as_deref())
        }
        Command::Compare { old, new, fail_on } => report_cmd::compare(&old, &new, &fail_on),
        Command::Merge { files, out } => report_cmd::merge(&files, &out),
        Command::Usage { pins, out } => usage_cmd::usage(&root, pins, out),
        Command::CpythonTests {
            runtime,
            suite,
            out,
        } => testsuites_cmd::cpython_tests(&root, &runtime, &suite, out),
        Command::Run {
            jobs,
            python,
            compilers,
            column,
            case,
            out,
            no_reference,
            timings,
        } => {
            let settings = settings_or_exit!().with_pythons(python, compilers.map(|c| c.0));
            let narrow = RunChoices {
                columns: column,
                cases: case,
                no_reference,
                timings,
            };
            run_cmd::run(&root, settings, jobs, &narrow, out)
        }
        Command::Fuzz {
            runtime,
            replay: Some(path),
            no_reference,
            ..
        } => match introspec_fuzz::cli::replay(
            &root,
            &settings_or_exit!(),
            &path,
            &runtime,
            no_reference,
        ) {
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
            let plant = match introspec_fuzz::model::Plant::from_setting(
                std::env::var("INTROSPEC_FUZZ_PLANT").ok().as_deref(),
            ) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("INTROSPEC_FUZZ_PLANT: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = introspec_fuzz::cli::FuzzOptions {
                runtimes: runtime,
                seconds,
                seed,
                cases,
                kinds: kind,
                regressions: regressions.unwrap_or_else(|| root.join("cases/regressions")),
                no_reference,
                plant,
            };
            match introspec_fuzz::cli::fuzz(&root, &settings_or_exit!(), &opts) {
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
        } => match introspec_fuzz::bench::bench(
            &root,
            &settings_or_exit!(),
            &runtime,
            seconds,
            std::env::var_os("INTROSPEC_FUZZ_TIMING").is_some(),
        ) {
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
            what: Some(BenchWhat::LocalLoop { python, repeats }),
            ..
        } => bench_cmd::bench_local_loop(&root, python, repeats),
        Command::Bench {
            jobs,
            scale,
            rate_seconds,
            cold,
            repeats,
            ..
        } => bench_cmd::bench(&root, jobs, scale, rate_seconds, cold.then_some(repeats)),
    }
}

/// The settings from the environment, read once here, at the edge (README, "Settings").
fn settings() -> Result<Settings, ExitCode> {
    Settings::from_env_diagnosed().map_err(|d| {
        eprintln!("{d}");
        ExitCode::from(2)
    })
}

fn load(root: &std::path::Path) -> Result<Project, ExitCode> {
    load_with(root, &settings()?)
}

fn load_with(root: &std::path::Path, settings: &Settings) -> Result<Project, ExitCode> {
    Project::load(root, settings).map_err(|d| {
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
    for d in c.diagnostics.iter().chain(&c.warnings) {
        eprintln!("{d}");
    }
    println!(
        "spec: {} features, {} kinds, {} observables, {} layers; cases: {} valid in {} files, {} deviation records, {} problems, {} warnings",
        project.spec.features.len(),
        project.spec.kinds.len(),
        project.spec.observables.len(),
        project.spec.layers.len(),
        c.cases.len(),
        c.files,
        c.deviations.len() + c.cases.iter().map(|x| x.deviations.len()).sum::<usize>(),
        c.diagnostics.len(),
        c.warnings.len()
    );
    if c.diagnostics.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The browser that retakes `reports/matrix.png` (`INTROSPEC_CHROMIUM`, else `chromium` or
/// `chromium-browser` on `PATH`), read where the reports are written.
fn chromium() -> Option<PathBuf> {
    introspec_report::screenshot::find_chromium(
        std::env::var_os("INTROSPEC_CHROMIUM").map(PathBuf::from),
        std::env::var_os("PATH"),
    )
}
