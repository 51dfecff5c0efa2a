//! Running cases on columns. A [`Session`] holds the spec, the corpus compiled once, and one
//! lazily started worker per column; any number of threads may ask it for trials. A trial
//! that does not pass is run again in a fresh worker: a different outcome is FLAKY.

pub mod columns;
pub mod record;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use introspec_cases::{compile, skip_reason, Case, Corpus, Plan};
use introspec_judge::{CheckKind, Reason, Status, Trial, TrialOutcome, Verdict};
use introspec_protocol::{self as proto, CaseResult, LoadRequest};
use introspec_runtimes::Discovery;
use introspec_spec::{Diagnostics, Spec};
use introspec_worker::{RunOutcome, Worker, WorkerSpec};

pub mod settings;

pub use introspec_results::{
    results, BrokenColumn, Column, Compiler, HarnessInfo, Observer, Results, TrialRecord,
};

pub use settings::{Settings, DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT};
/// The verdict of a trial on a column that cannot run at all (its cases could not be built,
/// its worker does not start): [`Session::results`] keeps the column's one `broken` entry
/// instead of these.
fn cannot_run(column: &str, why: &str) -> Verdict {
    verdict(
        Status::Error,
        Reason::ColumnBroken {
            column: column.into(),
            why: why.into(),
        },
    )
}

fn is_cannot_run(v: &Verdict) -> bool {
    matches!(v.reason, Some(Reason::ColumnBroken { .. }))
}

/// The time an interpreter may take to start and say hello.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The project: spec, corpus, where to cache.
pub struct Project {
    pub root: PathBuf,
    pub spec: Spec,
    pub corpus: Corpus,
    pub cache: PathBuf,
    /// What the environment set (timeout, memory limit), read once at load.
    pub settings: Settings,
}

impl Project {
    /// Load `root/spec` and `root/cases`, with the settings the caller read once (the
    /// `introspec` binary and the test harnesses: [`Settings::from_env`]). A broken spec is
    /// fatal; broken cases are reported in `corpus.diagnostics` and left out.
    pub fn load(root: &Path, settings: &Settings) -> Result<Project, Diagnostics> {
        let settings = settings.clone();
        let spec = Spec::load(&root.join("spec"))?;
        let corpus = Corpus::load(&root.join("cases"), &spec);
        Ok(Project {
            root: root.to_path_buf(),
            spec,
            corpus,
            cache: settings.cache(root),
            settings,
        })
    }

    /// The runtimes on this machine (those no observer can read are unusable).
    pub fn discover(&self) -> Discovery {
        let mut opts = self.settings.discovery(&self.root);
        if opts.cache_dir.is_some() {
            opts.cache_dir = Some(self.cache.clone());
        }
        let mut d = introspec_runtimes::discover(&opts);
        introspec_worker::observers::drop_unreadable(&mut d);
        d
    }
}

/// A case compiled for the workers.
pub struct Compiled {
    pub request: proto::Case,
    /// `request` as a protocol line, encoded once.
    pub line: String,
    pub plan: Plan,
}

/// What one trial produced.
#[derive(Debug, Clone)]
pub struct TrialOutput {
    pub verdict: Verdict,
    pub result: Option<CaseResult>,
    pub duration: Duration,
    pub diverged_at: Option<usize>,
}

struct Slot {
    worker: Option<Worker>,
    /// Why the column cannot run, once known.
    broken: Option<String>,
    /// A compiled column's build, once made.
    build: Option<Arc<ColumnBuild>>,
}

/// The cases of a compiled column, built (harness/compilers).
pub struct ColumnBuild {
    /// What the worker loads: the build's finder of compiled modules.
    pub load: LoadRequest,
    /// Per case: the request line naming its compiled module, or why the case has none.
    lines: HashMap<usize, Result<String, String>>,
    /// The build itself (directory, compiler release, modules).
    pub build: introspec_compilers::Build,
}

/// What [`Session::run_all`] reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum RunEvent {
    /// A column is finished: its index, columns finished so far of all, trials recorded so far.
    Column {
        column: usize,
        done: usize,
        total: usize,
        trials: usize,
    },
    /// Every interpreter column is finished; the compiled columns come next.
    InterpretersDone,
}

