//! The system under test and the campaign: generated programs are predicted by the model,
//! compiled like any case, run on the real objects of each runtime by its worker (several
//! cases per write), and judged by the judge. A failure that no known deviation explains is
//! shrunk with proptest (fewest statements and operations), printed as Python with its
//! operations and seed, and kept as a finding.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use introspec_cases::{compile, skip_reason, Case, Corpus};
use introspec_judge::{explain, Status, Trial, Verdict};
use introspec_protocol as proto;
use introspec_runner::Column;
use introspec_spec::Spec;
use introspec_worker::{RunOutcome, Worker, WorkerSpec};
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::model::{Model, Prediction};
use crate::program::{programs, Program, Shape};

/// How long one generated case may take.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an interpreter may take to start.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One column and its worker.
pub struct Lane {
    pub column: Column,
    worker: Option<Worker>,
    cache: std::path::PathBuf,
    /// Why the column cannot run, once a start failed.
    pub broken: Option<String>,
}

/// What running one case on one column gave.
#[derive(Debug, Clone)]
pub enum Judged {
    /// The case does not apply to the column (version, features).
    Skip(String),
    /// Run and judged: PASS, FAIL, XFAIL, XPASS, ERROR.
    Done(Verdict, Option<proto::CaseResult>),
}

impl Lane {
    /// A lane for a column; its worker starts on first use.
    pub fn new(column: Column, cache: &std::path::Path) -> Lane {
        Lane {
            column,
            worker: None,
            cache: cache.to_path_buf(),
            broken: None,
        }
    }

    fn worker(&mut self) -> Result<&mut Worker, String> {
        if let Some(b) = &self.broken {
            return Err(b.clone());
        }
        if self.worker.as_ref().is_none_or(|w| !w.is_alive()) {
            let spec = WorkerSpec {
                python: self.column.runtime.path.clone(),
                observer: self.column.observer(),
                loads: self.column.loads.clone(),
                cache: self.cache.clone(),
                env: vec![],
            };
            match Worker::start(&spec, START_TIMEOUT) {
                Ok(w) => self.worker = Some(w),
                Err(e) => {
                    self.broken = Some(e.0.clone());
                    return Err(e.0);
                }
            }
        }
        Ok(self.worker.as_mut().unwrap())
    }

    /// Run cases on this column, several per write, and judge each (with the known
    /// deviations of `corpus` that match their ids).
    pub fn run(&mut self, spec: &Spec, corpus: &Corpus, preds: &[&Case]) -> Vec<Judged> {
        let facts = self.column.facts();
        let avail = self.column.availability();
        let mut out: Vec<Option<Judged>> = vec![None; preds.len()];
        let mut todo = Vec::new();
        let mut compiled = Vec::new();
        for (i, p) in preds.iter().enumerate() {
            if let Some(why) = skip_reason(p, spec, &avail) {
                out[i] = Some(Judged::Skip(why));
                continue;
            }
            let (mut request, plan) = compile(p, spec);
            request.origin = format!("fuzz:{}", p.id);
            let line = proto::encode(&proto::Request::Run(request));
            todo.push(i);
            compiled.push((line, plan));
        }
        let mut k = 0;
        while k < todo.len() {
            let batch: Vec<(&str, &str)> = todo[k..]
                .iter()
                .zip(&compiled[k..])
                .map(|(i, (line, _))| (preds[*i].id.as_str(), line.as_str()))
                .collect();
            let outcomes = match self.worker() {
                Ok(w) => w.run_batch(&batch, CASE_TIMEOUT),
                Err(e) => {
                    for i in &todo[k..] {
                        out[*i] = Some(Judged::Done(
                            verdict(
                                Status::Error,
                                format!("column {} cannot run: {e}", self.column.name),
                            ),
                            None,
                        ));
                    }
                    break;
                }
            };
            for outcome in outcomes {
                let i = todo[k];
                let case = preds[i];
                let trial = Trial {
                    spec,
                    case,
                    plan: &compiled[k].1,
                    column: &facts,
                    availability: &avail,
                    deviations: corpus.deviations_for(case).collect(),
                };
                out[i] = Some(match outcome {
                    RunOutcome::Done(r) => Judged::Done(trial.judge(&r), Some(r)),
                    RunOutcome::Crashed { how, stderr } => {
                        self.worker = None;
                        Judged::Done(
                            verdict(
                                Status::Crash,
                                format!("the worker died: {how}; {}", last_lines(&stderr)),
                            ),
                            None,
                        )
                    }
                    RunOutcome::TimedOut { after, stderr } => {
                        self.worker = None;
                        Judged::Done(
                            verdict(
                                Status::Timeout,
                                format!(
                                    "no answer after {:.1} s; {}",
                                    after.as_secs_f64(),
                                    last_lines(&stderr)
                                ),
                            ),
                            None,
                        )
                    }
                    RunOutcome::Protocol(msg) => {
                        self.worker = None;
                        Judged::Done(
                            verdict(Status::Error, format!("protocol error: {msg}")),
                            None,
                        )
                    }
                    #[allow(unreachable_patterns)]
                    other => {
                        self.worker = None;
                        Judged::Done(verdict(Status::Error, format!("not run: {other:?}")), None)
                    }
                });
                k += 1;
            }
        }
        out.into_iter()
            .map(|j| j.expect("every case judged"))
            .collect()
    }
}

