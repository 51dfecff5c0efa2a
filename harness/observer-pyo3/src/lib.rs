//! `introspec_pyo3`: the PyO3 observer of introspec.
//!
//! A worker speaking the protocol of `harness/PROTOCOL.md` from inside a CPython 3.9+ process:
//! `serve()` takes the process's stdin/stdout private, says `hello`, then answers one request
//! per line until `shutdown` or end of input. Everything a case does is done by Rust calling
//! Python through PyO3; `eval`/`exec`/`compile` are used only where the protocol says so (the
//! case source, step expressions and code, reference expressions).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::fd::FromRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use introspec_protocol::{
    decode, encode, Case, CaseError, CaseResult, EventSource, Exc, Hello, Leftover, LoadRequest,
    Loaded, ObjRef, Outcome, Request, Response, Segment, Snapshot, Step, StepRecord, Value,
    PROTOCOL_VERSION,
};
use pyo3::exceptions::{PyAttributeError, PyImportError, PyStopIteration, PySyntaxError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

mod events;

/// The observer's version, reported in `hello` and as `__version__`.
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Containers longer than this are summarised as `Obj`.
const MAX_ITEMS: usize = 50;
/// Containers nested deeper than this are summarised as `Obj` (a top-level container is at 1).
const MAX_DEPTH: u32 = 3;
/// How many `send(None)` calls drive one `asend`/`athrow`/`aclose` awaitable at most.
const DRIVE_LIMIT: usize = 10_000;
/// The namespace's `__name__` for a case run from source.
const CASE_MODULE_NAME: &str = "__introspec_case__";
/// Caches keyed by case text are dropped when they grow past this many entries.
const CACHE_LIMIT: usize = 4096;

// ---------------------------------------------------------------------------------------------
// The module.

#[pymodule]
fn introspec_pyo3(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", VERSION)?;
    m.add_function(wrap_pyfunction!(serve, m)?)?;
    m.add_class::<Observe>()?;
    Ok(())
}

/// Run the worker protocol on this process's standard input and output until `shutdown` or
/// end of input, then return.
#[pyfunction]
fn serve(py: Python<'_>) -> PyResult<()> {
    let (mut reader, mut writer) = take_channel_private(py)?;
    let hello = match catch_unwind(AssertUnwindSafe(|| hello(py))) {
        Ok(h) => h?,
        Err(p) => {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "introspec_pyo3: internal error while saying hello: {}",
                panic_text(&p)
            )))
        }
    };
    write_line(py, &mut writer, &Response::Hello(hello))?;
    let mut worker = Worker::new(py)?;
    let mut line = Vec::with_capacity(1 << 16);
    loop {
        line.clear();
        let n = py
            .detach(|| reader.read_until(b'\n', &mut line))
            .map_err(PyErr::from)?;
        if n == 0 {
            break;
        }
        match worker.handle_line(py, &line) {
            Some(resp) => write_line(py, &mut writer, &resp)?,
            None => break,
        }
    }
    // An `eval`/`exec` of a string that raised `KeyboardInterrupt` leaves CPython's "unhandled
    // keyboard interrupt" flag set (`PyRun_StringFlags` sets it), and the interpreter would then
    // kill itself with SIGINT at exit instead of exiting 0. Every `exec` of a string resets it.
    let _ = worker.exec.bind(py).call1(("", PyDict::new(py)));
    py.detach(|| writer.flush()).map_err(PyErr::from)?;
    Ok(())
}

/// Private descriptors for `/dev/null` and for the stderr pipe: what fds 0, 1 and 2 point at
/// once the channel is private. A case that closes or redirects one of them is undone after it
/// (`Baseline::restore`).
static STD_SOURCES: std::sync::OnceLock<(i32, i32)> = std::sync::OnceLock::new();

