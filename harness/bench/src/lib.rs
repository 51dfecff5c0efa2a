//! `introspec bench`: on the machine it runs on, in one run,
//! (a) the floor: starting each runtime found and importing `inspect` and `asyncio`, once,
//!     with the harness's parallelism;
//! (b) `introspec run` over every case and every interpreter column;
//! the ratio (b)/(a); cases checked per second per runtime with the worker already started;
//! peak memory of the harness and of each worker; and the cost as the corpus grows
//! (generated copies of every case, ×10 and ×100), fitted to a line.

pub mod cold;
pub mod local_loop;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use introspec_cases::{Case, Corpus};
use introspec_judge::Trial;
use introspec_runner::{columns, Column, Project, Session, Settings};
use introspec_worker::{RunOutcome, Worker};
use serde::Serialize;

/// Everything measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub commit: String,
    pub jobs: usize,
    pub floor: Floor,
    pub matrix: Timed,
    /// matrix wall / floor wall.
    pub ratio: f64,
    pub rates: Vec<Rate>,
    pub scale: Vec<ScalePoint>,
    /// Least-squares fit of the scale points: wall ≈ intercept + slope × trials.
    pub scale_fit: Fit,
    pub harness_peak_rss_kib: u64,
    /// `--cold`: the first run of a new user, measured (see [`cold`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold: Option<cold::Cold>,
    /// `introspec run --python PATH` warm, on the newest CPython read by the PyO3 observer
    /// (see [`local_loop`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_loop: Option<local_loop::LocalLoop>,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_kib: u64,
}

#[derive(Debug, Serialize)]
pub struct Floor {
    pub wall_s: f64,
    pub per_runtime: Vec<(String, f64)>,
}

#[derive(Debug, Serialize)]
pub struct Timed {
    pub wall_s: f64,
    pub columns: usize,
    pub trials: usize,
}

/// Case-steps checked per second on one runtime with its worker started.
#[derive(Debug, Serialize)]
pub struct Rate {
    pub column: String,
    pub observer: String,
    pub cases: usize,
    pub steps: usize,
    pub reads_per_snapshot: usize,
    pub seconds: f64,
    pub steps_per_s: f64,
    pub cases_per_s: f64,
    pub worker_peak_rss_kib: u64,
}

#[derive(Debug, Serialize)]
pub struct ScalePoint {
    pub factor: usize,
    pub trials: usize,
    pub wall_s: f64,
}

#[derive(Debug, Serialize)]
pub struct Fit {
    pub intercept_s: f64,
    pub slope_us_per_trial: f64,
}

/// Options.
pub struct Options {
    pub jobs: usize,
    pub factors: Vec<usize>,
    /// Seconds of repeated runs per runtime for the rate.
    pub rate_seconds: f64,
    /// Measure the cold path too (minutes: a Rust build and every compiled column from empty).
    pub cold: Option<cold::ColdOptions>,
    /// The `introspec` binary, for the local-loop figure (`None`: not measured).
    pub exe: Option<std::path::PathBuf>,
}

fn interpreter_columns(project: &Project) -> (introspec_runtimes::Discovery, Vec<Column>) {
    let d = project.discover();
    let cols = columns::all(&d.runtimes, &project.cache, &project.settings.compilers);
    (d, cols)
}

/// (a) Start each runtime and import inspect and asyncio, with `jobs` at a time.
pub fn floor(runtimes: &[introspec_runtimes::Runtime], jobs: usize) -> Floor {
    let next = Mutex::new(0usize);
    let out = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(rt) = runtimes.get(i) else { return };
                let t = Instant::now();
                let _ = Command::new(&rt.path)
                    .args([
                        "-c",
                        "import inspect\ntry:\n    import asyncio\nexcept ImportError:\n    pass",
                    ])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                out.lock()
                    .unwrap()
                    .push((rt.name.clone(), t.elapsed().as_secs_f64()));
            });
        }
    });
    let wall = start.elapsed().as_secs_f64();
    let mut per = out.into_inner().unwrap();
    per.sort_by(|a, b| a.0.cmp(&b.0));
    Floor {
        wall_s: wall,
        per_runtime: per,
    }
}

/// (b) The whole matrix, as `introspec run` does it.
pub fn matrix(project: &Project, cols: Vec<Column>, jobs: usize) -> Timed {
    let start = Instant::now();
    let n = cols.len();
    let session = Session::new(project, cols);
    let order = session.run_all(jobs, &|_| {});
    Timed {
        wall_s: start.elapsed().as_secs_f64(),
        columns: n,
        trials: order.len(),
    }
}