fn verdict(status: Status, reason: String) -> Verdict {
    Verdict {
        status,
        reason: Some(reason),
        checks: vec![],
        deviations: vec![],
    }
}

fn last_lines(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

/// The first failing check that no known deviation explains.
pub fn first_failure(v: &Verdict) -> Option<&introspec_judge::Check> {
    v.checks.iter().find(|c| !c.ok && c.deviation.is_none())
}

/// Whether a verdict is a finding: a failure no known deviation explains.
pub fn is_failure(v: &Verdict) -> bool {
    v.status.fails_run()
}

/// What the failure is about, to tell one finding from another: the column, the operation
/// of the first unexplained failing check, where it looked, its observable and layer, and
/// what was expected (what was observed varies with the program: it is in the report).
pub fn signature(column: &str, pred: &Prediction, v: &Verdict) -> String {
    match first_failure(v) {
        Some(c) => {
            let op = pred
                .case
                .steps
                .get(c.step - 1)
                .map(|s| step_name(&s.op))
                .unwrap_or("?");
            let layer = if c.layer.is_empty() {
                String::new()
            } else {
                format!(" [{}]", c.layer)
            };
            format!(
                "{column}: {op} {} {}{layer}: expected {}",
                c.at, c.observable, c.expected
            )
        }
        None => format!(
            "{column}: {} {}",
            v.status.name(),
            v.reason
                .clone()
                .unwrap_or_default()
                .chars()
                .take(80)
                .collect::<String>()
        ),
    }
}

fn step_name(s: &proto::Step) -> &'static str {
    use proto::Step as S;
    match s {
        S::Create { .. } => "create",
        S::Next { .. } => "next",
        S::Send { .. } => "send",
        S::Throw { .. } => "throw",
        S::Close { .. } => "close",
        S::Asend { .. } => "asend",
        S::Athrow { .. } => "athrow",
        S::Aclose { .. } => "aclose",
        S::Eval { .. } => "eval",
        S::Exec { .. } => "exec",
    }
}

/// A failure found, shrunk.
#[derive(Debug, Clone)]
pub struct Finding {
    pub column: String,
    pub signature: String,
    /// The shrunk program and its prediction.
    pub prediction: Prediction,
    pub verdict: Verdict,
    /// The campaign seed and the index of the generated case that first failed.
    pub seed: u64,
    pub index: usize,
    /// Size (statements + operations) before and after shrinking.
    pub size_before: usize,
    pub size_after: usize,
    pub shrink_runs: usize,
    /// How many generated cases failed with this signature.
    pub count: usize,
}

