//! A lane: one column and its worker, with the generated cases sent to it and not yet
//! answered, each judged when its answer comes; and how a failure is named (its signature).

use super::*;

/// One column and its worker, with the cases sent to it and not yet answered.
pub struct Lane {
    /// The column this lane runs.
    pub column: Column,
    worker: Option<Worker>,
    cache: std::path::PathBuf,
    /// Why the column cannot run, once a start failed.
    pub broken: Option<String>,
    /// Time spent compiling and encoding, waiting for the worker, and judging.
    pub timing: [Duration; 3],
    inflight: VecDeque<Inflight>,
    /// Per id prefix (`generator.fuzz`), which of the corpus's wildcard deviations match.
    globbed: BTreeMap<String, Vec<bool>>,
}

/// A case sent (or to be sent again, after a crash) to a lane's worker.
struct Inflight {
    batch: u64,
    index: usize,
    prepared: Arc<Prepared>,
    sent: bool,
}

/// A case compiled for the workers: its request line (reads trimmed to the observables it
/// expects something of) and the plan the judge reads the answer with. The same for every
/// column: made once, by the thread that generates.
#[derive(Debug)]
pub struct Prepared {
    /// The case id.
    pub id: String,
    /// The `{"run": …}` request line.
    pub line: String,
    /// What each read of the answer means, for the judge.
    pub plan: Plan,
}

impl Prepared {
    /// Compile a case.
    pub fn new(spec: &Spec, case: &Case) -> Prepared {
        let (mut request, mut plan) = compile(case, spec);
        request.origin = format!("fuzz:{}", case.id);
        trim(case, &mut request, &mut plan);
        Prepared {
            id: case.id.clone(),
            line: proto::encode(&proto::Request::Run(request)),
            plan,
        }
    }
}

/// What running one case on one column gave.
#[derive(Debug, Clone)]
pub enum Judged {
    /// The case does not apply to the column (version, features).
    Skip(String),
    /// Run and judged: PASS, FAIL, XFAIL, XPASS, ERROR, CRASH, TIMEOUT.
    Done(Verdict, Option<Box<proto::CaseResult>>),
}

impl Lane {
    /// A lane for a column; its worker starts on first use.
    pub fn new(column: Column, cache: &std::path::Path) -> Lane {
        Lane {
            column,
            worker: None,
            cache: cache.to_path_buf(),
            broken: None,
            timing: [Duration::ZERO; 3],
            inflight: VecDeque::new(),
            globbed: BTreeMap::new(),
        }
    }

    /// A live worker with every case in flight sent to it (a fresh worker after a crash gets
    /// the cases the dead one did not answer).
    fn worker(&mut self) -> Result<&mut Worker, String> {
        if let Some(b) = &self.broken {
            return Err(b.clone());
        }
        if self.worker.as_ref().is_none_or(|w| !w.is_alive()) {
            let spec = introspec_runner::worker_spec_for(
                &self.column,
                &self.cache,
                vec![],
                Some(introspec_runner::DEFAULT_MEMORY_LIMIT),
            );
            match Worker::start(&spec, START_TIMEOUT) {
                Ok(w) => self.worker = Some(w),
                Err(e) => {
                    self.broken = Some(e.0.clone());
                    return Err(e.0);
                }
            }
            for f in self.inflight.iter_mut() {
                f.sent = false;
            }
        }
        let w = self.worker.as_mut().unwrap();
        let unsent: Vec<&str> = self
            .inflight
            .iter()
            .filter(|f| !f.sent)
            .map(|f| f.prepared.line.as_str())
            .collect();
        if !unsent.is_empty() {
            // a failed write shows as the worker's death when its answer is read
            let _ = w.submit(&unsent);
            for f in self.inflight.iter_mut() {
                f.sent = true;
            }
        }
        Ok(w)
    }

    /// Compile `cases` (batch `batch`) and send them to the worker without waiting; read
    /// them with [`Lane::collect`]. Cases the column skips are answered at once.
    pub fn submit(&mut self, spec: &Spec, batch: u64, cases: &[&Case]) -> Vec<(usize, Judged)> {
        let t0 = Instant::now();
        let prepared: Vec<Arc<Prepared>> = cases
            .iter()
            .map(|c| Arc::new(Prepared::new(spec, c)))
            .collect();
        self.timing[0] += t0.elapsed();
        self.submit_prepared(spec, batch, cases, &prepared)
    }