/// Shared state of a run.
pub struct Session<'p> {
    pub project: &'p Project,
    pub compiled: Vec<Compiled>,
    pub columns: Vec<Column>,
    slots: Vec<Mutex<Slot>>,
    /// One per column: its whole batch has been run (see [`Session::run_column_once`]).
    batched: Vec<std::sync::Once>,
    memo: Mutex<HashMap<(usize, usize), Arc<TrialOutput>>>,
    pub default_timeout: Duration,
    /// Rerun trials that do not pass in a fresh worker (FLAKY detection).
    pub rerun_failures: bool,
    /// Set on interruption: workers stop waiting for answers and are killed, and the trials
    /// cut short are not recorded.
    pub stop: Arc<AtomicBool>,
    /// Extra environment for every worker.
    pub worker_env: Vec<(String, String)>,
    /// Record each trial's wall time in the results (`introspec run --timings`); off by
    /// default, so that two runs of one commit write byte-identical results.
    pub record_timings: bool,
    /// Keep every trial's observations (`TrialOutput::result`) after it is judged: the tests
    /// and snapshots read them; `introspec run` only needs the verdicts (set false there, so
    /// that the harness's memory does not grow with the observations of 10,000 trials).
    pub keep_observations: bool,
    /// Where the steps of the compiled columns' builds are reported as they go.
    pub on_build: Box<dyn Fn(&introspec_compilers::Progress) + Send + Sync>,
}

/// Whether a trial was cut short by an interruption: it is not a result and is never recorded.
fn interrupted(out: &TrialOutput) -> bool {
    out.result.is_none() && matches!(out.verdict.reason, Some(Reason::Interrupted))
}

