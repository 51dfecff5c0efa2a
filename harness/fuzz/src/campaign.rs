//! The system under test and the campaign: generated programs are predicted by the model,
//! compiled like any case, run on the real objects of each runtime by its worker (several
//! cases per write), and judged by the judge. A failure that no known deviation explains is
//! shrunk with proptest (fewest statements and operations), printed as Python with its
//! operations and seed, and kept as a finding.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use introspec_cases::{compile, skip_reason, Case, Corpus, Plan};
use introspec_judge::{explain, Reason, Status, Trial, Verdict};
use introspec_protocol as proto;
use introspec_runner::Column;
use introspec_spec::Spec;
use introspec_worker::Worker;
use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::model::{Model, Prediction};
use crate::program::{programs, Program, Shape};

/// How long one generated case may take.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an interpreter may take to start.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

mod lane;

pub use lane::{first_failure, is_failure, signature, Judged, Lane, Prepared};

/// A batch of generated programs, predicted and compiled.
struct Batch {
    first: usize,
    preds: Vec<Prediction>,
    prepared: Vec<Arc<Prepared>>,
}

/// The generating side of a campaign, on its own thread: proptest value trees, the model's
/// predictions, and the compiled requests, a batch at a time, at most two batches ahead.
struct Producer<'a> {
    spec: &'a Spec,
    model: Model,
    shape: Shape,
    seed: u64,
    batch: usize,
    max_cases: Option<usize>,
}