    /// [`Corpus::deviations_for`], in the same order, without globbing every deviation
    /// record for every generated case: generated ids differ only in their last part (a
    /// hash), so which wildcard records match is known per prefix; exact ids are compared.
    fn deviations_for<'c>(
        &mut self,
        corpus: &'c Corpus,
        case: &'c Case,
    ) -> Vec<&'c introspec_cases::Deviation> {
        let generated = |(p, h): &(&str, &str)| {
            p.ends_with(".fuzz") && h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit())
        };
        let Some((prefix, _)) = case.id.rsplit_once('.').filter(generated) else {
            return corpus.deviations_for(case).collect();
        };
        let matches = self.globbed.entry(prefix.to_string()).or_insert_with(|| {
            let probe = format!("{prefix}.0123456789abcdef");
            corpus
                .deviations
                .iter()
                .map(|d| d.cases.contains('*') && introspec_cases::glob(&d.cases, &probe))
                .collect()
        });
        case.deviations
            .iter()
            .chain(
                corpus
                    .deviations
                    .iter()
                    .zip(matches.iter())
                    .filter(|(d, m)| **m || (!d.cases.contains('*') && d.cases == case.id))
                    .map(|(d, _)| d),
            )
            .collect()
    }

    /// The process id of the lane's worker, while it runs.
    pub fn worker_pid(&self) -> Option<u32> {
        self.worker
            .as_ref()
            .filter(|w| w.is_alive())
            .map(|w| w.pid())
    }

    /// [`Lane::submit`] with the cases already compiled (`prepared[i]` is `cases[i]`'s).
    pub fn submit_prepared(
        &mut self,
        spec: &Spec,
        batch: u64,
        cases: &[&Case],
        prepared: &[Arc<Prepared>],
    ) -> Vec<(usize, Judged)> {
        let avail = self.column.availability();
        let mut skipped = Vec::new();
        for (index, (c, p)) in cases.iter().zip(prepared).enumerate() {
            if let Some(why) = skip_reason(c, spec, &avail) {
                skipped.push((index, Judged::Skip(why)));
                continue;
            }
            self.inflight.push_back(Inflight {
                batch,
                index,
                prepared: p.clone(),
                sent: false,
            });
        }
        let _ = self.worker();
        skipped
    }

    /// Read and judge the answers to batch `batch`, which must be the oldest in flight.
    pub fn collect(
        &mut self,
        spec: &Spec,
        corpus: &Corpus,
        batch: u64,
        cases: &[&Case],
    ) -> Vec<(usize, Judged)> {
        let facts = self.column.facts();
        let avail = self.column.availability();
        let mut out = Vec::new();
        while self.inflight.front().is_some_and(|f| f.batch == batch) {
            let t1 = Instant::now();
            let id = self.inflight.front().unwrap().prepared.id.clone();
            let outcome = match self.worker() {
                Ok(w) => w.receive(&id, CASE_TIMEOUT),
                Err(e) => {
                    let f = self.inflight.pop_front().unwrap();
                    out.push((
                        f.index,
                        Judged::Done(
                            Verdict::without_checks(
                                Status::Error,
                                Reason::ColumnBroken {
                                    column: self.column.name.clone(),
                                    why: e.to_string(),
                                },
                            ),
                            None,
                        ),
                    ));
                    continue;
                }
            };
            self.timing[1] += t1.elapsed();
            let t2 = Instant::now();
            let f = self.inflight.pop_front().unwrap();
            let case = cases[f.index];
            let trial = Trial {
                spec,
                case,
                plan: &f.prepared.plan,
                column: &facts,
                availability: &avail,
                deviations: self.deviations_for(corpus, case),
            };
            // judged as the runner judges, by its one mapping of a run to a verdict
            let (verdict, result) = introspec_runner::judge_run(
                &trial,
                outcome,
                CASE_TIMEOUT,
                Some(introspec_runner::DEFAULT_MEMORY_LIMIT),
            );
            let judged = Judged::Done(verdict, result.map(Box::new));
            if !matches!(judged, Judged::Done(_, Some(_))) {
                // the worker is dead or out of step: the next read starts a fresh one
                if let Some(w) = self.worker.as_mut() {
                    w.kill();
                }
                self.worker = None;
            }
            out.push((f.index, judged));
            self.timing[2] += t2.elapsed();
        }
        out
    }

    /// Run cases on this column, several per write, and judge each (with the known
    /// deviations of `corpus` that match their ids). Nothing else may be in flight.
    pub fn run(&mut self, spec: &Spec, corpus: &Corpus, cases: &[&Case]) -> Vec<Judged> {
        const ALONE: u64 = u64::MAX;
        let mut all = self.submit(spec, ALONE, cases);
        all.extend(self.collect(spec, corpus, ALONE, cases));
        let mut out: Vec<Option<Judged>> = vec![None; cases.len()];
        for (i, j) in all {
            out[i] = Some(j);
        }
        out.into_iter()
            .map(|j| j.expect("every case judged"))
            .collect()
    }
}

/// Keep only the reads of the observables a case expects something of, per target: the judge
/// reads nothing else (a hand-written case's snapshot records every observable, for the
/// reports; a generated one is only checked).
fn trim(case: &Case, request: &mut proto::Case, plan: &mut Plan) {
    for (t, pt) in request.targets.iter_mut().zip(plan.targets.iter_mut()) {
        let wanted: BTreeSet<&str> = case
            .steps
            .iter()
            .flat_map(|s| s.after.iter().chain(s.inside.iter().flatten()))
            .filter(|e| e.target == pt.name)
            .map(|e| e.observable.as_str())
            .collect();
        let keep: Vec<bool> = pt
            .reads
            .iter()
            .map(|r| wanted.contains(r.observable.as_str()))
            .collect();
        let mut i = 0;
        t.reads.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let mut i = 0;
        pt.reads.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }
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
                .map(|s| s.op.name())
                .unwrap_or("?");
            let layer = if c.layer.is_empty() {
                String::new()
            } else {
                format!(" [{}]", c.layer)
            };
            // values vary with the program: a number is any number
            let expected: String = c
                .expected
                .split(' ')
                .map(|w| if w.parse::<i64>().is_ok() { "N" } else { w })
                .collect::<Vec<_>>()
                .join(" ");
            format!(
                "{column}: {op} {} {}{layer}: expected {}",
                c.at, c.kind, expected
            )
        }
        None => format!(
            "{column}: {} {}",
            v.status.name(),
            v.reason_text().chars().take(80).collect::<String>()
        ),
    }
}
