//! The worker: requests answered one per line (the portable observer's "Requests"), a case
//! run step by step, and how its errors are reported.

use super::*;

/// What a case left behind, found and undone after each case (kept identical to the copy in
/// harness/observer-portable/introspec_portable.py: see the test below).
pub(crate) const LEFTOVERS: &str = include_str!("leftovers.py");

pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) compile: Py<PyAny>,
    pub(crate) exec: Py<PyAny>,
    pub(crate) baseline: Baseline,
    /// The namespace of `leftovers.py`: `leftovers_save()` before a case, and
    /// `leftovers_check(saved)` after it.
    pub(crate) leftovers: Py<PyDict>,
    /// `origin` → (`source`, code object): a case run again is not parsed again.
    pub(crate) sources: HashMap<String, (String, Py<PyAny>)>,
    /// Reference expression → its code object (`None`: it does not compile).
    pub(crate) ref_codes: HashMap<String, Option<Py<PyAny>>>,
    /// Interned attribute names.
    pub(crate) names: HashMap<String, Py<PyString>>,
    /// Flag masks as Python ints.
    pub(crate) masks: AddrMap<i64, Py<PyAny>>,
}

/// Ends a case for its `observe` (even when unwinding): later calls are ignored, and the cycle
/// namespace → observe → context → namespace is broken.
pub(crate) struct DetachObserve<'a>(&'a Py<Observe>);

impl Drop for DetachObserve<'_> {
    fn drop(&mut self) {
        if let Some(ctx) = lock(&self.0.get().ctx).take() {
            ctx.active.store(false, Ordering::SeqCst);
        }
    }
}

/// What running one operation gave.
pub(crate) enum StepOut<'py> {
    Returned(Bound<'py, PyAny>),
    Raised(PyErr),
    DriveLimit,
}

impl Worker {
    pub(crate) fn new(py: Python<'_>) -> PyResult<Self> {
        let builtins = py.import("builtins")?;
        let leftovers = PyDict::new(py);
        let code =
            builtins
                .getattr("compile")?
                .call1((LEFTOVERS, "<introspec leftovers.py>", "exec"))?;
        builtins.getattr("exec")?.call1((code, &leftovers))?;
        Ok(Worker {
            shared: Arc::new(Shared::new(py)?),
            compile: builtins.getattr("compile")?.unbind(),
            exec: builtins.getattr("exec")?.unbind(),
            baseline: Baseline::capture(py)?,
            leftovers: leftovers.unbind(),
            sources: HashMap::new(),
            ref_codes: HashMap::new(),
            names: HashMap::new(),
            masks: AddrMap::default(),
        })
    }

    /// The answer to one request line; `None` for `shutdown`.
    pub(crate) fn handle_line(&mut self, py: Python<'_>, line: &[u8]) -> Option<Response> {
        let text = match std::str::from_utf8(line) {
            Ok(t) => t.trim(),
            Err(e) => {
                return Some(Response::BadRequest {
                    msg: format!("request is not UTF-8: {e}"),
                })
            }
        };
        let request: Request = match decode(text) {
            Ok(r) => r,
            Err(e) => {
                return Some(Response::BadRequest {
                    msg: format!("cannot parse request: {e}"),
                })
            }
        };
        let answer = match request {
            Request::Shutdown {} => return None,
            Request::Ping {} => return Some(Response::Pong {}),
            Request::Load(load) => {
                catch_unwind(AssertUnwindSafe(|| Response::Loaded(self.load(py, load))))
            }
            Request::Run(case) => {
                let answer =
                    catch_unwind(AssertUnwindSafe(|| Response::Result(self.run(py, case))));
                if answer.is_err() {
                    let _ = catch_unwind(AssertUnwindSafe(|| self.baseline.restore(py)));
                }
                answer
            }
        };
        Some(answer.unwrap_or_else(|p| Response::BadRequest {
            msg: format!("internal error in the observer: {}", panic_text(&p)),
        }))
    }