impl Finding {
    /// The finding as a person reads it: where, the program as Python, the operations, the
    /// seed, and the failing checks.
    pub fn report(&self) -> String {
        let p = &self.prediction;
        let first = first_failure(&self.verdict)
            .map(|c| format!("  observed: {}\n", c.observed))
            .unwrap_or_default();
        let mut s = format!(
            "FINDING {}\n{first}  seed {} case #{} ({} similar), shrunk from size {} to {} in {} runs\n--- program ---\n{}--- operations ---\n",
            self.signature, self.seed, self.index, self.count, self.size_before, self.size_after, self.shrink_runs, p.case.code
        );
        s.push_str("subject = f0()\n");
        for op in &p.program.ops {
            s.push_str(&op.python(p.program.subject.kind, "subject"));
            s.push('\n');
        }
        s.push_str("--- checks ---\n");
        s.push_str(&explain(&p.case, &self.verdict));
        s
    }
}

/// Counters of a campaign.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Generated cases run (on any column).
    pub cases: usize,
    /// Operations sent to a runtime (each is one transition of the model), summed over columns.
    pub transitions: usize,
    /// Operations whose outcome and states were judged (the case ran to its end).
    pub checked: usize,
    /// Cases a column skipped (version or feature conditions).
    pub skipped: usize,
    /// Runs made while shrinking.
    pub shrink_runs: usize,
    pub elapsed: Duration,
    /// Per column: (transitions, checked, time spent running).
    pub per_column: BTreeMap<String, (usize, usize, Duration)>,
}

/// A campaign's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    /// Stop after this many generated programs…
    pub max_cases: Option<usize>,
    /// …or after this long.
    pub max_time: Option<Duration>,
    /// Programs generated and sent per batch.
    pub batch: usize,
    pub shape: Shape,
    /// At most this many shrink runs per finding.
    pub max_shrink_runs: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seed: 0x31230,
            max_cases: Some(100),
            max_time: None,
            batch: 32,
            shape: Shape::default(),
            max_shrink_runs: 400,
        }
    }
}

/// A campaign over some columns.
pub struct Campaign<'a> {
    pub spec: &'a Spec,
    pub corpus: &'a Corpus,
    pub model: Model,
    pub lanes: Vec<Lane>,
    pub settings: Settings,
    pub stats: Stats,
    pub findings: Vec<Finding>,
    strategy: BoxedStrategy<Program>,
}