impl<'p> Session<'p> {
    pub fn new(project: &'p Project, columns: Vec<Column>) -> Session<'p> {
        let compiled = project
            .corpus
            .cases
            .iter()
            .map(|c| {
                let (mut request, plan) = compile(c, &project.spec);
                if let Ok(rel) = c.file.strip_prefix(&project.root) {
                    request.origin = format!("{}:{}", rel.display(), c.line);
                }
                let line = proto::encode(&proto::Request::Run(request.clone()));
                Compiled {
                    request,
                    line,
                    plan,
                }
            })
            .collect();
        let columns_len = columns.len();
        let slots = columns
            .iter()
            .map(|_| {
                Mutex::new(Slot {
                    worker: None,
                    broken: None,
                    build: None,
                })
            })
            .collect();
        let default_timeout = project.settings.timeout;
        Session {
            project,
            compiled,
            columns,
            batched: (0..columns_len).map(|_| std::sync::Once::new()).collect(),
            slots,
            memo: Mutex::new(HashMap::new()),
            default_timeout,
            rerun_failures: true,
            stop: Arc::new(AtomicBool::new(false)),
            worker_env: vec![],
            record_timings: false,
            keep_observations: true,
            on_build: Box::new(|_| {}),
        }
    }

    pub fn case(&self, i: usize) -> &Case {
        &self.project.corpus.cases[i]
    }

    fn worker_spec(&self, col: &Column, build: Option<&ColumnBuild>) -> WorkerSpec {
        let mut spec = worker_spec_for(
            col,
            &self.project.cache,
            self.worker_env.clone(),
            self.project.settings.memory_limit,
        );
        spec.loads.extend(build.map(|b| b.load.clone()));
        spec
    }

    /// A compiled column's build: made (or found in the cache) on first use, with every case
    /// that applies to the column. A column that cannot be built is broken, with the reason.
    fn prepare(&self, slot: &mut Slot, column: usize) -> Result<Option<Arc<ColumnBuild>>, Verdict> {
        let col = &self.columns[column];
        let Some(compiler) = col.compiler else {
            return Ok(None);
        };
        if let Some(why) = &slot.broken {
            return Err(cannot_run(&col.name, why));
        }
        if let Some(b) = &slot.build {
            return Ok(Some(b.clone()));
        }
        let cases: Vec<usize> = (0..self.compiled.len())
            .filter(|c| self.skip_reason(*c, column).is_none())
            .collect();
        let sources: Vec<introspec_compilers::Source> = cases
            .iter()
            .map(|c| introspec_compilers::Source {
                id: self.compiled[*c].request.id.clone(),
                code: self.compiled[*c].request.source.clone(),
            })
            .collect();
        match introspec_compilers::build(
            &self.project.settings.build,
            &self.project.cache,
            self.builder_of(column),
            compiler,
            &sources,
            &*self.on_build,
        ) {
            Ok(build) => {
                let lines = cases
                    .iter()
                    .map(|c| {
                        let request = &self.compiled[*c].request;
                        let line = build.module(&request.id).map(|m| {
                            let mut r = request.clone();
                            r.module = Some(m.to_string());
                            proto::encode(&proto::Request::Run(r))
                        });
                        (*c, line)
                    })
                    .collect();
                let b = Arc::new(ColumnBuild {
                    load: LoadRequest {
                        module: introspec_compilers::FINDER_MODULE.into(),
                        path: Some(build.dir.display().to_string()),
                        call: Some("install".into()),
                    },
                    lines,
                    build,
                });
                slot.build = Some(b.clone());
                Ok(Some(b))
            }
            Err(e) => {
                let why = format!("the cases cannot be compiled with {}: {e}", compiler.name());
                slot.broken = Some(why.clone());
                Err(cannot_run(&col.name, &why))
            }
        }
    }

    /// The runtime that builds a compiled column's modules: one build per feature release
    /// serves each of its patch releases found ([`introspec_compilers::builder`]).
    fn builder_of(&self, column: usize) -> &introspec_runtimes::Runtime {
        introspec_compilers::builder(
            &self.columns[column].runtime,
            self.columns.iter().map(|c| &c.runtime),
        )
    }

    /// A compiled column's build, if it was made (for reports: the compiler release, the
    /// directory, each case's module or compile error).
    pub fn build_of(&self, column: usize) -> Option<Arc<ColumnBuild>> {
        self.slots[column].lock().unwrap().build.clone()
    }

    /// The request line of a case on a column: the shared one, or for a compiled column the
    /// one naming the case's compiled module; `Err` with the compiler's message when the case
    /// could not be compiled.
    fn line_for<'a>(
        &'a self,
        case: usize,
        build: Option<&'a ColumnBuild>,
    ) -> Result<&'a str, (Compiler, String)> {
        match build {
            None => Ok(&self.compiled[case].line),
            Some(b) => match b.lines.get(&case) {
                Some(Ok(line)) => Ok(line),
                Some(Err(e)) => Err((b.build.compiler, e.clone())),
                None => Err((
                    b.build.compiler,
                    format!(
                        "case `{}` was not part of the column's build",
                        self.compiled[case].request.id
                    ),
                )),
            },
        }
    }

    /// The trial of a case its column's compiler rejected: judged as a case that stopped in
    /// its compile phase, so a known deviation (`observable = "error"`) makes it XFAIL.
    fn not_compiled(
        &self,
        case: usize,
        column: usize,
        (compiler, why): (Compiler, String),
        start: Instant,
    ) -> TrialOutput {
        let result = CaseResult {
            id: self.compiled[case].request.id.clone(),
            error: Some(proto::CaseError {
                phase: "compile".into(),
                type_name: compiler.rejection_type().into(),
                msg: why,
                line: None,
            }),
            steps: vec![],
            left: vec![],
            pid: None,
        };
        self.judge_outcome(case, column, RunOutcome::Done(result), start.elapsed())
    }

    /// Why the case does not apply to the column, if it does not.
    pub fn skip_reason(&self, case: usize, column: usize) -> Option<String> {
        skip_reason(
            self.case(case),
            &self.project.spec,
            &self.columns[column].availability(),
        )
    }

    /// Keep a trial's output for [`Session::results`]; without its observations (the values
    /// every step saw, the bulk of a trial's memory) unless [`Session::keep_observations`].
    /// What the results still read of the result (its error, what the case left behind) is kept.
    fn remember(&self, case: usize, column: usize, out: Arc<TrialOutput>) {
        let out = match &out.result {
            Some(r) if !self.keep_observations && !r.steps.is_empty() => Arc::new(TrialOutput {
                verdict: out.verdict.clone(),
                result: Some(CaseResult {
                    id: r.id.clone(),
                    error: r.error.clone(),
                    steps: vec![],
                    left: r.left.clone(),
                    pid: None,
                }),
                duration: out.duration,
                diverged_at: out.diverged_at,
            }),
            _ => out,
        };
        self.memo.lock().unwrap().insert((case, column), out);
    }

    /// Run (or recall) one trial.
    pub fn trial(&self, case: usize, column: usize) -> Arc<TrialOutput> {
        if let Some(t) = self.memo.lock().unwrap().get(&(case, column)) {
            return t.clone();
        }
        let out = Arc::new(self.run_trial(case, column));
        if !interrupted(&out) {
            self.remember(case, column, out.clone());
        }
        out
    }

    fn run_trial(&self, case: usize, column: usize) -> TrialOutput {
        let start = Instant::now();
        if let Some(why) = self.skip_reason(case, column) {
            return TrialOutput {
                verdict: verdict(Status::Skip, why),
                result: None,
                duration: start.elapsed(),
                diverged_at: None,
            };
        }
        let first = self.execute(case, column, false);
        self.finish(case, column, first)
    }

    /// A trial that did not pass is run again in a fresh worker: a different outcome is FLAKY.
    fn finish(&self, case: usize, column: usize, first: TrialOutput) -> TrialOutput {
        if interrupted(&first) {
            return first;
        }
        if !self.rerun_failures
            || !first.verdict.status.fails_run()
            || first.verdict.status == Status::Error && first.result.is_some()
        {
            return first;
        }
        let second = self.execute(case, column, true);
        if interrupted(&second) {
            return second;
        }
        if second.verdict.status != first.verdict.status
            || failing(&second.verdict) != failing(&first.verdict)
        {
            let step = failing(&first.verdict)
                .into_iter()
                .zip(failing(&second.verdict))
                .find(|(a, b)| a != b)
                .map(|(a, b)| a.0.min(b.0))
                .or_else(|| {
                    failing(&first.verdict)
                        .first()
                        .or(failing(&second.verdict).first())
                        .map(|x| x.0)
                })
                .or_else(|| divergence(first.result.as_ref(), second.result.as_ref()));
            let why = format!(
                "first run {}{}, rerun in a fresh worker {}{}",
                first.verdict.status.name(),
                first
                    .verdict
                    .reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                second.verdict.status.name(),
                step.map(|s| format!("; the runs diverged at step {s}"))
                    .unwrap_or_default()
            );
            let mut v = first.verdict.clone();
            v.status = Status::Flaky;
            v.reason = Some(Reason::Text(why));
            return TrialOutput {
                verdict: v,
                result: first.result,
                duration: first.duration,
                diverged_at: step,
            };
        }
        first
    }

    /// Send the case to the column's worker (or to a fresh, throw-away one), judge the answer.
    fn execute(&self, case: usize, column: usize, fresh: bool) -> TrialOutput {
        let start = Instant::now();
        let col = &self.columns[column];
        let compiled = &self.compiled[case];
        let timeout = self.timeout_of(case, column);
        if fresh {
            let build = self.build_of(column);
            let line = match self.line_for(case, build.as_deref()) {
                Ok(l) => l,
                Err(why) => return self.not_compiled(case, column, why, start),
            };
            return match Worker::start(&self.worker_spec(col, build.as_deref()), START_TIMEOUT) {
                Ok(mut w) => {
                    w.watch(&self.stop);
                    let outcome = w.run_encoded(&compiled.request.id, line, timeout);
                    self.judge_outcome(case, column, outcome, start.elapsed())
                }
                Err(e) => TrialOutput {
                    verdict: cannot_run(&col.name, &e.0),
                    result: None,
                    duration: start.elapsed(),
                    diverged_at: None,
                },
            };
        }
        let mut slot = self.slots[column].lock().unwrap();
        let build = match self.prepare(&mut slot, column) {
            Ok(b) => b,
            Err(v) => {
                return TrialOutput {
                    verdict: v,
                    result: None,
                    duration: start.elapsed(),
                    diverged_at: None,
                }
            }
        };
        let line = match self.line_for(case, build.as_deref()) {
            Ok(l) => l,
            Err(why) => {
                drop(slot);
                return self.not_compiled(case, column, why, start);
            }
        };
        if let Err(v) = self.ensure_worker(&mut slot, column) {
            return TrialOutput {
                verdict: v,
                result: None,
                duration: start.elapsed(),
                diverged_at: None,
            };
        }
        let worker = slot.worker.as_mut().unwrap();
        let outcome = worker.run_encoded(&compiled.request.id, line, timeout);
        if !reusable(&outcome) {
            slot.worker = None;
        }
        drop(slot);
        self.judge_outcome(case, column, outcome, start.elapsed())
    }

    /// The time a case may take on a column: its own timeout (or the default), shortened to
    /// a known deviation's `hangs_after` where the case is known to hang on the column.
    fn timeout_of(&self, case: usize, column: usize) -> Duration {
        let c = self.case(case);
        let own = c
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.default_timeout);
        let facts = self.columns[column].facts();
        self.project
            .corpus
            .deviations_for(c)
            .filter(|d| d.when.matches(&facts))
            .filter_map(|d| d.hang_confirmed_ms.map(Duration::from_millis))
            .fold(own, Duration::min)
    }

    /// Start the column's worker if it has none (or a dead one); a compiled column's cases
    /// are built first.
    fn ensure_worker(&self, slot: &mut Slot, column: usize) -> Result<(), Verdict> {
        let col = &self.columns[column];
        let build = self.prepare(slot, column)?;
        if let Some(why) = &slot.broken {
            return Err(cannot_run(&col.name, why));
        }
        if slot.worker.as_ref().is_none_or(|w| !w.is_alive()) {
            slot.worker = None;
            match Worker::start(&self.worker_spec(col, build.as_deref()), START_TIMEOUT) {
                Ok(mut w) => {
                    w.watch(&self.stop);
                    slot.worker = Some(w);
                }
                Err(e) => {
                    slot.broken = Some(e.0.clone());
                    return Err(cannot_run(&col.name, &e.0));
                }
            }
        }
        Ok(())
    }
    fn judge_outcome(
        &self,
        case: usize,
        column: usize,
        outcome: RunOutcome,
        duration: Duration,
    ) -> TrialOutput {
        let col = &self.columns[column];
        let c = self.case(case);
        let compiled = &self.compiled[case];
        let trial = Trial {
            spec: &self.project.spec,
            case: c,
            plan: &compiled.plan,
            column: &col.facts(),
            availability: &col.availability(),
            deviations: self.project.corpus.deviations_for(c).collect(),
        };
        let (v, result) = judge_run(
            &trial,
            outcome,
            self.timeout_of(case, column),
            self.project.settings.memory_limit,
        );
        TrialOutput {
            verdict: v,
            result,
            duration,
            diverged_at: None,
        }
    }

    /// Record the verdict of a trial that was not sent to any worker (skipped, or its
    /// column cannot start).
    fn record_unrun(&self, case: usize, column: usize, verdict: Verdict) {
        let out = TrialOutput {
            verdict,
            result: None,
            duration: Duration::ZERO,
            diverged_at: None,
        };
        self.remember(case, column, Arc::new(out));
    }

    /// Run the column's whole batch the first time any caller asks, in corpus order, as
    /// `introspec run` does; later calls return at once. A test harness that runs trials in
    /// any order calls this first, so that what a worker has imported before a case (which
    /// matters to compiled modules sharing one library) is the same in every run.
    pub fn run_column_once(&self, column: usize) {
        self.batched[column].call_once(|| {
            self.run_column(column);
        });
    }

    /// Run every case not yet run on one column, pipelining up to `WINDOW` requests to its
    /// worker. A crash or a timeout costs that case; the worker is restarted and the cases
    /// sent after it are sent again.
    pub fn run_column(&self, column: usize) -> usize {
        const WINDOW: usize = 32;
        let mut pending: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
        let mut count = 0;
        for case in 0..self.compiled.len() {
            if self.memo.lock().unwrap().contains_key(&(case, column)) {
                continue;
            }
            if let Some(why) = self.skip_reason(case, column) {
                self.record_unrun(case, column, verdict(Status::Skip, why));
                count += 1;
            } else {
                pending.push_back(case);
            }
        }
        while !pending.is_empty() && !self.stop.load(Ordering::SeqCst) {
            let mut slot = self.slots[column].lock().unwrap();
            if let Err(v) = self.ensure_worker(&mut slot, column) {
                drop(slot);
                for case in pending.drain(..) {
                    self.record_unrun(case, column, v.clone());
                    count += 1;
                }
                break;
            }
            let build = slot.build.clone();
            if build.is_some() {
                // the cases the compiler rejected are judged without a worker
                let mut compiled = std::collections::VecDeque::new();
                for case in pending.drain(..) {
                    match self.line_for(case, build.as_deref()) {
                        Ok(_) => compiled.push_back(case),
                        Err(why) => {
                            let out = self.not_compiled(case, column, why, Instant::now());
                            self.remember(case, column, Arc::new(out));
                            count += 1;
                        }
                    }
                }
                pending = compiled;
                if pending.is_empty() {
                    break;
                }
            }
            let mut worker = slot.worker.take().unwrap();
            drop(slot);
            let window: Vec<usize> = pending.iter().take(WINDOW).copied().collect();
            let mut sent = 0;
            for &case in &window {
                let line = self
                    .line_for(case, build.as_deref())
                    .expect("the rejected cases were judged above");
                if worker.send_line(line).is_err() {
                    break;
                }
                sent += 1;
            }
            let mut alive = true;
            for &case in &window[..sent.max(1).min(window.len())] {
                let t = Instant::now();
                let outcome = if sent == 0 {
                    RunOutcome::Crashed {
                        how: "the worker did not take the request".into(),
                        stderr: String::new(),
                    }
                } else {
                    worker.receive(
                        &self.compiled[case].request.id,
                        self.timeout_of(case, column),
                    )
                };
                // a worker that crashed, timed out, or holds what a case left behind and could
                // not be undone (a thread still running) runs no other case
                alive = reusable(&outcome);
                let first = self.judge_outcome(case, column, outcome, t.elapsed());
                let out = self.finish(case, column, first);
                if interrupted(&out) {
                    alive = false;
                    break; // the run stops here: this case and those after it are not recorded
                }
                self.remember(case, column, Arc::new(out));
                pending.pop_front();
                count += 1;
                if !alive {
                    break; // the cases sent after this one are sent again to a new worker
                }
            }
            if alive {
                self.slots[column].lock().unwrap().worker = Some(worker);
            }
        }
        count
    }

    /// Make the column ready to run (a compiled column's cases built, its worker started),
    /// or say why it cannot run at all.
    pub fn start_column(&self, column: usize) -> Result<(), String> {
        let mut slot = self.slots[column].lock().unwrap();
        match self.ensure_worker(&mut slot, column) {
            Ok(()) => Ok(()),
            Err(_) => Err(slot.broken.clone().unwrap_or_default()),
        }
    }

    /// Why a column cannot run, if a start was tried and failed.
    pub fn broken(&self, column: usize) -> Option<String> {
        self.slots[column].lock().unwrap().broken.clone()
    }

    /// Stop every worker now (on interruption).
    pub fn kill_all(&self) {
        for s in &self.slots {
            if let Ok(mut s) = s.try_lock() {
                if let Some(w) = s.worker.as_mut() {
                    w.kill();
                }
                s.worker = None;
            }
        }
    }

    /// Run every case on every column with `jobs` threads. The columns of one runtime and
    /// observer go to one thread in order, and a column whose loads extend the previous
    /// one's (the `+ref` column after the bare one) reuses its worker: one interpreter start
    /// serves both. The interpreter columns run first, so that they are judged and reported
    /// (`progress` gets [`RunEvent::InterpretersDone`]) before any compiled column builds.
    /// Returns the (case, column) pairs in the order they were recorded.
    pub fn run_all(
        &self,
        jobs: usize,
        progress: &(dyn Fn(RunEvent) + Sync),
    ) -> Vec<(usize, usize)> {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            match groups.iter_mut().find(|g| {
                let first = &self.columns[g[0]];
                first.runtime.path == c.runtime.path
                    && first.observer == c.observer
                    && first.compiler == c.compiler
            }) {
                Some(g) => g.push(i),
                None => groups.push(vec![i]),
            }
        }
        for g in groups.iter_mut() {
            g.sort_by_key(|i| self.columns[*i].loads.len());
        }
        let (compiled, interpreted): (Vec<Vec<usize>>, Vec<Vec<usize>>) = groups
            .into_iter()
            .partition(|g| self.columns[g[0]].compiler.is_some());
        let done = Mutex::new((0usize, 0usize));
        let order = Mutex::new(Vec::new());
        let phase = |groups: &[Vec<usize>]| {
            let next = Mutex::new(0usize);
            std::thread::scope(|s| {
                for _ in 0..jobs.max(1).min(groups.len()) {
                    s.spawn(|| loop {
                        let group = {
                            let mut n = next.lock().unwrap();
                            if *n >= groups.len() || self.stop.load(Ordering::SeqCst) {
                                return;
                            }
                            *n += 1;
                            &groups[*n - 1]
                        };
                        self.run_group(group, &|col, count| {
                            order.lock().unwrap().extend(
                                (0..self.compiled.len()).map(|case| (case, col)).take(count),
                            );
                            let mut d = done.lock().unwrap();
                            d.0 += 1;
                            d.1 += count;
                            progress(RunEvent::Column {
                                column: col,
                                done: d.0,
                                total: self.columns.len(),
                                trials: d.1,
                            });
                        });
                    });
                }
            });
        };
        // the compiled columns' virtual environments (downloads from PyPI, mostly waiting on
        // the network) are made in the background from the start, three at a time, in the
        // order the compiled phase needs them, so that no build waits for one it could have had.
        // Not joined: an interrupted run does not wait for a download (a build waits for its
        // environment's lock instead), and one stopped half-way is made afresh next time.
        let wanted: Vec<(introspec_runtimes::Runtime, introspec_compilers::Compiler)> = compiled
            .iter()
            .filter_map(|g| {
                let c = &self.columns[g[0]];
                c.compiler.map(|k| (self.builder_of(g[0]).clone(), k))
            })
            .collect();
        if !wanted.is_empty() {
            let (cache, stop) = (self.project.cache.clone(), self.stop.clone());
            let build = self.project.settings.build.clone();
            std::thread::spawn(move || {
                let wanted: Vec<_> = wanted.iter().map(|(rt, c)| (rt, *c)).collect();
                introspec_compilers::prepare_environments(&build, &cache, &wanted, 3, &|| {
                    stop.load(Ordering::SeqCst)
                })
            });
        }
        phase(&interpreted);
        if !compiled.is_empty() && !self.stop.load(Ordering::SeqCst) {
            progress(RunEvent::InterpretersDone);
            phase(&compiled);
        }
        order.into_inner().unwrap()
    }

    /// Run one group of columns (one runtime, observer and compiler) in order on one worker,
    /// calling `finished(column, trials recorded)` after each; then let the worker go.
    fn run_group(&self, group: &[usize], finished: &dyn Fn(usize, usize)) {
        let mut previous: Option<usize> = None;
        for &col in group {
            if let Some(p) = previous {
                self.hand_over(p, col);
            }
            let count = self.run_column(col);
            previous = Some(col);
            finished(col, count);
        }
        if let Some(p) = previous {
            if let Ok(mut slot) = self.slots[p].lock() {
                slot.worker = None;
            }
        }
    }

    /// Move the worker of column `from` to column `to`, loading what `to` adds. If `to`'s
    /// loads do not extend `from`'s, or the load fails, `to` starts its own worker later.
    fn hand_over(&self, from: usize, to: usize) {
        let (a, b) = (&self.columns[from], &self.columns[to]);
        if !b.loads.starts_with(&a.loads) {
            return;
        }
        let Some(mut worker) = self.slots[from].lock().unwrap().worker.take() else {
            return;
        };
        if !worker.is_alive() {
            return;
        }
        for load in &b.loads[a.loads.len()..] {
            if worker.load(load, START_TIMEOUT).is_err() {
                return;
            }
        }
        self.slots[to].lock().unwrap().worker = Some(worker);
    }

    /// The results of the trials run so far, in case then column order.
    pub fn results(&self, discovery: &Discovery, commit: &str, interrupted: bool) -> Results {
        let memo = self.memo.lock().unwrap();
        let mut keys: Vec<&(usize, usize)> = memo.keys().collect();
        keys.sort_by_key(|(case, col)| (self.case(*case).id.clone(), *col));
        // a column that could not run (its build or its worker failed) is one result, in
        // `broken`, not an ERROR on every trial that only repeats why
        let broken_cols: Vec<Option<String>> =
            (0..self.columns.len()).map(|i| self.broken(i)).collect();
        let trials = keys
            .into_iter()
            .filter(|k| broken_cols[k.1].is_none() || !is_cannot_run(&memo[*k].verdict))
            .map(|k| {
                let t = &memo[k];
                let c = self.case(k.0);
                let kinds: Vec<(String, String)> =
                    std::iter::once(("subject".to_string(), c.kind.clone()))
                        .chain(c.objects.iter().cloned())
                        .collect();
                let mut r = TrialRecord::new(
                    &c.id,
                    &self.columns[k.1].name,
                    &kinds,
                    &t.verdict,
                    self.record_timings.then(|| t.duration.as_micros() as u64),
                );
                r.diverged_at = t.diverged_at;
                r.left_behind = t.result.as_ref().map_or(vec![], |res| {
                    res.left.iter().map(proto::Leftover::describe).collect()
                });
                // files named relative to the project root: two checkouts give one result
                let root = format!("{}/", self.project.root.display());
                for d in &mut r.deviations {
                    if let Some(rel) = d.origin.strip_prefix(&root) {
                        d.origin = rel.to_string();
                    }
                }
                r
            })
            .collect();
        let broken = (0..self.columns.len())
            .filter_map(|i| {
                self.broken(i).map(|why| BrokenColumn {
                    column: self.columns[i].name.clone(),
                    why,
                })
            })
            .collect();
        Results {
            schema: results::SCHEMA.into(),
            harness: HarnessInfo {
                version: env!("CARGO_PKG_VERSION").into(),
                commit: commit.into(),
                spec_digest: spec_digest(&self.project.root),
            },
            columns: self.columns.clone(),
            absent: discovery.absent.clone(),
            unusable: discovery.unusable.clone(),
            broken,
            trials,
            interrupted,
        }
    }
}