    pub(crate) fn load(&mut self, py: Python<'_>, load: LoadRequest) -> Loaded {
        let result = (|| -> PyResult<()> {
            if let Some(path) = &load.path {
                let sys_path = py.import("sys")?.getattr("path")?;
                let first = sys_path.get_item(0).ok();
                if !first.is_some_and(|f| f.extract::<String>().is_ok_and(|f| f == *path)) {
                    sys_path.call_method1("insert", (0, path.as_str()))?;
                }
            }
            let module = self
                .shared
                .import_module
                .bind(py)
                .call1((load.module.as_str(),))?;
            if let Some(call) = &load.call {
                module.getattr(call.as_str())?.call0()?;
            }
            Ok(())
        })();
        let error = result.err().map(|e| {
            let mut ids = Ids::new(py, &self.shared, None);
            ids.exc(&e)
        });
        // What the module installed is part of the state every case starts from.
        if let Ok(b) = Baseline::capture(py) {
            self.baseline = b;
        }
        // Everything alive now (the standard library, the observer, what was loaded) moves
        // to the permanent generation (`gc.freeze`, 3.7+): no case's object is among it, and
        // `gc.get_referrers`, which the reference implementation's `__returns_to__` calls on
        // every read, then walks the cases' objects only, not the whole heap (0.77 ms a
        // call on 3.12 with asyncio imported, 0.0003 ms frozen): the `+ref` column took five
        // times the CPU of its plain column. Collections of the cases' own garbage
        // (`gc.collect()` in a case) are unaffected.
        let _ = py.import("gc").and_then(|gc| gc.call_method0("freeze"));
        Loaded {
            module: load.module,
            error,
        }
    }

    pub(crate) fn run(&mut self, py: Python<'_>, case: Case) -> CaseResult {
        let observe = Observe {
            ctx: Mutex::new(None),
        };
        let world = self.leftovers_call(py, "leftovers_save", ());
        let (error, steps) = match Py::new(py, observe) {
            Ok(observe) => {
                let _detach = DetachObserve(&observe);
                self.run_with(py, &case, &observe)
            }
            Err(e) => (Some(case_error(py, "exec", &e, None)), Vec::new()),
        };
        // timers and handlers first: they may patch what the baseline gives back
        let left = world
            .and_then(|w| self.leftovers_call(py, "leftovers_check", (w,)))
            .and_then(|l| l.extract::<Vec<(String, bool)>>())
            .map(|l| {
                l.into_iter()
                    .map(|(what, undone)| Leftover { what, undone })
                    .collect()
            })
            .unwrap_or_else(|e| {
                vec![Leftover {
                    what: format!("the check of what the case left behind failed: {e}"),
                    undone: false,
                }]
            });
        self.baseline.restore(py);
        CaseResult {
            id: case.id,
            error,
            steps,
            left,
            // getpid(2) now: in a process a case forked, the child's
            pid: Some(std::process::id()),
        }
    }

