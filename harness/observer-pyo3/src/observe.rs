//! State shared by the worker and the `observe` functions it hands to cases (the portable
//! observer's "Running a case": the case's targets, its records, the `observe` callable).

use super::*;

/// Interpreter objects looked up once per worker.
pub(crate) struct Shared {
    pub(crate) builtins: Py<PyModule>,
    pub(crate) eval: Py<PyAny>,
    pub(crate) next: Py<PyAny>,
    pub(crate) import_module: Py<PyAny>,
    pub(crate) int_repr: Py<PyAny>,
    /// Modules of `call` segments, imported on first use. One whose import raised
    /// `ImportError` (the read is then `Missing`) is tried again at the next read.
    pub(crate) modules: Mutex<HashMap<String, Py<PyAny>>>,
    /// `__name__` of static (non-heap) types, which can neither change nor be freed.
    pub(crate) static_type_names: Mutex<AddrMap<usize, String>>,
    /// The recording of trace and monitoring events (issue 15).
    pub(crate) events: events::Events,
    /// `type(f_locals)` of a function frame where that is not `dict`: PEP 667's
    /// `FrameLocalsProxy` (3.13+), summarised as the dict it stands for (harness/PROTOCOL.md).
    pub(crate) frame_locals_proxy: Option<Py<PyAny>>,
    /// `builtins.dict`, which copies a proxy into the dict it stands for.
    pub(crate) dict: Py<PyAny>,
}

/// The type of a function frame's `f_locals`, unless it is `dict` (before PEP 667, 3.13).
pub(crate) fn frame_locals_proxy(py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
    let builtins = py.import("builtins")?;
    let code = builtins.getattr("compile")?.call1((
        "type((lambda: __import__('sys')._getframe().f_locals)())",
        "<introspec frame locals>",
        "eval",
    ))?;
    let t = builtins
        .getattr("eval")?
        .call1((code, PyDict::new(py)))?;
    Ok((!t.is(py.get_type::<PyDict>())).then(|| t.unbind()))
}

impl Shared {
    pub(crate) fn new(py: Python<'_>) -> PyResult<Self> {
        let builtins = py.import("builtins")?;
        Ok(Shared {
            eval: builtins.getattr("eval")?.unbind(),
            next: builtins.getattr("next")?.unbind(),
            import_module: py.import("importlib")?.getattr("import_module")?.unbind(),
            int_repr: py.get_type::<PyInt>().getattr("__repr__")?.unbind(),
            builtins: builtins.unbind(),
            modules: Mutex::new(HashMap::new()),
            static_type_names: Mutex::new(AddrMap::default()),
            events: events::Events::load(py)?,
            frame_locals_proxy: frame_locals_proxy(py)?,
            dict: py.get_type::<PyDict>().into_any().unbind(),
        })
    }

    /// The function of a `call` segment: `Ok(None)` when it does not exist.
    pub(crate) fn lookup<'py>(&self, py: Python<'py>, seg: &CallSeg) -> PyResult<Option<Bound<'py, PyAny>>> {
        let module = match (&seg.module, seg.resolved.get()) {
            (None, _) => self.builtins.bind(py).clone().into_any(),
            (Some(_), Some(m)) => m.bind(py).clone(),
            (Some(name), None) => {
                let cached = lock(&self.modules).get(name).map(|m| m.clone_ref(py));
                match cached {
                    Some(m) => m.into_bound(py),
                    None => match self.import_module.bind(py).call1((name.as_str(),)) {
                        Ok(m) => {
                            lock(&self.modules).insert(name.clone(), m.clone().unbind());
                            m
                        }
                        Err(e) if e.is_instance_of::<PyImportError>(py) => return Ok(None),
                        Err(e) => return Err(e),
                    },
                }
            }
        };
        if seg.module.is_some() && seg.resolved.get().is_none() {
            let _ = seg.resolved.set(module.clone().unbind());
        }
        match module.getattr(seg.func.bind(py)) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.is_instance_of::<PyAttributeError>(py) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn type_name(&self, x: &Bound<'_, PyAny>) -> String {
        let ty = x.get_type();
        let ptr = ty.as_ptr() as usize;
        // SAFETY: `ty` is a live type object.
        let flags = unsafe { pyo3::ffi::PyType_GetFlags(ty.as_ptr().cast()) };
        let is_static = flags & pyo3::ffi::Py_TPFLAGS_HEAPTYPE == 0;
        if is_static {
            if let Some(n) = lock(&self.static_type_names).get(&ptr) {
                return n.clone();
            }
        }
        let name = match ty.name() {
            Ok(n) => text(&n),
            Err(_) => "?".to_string(),
        };
        if is_static {
            lock(&self.static_type_names).insert(ptr, name.clone());
        }
        name
    }
}

/// A `call` segment, resolved to names once per case.
pub(crate) struct CallSeg {
    /// `None` for a bare name (looked up in `builtins`).
    pub(crate) module: Option<String>,
    /// The module once imported, for the rest of the case.
    pub(crate) resolved: std::sync::OnceLock<Py<PyAny>>,
    pub(crate) func: Py<PyString>,
    pub(crate) full: String,
}