/// Whether the worker may run another case after this outcome.
fn reusable(outcome: &RunOutcome) -> bool {
    matches!(outcome, RunOutcome::Done(r) if !r.left_unrecoverable())
}

/// The identity of the failing checks of a verdict (not their observed text, which may hold
/// addresses that differ between processes): (step, where, target, observable, layer).
fn failing(v: &Verdict) -> Vec<(usize, String, String, CheckKind, String)> {
    v.checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| {
            (
                c.step,
                c.at.to_string(),
                c.target.clone(),
                c.kind.clone(),
                c.layer.clone(),
            )
        })
        .collect()
}

fn verdict(status: Status, reason: impl Into<Reason>) -> Verdict {
    Verdict::without_checks(status, reason)
}

/// The first step (1-based) at which two results differ.
pub fn divergence(a: Option<&CaseResult>, b: Option<&CaseResult>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let n = a.steps.len().max(b.steps.len());
            (0..n)
                .find(|i| a.steps.get(*i) != b.steps.get(*i))
                .map(|i| i + 1)
        }
        _ => Some(1),
    }
}

/// Whether a step's value holds a MemoryError: raised, or caught by the case and returned
/// as its `["MemoryError", msg]` pair or text.
fn mentions_memory_error(v: &proto::Value) -> bool {
    match v {
        proto::Value::Str(s) => s.contains("MemoryError"),
        proto::Value::Raised(e) => e.type_name == "MemoryError",
        proto::Value::Seq(items) => items.iter().any(mentions_memory_error),
        proto::Value::Dict(pairs) => pairs
            .iter()
            .any(|(k, v)| mentions_memory_error(k) || mentions_memory_error(v)),
        _ => false,
    }
}