impl Producer<'_> {
    fn produce(&self, tx: SyncSender<Result<Batch, String>>, stop: &AtomicBool) {
        // proptest's boxed strategies are not Send: this thread makes its own
        let strategy = programs(&self.shape);
        let config = proptest_config();
        let mut index = 0;
        while !stop.load(Ordering::SeqCst) {
            let n = match self.max_cases {
                Some(m) if index >= m => return,
                Some(m) => self.batch.min(m - index),
                None => self.batch,
            };
            let mut preds = Vec::with_capacity(n);
            for i in index..index + n {
                match tree_at(&strategy, &config, self.seed, i) {
                    Ok(t) => preds.push(self.model.predict(self.spec, &t.current())),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            let prepared = preds
                .iter()
                .map(|p| Arc::new(Prepared::new(self.spec, &p.case)))
                .collect();
            if tx
                .send(Ok(Batch {
                    first: index,
                    preds,
                    prepared,
                }))
                .is_err()
            {
                return;
            }
            index += n;
        }
    }
}

/// proptest's configuration for generating (no failure persistence: findings are written
/// as case files).
fn proptest_config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

/// The value tree of generated case `index` of a campaign with `seed`: its own random stream,
/// so that `seed S case #i` regenerates exactly that case.
fn tree_at(
    strategy: &BoxedStrategy<Program>,
    config: &Config,
    seed: u64,
    index: usize,
) -> Result<Box<dyn ValueTree<Value = Program>>, String> {
    let seed = seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut runner = TestRunner::new_with_rng(config.clone(), rng_for(seed));
    strategy.new_tree(&mut runner).map_err(|e| e.to_string())
}

/// A failure found, shrunk.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The column it failed on.
    pub column: String,
    /// What failed (see [`signature`]).
    pub signature: String,
    /// The shrunk program and its prediction.
    pub prediction: Prediction,
    /// The judge's verdict on the shrunk case.
    pub verdict: Verdict,
    /// The campaign seed and the index of the generated case that first failed.
    pub seed: u64,
    /// The index of the generated case (with `seed`, regenerates it).
    pub index: usize,
    /// Size (statements + operations) before and after shrinking.
    pub size_before: usize,
    /// Size after shrinking.
    pub size_after: usize,
    /// Runs made while shrinking.
    pub shrink_runs: usize,
    /// How many generated cases failed with this signature.
    pub count: usize,
    /// Other signatures whose failures shrank to this one.
    pub also: Vec<String>,
    /// Other columns on which the same generated program failed and the shrunk case fails.
    pub columns: Vec<String>,
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
        if p.program.via_await {
            s.push_str("aw = subject.__await__()\n");
        }
        let objects = p.program.objects();
        for act in &p.program.ops {
            let on = act.on % objects.len();
            let o = &objects[on];
            if on == 0 && p.program.via_await {
                let line = match act.op {
                    crate::program::Op::Resume => "next(aw)".to_string(),
                    op => op.python(o.func.kind, "aw"),
                };
                s.push_str(&line);
            } else {
                s.push_str(&act.op.python(o.func.kind, &o.name));
            }
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
    /// Wall-clock time of the campaign.
    pub elapsed: Duration,
    /// Per column: (transitions, checked, time spent running).
    pub per_column: BTreeMap<String, (usize, usize, Duration)>,
}

/// A campaign's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The seed every generated case derives from.
    pub seed: u64,
    /// Stop after this many generated programs…
    pub max_cases: Option<usize>,
    /// …or after this long.
    pub max_time: Option<Duration>,
    /// Programs generated and sent per batch.
    pub batch: usize,
    /// What programs look like.
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
    /// The spec (transitions, invariants, spellings).
    pub spec: &'a Spec,
    /// The corpus, for its known deviations.
    pub corpus: &'a Corpus,
    /// The reference machine.
    pub model: Model,
    /// The columns, one worker each (several lanes of one column share its batches).
    pub lanes: Vec<Lane>,
    /// Budget, seed and shape.
    pub settings: Settings,
    /// Counters so far.
    pub stats: Stats,
    /// Findings so far.
    pub findings: Vec<Finding>,
    strategy: BoxedStrategy<Program>,
    /// proptest's configuration, made once (`Config::default()` reads the environment).
    config: Config,
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
            config: proptest_config(),
        }
    }

    /// Run until the budget is spent. `progress` is told about findings as they come.
    pub fn run(&mut self, progress: &mut dyn FnMut(&str)) {
        let start = Instant::now();
        let stop = AtomicBool::new(false);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Batch, String>>(2);
        let producer = Producer {
            spec: self.spec,
            model: self.model.clone(),
            shape: self.settings.shape.clone(),
            seed: self.settings.seed,
            batch: self.settings.batch,
            max_cases: self.settings.max_cases,
        };
        std::thread::scope(|s| {
            s.spawn(|| producer.produce(tx, &stop));
            self.consume(rx, &stop, start, progress);
        });
        self.stats.elapsed = start.elapsed();
        for lane in &self.lanes {
            if let Some(e) = self.stats.per_column.get_mut(&lane.column.name) {
                e.2 = self.stats.elapsed;
            }
        }
    }

    /// Send the generated batches to every lane, judge them one batch behind (so the
    /// workers always have the next batch), and shrink failures when the lanes are idle.
    fn consume(
        &mut self,
        rx: Receiver<Result<Batch, String>>,
        stop: &AtomicBool,
        start: Instant,
        progress: &mut dyn FnMut(&str),
    ) {
        let mut batch_no = 0u64;
        let mut queue: VecDeque<(u64, usize, Vec<Prediction>)> = VecDeque::new();
        let mut failures: Vec<(usize, usize, Prediction, Verdict)> = Vec::new();
        let mut producing = true;
        // batches in flight before the oldest is judged: one per replica, and one more
        let depth = (0..self.lanes.len())
            .map(|li| self.replica(li).1)
            .max()
            .unwrap_or(1);
        loop {
            let budget = self.settings.max_time.is_none_or(|t| start.elapsed() < t);
            if !budget {
                stop.store(true, Ordering::SeqCst);
            }
            if producing && budget && failures.is_empty() {
                match rx.recv() {
                    Ok(Ok(b)) => {
                        let refs: Vec<&Case> = b.preds.iter().map(|p| &p.case).collect();
                        for li in 0..self.lanes.len() {
                            // one lane per column: replicas of a column take turns
                            let (replica, replicas) = self.replica(li);
                            if batch_no % replicas as u64 != replica as u64 {
                                continue;
                            }
                            let skipped = self.lanes[li].submit_prepared(
                                self.spec,
                                batch_no,
                                &refs,
                                &b.prepared,
                            );
                            self.stats.skipped += skipped.len();
                        }
                        self.stats.cases += b.preds.len();
                        queue.push_back((batch_no, b.first, b.preds));
                        batch_no += 1;
                    }
                    Ok(Err(e)) => {
                        progress(&format!("cannot generate: {e}"));
                        producing = false;
                    }
                    Err(_) => producing = false,
                }
            }
            let more = producing && budget && failures.is_empty();
            if queue.len() > depth || (!more && !queue.is_empty()) {
                let (b, first, preds) = queue.pop_front().unwrap();
                self.judge_batch(b, first, &preds, &mut failures);
            } else if !more && failures.is_empty() {
                break;
            }
            if !failures.is_empty() && queue.is_empty() {
                // every lane is idle now: shrink what failed (a program that failed on
                // several columns is shrunk once, and its shrunk case run on the others)
                let mut shrunk_index: BTreeMap<usize, usize> = BTreeMap::new();
                for (li, i, pred, v) in std::mem::take(&mut failures) {
                    let sig = signature(&self.lanes[li].column.name, &pred, &v);
                    if let Some(f) = self
                        .findings
                        .iter_mut()
                        .find(|f| f.signature == sig || f.also.contains(&sig))
                    {
                        f.count += 1;
                        continue;
                    }
                    if let Some(&fi) = shrunk_index.get(&i) {
                        let case = self.findings[fi].prediction.case.clone();
                        let fails = matches!(self.lanes[li].run(self.spec, self.corpus, &[&case]).pop(), Some(Judged::Done(v, _)) if is_failure(&v));
                        if fails {
                            let name = self.lanes[li].column.name.clone();
                            let f = &mut self.findings[fi];
                            f.columns.push(name);
                            f.also.push(sig);
                            f.count += 1;
                            continue;
                        }
                    }
                    let Ok(mut tree) = self.tree(i) else { continue };
                    let f = self.shrink(li, &mut tree, sig, v, i);
                    // failures that shrink to the same failure are one finding
                    let shrunk = signature(&f.column, &f.prediction, &f.verdict);
                    if let Some(g) = self.findings.iter_mut().find(|g| {
                        g.column == f.column
                            && signature(&g.column, &g.prediction, &g.verdict) == shrunk
                    }) {
                        g.count += 1;
                        g.also.push(f.signature);
                        continue;
                    }
                    progress(&f.report());
                    shrunk_index.insert(i, self.findings.len());
                    self.findings.push(f);
                }
            }
        }
        stop.store(true, Ordering::SeqCst);
    }

    /// Lane `li`'s index among the lanes of its column, and how many lanes that column has
    /// (several workers for one runtime share its batches).
    fn replica(&self, li: usize) -> (usize, usize) {
        let name = &self.lanes[li].column.name;
        let same = |l: &Lane| l.column.name == *name;
        (
            self.lanes[..li].iter().filter(|l| same(l)).count(),
            self.lanes.iter().filter(|l| same(l)).count(),
        )
    }

    /// Read and judge one batch on every lane; failures are kept for shrinking once the
    /// lanes are idle (a lane with cases in flight cannot run the shrinking cases).
    fn judge_batch(
        &mut self,
        b: u64,
        first: usize,
        preds: &[Prediction],
        failures: &mut Vec<(usize, usize, Prediction, Verdict)>,
    ) {
        let refs: Vec<&Case> = preds.iter().map(|p| &p.case).collect();
        for li in 0..self.lanes.len() {
            let judged = self.lanes[li].collect(self.spec, self.corpus, b, &refs);
            let name = self.lanes[li].column.name.clone();
            let (mut tr, mut ck) = (0, 0);
            for (k, j) in judged {
                let Judged::Done(v, result) = j else { continue };
                tr += preds[k].transitions;
                if result.as_ref().is_some_and(|r| {
                    r.error.is_none() && r.steps.len() == preds[k].case.steps.len()
                }) {
                    ck += preds[k].transitions;
                }
                if is_failure(&v) {
                    let sig = signature(&name, &preds[k], &v);
                    if let Some(f) = self
                        .findings
                        .iter_mut()
                        .find(|f| f.signature == sig || f.also.contains(&sig))
                    {
                        f.count += 1;
                    } else {
                        failures.push((li, first + k, preds[k].clone(), v));
                    }
                }
            }
            let e = self.stats.per_column.entry(name).or_default();
            e.0 += tr;
            e.1 += ck;
            self.stats.transitions += tr;
            self.stats.checked += ck;
        }
    }

    /// The value tree of generated case `index`: its own random stream, derived from the
    /// seed and the index, so that `seed S case #i` regenerates exactly that case.
    pub fn tree(&self, index: usize) -> Result<Box<dyn ValueTree<Value = Program>>, String> {
        tree_at(&self.strategy, &self.config, self.settings.seed, index)
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
            also: vec![],
            columns: vec![],
        }
    }
}