pub(crate) enum Seg {
    Attr { name: Py<PyString>, text: String },
    Call(CallSeg),
    Flag(Py<PyAny>),
    Events(EventSource),
}

pub(crate) struct TargetCtx {
    pub(crate) name: Py<PyString>,
    pub(crate) reads: Vec<Vec<Seg>>,
}

/// Everything a snapshot needs; shared between the step loop and the case's `observe`.
pub(crate) struct CaseCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) ns: Py<PyDict>,
    pub(crate) targets: Vec<TargetCtx>,
    /// The compiled reference expressions (`None`: does not compile, matches nothing).
    pub(crate) refs: Vec<Option<Py<PyAny>>>,
    /// A step is running: `observe()` takes snapshots.
    pub(crate) active: AtomicBool,
    /// A snapshot is being taken: `observe()` calls made by it are ignored.
    pub(crate) busy: AtomicBool,
    pub(crate) inside: Mutex<Vec<Snapshot>>,
    /// The events sources the case reads: its steps run with them recorded.
    pub(crate) events: Option<events::Wanted>,
}

pub(crate) struct BusyGuard<'a>(&'a AtomicBool, bool);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.store(self.1, Ordering::SeqCst);
    }
}

impl CaseCtx {
    /// The snapshot asked for by an `observe()` call, if one is due.
    pub(crate) fn observe(&self, py: Python<'_>) {
        if !self.active.load(Ordering::SeqCst) || self.busy.swap(true, Ordering::SeqCst) {
            return;
        }
        let _guard = BusyGuard(&self.busy, false);
        let snap = self.snapshot(py);
        lock(&self.inside).push(snap);
    }

    /// The snapshot after a step (always taken; `observe()` calls it causes are ignored).
    pub(crate) fn snapshot_after(&self, py: Python<'_>) -> Snapshot {
        let was = self.busy.swap(true, Ordering::SeqCst);
        let _guard = BusyGuard(&self.busy, was);
        self.snapshot(py)
    }

    pub(crate) fn snapshot(&self, py: Python<'_>) -> Snapshot {
        let mut ids = Ids::new(py, &self.shared, Some(self));
        let ns = self.ns.bind(py);
        let mut snap = Vec::with_capacity(self.targets.len());
        for t in &self.targets {
            let obj = match ns.get_item(t.name.bind(py)) {
                Ok(Some(o)) => o,
                Ok(None) => {
                    snap.push(vec![Value::Unbound; t.reads.len()]);
                    continue;
                }
                Err(e) => {
                    let v = Value::Raised(ids.exc(&e));
                    snap.push(vec![v; t.reads.len()]);
                    continue;
                }
            };
            let mut values = Vec::with_capacity(t.reads.len());
            for path in &t.reads {
                values.push(self.read(py, &obj, path, &mut ids));
            }
            snap.push(values);
        }
        snap
    }

    pub(crate) fn read<'py>(
        &self,
        py: Python<'py>,
        target: &Bound<'py, PyAny>,
        path: &[Seg],
        ids: &mut Ids<'_, 'py>,
    ) -> Value {
        let mut cur = target.clone();
        for (i, seg) in path.iter().enumerate() {
            if i > 0 && cur.is_none() {
                return Value::None;
            }
            let next = match seg {
                Seg::Attr { name, text } => match cur.getattr(name.bind(py)) {
                    Ok(v) => v,
                    Err(e) if e.is_instance_of::<PyAttributeError>(py) => {
                        return Value::Missing(text.clone())
                    }
                    Err(e) => return Value::Raised(ids.exc(&e)),
                },
                Seg::Call(call) => match self.shared.lookup(py, call) {
                    Ok(Some(f)) => match f.call1((&cur,)) {
                        Ok(v) => v,
                        Err(e) => return Value::Raised(ids.exc(&e)),
                    },
                    Ok(None) => return Value::Missing(call.full.clone()),
                    Err(e) => return Value::Raised(ids.exc(&e)),
                },
                Seg::Flag(mask) => match cur.bitand(mask.bind(py)).and_then(|v| v.is_truthy()) {
                    Ok(b) => PyBool::new(py, b).to_owned().into_any(),
                    Err(e) => return Value::Raised(ids.exc(&e)),
                },
                Seg::Events(source) => {
                    return match self.shared.events.read(py, *source) {
                        Ok(v) => v,
                        Err(e) => Value::Raised(ids.exc(&e)),
                    }
                }
            };
            cur = next;
        }
        ids.summarize(&cur, 1)
    }
}

/// The `observe` function put in every case namespace.
#[pyclass(frozen, name = "observe", module = "introspec_pyo3")]
pub(crate) struct Observe {
    pub(crate) ctx: Mutex<Option<Arc<CaseCtx>>>,
}

#[pymethods]
impl Observe {
    pub(crate) fn __call__(&self, py: Python<'_>) {
        let ctx = lock(&self.ctx).clone();
        if let Some(ctx) = ctx {
            ctx.observe(py);
        }
    }

    pub(crate) fn __repr__(&self) -> &'static str {
        "<introspec observe>"
    }
}