/// Duplicate fds 0 and 1 for the protocol, point fd 0 at `/dev/null` and fd 1 at fd 2, and
/// rebind `sys.stdin`/`sys.stdout` to the new fds 0 and 1.
fn take_channel_private(py: Python<'_>) -> PyResult<(BufReader<File>, BufWriter<File>)> {
    let sys = py.import("sys")?;
    let os = py.import("os")?;
    let io = py.import("io")?;
    for name in ["stdout", "stderr"] {
        if let Ok(stream) = sys.getattr(name) {
            if !stream.is_none() {
                let _ = stream.call_method0("flush");
            }
        }
    }
    let in_fd: i32 = os.call_method1("dup", (0,))?.extract()?;
    let out_fd: i32 = os.call_method1("dup", (1,))?.extract()?;
    let null: i32 = os
        .call_method1("open", (os.getattr("devnull")?, os.getattr("O_RDWR")?))?
        .extract()?;
    let err: i32 = os.call_method1("dup", (2,))?.extract()?;
    os.call_method1("dup2", (null, 0))?;
    os.call_method1("dup2", (2, 1))?;
    let _ = STD_SOURCES.set((null, err));
    sys.setattr("stdin", fresh_stream(py, &io, 0)?)?;
    sys.setattr("stdout", fresh_stream(py, &io, 1)?)?;
    // SAFETY: both descriptors were just created by `os.dup` and nothing else owns them.
    let (input, output) = unsafe { (File::from_raw_fd(in_fd), File::from_raw_fd(out_fd)) };
    Ok((
        BufReader::with_capacity(1 << 16, input),
        BufWriter::with_capacity(1 << 16, output),
    ))
}

/// A text stream over fd 0 (read) or fd 1/2 (write) that does not own its descriptor.
fn fresh_stream<'py>(
    py: Python<'py>,
    io: &Bound<'py, PyModule>,
    fd: i32,
) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("encoding", "utf-8")?;
    kwargs.set_item("closefd", false)?;
    if fd != 0 {
        kwargs.set_item("errors", "backslashreplace")?;
        kwargs.set_item("buffering", 1)?;
    }
    let mode = if fd == 0 { "r" } else { "w" };
    io.getattr("open")?.call((fd, mode), Some(&kwargs))
}

fn write_line(py: Python<'_>, out: &mut BufWriter<File>, resp: &Response) -> PyResult<()> {
    let mut text = encode(resp);
    text.push('\n');
    py.detach(|| {
        out.write_all(text.as_bytes())?;
        out.flush()
    })
    .map_err(PyErr::from)
}

fn hello(py: Python<'_>) -> PyResult<Hello> {
    let sys = py.import("sys")?;
    let implementation: String = sys.getattr("implementation")?.getattr("name")?.extract()?;
    let version: String = py
        .import("platform")?
        .call_method0("python_version")?
        .extract()?;
    let vi = sys.getattr("version_info")?;
    let version_info = (
        vi.get_item(0)?.extract()?,
        vi.get_item(1)?.extract()?,
        vi.get_item(2)?.extract()?,
        vi.get_item(3)?.extract()?,
        vi.get_item(4)?.extract()?,
    );
    let gil_disabled = py
        .import("sysconfig")?
        .call_method1("get_config_var", ("Py_GIL_DISABLED",))?;
    let free_threaded = !gil_disabled.is_none() && gil_disabled.is_truthy()?;
    let debug = sys.hasattr("gettotalrefcount")?;
    let executable = sys.getattr("executable")?;
    let executable: String = if executable.is_none() {
        String::new()
    } else {
        text(&executable.str()?)
    };
    let full: String = sys.getattr("version")?.extract()?;
    Ok(Hello {
        protocol: PROTOCOL_VERSION,
        observer: "pyo3".into(),
        observer_version: VERSION.into(),
        implementation,
        version,
        version_info,
        free_threaded,
        debug,
        executable,
        build: build_of(&full),
    })
}