    pub(crate) fn leftovers_call<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        args: impl pyo3::call::PyCallArgs<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let f = self
            .leftovers
            .bind(py)
            .get_item(name)?
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(name.to_string()))?;
        f.call1(args)
    }

    pub(crate) fn run_with(
        &mut self,
        py: Python<'_>,
        case: &Case,
        observe: &Py<Observe>,
    ) -> (Option<CaseError>, Vec<StepRecord>) {
        let mut steps = Vec::new();
        let ns = match self.namespace(py, case, observe) {
            Ok(ns) => ns,
            Err(e) => return (Some(e), steps),
        };
        let ctx = match self.case_ctx(py, case, &ns) {
            Ok(ctx) => Arc::new(ctx),
            Err(e) => return (Some(case_error(py, "exec", &e, None)), steps),
        };
        *lock(&observe.get().ctx) = Some(ctx.clone());
        for step in &case.steps {
            lock(&ctx.inside).clear();
            ctx.active.store(true, Ordering::SeqCst);
            let out = match ctx.events {
                None => self.step(py, &ns, step),
                Some(wanted) => match self.shared.events.around(py, &case.origin, wanted, || {
                    self.step(py, &ns, step)
                }) {
                    Ok(out) => out,
                    Err(e) => {
                        ctx.active.store(false, Ordering::SeqCst);
                        return (Some(case_error(py, "step", &e, None)), steps);
                    }
                },
            };
            ctx.active.store(false, Ordering::SeqCst);
            let inside = std::mem::take(&mut *lock(&ctx.inside));
            let out = match out {
                Ok(out) => out,
                Err(e) => return (Some(e), steps),
            };
            let outcome = {
                let mut ids = Ids::new(py, &self.shared, Some(&ctx));
                match out {
                    StepOut::Returned(v) => Outcome::Returned(ids.summarize(&v, 1)),
                    StepOut::Raised(e) => Outcome::Raised(ids.exc(&e)),
                    StepOut::DriveLimit => Outcome::Raised(Exc {
                        type_name: "IntrospecDriveLimit".into(),
                        msg: format!("awaitable not complete after {DRIVE_LIMIT} sends"),
                        value: None,
                    }),
                }
            };
            let after = ctx.snapshot_after(py);
            steps.push(StepRecord {
                outcome,
                after,
                inside,
            });
        }
        (None, steps)
    }

    /// The case namespace, with `observe` in it and the source executed.
    pub(crate) fn namespace<'py>(
        &mut self,
        py: Python<'py>,
        case: &Case,
        observe: &Py<Observe>,
    ) -> Result<Bound<'py, PyDict>, CaseError> {
        if let Some(module) = &case.module {
            let ns = (|| -> PyResult<Bound<'py, PyDict>> {
                let m = self
                    .shared
                    .import_module
                    .bind(py)
                    .call1((module.as_str(),))?;
                let ns = m.getattr("__dict__")?.cast_into::<PyDict>()?;
                ns.set_item("observe", observe.bind(py))?;
                Ok(ns)
            })();
            return ns.map_err(|e| case_error(py, "exec", &e, Some(&case.origin)));
        }
        let ns = PyDict::new(py);
        let setup = ns
            .set_item("__name__", CASE_MODULE_NAME)
            .and_then(|_| ns.set_item("observe", observe.bind(py)));
        if let Err(e) = setup {
            return Err(case_error(py, "exec", &e, None));
        }
        let code = match self.sources.get(&case.origin) {
            Some((source, code)) if *source == case.source => code.clone_ref(py).into_bound(py),
            _ => {
                let code = self
                    .compile
                    .bind(py)
                    .call1((case.source.as_str(), case.origin.as_str(), "exec", 0, true))
                    .map_err(|e| case_error(py, "compile", &e, None))?;
                if self.sources.len() >= CACHE_LIMIT {
                    self.sources.clear();
                }
                self.sources.insert(
                    case.origin.clone(),
                    (case.source.clone(), code.clone().unbind()),
                );
                code
            }
        };
        if let Err(e) = self.exec.bind(py).call1((code, &ns)) {
            return Err(case_error(py, "exec", &e, Some(&case.origin)));
        }
        Ok(ns)
    }

    pub(crate) fn case_ctx(
        &mut self,
        py: Python<'_>,
        case: &Case,
        ns: &Bound<'_, PyDict>,
    ) -> PyResult<CaseCtx> {
        if self.names.len() >= CACHE_LIMIT {
            self.names.clear();
        }
        if self.ref_codes.len() >= CACHE_LIMIT {
            self.ref_codes.clear();
        }
        let mut targets = Vec::with_capacity(case.targets.len());
        for t in &case.targets {
            let mut reads = Vec::with_capacity(t.reads.len());
            for path in &t.reads {
                let mut segs = Vec::with_capacity(path.len());
                for seg in path {
                    segs.push(match seg {
                        Segment::Attr(name) => Seg::Attr {
                            name: self.name(py, name),
                            text: name.clone(),
                        },
                        Segment::Call(full) => {
                            let (module, func) = match full.rsplit_once('.') {
                                Some((m, f)) => (Some(m.to_string()), f),
                                None => (None, full.as_str()),
                            };
                            Seg::Call(CallSeg {
                                module,
                                resolved: std::sync::OnceLock::new(),
                                func: self.name(py, func),
                                full: full.clone(),
                            })
                        }
                        Segment::Flag(mask) => Seg::Flag(match self.masks.get(mask) {
                            Some(m) => m.clone_ref(py),
                            None => {
                                let m = mask.into_pyobject(py)?.into_any().unbind();
                                self.masks.insert(*mask, m.clone_ref(py));
                                m
                            }
                        }),
                        Segment::Events(source) => Seg::Events(*source),
                    });
                }
                reads.push(segs);
            }
            targets.push(TargetCtx {
                name: self.name(py, &t.name),
                reads,
            });
        }
        let mut refs = Vec::with_capacity(case.refs.len());
        for expr in &case.refs {
            let code = match self.ref_codes.get(expr) {
                Some(c) => c.as_ref().map(|c| c.clone_ref(py)),
                None => {
                    let c = self
                        .compile
                        .bind(py)
                        // As `eval` of a string does, leading blanks are dropped.
                        .call1((
                            expr.trim_start_matches([' ', '\t']),
                            "<string>",
                            "eval",
                            0,
                            true,
                        ))
                        .ok()
                        .map(Bound::unbind);
                    self.ref_codes
                        .insert(expr.clone(), c.as_ref().map(|c| c.clone_ref(py)));
                    c
                }
            };
            refs.push(code);
        }
        Ok(CaseCtx {
            shared: self.shared.clone(),
            ns: ns.clone().unbind(),
            targets,
            refs,
            active: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            inside: Mutex::new(Vec::new()),
            events: events::Wanted::of(
                case.targets
                    .iter()
                    .flat_map(|t| &t.reads)
                    .flatten()
                    .filter_map(|seg| match seg {
                        Segment::Events(source) => Some(*source),
                        _ => None,
                    }),
            ),
        })
    }

    pub(crate) fn name(&mut self, py: Python<'_>, name: &str) -> Py<PyString> {
        if let Some(n) = self.names.get(name) {
            return n.clone_ref(py);
        }
        let n = PyString::intern(py, name).unbind();
        self.names.insert(name.to_string(), n.clone_ref(py));
        n
    }

    /// Run one operation. `Err` is a harness error (an unbound target).
    pub(crate) fn step<'py>(
        &self,
        py: Python<'py>,
        ns: &Bound<'py, PyDict>,
        step: &Step,
    ) -> Result<StepOut<'py>, CaseError> {
        let target = |name: &str| -> Result<Bound<'py, PyAny>, CaseError> {
            match ns.get_item(name) {
                Ok(Some(t)) => Ok(t),
                Ok(None) => Err(CaseError {
                    phase: "step".into(),
                    type_name: "NameError".into(),
                    msg: format!("name '{name}' is not defined"),
                    line: None,
                }),
                Err(e) => Err(case_error(py, "step", &e, None)),
            }
        };
        let eval = |expr: &str| self.shared.eval.bind(py).call1((expr, ns));
        let out = |r: PyResult<Bound<'py, PyAny>>| match r {
            Ok(v) => StepOut::Returned(v),
            Err(e) => StepOut::Raised(e),
        };
        let method_with_arg = |t: &Bound<'py, PyAny>, method: &Bound<'py, PyString>, arg: &str| {
            let m = t.getattr(method)?;
            let a = eval(arg)?;
            m.call1((a,))
        };
        Ok(match step {
            Step::Create { expr } => out(eval(expr).and_then(|v| {
                ns.set_item(intern!(py, "subject"), &v)?;
                Ok(v)
            })),
            Step::Next { target: t } => {
                let t = target(t)?;
                out(self.shared.next.bind(py).call1((t,)))
            }
            Step::Send { target: t, arg } => {
                let t = target(t)?;
                out(method_with_arg(&t, intern!(py, "send"), arg))
            }
            Step::Throw { target: t, arg } => {
                let t = target(t)?;
                out(method_with_arg(&t, intern!(py, "throw"), arg))
            }
            Step::Close { target: t } => {
                let t = target(t)?;
                out(t.call_method0(intern!(py, "close")))
            }
            Step::Asend { target: t, arg } => {
                let t = target(t)?;
                drive(py, method_with_arg(&t, intern!(py, "asend"), arg))
            }
            Step::Athrow { target: t, arg } => {
                let t = target(t)?;
                drive(py, method_with_arg(&t, intern!(py, "athrow"), arg))
            }
            Step::Aclose { target: t } => {
                let t = target(t)?;
                drive(py, t.call_method0(intern!(py, "aclose")))
            }
            Step::Eval { expr, bind } => out(eval(expr).and_then(|v| {
                if let Some(name) = bind {
                    ns.set_item(name.as_str(), &v)?;
                }
                Ok(v)
            })),
            Step::Exec { code } => out(self
                .exec
                .bind(py)
                .call1((code.as_str(), ns))
                .map(|_| py.None().into_bound(py))),
        })
    }
}