/// A digest of spec/ (BLAKE3 over the files in name order, 16 hex digits): which spec the
/// results are of.
pub fn spec_digest(root: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("spec"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut d = introspec_cache::Digest::new();
    for f in files {
        d.add(std::fs::read(&f).unwrap_or_default());
    }
    d.short()
}

/// The commit of the project checkout, with `-dirty` when it has changes (or `unknown`).
pub fn git_commit(root: &Path) -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short=12", "HEAD"]) {
        Some(c) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c}-dirty")
            } else {
                c
            }
        }
        None => "unknown".into(),
    }
}

/// A run's outcome judged: the one mapping from what a worker gave ([`RunOutcome`]) to the
/// judge's [`TrialOutcome`], for `introspec run`, the fuzzer and the tests. `timeout` is the
/// one the case was given (a reason records it, not the time taken: the same run twice must
/// record the same thing); a finished result that ran out of `memory_limit` is a crash of
/// the limit. Gives the verdict and the result, when the worker answered one.
pub fn judge_run(
    trial: &Trial,
    outcome: RunOutcome,
    timeout: Duration,
    memory_limit: Option<u64>,
) -> (Verdict, Option<proto::CaseResult>) {
    match outcome {
        RunOutcome::Done(r) => match out_of_memory(&r, memory_limit) {
            Some(why) => (trial.verdict(TrialOutcome::Crashed(why)), None),
            None => (trial.verdict(TrialOutcome::Done(&r)), Some(r)),
        },
        RunOutcome::Crashed { how, stderr } => (
            trial.verdict(TrialOutcome::Crashed(introspec_judge::died(&how, &stderr))),
            None,
        ),
        RunOutcome::TimedOut { stderr, .. } => (
            trial.verdict(TrialOutcome::TimedOut {
                seconds: timeout.as_secs_f64(),
                stderr_tail: introspec_judge::stderr_tail(&stderr),
            }),
            None,
        ),
        RunOutcome::Protocol(msg) => (trial.verdict(TrialOutcome::Protocol(msg)), None),
        RunOutcome::Interrupted => (trial.verdict(TrialOutcome::Interrupted), None),
    }
}

