//! Running columns: one column on its worker (pipelined, a crash resends what was in flight),
//! every column in order of the phases (interpreters first, then compiled), workers handed on.

use super::*;

impl<'p> Session<'p> {
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
    pub(crate) fn run_group(&self, group: &[usize], finished: &dyn Fn(usize, usize)) {
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
    pub(crate) fn hand_over(&self, from: usize, to: usize) {
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
}