/// `sys.version` after its first space, on one line, without the parentheses around the
/// build tag: `3.12.1 (main, May  9 2026, 07:35:25) [GCC 12.2.0]` gives
/// `main, May  9 2026, 07:35:25 [GCC 12.2.0]`.
fn build_of(version: &str) -> String {
    let rest = version.split_once(' ').map_or("", |(_, r)| r);
    let one_line = rest
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(inner) = one_line.strip_prefix('(') {
        if let Some((tag, after)) = inner.split_once(')') {
            return format!("{tag}{after}");
        }
    }
    one_line
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// A hasher for pointer-sized keys (addresses, masks): one multiply, no per-map random state.
#[derive(Default, Clone, Copy)]
struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

type AddrMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<AddrHasher>>;

/// A Python `str` as Rust text; each lone surrogate (which UTF-8 cannot carry) becomes one
/// U+FFFD.
fn text(s: &Bound<'_, PyString>) -> String {
    if let Ok(t) = s.to_cow() {
        return t.into_owned();
    }
    let bytes = match s.call_method1(intern!(s.py(), "encode"), ("utf-8", "surrogatepass")) {
        Ok(b) => b,
        Err(_) => return s.to_string_lossy().into_owned(),
    };
    let Ok(bytes) = bytes.extract::<Vec<u8>>() else {
        return s.to_string_lossy().into_owned();
    };
    let mut out = String::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(t) => {
                out.push_str(t);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push('\u{FFFD}');
                // A surrogate is three bytes (ED A0..BF 80..BF) under "surrogatepass".
                let skip = if bad.len() >= 3 && bad[0] == 0xED && bad[1] >= 0xA0 {
                    3
                } else {
                    e.error_len().unwrap_or(bad.len()).max(1)
                };
                rest = &bad[skip.min(bad.len())..];
            }
        }
    }
    out
}