fn rng_for(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(b"introspc");
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

impl<'a> Campaign<'a> {
    /// A campaign with a model and columns.
    pub fn new(
        spec: &'a Spec,
        corpus: &'a Corpus,
        model: Model,
        lanes: Vec<Lane>,
        settings: Settings,
    ) -> Campaign<'a> {
        let strategy = programs(&settings.shape);
        Campaign {
            spec,
            corpus,
            model,
            lanes,
            settings,
            stats: Stats::default(),
            findings: Vec::new(),
            strategy,
        }
    }

    /// Run until the budget is spent. `progress` is told about findings as they come.
    pub fn run(&mut self, progress: &mut dyn FnMut(&str)) {
        let start = Instant::now();
        let mut index = 0usize;
        loop {
            if self.settings.max_cases.is_some_and(|m| index >= m)
                || self.settings.max_time.is_some_and(|t| start.elapsed() >= t)
            {
                break;
            }
            let n = match self.settings.max_cases {
                Some(m) => self.settings.batch.min(m - index),
                None => self.settings.batch,
            };
            let mut preds = Vec::with_capacity(n);
            for i in index..index + n {
                match self.tree(i) {
                    Ok(t) => preds.push(self.model.predict(self.spec, &t.current())),
                    Err(e) => {
                        progress(&format!("cannot generate: {e}"));
                        return;
                    }
                }
            }
            let refs: Vec<&Case> = preds.iter().map(|p| &p.case).collect();
            for li in 0..self.lanes.len() {
                let t0 = Instant::now();
                let judged = self.lanes[li].run(self.spec, self.corpus, &refs);
                let spent = t0.elapsed();
                let name = self.lanes[li].column.name.clone();
                let mut lane_tr = 0;
                let mut lane_ck = 0;
                for (k, j) in judged.iter().enumerate() {
                    match j {
                        Judged::Skip(_) => self.stats.skipped += 1,
                        Judged::Done(v, result) => {
                            let tr = preds[k].transitions;
                            lane_tr += tr;
                            if result.as_ref().is_some_and(|r| {
                                r.error.is_none() && r.steps.len() == preds[k].case.steps.len()
                            }) {
                                lane_ck += tr;
                            }
                            if is_failure(v) {
                                let sig = signature(&name, &preds[k], v);
                                if let Some(f) =
                                    self.findings.iter_mut().find(|f| f.signature == sig)
                                {
                                    f.count += 1;
                                    continue;
                                }
                                let Ok(mut tree) = self.tree(index + k) else {
                                    continue;
                                };
                                let f = self.shrink(li, &mut tree, sig, v.clone(), index + k);
                                progress(&f.report());
                                self.findings.push(f);
                            }
                        }
                    }
                }
                let e = self.stats.per_column.entry(name).or_default();
                e.0 += lane_tr;
                e.1 += lane_ck;
                e.2 += spent;
                self.stats.transitions += lane_tr;
                self.stats.checked += lane_ck;
            }
            self.stats.cases += n;
            index += n;
        }
        self.stats.elapsed = start.elapsed();
    }

    /// The value tree of generated case `index`: its own random stream, derived from the
    /// seed and the index, so that `seed S case #i` regenerates exactly that case.
    pub fn tree(&self, index: usize) -> Result<Box<dyn ValueTree<Value = Program>>, String> {
        let config = Config {
            failure_persistence: None,
            ..Config::default()
        };
        let seed = self.settings.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut runner = TestRunner::new_with_rng(config, rng_for(seed));
        self.strategy
            .new_tree(&mut runner)
            .map_err(|e| e.to_string())
    }

    /// Shrink a failing program on one column with proptest's value tree: simplify while it
    /// still fails, complicate back when it passes.
    fn shrink(
        &mut self,
        lane: usize,
        tree: &mut Box<dyn ValueTree<Value = Program>>,
        signature: String,
        verdict: Verdict,
        index: usize,
    ) -> Finding {
        let first = tree.current();
        let size_before = first.size();
        let mut best = self.model.predict(self.spec, &first);
        let mut best_verdict = verdict;
        let mut runs = 0;
        let fails = |camp: &mut Self, p: &Program| -> Option<(Prediction, Verdict)> {
            let pred = camp.model.predict(camp.spec, p);
            let j = camp.lanes[lane].run(camp.spec, camp.corpus, &[&pred.case]);
            match j.into_iter().next() {
                Some(Judged::Done(v, _)) if is_failure(&v) => Some((pred, v)),
                _ => None,
            }
        };
        if tree.simplify() {
            while runs < self.settings.max_shrink_runs {
                runs += 1;
                let cand = tree.current();
                match fails(self, &cand) {
                    Some((pred, v)) => {
                        best = pred;
                        best_verdict = v;
                        if !tree.simplify() {
                            break;
                        }
                    }
                    None => {
                        if !tree.complicate() {
                            break;
                        }
                    }
                }
            }
        }
        self.stats.shrink_runs += runs;
        let column = self.lanes[lane].column.name.clone();
        let size_after = best.program.size();
        Finding {
            column,
            signature,
            prediction: best,
            verdict: best_verdict,
            seed: self.settings.seed,
            index,
            size_before,
            size_after,
            shrink_runs: runs,
            count: 1,
        }
    }
}