/// Why a finished result is a crash of the memory limit (a `MemoryError` in its source or a
/// step, under a limit), if it is one.
fn out_of_memory(r: &proto::CaseResult, memory_limit: Option<u64>) -> Option<Reason> {
    let limit = memory_limit?;
    let at = if r
        .error
        .as_ref()
        .is_some_and(|e| e.type_name == "MemoryError")
    {
        Some(format!("in its {}", r.error.as_ref().unwrap().phase))
    } else {
        r.steps
            .iter()
            .position(|s| match &s.outcome {
                proto::Outcome::Raised(e) => {
                    e.type_name == "MemoryError"
                        || e.value.as_deref().is_some_and(mentions_memory_error)
                }
                proto::Outcome::Returned(v) => mentions_memory_error(v),
            })
            .map(|i| format!("at step {}", i + 1))
    }?;
    Some(Reason::MemoryLimit {
        limit: introspec_worker::describe_size(limit),
        at,
    })
}

/// How a worker for `col` is started: its interpreter and observer (the PyO3 observer built
/// for the interpreter where the runtime needs it), the modules the column loads, where the
/// observers are written, extra environment and the memory limit. One place for `run`, the
/// fuzzer, bench and the tests.
pub fn worker_spec_for(
    col: &Column,
    cache: &Path,
    env: Vec<(String, String)>,
    memory_limit: Option<u64>,
) -> WorkerSpec {
    WorkerSpec {
        python: col.runtime.path.clone(),
        observer: col.observer,
        loads: col.loads.clone(),
        cache: cache.to_path_buf(),
        env,
        memory_limit,
        interpreter_build: col.observer == Observer::Pyo3
            && introspec_worker::observers::needs_interpreter_build(&col.runtime.identity),
    }
}
