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

mod builds;
mod judging;
mod provenance;
mod schedule;

pub use judging::{divergence, judge_run};
use judging::{failing, verdict};
pub use provenance::{git_commit, spec_digest};

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