/// `str(x)` as text, or `<unprintable T object>` when it raises.
fn exc_msg(e: &Bound<'_, PyAny>, type_name: &str) -> String {
    match e.str() {
        Ok(s) => text(&s),
        Err(_) => format!("<unprintable {type_name} object>"),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// State shared by the worker and the `observe` functions it hands to cases.

/// Interpreter objects looked up once per worker.
struct Shared {
    builtins: Py<PyModule>,
    eval: Py<PyAny>,
    next: Py<PyAny>,
    import_module: Py<PyAny>,
    int_repr: Py<PyAny>,
    /// Modules of `call` segments, imported on first use. One whose import raised
    /// `ImportError` (the read is then `Missing`) is tried again at the next read.
    modules: Mutex<HashMap<String, Py<PyAny>>>,
    /// `__name__` of static (non-heap) types, which can neither change nor be freed.
    static_type_names: Mutex<AddrMap<usize, String>>,
    /// The recording of trace and monitoring events (issue 15).
    events: events::Events,
    /// `type(f_locals)` of a function frame where that is not `dict`: PEP 667's
    /// `FrameLocalsProxy` (3.13+), summarised as the dict it stands for (harness/PROTOCOL.md).
    frame_locals_proxy: Option<Py<PyAny>>,
    /// `builtins.dict`, which copies a proxy into the dict it stands for.
    dict: Py<PyAny>,
}

/// The type of a function frame's `f_locals`, unless it is `dict` (before PEP 667, 3.13).
fn frame_locals_proxy(py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
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
    fn new(py: Python<'_>) -> PyResult<Self> {
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
    fn lookup<'py>(&self, py: Python<'py>, seg: &CallSeg) -> PyResult<Option<Bound<'py, PyAny>>> {
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

    fn type_name(&self, x: &Bound<'_, PyAny>) -> String {
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
struct CallSeg {
    /// `None` for a bare name (looked up in `builtins`).
    module: Option<String>,
    /// The module once imported, for the rest of the case.
    resolved: std::sync::OnceLock<Py<PyAny>>,
    func: Py<PyString>,
    full: String,
}

enum Seg {
    Attr { name: Py<PyString>, text: String },
    Call(CallSeg),
    Flag(Py<PyAny>),
    Events(EventSource),
}

struct TargetCtx {
    name: Py<PyString>,
    reads: Vec<Vec<Seg>>,
}

/// Everything a snapshot needs; shared between the step loop and the case's `observe`.
struct CaseCtx {
    shared: Arc<Shared>,
    ns: Py<PyDict>,
    targets: Vec<TargetCtx>,
    /// The compiled reference expressions (`None`: does not compile, matches nothing).
    refs: Vec<Option<Py<PyAny>>>,
    /// A step is running: `observe()` takes snapshots.
    active: AtomicBool,
    /// A snapshot is being taken: `observe()` calls made by it are ignored.
    busy: AtomicBool,
    inside: Mutex<Vec<Snapshot>>,
    /// The events sources the case reads: its steps run with them recorded.
    events: Option<events::Wanted>,
}

struct BusyGuard<'a>(&'a AtomicBool, bool);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.store(self.1, Ordering::SeqCst);
    }
}

impl CaseCtx {
    /// The snapshot asked for by an `observe()` call, if one is due.
    fn observe(&self, py: Python<'_>) {
        if !self.active.load(Ordering::SeqCst) || self.busy.swap(true, Ordering::SeqCst) {
            return;
        }
        let _guard = BusyGuard(&self.busy, false);
        let snap = self.snapshot(py);
        lock(&self.inside).push(snap);
    }

    /// The snapshot after a step (always taken; `observe()` calls it causes are ignored).
    fn snapshot_after(&self, py: Python<'_>) -> Snapshot {
        let was = self.busy.swap(true, Ordering::SeqCst);
        let _guard = BusyGuard(&self.busy, was);
        self.snapshot(py)
    }

    fn snapshot(&self, py: Python<'_>) -> Snapshot {
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

    fn read<'py>(
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
struct Observe {
    ctx: Mutex<Option<Arc<CaseCtx>>>,
}

#[pymethods]
impl Observe {
    fn __call__(&self, py: Python<'_>) {
        let ctx = lock(&self.ctx).clone();
        if let Some(ctx) = ctx {
            ctx.observe(py);
        }
    }

    fn __repr__(&self) -> &'static str {
        "<introspec observe>"
    }
}

// ---------------------------------------------------------------------------------------------
// Value summaries.

/// The object identities of one snapshot (or one outcome), and its lazily evaluated refs.
struct Ids<'a, 'py> {
    py: Python<'py>,
    shared: &'a Shared,
    /// The addresses of the objects given ids, in id order (searched linearly while short).
    addrs: Vec<usize>,
    /// The same, indexed, once there are many.
    map: Option<AddrMap<usize, u32>>,
    /// Keeps every object given an id alive, so that no address is reused within the table.
    keep: Vec<Bound<'py, PyAny>>,
    refs_of: Vec<Vec<u32>>,
    /// The values of the case's reference expressions, evaluated once for this table.
    ref_values: Vec<Option<Bound<'py, PyAny>>>,
}

impl<'a, 'py> Ids<'a, 'py> {
    /// A table for one snapshot or outcome; with a case, its refs are evaluated now.
    fn new(py: Python<'py>, shared: &'a Shared, ctx: Option<&'a CaseCtx>) -> Self {
        let ref_values = match ctx {
            Some(ctx) if !ctx.refs.is_empty() => {
                let eval = shared.eval.bind(py);
                let ns = ctx.ns.bind(py);
                ctx.refs
                    .iter()
                    .map(|code| code.as_ref().and_then(|c| eval.call1((c, ns)).ok()))
                    .collect()
            }
            _ => Vec::new(),
        };
        Ids {
            py,
            shared,
            addrs: Vec::new(),
            map: None,
            keep: Vec::new(),
            refs_of: Vec::new(),
            ref_values,
        }
    }

    fn exc(&mut self, err: &PyErr) -> Exc {
        let py = self.py;
        let e = err.value(py).clone().into_any();
        let type_name = self.shared.type_name(&e);
        let msg = exc_msg(&e, &type_name);
        let value = if err.is_instance_of::<PyStopIteration>(py) {
            Some(Box::new(match e.getattr(intern!(py, "value")) {
                Ok(v) => self.summarize(&v, 1),
                Err(_) => Value::None,
            }))
        } else {
            None
        };
        Exc {
            type_name,
            msg,
            value,
        }
    }

    fn summarize(&mut self, x: &Bound<'py, PyAny>, depth: u32) -> Value {
        if x.is_none() {
            return Value::None;
        }
        if let Ok(b) = x.cast::<PyBool>() {
            return Value::Bool(b.is_true());
        }
        if x.is_instance_of::<PyInt>() {
            if let Ok(i) = x.extract::<i64>() {
                return Value::Int(i);
            }
            return match self.decimal(x) {
                Ok(d) => Value::BigInt(d),
                Err(_) => self.obj(x),
            };
        }
        if let Ok(f) = x.cast::<PyFloat>() {
            // A NaN or an infinity goes out as serde_json writes it (`null`), like the
            // portable observer does.
            return Value::Float(f.value());
        }
        if let Ok(s) = x.cast::<PyString>() {
            return Value::Str(text(s));
        }
        // Containers: exactly list, tuple and dict (a subclass is an object).
        if let Ok(t) = x.cast_exact::<PyTuple>() {
            if depth <= MAX_DEPTH && t.len() <= MAX_ITEMS {
                return self.seq(t, depth);
            }
        } else if let Ok(l) = x.cast_exact::<PyList>() {
            if depth <= MAX_DEPTH && l.len() <= MAX_ITEMS {
                let t = l.to_tuple();
                return self.seq(&t, depth);
            }
        } else if let Ok(d) = x.cast_exact::<PyDict>() {
            if depth <= MAX_DEPTH && d.len() <= MAX_ITEMS {
                return self.dict(d, depth);
            }
        } else if let Some(proxy) = &self.shared.frame_locals_proxy {
            // PEP 667's FrameLocalsProxy is summarised as the dict it stands for (its
            // values are compared, not its type), within the limits of a dict.
            if x.get_type().is(proxy.bind(self.py)) && depth <= MAX_DEPTH {
                if let Ok(copy) = self.shared.dict.bind(self.py).call1((x,)) {
                    if let Ok(d) = copy.cast_exact::<PyDict>() {
                        if d.len() <= MAX_ITEMS {
                            return self.dict(d, depth);
                        }
                    }
                }
            }
        }
        self.obj(x)
    }

    /// The decimal digits of an int, also past CPython's `int_max_str_digits` limit.
    fn decimal(&self, x: &Bound<'py, PyAny>) -> PyResult<String> {
        let py = self.py;
        let int_repr = self.shared.int_repr.bind(py);
        if let Ok(s) = int_repr.call1((x,)) {
            return Ok(text(s.cast::<PyString>()?));
        }
        const CHUNK_DIGITS: usize = 1000;
        let chunk = 10i64.into_pyobject(py)?.pow(CHUNK_DIGITS, py.None())?;
        let mut n = x.abs()?;
        let mut parts = Vec::new();
        while n.is_truthy()? {
            let qr = n.divmod(&chunk)?;
            parts.push(text(
                int_repr.call1((qr.get_item(1)?,))?.cast::<PyString>()?,
            ));
            n = qr.get_item(0)?;
        }
        let mut out = String::new();
        if x.lt(0)? {
            out.push('-');
        }
        if let Some(head) = parts.pop() {
            out.push_str(&head);
        }
        for part in parts.iter().rev() {
            out.push_str(&"0".repeat(CHUNK_DIGITS - part.len()));
            out.push_str(part);
        }
        Ok(out)
    }

    fn seq(&mut self, t: &Bound<'py, PyTuple>, depth: u32) -> Value {
        let mut items = Vec::with_capacity(t.len());
        for item in t.iter() {
            items.push(self.summarize(&item, depth + 1));
        }
        Value::Seq(items)
    }

    fn dict(&mut self, d: &Bound<'py, PyDict>, depth: u32) -> Value {
        // A copy of the items: summarising runs no code that could change the dict, but the
        // list keeps every key and value alive for the snapshot anyway.
        let items = d.items().to_tuple();
        let mut pairs = Vec::with_capacity(items.len());
        for pair in items.iter() {
            let (k, v) = match pair
                .cast::<PyTuple>()
                .map(|p| (p.get_item(0), p.get_item(1)))
            {
                Ok((Ok(k), Ok(v))) => (k, v),
                _ => continue,
            };
            let k = self.summarize(&k, depth + 1);
            let v = self.summarize(&v, depth + 1);
            pairs.push((k, v));
        }
        Value::Dict(pairs)
    }

    fn obj(&mut self, x: &Bound<'py, PyAny>) -> Value {
        let ptr = x.as_ptr() as usize;
        let found = match &self.map {
            Some(map) => map.get(&ptr).copied(),
            None => self.addrs.iter().position(|&a| a == ptr).map(|i| i as u32),
        };
        let id = match found {
            Some(id) => id,
            None => {
                let id = self.keep.len() as u32;
                self.addrs.push(ptr);
                if let Some(map) = &mut self.map {
                    map.insert(ptr, id);
                } else if self.addrs.len() > 24 {
                    self.map = Some(
                        self.addrs
                            .iter()
                            .enumerate()
                            .map(|(i, &a)| (a, i as u32))
                            .collect(),
                    );
                }
                self.keep.push(x.clone());
                let refs = self.refs_matching(x);
                self.refs_of.push(refs);
                id
            }
        };
        Value::Obj(ObjRef {
            type_name: self.shared.type_name(x),
            id,
            refs: self.refs_of[id as usize].clone(),
        })
    }

    fn refs_matching(&self, x: &Bound<'py, PyAny>) -> Vec<u32> {
        self.ref_values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.as_ref().is_some_and(|v| v.is(x)))
            .map(|(i, _)| i as u32)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Isolation between cases.

struct Stream {
    name: Py<PyString>,
    fd: i32,
    saved: Py<PyAny>,
}

/// What a case may change in the worker, as it was before the case.
struct Baseline {
    dicts: Vec<(Py<PyDict>, Py<PyDict>)>,
    sys: Py<PyModule>,
    recursion_limit: i64,
    streams: Vec<Stream>,
    /// `asyncio.events`: its running loop and event loop policy are reset after each case.
    asyncio_events: Option<Py<PyModule>>,
    /// `os.fstat` and `os.dup2`, as they were before any case could replace them.
    fstat: Py<PyAny>,
    dup2: Py<PyAny>,
    /// fd 0, 1, 2 → the private descriptor it must point at, and that one's (st_dev, st_ino).
    fds: Vec<(i32, i32, (u64, u64))>,
}

/// The (st_dev, st_ino) of an open descriptor.
fn fd_id(fstat: &Bound<'_, PyAny>, fd: i32) -> PyResult<(u64, u64)> {
    let py = fstat.py();
    let st = fstat.call1((fd,))?;
    Ok((
        st.getattr(intern!(py, "st_dev"))?.extract()?,
        st.getattr(intern!(py, "st_ino"))?.extract()?,
    ))
}

impl Baseline {
    fn capture(py: Python<'_>) -> PyResult<Self> {
        let mut dicts = Vec::new();
        for name in ["inspect", "types", "asyncio"] {
            let Ok(module) = py.import(name) else {
                continue;
            };
            let live = module.getattr("__dict__")?.cast_into::<PyDict>()?;
            dicts.push((live.clone().unbind(), live.copy()?.unbind()));
        }
        let asyncio_events = py.import("asyncio.events").ok().map(Bound::unbind);
        let os = py.import("os")?;
        let fstat = os.getattr("fstat")?;
        let dup2 = os.getattr("dup2")?;
        let mut fds = Vec::new();
        if let Some(&(null, err)) = STD_SOURCES.get() {
            for (fd, source) in [(0, null), (1, err), (2, err)] {
                fds.push((fd, source, fd_id(&fstat, source)?));
            }
        }
        let sys = py.import("sys")?;
        let recursion_limit = sys.call_method0("getrecursionlimit")?.extract()?;
        let mut streams = Vec::new();
        for (name, fd) in [("stdin", 0), ("stdout", 1), ("stderr", 2)] {
            streams.push(Stream {
                name: PyString::intern(py, name).unbind(),
                fd,
                saved: sys.getattr(name)?.unbind(),
            });
        }
        Ok(Baseline {
            sys: sys.unbind(),
            dicts,
            recursion_limit,
            streams,
            asyncio_events,
            fstat: fstat.unbind(),
            dup2: dup2.unbind(),
            fds,
        })
    }

    fn restore(&mut self, py: Python<'_>) {
        // fds 0, 1 and 2 first: a fresh stream below may need its descriptor back
        let fstat = self.fstat.bind(py);
        for &(fd, source, want) in &self.fds {
            if fd_id(fstat, fd).ok() != Some(want) {
                let _ = self.dup2.bind(py).call1((source, fd));
            }
        }
        for (live, saved) in &self.dicts {
            let (live, saved) = (live.bind(py), saved.bind(py));
            if !same_dict(live, saved) {
                let old = live.items();
                live.clear();
                let _ = live.update(saved.as_mapping());
                drop(old);
            }
        }
        let sys = self.sys.bind(py);
        let limit = sys
            .call_method0(intern!(py, "getrecursionlimit"))
            .and_then(|l| l.extract::<i64>());
        if limit.ok() != Some(self.recursion_limit) {
            let _ = sys.call_method1(intern!(py, "setrecursionlimit"), (self.recursion_limit,));
        }
        for s in &mut self.streams {
            let saved = s.saved.bind(py);
            let closed = !saved.is_none()
                && saved
                    .getattr(intern!(py, "closed"))
                    .and_then(|c| c.is_truthy())
                    .unwrap_or(false);
            if closed {
                // A closed stream cannot be given back: bind a fresh one to the same fd.
                if let Ok(fresh) = py.import("io").and_then(|io| fresh_stream(py, &io, s.fd)) {
                    s.saved = fresh.unbind();
                }
            }
            let saved = s.saved.bind(py);
            let name = s.name.bind(py);
            let same = sys.getattr(name).map(|c| c.is(saved)).unwrap_or(false);
            if !same {
                let _ = sys.setattr(name, saved);
            }
        }
        if let Some(events) = &self.asyncio_events {
            reset_event_loop(events.bind(py));
        }
    }
}

/// Back to the state of a fresh worker: no running loop, and no event loop policy (the next use
/// makes a new one, with no loop set and none ever set). A loop a case left set, and not
/// running, is closed.
fn reset_event_loop(events: &Bound<'_, PyModule>) {
    let py = events.py();
    let _ = events.call_method1(intern!(py, "_set_running_loop"), (py.None(),));
    let Ok(policy) = events.getattr(intern!(py, "_event_loop_policy")) else {
        return;
    };
    if policy.is_none() {
        return;
    }
    if let Ok(lp) = policy
        .getattr(intern!(py, "_local"))
        .and_then(|l| l.getattr(intern!(py, "_loop")))
    {
        let flag = |name: &str| {
            lp.call_method0(name)
                .and_then(|v| v.is_truthy())
                .unwrap_or(true)
        };
        if !lp.is_none() && !flag("is_running") && !flag("is_closed") {
            let _ = lp.call_method0(intern!(py, "close"));
        }
    }
    let _ = events.setattr(intern!(py, "_event_loop_policy"), py.None());
}

/// `live` still holds exactly the entries of `saved`, in the same order, by identity.
fn same_dict(live: &Bound<'_, PyDict>, saved: &Bound<'_, PyDict>) -> bool {
    if live.len() != saved.len() {
        return false;
    }
    use pyo3::ffi;
    let (mut p1, mut p2): (ffi::Py_ssize_t, ffi::Py_ssize_t) = (0, 0);
    loop {
        let (mut k1, mut v1, mut k2, mut v2) = (
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        // SAFETY: both are live dicts; PyDict_Next hands out borrowed references that are only
        // compared, and no Python code runs while iterating.
        let (more1, more2) = unsafe {
            (
                ffi::PyDict_Next(live.as_ptr(), &mut p1, &mut k1, &mut v1),
                ffi::PyDict_Next(saved.as_ptr(), &mut p2, &mut k2, &mut v2),
            )
        };
        if more1 != more2 {
            return false;
        }
        if more1 == 0 {
            return true;
        }
        if k1 != k2 || v1 != v2 {
            return false;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The worker.

/// What a case left behind, found and undone after each case (kept identical to the copy in
/// harness/observer-portable/introspec_portable.py: see the test below).
const LEFTOVERS: &str = include_str!("leftovers.py");

struct Worker {
    shared: Arc<Shared>,
    compile: Py<PyAny>,
    exec: Py<PyAny>,
    baseline: Baseline,
    /// The namespace of `leftovers.py`: `leftovers_save()` before a case, and
    /// `leftovers_check(saved)` after it.
    leftovers: Py<PyDict>,
    /// `origin` → (`source`, code object): a case run again is not parsed again.
    sources: HashMap<String, (String, Py<PyAny>)>,
    /// Reference expression → its code object (`None`: it does not compile).
    ref_codes: HashMap<String, Option<Py<PyAny>>>,
    /// Interned attribute names.
    names: HashMap<String, Py<PyString>>,
    /// Flag masks as Python ints.
    masks: AddrMap<i64, Py<PyAny>>,
}

/// Ends a case for its `observe` (even when unwinding): later calls are ignored, and the cycle
/// namespace → observe → context → namespace is broken.
struct DetachObserve<'a>(&'a Py<Observe>);

impl Drop for DetachObserve<'_> {
    fn drop(&mut self) {
        if let Some(ctx) = lock(&self.0.get().ctx).take() {
            ctx.active.store(false, Ordering::SeqCst);
        }
    }
}

/// What running one operation gave.
enum StepOut<'py> {
    Returned(Bound<'py, PyAny>),
    Raised(PyErr),
    DriveLimit,
}

impl Worker {
    fn new(py: Python<'_>) -> PyResult<Self> {
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
    fn handle_line(&mut self, py: Python<'_>, line: &[u8]) -> Option<Response> {
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

    fn load(&mut self, py: Python<'_>, load: LoadRequest) -> Loaded {
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

    fn run(&mut self, py: Python<'_>, case: Case) -> CaseResult {
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

    fn leftovers_call<'py>(
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

    fn run_with(
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
    fn namespace<'py>(
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

    fn case_ctx(
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

    fn name(&mut self, py: Python<'_>, name: &str) -> Py<PyString> {
        if let Some(n) = self.names.get(name) {
            return n.clone_ref(py);
        }
        let n = PyString::intern(py, name).unbind();
        self.names.insert(name.to_string(), n.clone_ref(py));
        n
    }

    /// Run one operation. `Err` is a harness error (an unbound target).
    fn step<'py>(
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
fn drive<'py>(py: Python<'py>, awaitable: PyResult<Bound<'py, PyAny>>) -> StepOut<'py> {
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
fn case_error(py: Python<'_>, phase: &str, err: &PyErr, origin: Option<&str>) -> CaseError {
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

fn traceback_line(py: Python<'_>, err: &PyErr, origin: &str) -> Option<u32> {
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