/// Case-steps per second on one column, the worker started beforehand (not timed).
pub fn rate(project: &Project, col: &Column, seconds: f64) -> Option<Rate> {
    let session = Session::new(project, vec![col.clone()]);
    let spec = introspec_runner::worker_spec_for(
        col,
        &project.cache,
        vec![],
        project.settings.memory_limit,
    );
    let mut worker = Worker::start(&spec, Duration::from_secs(30)).ok()?;
    let applicable: Vec<usize> = (0..session.compiled.len())
        .filter(|c| session.skip_reason(*c, 0).is_none())
        .collect();
    if applicable.is_empty() {
        return None;
    }
    let facts = col.facts();
    let avail = col.availability();
    let (mut cases, mut steps) = (0usize, 0usize);
    let reads = session.compiled[applicable[0]].request.targets[0]
        .reads
        .len();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds {
        // pipelined as `introspec run` does: a window of requests, then their answers
        for window in applicable.chunks(32) {
            for &c in window {
                let _ = worker.send_line(&session.compiled[c].line);
            }
            for &c in window {
                let case = session.case(c);
                let compiled = &session.compiled[c];
                match worker.receive(&compiled.request.id, Duration::from_secs(10)) {
                    RunOutcome::Done(r) => {
                        let trial = Trial {
                            spec: &project.spec,
                            case,
                            plan: &compiled.plan,
                            column: &facts,
                            availability: &avail,
                            deviations: project.corpus.deviations_for(case).collect(),
                        };
                        let _ = trial.judge(&r);
                        steps += r.steps.len();
                    }
                    _ => return None,
                }
                cases += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let rss = peak_rss_of(worker.pid());
    Some(Rate {
        column: col.name.clone(),
        observer: col.observer.name().into(),
        cases,
        steps,
        reads_per_snapshot: reads,
        seconds: secs,
        steps_per_s: steps as f64 / secs,
        cases_per_s: cases as f64 / secs,
        worker_peak_rss_kib: rss,
    })
}

/// Peak resident memory (VmHWM) of a live process, in KiB.
pub fn peak_rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Peak resident memory of the largest child process this process waited for (and of their
/// children that they waited for), in KiB. An upper bound: a child's figure includes the
/// parent's resident set at the fork (see [`own_peak_rss`]).
pub fn children_peak_rss() -> u64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss as u64
}

/// Peak resident memory of this process since it started its program, in KiB: the kernel's
/// VmHWM. (`getrusage(RUSAGE_SELF)` is not that: Linux carries the resident peak of the
/// process image before `exec` into `ru_maxrss`, so a harness started by a large parent
/// reports the parent's peak.)
pub fn own_peak_rss() -> u64 {
    let hwm = peak_rss_of(std::process::id());
    if hwm > 0 {
        return hwm;
    }
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss as u64
}

/// CPU time (user + system) of this process so far.
pub fn own_cpu() -> std::time::Duration {
    cpu_of(libc::RUSAGE_SELF)
}

/// CPU time (user + system) of every child process this process has reaped so far (workers
/// and build steps, with the processes they reaped in turn).
pub fn children_cpu() -> std::time::Duration {
    cpu_of(libc::RUSAGE_CHILDREN)
}

fn cpu_of(who: libc::c_int) -> std::time::Duration {
    // SAFETY: rusage is plain data that getrusage fills; zeroed is a valid value of it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru points to a live local.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| {
        std::time::Duration::new(t.tv_sec as u64, (t.tv_usec as u32).saturating_mul(1000))
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A corpus made of `factor` generated copies of every case (ids suffixed `.copyN`). A copy
/// keeps the known deviations of its original (they become its own, as if written in the
/// case: `cases/deviations/` name cases by id, which a copy's id no longer matches), so that
/// a known hang waits its `hang_confirmed_ms` in every copy, as in the original, and each
/// copy costs what its original costs.
pub fn multiplied(corpus: &Corpus, factor: usize) -> Corpus {
    let mut cases: Vec<Case> = Vec::with_capacity(corpus.cases.len() * factor);
    for k in 0..factor {
        for c in &corpus.cases {
            let mut copy = c.clone();
            if k > 0 {
                copy.id = format!("{}.copy{k}", c.id);
                copy.deviations.clear();
                // those of `cases/deviations/` whose glob no longer matches the copy's id
                let still: Vec<&introspec_cases::Deviation> =
                    corpus.deviations_for(&copy).collect();
                copy.deviations = corpus
                    .deviations_for(c)
                    .filter(|d| !still.iter().any(|s| std::ptr::eq(*s, *d)))
                    .map(|d| introspec_cases::Deviation {
                        cases: "*".into(),
                        ..d.clone()
                    })
                    .collect();
            }
            cases.push(copy);
        }
    }
    Corpus {
        cases,
        deviations: corpus.deviations.clone(),
        diagnostics: vec![],
        warnings: vec![],
        files: corpus.files,
    }
}

fn fit(points: &[ScalePoint]) -> Fit {
    let n = points.len() as f64;
    if points.len() < 2 {
        return Fit {
            intercept_s: 0.0,
            slope_us_per_trial: 0.0,
        };
    }
    let mx = points.iter().map(|p| p.trials as f64).sum::<f64>() / n;
    let my = points.iter().map(|p| p.wall_s).sum::<f64>() / n;
    let sxy: f64 = points
        .iter()
        .map(|p| (p.trials as f64 - mx) * (p.wall_s - my))
        .sum();
    let sxx: f64 = points.iter().map(|p| (p.trials as f64 - mx).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    Fit {
        intercept_s: my - slope * mx,
        slope_us_per_trial: slope * 1e6,
    }
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    Machine {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu,
        memory_kib,
    }
}

/// Run every measurement.
pub fn run(
    root: &Path,
    settings: &Settings,
    opts: &Options,
    log: &dyn Fn(&str),
) -> Result<Report, String> {
    let mut project = Project::load(root, settings).map_err(|d| d.to_string())?;
    let (discovery, all_cols) = interpreter_columns(&project);
    let interp_cols: Vec<Column> = all_cols
        .iter()
        .filter(|c| c.compiler.is_none())
        .cloned()
        .collect();
    log("warming up: one pass so that caches (observers on disk, page cache) are as a warm run has them");
    let _ = matrix(&project, interp_cols.clone(), opts.jobs);
    log("(a) the floor: start each runtime and import inspect and asyncio");
    let floor = floor(&discovery.runtimes, opts.jobs);
    log("(b) the whole matrix");
    let m = matrix(&project, interp_cols.clone(), opts.jobs);
    let ratio = m.wall_s / floor.wall_s.max(1e-9);
    log("rates: case-steps per second per runtime, worker started");
    let mut rates = Vec::new();
    for col in interp_cols.iter().filter(|c| !c.reference) {
        if let Some(r) = rate(&project, col, opts.rate_seconds) {
            log(&format!("  {}: {:.0} steps/s", r.column, r.steps_per_s));
            rates.push(r);
        }
    }
    log("scale: the corpus multiplied");
    let original = std::mem::take(&mut project.corpus);
    let mut scale = Vec::new();
    for &f in &opts.factors {
        project.corpus = multiplied(&original, f);
        let t = matrix(&project, interp_cols.clone(), opts.jobs);
        log(&format!("  ×{f}: {} trials in {:.2} s", t.trials, t.wall_s));
        scale.push(ScalePoint {
            factor: f,
            trials: t.trials,
            wall_s: t.wall_s,
        });
    }
    project.corpus = original;
    let scale_fit = fit(&scale);
    let harness_peak_rss_kib = own_peak_rss();
    let cold = match &opts.cold {
        Some(c) => Some(cold::cold(root, c, log)?),
        None => None,
    };
    let local_loop = match (&opts.exe, local_loop_python(&discovery.runtimes)) {
        (Some(exe), Some(python)) => Some(local_loop::local_loop(
            root,
            &local_loop::LocalLoopOptions {
                exe: exe.clone(),
                python,
                repeats: 5,
                scratch: std::env::temp_dir()
                    .join(format!("introspec-bench-local-{}", std::process::id())),
            },
            log,
        )?),
        _ => None,
    };
    Ok(Report {
        machine: machine(),
        commit: introspec_runner::git_commit(root),
        jobs: opts.jobs,
        floor,
        matrix: m,
        ratio,
        rates,
        scale,
        scale_fit,
        harness_peak_rss_kib,
        cold,
        local_loop,
    })
}

/// The interpreter of the local-loop figure: the newest CPython (default build) with a
/// `+ref` column.
pub fn local_loop_python(runtimes: &[introspec_runtimes::Runtime]) -> Option<std::path::PathBuf> {
    runtimes
        .iter()
        .filter(|r| r.identity.implementation == "cpython")
        .filter(|r| !r.identity.free_threaded && !r.identity.debug)
        .filter(|r| introspec_worker::reference_supports(&r.identity).is_ok())
        .max_by_key(|r| r.identity.version.clone())
        .map(|r| r.path.clone())
}

/// The human table.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "machine: {} cores, {}, {} MiB; commit {}; jobs {}",
        r.machine.cores,
        r.machine.cpu,
        r.machine.memory_kib / 1024,
        r.commit,
        r.jobs
    );
    let _ = writeln!(
        s,
        "(a) floor, start every runtime + import inspect, asyncio: {:.3} s",
        r.floor.wall_s
    );
    let _ = writeln!(
        s,
        "(b) whole matrix ({} columns, {} trials): {:.3} s",
        r.matrix.columns, r.matrix.trials, r.matrix.wall_s
    );
    let _ = writeln!(s, "ratio (b)/(a): {:.2}  (target ≤ 2)", r.ratio);
    let _ = writeln!(
        s,
        "\n{:<22} {:<9} {:>10} {:>10} {:>12} {:>10} {:>12}",
        "runtime", "observer", "cases", "steps", "steps/s", "reads", "worker peak"
    );
    for x in &r.rates {
        let _ = writeln!(
            s,
            "{:<22} {:<9} {:>10} {:>10} {:>12.0} {:>10} {:>9} MiB",
            x.column,
            x.observer,
            x.cases,
            x.steps,
            x.steps_per_s,
            x.reads_per_snapshot,
            x.worker_peak_rss_kib / 1024
        );
    }
    let _ = writeln!(s, "\nscale:");
    for p in &r.scale {
        let _ = writeln!(
            s,
            "  ×{:<4} {:>8} trials {:>8.3} s",
            p.factor, p.trials, p.wall_s
        );
    }
    let _ = writeln!(
        s,
        "  fit: wall ≈ {:.3} s + {:.2} µs × trials",
        r.scale_fit.intercept_s, r.scale_fit.slope_us_per_trial
    );
    let _ = writeln!(
        s,
        "harness peak memory: {} MiB",
        r.harness_peak_rss_kib / 1024
    );
    if let Some(l) = &r.local_loop {
        s.push_str(&local_loop::render(l));
    }
    if let Some(c) = &r.cold {
        render_cold(&mut s, c);
    }
    s
}

fn render_cold(s: &mut String, c: &cold::Cold) {
    use std::fmt::Write as _;
    let _ = writeln!(s, "\ncold (empty target directory and cache):");
    let _ = writeln!(
        s,
        "  rust build                         {:>8.1} s",
        c.rust_build_s
    );
    let _ = writeln!(
        s,
        "  interpreter columns                {:>8.1} s   with the build {:>8.1} s (target 240)",
        c.interpreters_cold_s, c.interpreters_with_build_s
    );
    let _ = writeln!(
        s,
        "  every column                       {:>8.1} s   with the build {:>8.1} s (target 600)",
        c.whole_cold_s, c.whole_with_build_s
    );
    let _ = writeln!(
        s,
        "  warm, every column (median of {})   {:>8.1} s (target 20)",
        c.warm_s.runs, c.warm_s.median
    );
    let _ = writeln!(
        s,
        "  warm, interpreter columns          {:>8.1} s (target 5)",
        c.warm_interpreters_s.median
    );
    let _ = writeln!(
        s,
        "  peak memory: harness {} MiB (target 500), largest child {} MiB",
        c.harness_peak_mib, c.largest_child_peak_mib
    );
    let _ = writeln!(s, "  build steps (wall s; columns build two at a time):");
    for b in &c.builds {
        let _ = writeln!(s, "    {:<22} {:<40} {:>7.1}", b.runtime, b.step, b.seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of a case has the known deviations of its original: the scale measurement
    /// times the same work in every copy (a known hang waits its confirmation time, not the
    /// whole timeout).
    #[test]
    fn copies_keep_the_deviations_of_their_original() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let spec = introspec_spec::Spec::load(&root.join("spec")).unwrap();
        let corpus = Corpus::load(&root.join("cases"), &spec);
        let n = corpus.cases.len();
        let doubled = multiplied(&corpus, 2);
        assert_eq!(doubled.cases.len(), 2 * n);
        let mut with_deviations = 0;
        for (original, copy) in doubled.cases[..n].iter().zip(&doubled.cases[n..]) {
            assert_eq!(copy.id, format!("{}.copy1", original.id));
            // the same deviations (in another order: a copy's are its own, listed first)
            let set = |c: &Case| -> std::collections::BTreeSet<(String, usize)> {
                doubled
                    .deviations_for(c)
                    .map(|d| (d.reason.clone(), d.line))
                    .collect()
            };
            let (a, b) = (set(original), set(copy));
            assert_eq!(a, b, "{}", copy.id);
            with_deviations += usize::from(!a.is_empty());
        }
        assert!(
            with_deviations > 10,
            "the corpus has cases with known deviations"
        );
    }
}