/// Drive an awaitable to completion with `send(None)`.
pub(crate) fn drive<'py>(py: Python<'py>, awaitable: PyResult<Bound<'py, PyAny>>) -> StepOut<'py> {
    let aw = match awaitable {
        Ok(aw) => aw,
        Err(e) => return StepOut::Raised(e),
    };
    let send = match aw.getattr(intern!(py, "send")) {
        Ok(s) => s,
        Err(e) => return StepOut::Raised(e),
    };
    for _ in 0..DRIVE_LIMIT {
        match send.call1((py.None(),)) {
            Ok(_) => {}
            Err(e) if e.is_instance_of::<PyStopIteration>(py) => {
                return match e.value(py).getattr(intern!(py, "value")) {
                    Ok(v) => StepOut::Returned(v),
                    Err(e) => StepOut::Raised(e),
                };
            }
            Err(e) => return StepOut::Raised(e),
        }
    }
    StepOut::DriveLimit
}

/// A case error from an exception. With `origin`, `line` is the innermost traceback line in
/// the case's own source; a `SyntaxError` gives its `lineno`.
pub(crate) fn case_error(py: Python<'_>, phase: &str, err: &PyErr, origin: Option<&str>) -> CaseError {
    let e = err.value(py);
    let type_name = e
        .get_type()
        .name()
        .map(|n| text(&n))
        .unwrap_or_else(|_| "?".into());
    let msg = exc_msg(e.as_any(), &type_name);
    let mut line = None;
    if phase == "compile" && err.is_instance_of::<PySyntaxError>(py) {
        line = e
            .getattr("lineno")
            .ok()
            .and_then(|l| l.extract::<u32>().ok());
    } else if let Some(origin) = origin {
        line = traceback_line(py, err, origin);
    }
    CaseError {
        phase: phase.into(),
        type_name,
        msg,
        line,
    }
}

pub(crate) fn traceback_line(py: Python<'_>, err: &PyErr, origin: &str) -> Option<u32> {
    let mut tb = err.traceback(py)?.into_any();
    let mut line = None;
    loop {
        let filename = tb
            .getattr("tb_frame")
            .and_then(|f| f.getattr("f_code"))
            .and_then(|c| c.getattr("co_filename"))
            .ok();
        if filename.is_some_and(|f| f.extract::<String>().is_ok_and(|f| f == origin)) {
            line = tb.getattr("tb_lineno").ok().and_then(|l| l.extract().ok());
        }
        match tb.getattr("tb_next") {
            Ok(next) if !next.is_none() => tb = next,
            _ => break,
        }
    }
    line
}
