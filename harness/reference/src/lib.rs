//! `async_introspection`: the reference implementation of the "asynchronous operation
//! introspection protocol" proposed in CPython issue bpo-31230
//! (<https://bugs.python.org/issue31230>, now <https://github.com/python/cpython/issues/75413>).
//!
//! The proposal gives generators, coroutines and async generators one set of attributes
//! (`__code__`, `__frame__`, `__running__`, and the contested `__delegated_to__` /
//! `__returns_to__` pair) and one state function, `inspect.getasyncstate()`. This module
//! provides the same thing as plain functions that work on an unmodified CPython 3.9+, and
//! an `install()` that grafts the attributes onto the builtin types and the function onto
//! `inspect`.
//!
//! Everything here reads the objects through their public Python attributes (`gi_*`,
//! `cr_*`, `ag_*`, `f_lasti`, `co_code`) and the `gc` module; the only C API used directly
//! is `PyType_Modified`, which is part of the stable ABI.

use pyo3::exceptions::{PyAttributeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString, PyTuple, PyType};

/// The four states of msg300475, as strings equal to their names (like `inspect.GEN_*`).
pub const ASYNC_CREATED: &str = "ASYNC_CREATED";
pub const ASYNC_RUNNING: &str = "ASYNC_RUNNING";
pub const ASYNC_SUSPENDED: &str = "ASYNC_SUSPENDED";
pub const ASYNC_CLOSED: &str = "ASYNC_CLOSED";
const STATES: [&str; 4] = [ASYNC_CREATED, ASYNC_RUNNING, ASYNC_SUSPENDED, ASYNC_CLOSED];

/// The attributes `install()` adds, in the order it adds them.
const ATTRIBUTES: [(&str, Which); 5] = [
    ("__code__", Which::Code),
    ("__frame__", Which::Frame),
    ("__running__", Which::Running),
    ("__delegated_to__", Which::DelegatedTo),
    ("__returns_to__", Which::ReturnsTo),
];

/// How deep wrapper objects may nest (a Task of a `_GeneratorWrapper` of ...).
const MAX_RESOLVE_DEPTH: usize = 16;
/// Levels of `gc.get_referrers` walked to find who delegates to an object: the object, a
/// wrapper of it (`coroutine_wrapper`, `async_generator_asend`...), a frame holding either
/// on its value stack (3.9/3.10), and the generator owning that frame.
const MAX_REFERRER_LEVELS: usize = 4;

// ---------------------------------------------------------------------------------------
// Runtime facts, computed once per interpreter
// ---------------------------------------------------------------------------------------

/// Python source run once at import to get hold of the builtin types that have no public
/// name (`coroutine_wrapper`, `async_generator_asend`, `async_generator_athrow`) and of
/// sample factories used by `install()` to check its own work.
const PROBE_SOURCE: &std::ffi::CStr = c"
import types, dis
def sample_generator():
    yield None
async def sample_coroutine():
    pass
async def sample_async_generator():
    yield None
_co = sample_coroutine()
coroutine_wrapper = type(_co.__await__())
_co.close()
_ag = sample_async_generator()
_aw = _ag.asend(None)
async_generator_asend = type(_aw)
_aw.close()
_aw = _ag.athrow(GeneratorExit)
async_generator_athrow = type(_aw)
_aw.close()
del _co, _ag, _aw
generator_wrapper = getattr(types, '_GeneratorWrapper', None)
opmap = dict(dis.opmap)
";

struct Env {
    generator: Py<PyType>,
    coroutine: Py<PyType>,
    async_generator: Py<PyType>,
    coroutine_wrapper: Py<PyType>,
    asend: Py<PyType>,
    athrow: Py<PyType>,
    generator_wrapper: Option<Py<PyType>>,
    frame: Py<PyType>,
    get_referents: Py<PyAny>,
    get_referrers: Py<PyAny>,
    samples: [Py<PyAny>; 3],
    /// `RESUME` (3.11+): a frame whose last instruction precedes the first `RESUME` has not
    /// started yet.
    op_resume: Option<u8>,
    /// `CACHE` (3.11+): inline cache entries after an instruction (3.12's `SEND_GEN` leaves
    /// `f_lasti` on the last cache entry of `SEND`).
    op_cache: Option<u8>,
    /// `YIELD_FROM` (3.9/3.10) and `SEND` (3.11+): the instructions a frame executes while it
    /// delegates through `yield from` / `await`.
    op_delegating: Vec<u8>,
    /// CPython 3.12: `Task.get_coro()` can crash on a done eager task (see resolve_task).
    get_coro_unsafe_when_done: bool,
}

static ENV: PyOnceLock<Env> = PyOnceLock::new();

fn env(py: Python<'_>) -> PyResult<&'static Env> {
    ENV.get_or_try_init(py, || {
        let ns = PyDict::new(py);
        py.run(PROBE_SOURCE, Some(&ns), None)?;
        let ty = |name: &str| -> PyResult<Py<PyType>> {
            Ok(item(&ns, name)?.cast_into::<PyType>()?.unbind())
        };
        let types = py.import("types")?;
        let gc = py.import("gc")?;
        let opmap = item(&ns, "opmap")?;
        let op = |name: &str| -> PyResult<Option<u8>> {
            match opmap.get_item(name) {
                Ok(v) => Ok(Some(v.extract::<u8>()?)),
                Err(_) => Ok(None),
            }
        };
        let generator_wrapper = item(&ns, "generator_wrapper")?;
        Ok(Env {
            generator: types
                .getattr("GeneratorType")?
                .cast_into::<PyType>()?
                .unbind(),
            coroutine: types
                .getattr("CoroutineType")?
                .cast_into::<PyType>()?
                .unbind(),
            async_generator: types
                .getattr("AsyncGeneratorType")?
                .cast_into::<PyType>()?
                .unbind(),
            coroutine_wrapper: ty("coroutine_wrapper")?,
            asend: ty("async_generator_asend")?,
            athrow: ty("async_generator_athrow")?,
            generator_wrapper: if generator_wrapper.is_none() {
                None
            } else {
                Some(generator_wrapper.cast_into::<PyType>()?.unbind())
            },
            frame: types.getattr("FrameType")?.cast_into::<PyType>()?.unbind(),
            get_referents: gc.getattr("get_referents")?.unbind(),
            get_referrers: gc.getattr("get_referrers")?.unbind(),
            samples: [
                item(&ns, "sample_generator")?.unbind(),
                item(&ns, "sample_coroutine")?.unbind(),
                item(&ns, "sample_async_generator")?.unbind(),
            ],
            op_resume: op("RESUME")?,
            op_cache: op("CACHE")?,
            op_delegating: [op("YIELD_FROM")?, op("SEND")?]
                .into_iter()
                .flatten()
                .collect(),
            get_coro_unsafe_when_done: py.version_info() >= (3, 12) && py.version_info() < (3, 13),
        })
    })
}

fn item<'py>(ns: &Bound<'py, PyDict>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    ns.get_item(name)?
        .ok_or_else(|| PyTypeError::new_err(format!("probe did not define {name}")))
}

// ---------------------------------------------------------------------------------------
// Recognising asynchronous operations
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Generator,
    Coroutine,
    AsyncGenerator,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Generator => "gi",
            Kind::Coroutine => "cr",
            Kind::AsyncGenerator => "ag",
        }
    }
    fn delegate_attr(self) -> &'static str {
        match self {
            Kind::Generator => "gi_yieldfrom",
            Kind::Coroutine => "cr_await",
            Kind::AsyncGenerator => "ag_await",
        }
    }
}

/// An object that carries the state of an asynchronous operation itself: a builtin
/// generator / coroutine / async generator, or a compiled look-alike with `gi_*` / `cr_*` /
/// `ag_*` attributes of its own (Cython).
struct Subject<'py> {
    obj: Bound<'py, PyAny>,
    kind: Kind,
    /// Cython's objects fake their frame: `gi_frame` is a synthetic frame whose `f_lasti`
    /// never moves, so CREATED and SUSPENDED cannot be told apart through it.
    synthetic_frame: bool,
}

/// What an object stands for once wrappers are looked through.
enum Target<'py> {
    Op(Subject<'py>),
    /// An `asyncio.Task` (or look-alike) whose `get_coro()` gave None: 3.12+ tasks that ran
    /// eagerly to completion drop their coroutine. The operation is over.
    FinishedTask,
}

fn type_label(obj: &Bound<'_, PyAny>) -> String {
    let ty = obj.get_type();
    let qualname = ty
        .qualname()
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "?".into());
    match ty.module().map(|s| s.to_string()) {
        Ok(m) if m != "builtins" => format!("{m}.{qualname}"),
        _ => qualname,
    }
}

fn not_async(obj: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "'{}' object is not an asynchronous operation",
        type_label(obj)
    ))
}

/// Direct subjects only (no unwrapping): the builtin types, then foreign look-alikes.
fn subject_of<'py>(env: &Env, obj: &Bound<'py, PyAny>) -> Option<Subject<'py>> {
    let py = obj.py();
    let ty = obj.get_type();
    let builtin = [
        (&env.generator, Kind::Generator),
        (&env.coroutine, Kind::Coroutine),
        (&env.async_generator, Kind::AsyncGenerator),
    ];
    for (t, kind) in builtin {
        if ty.is(t.bind(py)) {
            return Some(Subject {
                obj: obj.clone(),
                kind,
                synthetic_frame: false,
            });
        }
    }
    if let Some(w) = &env.generator_wrapper {
        // Has gi_* properties of its own, but they only forward: unwrap it instead.
        if ty.is(w.bind(py)) {
            return None;
        }
    }
    let kind = if ty.hasattr("cr_running").unwrap_or(false) {
        Kind::Coroutine
    } else if ty.hasattr("ag_running").unwrap_or(false) {
        Kind::AsyncGenerator
    } else if ty.hasattr("gi_running").unwrap_or(false) {
        Kind::Generator
    } else {
        return None;
    };
    let synthetic_frame = ty
        .module()
        .map(|m| m.to_string().starts_with("_cython_"))
        .unwrap_or(false);
    Some(Subject {
        obj: obj.clone(),
        kind,
        synthetic_frame,
    })
}

/// mypyc compiles generators and coroutines to native classes (`<func>_gen`) whose resume
/// label (`__mypyc_next_label__`) and locals live in the C struct with no Python accessor:
/// such an object exposes no code, frame, running flag or state at all.
fn is_mypyc(obj: &Bound<'_, PyAny>) -> bool {
    let Ok(d) = obj.get_type().getattr("__dict__") else {
        return false;
    };
    let Ok(keys) = d.try_iter() else {
        return false;
    };
    keys.flatten().any(|k| {
        k.extract::<String>()
            .map(|s| s.contains("mypyc"))
            .unwrap_or(false)
    })
}

fn type_name_is(obj: &Bound<'_, PyAny>, name: &str) -> bool {
    obj.get_type().name().map(|n| n == name).unwrap_or(false)
}

/// The first referent of a wrapper that resolves to an operation of kind `kind`.
fn via_referents<'py>(
    env: &Env,
    obj: &Bound<'py, PyAny>,
    kind: Kind,
    depth: usize,
) -> PyResult<Target<'py>> {
    let py = obj.py();
    let referents = env.get_referents.bind(py).call1((obj,))?;
    for r in referents.try_iter()? {
        let r = r?;
        if let Ok(Target::Op(s)) = resolve_at(env, &r, depth + 1) {
            if s.kind == kind {
                return Ok(Target::Op(s));
            }
        }
    }
    Err(PyTypeError::new_err(format!(
        "'{}' object no longer refers to its {}",
        type_label(obj),
        match kind {
            Kind::Coroutine => "coroutine",
            Kind::AsyncGenerator => "async generator",
            Kind::Generator => "generator",
        }
    )))
}

fn resolve<'py>(env: &Env, obj: &Bound<'py, PyAny>) -> PyResult<Target<'py>> {
    resolve_at(env, obj, 0)
}

fn resolve_at<'py>(env: &Env, obj: &Bound<'py, PyAny>, depth: usize) -> PyResult<Target<'py>> {
    let py = obj.py();
    if depth > MAX_RESOLVE_DEPTH {
        return Err(PyTypeError::new_err(format!(
            "'{}' object: wrappers nest too deeply",
            type_label(obj)
        )));
    }
    if let Some(s) = subject_of(env, obj) {
        return Ok(Target::Op(s));
    }
    let ty = obj.get_type();
    // types.coroutine() wraps a generator that lacks CO_ITERABLE_COROUTINE in a
    // types._GeneratorWrapper; the generator is its name-mangled `__wrapped` attribute.
    if let Some(w) = &env.generator_wrapper {
        if ty.is(w.bind(py)) {
            let inner = obj.getattr("_GeneratorWrapper__wrapped")?;
            return resolve_at(env, &inner, depth + 1);
        }
    }
    // coroutine.__await__() gives a `coroutine_wrapper` (builtin or Cython's), whose only
    // GC referent is its coroutine.
    if ty.is(env.coroutine_wrapper.bind(py)) || type_name_is(obj, "coroutine_wrapper") {
        return via_referents(env, obj, Kind::Coroutine, depth);
    }
    // agen.asend()/athrow()/aclose() give awaitables that refer to their async generator.
    if ty.is(env.asend.bind(py))
        || ty.is(env.athrow.bind(py))
        || type_name_is(obj, "async_generator_asend")
        || type_name_is(obj, "async_generator_athrow")
    {
        return via_referents(env, obj, Kind::AsyncGenerator, depth);
    }
    // asyncio.Task and look-alikes (anything future-like with get_coro()).
    if ty.hasattr("get_coro").unwrap_or(false)
        && ty.hasattr("_asyncio_future_blocking").unwrap_or(false)
    {
        return resolve_task(env, obj, depth);
    }
    if is_mypyc(obj) {
        return Err(PyTypeError::new_err(format!(
            "'{}' object is compiled by mypyc, which exposes no code, frame, running flag or \
             resume state to Python: it cannot be introspected",
            type_label(obj)
        )));
    }
    Err(not_async(obj))
}

/// A Task's coroutine. `get_coro()` is the API, but CPython 3.12's C Task drops the
/// coroutine of an eager task that completed synchronously and 3.12.0/3.12.1's `get_coro()`
/// then dereferences NULL (a segfault, seen on 3.12.1). So on 3.12 a done C Task is read
/// through its GC referents instead (TaskObj_traverse visits the coroutine before the result).
fn resolve_task<'py>(env: &Env, obj: &Bound<'py, PyAny>, depth: usize) -> PyResult<Target<'py>> {
    let py = obj.py();
    let done = obj.call_method0("done")?.is_truthy()?;
    let c_method = obj
        .get_type()
        .getattr("get_coro")?
        .get_type()
        .name()
        .map(|n| n == "method_descriptor")
        .unwrap_or(false);
    if done && c_method && env.get_coro_unsafe_when_done {
        let referents = env.get_referents.bind(py).call1((obj,))?;
        for r in referents.try_iter()? {
            let r = r?;
            if let Some(s) = subject_of(env, &r) {
                return Ok(Target::Op(s));
            }
        }
        return Ok(Target::FinishedTask);
    }
    let coro = obj.call_method0("get_coro")?;
    if coro.is_none() {
        return Ok(Target::FinishedTask);
    }
    resolve_at(env, &coro, depth + 1)
}

fn resolve_subject<'py>(env: &Env, obj: &Bound<'py, PyAny>) -> PyResult<Option<Subject<'py>>> {
    Ok(match resolve(env, obj)? {
        Target::Op(s) => Some(s),
        Target::FinishedTask => None,
    })
}

impl<'py> Subject<'py> {
    fn attr(&self, suffix: &str) -> PyResult<Bound<'py, PyAny>> {
        let name = format!("{}_{}", self.kind.prefix(), suffix);
        self.named(&name)
    }

    fn named(&self, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let py = self.obj.py();
        self.obj.getattr(name).map_err(|e| {
            if e.is_instance_of::<PyAttributeError>(py) {
                PyTypeError::new_err(format!(
                    "'{}' object exposes no {name}",
                    type_label(&self.obj)
                ))
            } else {
                e
            }
        })
    }

    fn code(&self) -> PyResult<Bound<'py, PyAny>> {
        self.attr("code")
    }

    fn frame(&self) -> PyResult<Bound<'py, PyAny>> {
        self.attr("frame")
    }

    fn running(&self) -> PyResult<bool> {
        self.attr("running")?.is_truthy()
    }

    fn delegate(&self) -> PyResult<Bound<'py, PyAny>> {
        self.named(self.kind.delegate_attr())
    }

    /// The state rule (documented in README.md):
    ///  1. the running flag is true                      -> ASYNC_RUNNING
    ///  2. the frame is None                             -> ASYNC_CLOSED
    ///  3. the runtime has gi_/cr_/ag_suspended          -> ASYNC_SUSPENDED if true, else ASYNC_CREATED
    ///  4. the frame has not executed an instruction yet -> ASYNC_CREATED, else ASYNC_SUSPENDED
    ///     (f_lasti == -1 on 3.9/3.10; on 3.11+ f_lasti lies before the code's first RESUME)
    fn state(&self, env: &Env) -> PyResult<&'static str> {
        if self.running()? {
            return Ok(ASYNC_RUNNING);
        }
        let frame = self.frame().map_err(|e| {
            PyTypeError::new_err(format!(
                "{}: its state cannot be determined",
                e.value(self.obj.py())
            ))
        })?;
        if frame.is_none() {
            return Ok(ASYNC_CLOSED);
        }
        let suspended_attr = format!("{}_suspended", self.kind.prefix());
        if self.obj.get_type().hasattr(suspended_attr.as_str())? {
            return Ok(if self.obj.getattr(suspended_attr)?.is_truthy()? {
                ASYNC_SUSPENDED
            } else {
                ASYNC_CREATED
            });
        }
        if self.synthetic_frame {
            return Err(PyTypeError::new_err(format!(
                "'{}' object (Cython) exposes a synthetic frame and no resume state: \
                 ASYNC_CREATED and ASYNC_SUSPENDED cannot be told apart",
                type_label(&self.obj)
            )));
        }
        Ok(if frame_not_started(env, &frame)? {
            ASYNC_CREATED
        } else {
            ASYNC_SUSPENDED
        })
    }
}

fn frame_code_bytes<'py>(frame: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    Ok(frame
        .getattr("f_code")?
        .getattr("co_code")?
        .cast_into::<PyBytes>()?)
}

fn frame_not_started(env: &Env, frame: &Bound<'_, PyAny>) -> PyResult<bool> {
    let lasti: i64 = frame.getattr("f_lasti")?.extract()?;
    if lasti < 0 {
        return Ok(true);
    }
    let Some(resume) = env.op_resume else {
        return Ok(false);
    };
    let code = frame_code_bytes(frame)?;
    let code = code.as_bytes();
    // Instructions are 2-byte code units; the first RESUME marks the start of the body.
    let first_resume = code
        .chunks_exact(2)
        .position(|unit| unit[0] == resume)
        .map(|i| (i * 2) as i64);
    Ok(match first_resume {
        Some(offset) => lasti < offset,
        None => false,
    })
}

/// The opcode a frame is executing (or suspended in), looking through inline caches.
fn current_opcode(env: &Env, frame: &Bound<'_, PyAny>) -> PyResult<Option<u8>> {
    let lasti: i64 = frame.getattr("f_lasti")?.extract()?;
    if lasti < 0 {
        return Ok(None);
    }
    let code = frame_code_bytes(frame)?;
    let code = code.as_bytes();
    let mut i = (lasti as usize) & !1;
    if i >= code.len() {
        return Ok(None);
    }
    if let Some(cache) = env.op_cache {
        while i >= 2 && code[i] == cache {
            i -= 2;
        }
    }
    Ok(Some(code[i]))
}

// ---------------------------------------------------------------------------------------
// __returns_to__: the inverse of __delegated_to__
// ---------------------------------------------------------------------------------------

/// Does `candidate` resolve (through wrappers) to the same operation as `target`?
fn resolves_to(env: &Env, candidate: &Bound<'_, PyAny>, target: &Bound<'_, PyAny>) -> bool {
    if candidate.is(target) {
        return true;
    }
    matches!(resolve(env, candidate), Ok(Target::Op(s)) if s.obj.is(target))
}

fn is_wrapper(env: &Env, obj: &Bound<'_, PyAny>) -> bool {
    let py = obj.py();
    let ty = obj.get_type();
    ty.is(env.coroutine_wrapper.bind(py))
        || ty.is(env.asend.bind(py))
        || ty.is(env.athrow.bind(py))
        || env
            .generator_wrapper
            .as_ref()
            .is_some_and(|w| ty.is(w.bind(py)))
        || type_name_is(obj, "coroutine_wrapper")
        || type_name_is(obj, "async_generator_asend")
        || type_name_is(obj, "async_generator_athrow")
}

/// The operation whose frame is `frame`, found among the frame's GC referrers.
fn owner_of_frame<'py>(env: &Env, frame: &Bound<'py, PyAny>) -> PyResult<Option<Subject<'py>>> {
    let py = frame.py();
    let referrers = env.get_referrers.bind(py).call1((frame,))?;
    for r in referrers.try_iter()? {
        let r = r?;
        if let Some(s) = subject_of(env, &r) {
            if let Ok(f) = s.frame() {
                if f.is(frame) {
                    return Ok(Some(s));
                }
            }
        }
    }
    Ok(None)
}

fn returns_to_running<'py>(
    env: &Env,
    target: &Subject<'py>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Ok(frame) = target.frame() else {
        return Ok(None);
    };
    if frame.is_none() {
        return Ok(None);
    }
    let back = frame.getattr("f_back")?;
    if back.is_none() {
        return Ok(None);
    }
    match current_opcode(env, &back)? {
        Some(op) if env.op_delegating.contains(&op) => {}
        _ => return Ok(None),
    }
    Ok(owner_of_frame(env, &back)?.map(|s| s.obj))
}

fn returns_to<'py>(env: &Env, target: &Subject<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = target.obj.py();
    if target.running()? {
        // While the delegation runs, CPython hides it: the delegating frame's
        // gi_yieldfrom/cr_await reads None. The running object's frame was resumed by its
        // f_back; if that frame is executing YIELD_FROM/SEND, its owner delegates here.
        // (An async generator's ag_running stays true while an asend() is in flight, even
        // when its frame is suspended in an await: then there is no f_back, and the
        // referrer search below applies.)
        if let Some(found) = returns_to_running(env, target)? {
            return Ok(Some(found));
        }
    }
    // Suspended: search the GC referrers for an operation whose delegate resolves here.
    // The delegating operation holds the delegate (or a wrapper of it) on its value stack:
    // inside the generator object itself on 3.11+, inside its frame object on 3.9/3.10.
    let mut frontier: Vec<Bound<'py, PyAny>> = vec![target.obj.clone()];
    for _ in 0..MAX_REFERRER_LEVELS {
        let args = PyTuple::new(py, &frontier)?;
        let referrers = env.get_referrers.bind(py).call1(args)?;
        let mut next = Vec::new();
        for r in referrers.try_iter()? {
            let r = r?;
            if frontier.iter().any(|f| f.is(&r)) {
                continue;
            }
            if let Some(s) = subject_of(env, &r) {
                if s.obj.is(&target.obj) {
                    continue;
                }
                if let Ok(d) = s.delegate() {
                    if !d.is_none() && resolves_to(env, &d, &target.obj) {
                        return Ok(Some(s.obj));
                    }
                }
                continue;
            }
            let is_frame = r.get_type().is(env.frame.bind(py));
            if (is_frame || is_wrapper(env, &r))
                && !next.iter().any(|n: &Bound<'py, PyAny>| n.is(&r))
            {
                next.push(r);
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------
// The public functions
// ---------------------------------------------------------------------------------------

fn state_of(env: &Env, obj: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    match resolve(env, obj)? {
        Target::Op(s) => s.state(env),
        Target::FinishedTask => Ok(ASYNC_CLOSED),
    }
}

/// getasyncstate(obj) -> str
///
/// The state of a generator, coroutine or async generator (or of a wrapper of one:
/// types.coroutine's _GeneratorWrapper, coroutine.__await__()'s coroutine_wrapper,
/// agen.asend()/athrow()/aclose() awaitables, asyncio.Task): one of ASYNC_CREATED,
/// ASYNC_RUNNING, ASYNC_SUSPENDED, ASYNC_CLOSED. Raises TypeError for anything else.
#[pyfunction]
fn getasyncstate<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    let py = obj.py();
    let env = env(py)?;
    Ok(PyString::intern(py, state_of(env, obj)?))
}

/// getcode(obj) -> code
///
/// The code object of the asynchronous operation (gi_code / cr_code / ag_code).
#[pyfunction]
fn getcode<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let env = env(obj.py())?;
    match resolve_subject(env, obj)? {
        Some(s) => s.code(),
        None => Err(PyTypeError::new_err(format!(
            "'{}' object has finished and dropped its coroutine: no code to report",
            type_label(obj)
        ))),
    }
}

/// getframe(obj) -> frame or None
///
/// The frame of the asynchronous operation (gi_frame / cr_frame / ag_frame); None once it
/// has finished.
#[pyfunction]
fn getframe<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let env = env(py)?;
    match resolve_subject(env, obj)? {
        Some(s) => s.frame(),
        None => Ok(py.None().into_bound(py)),
    }
}

/// isrunning(obj) -> bool
///
/// Whether the asynchronous operation is executing right now (gi_running / cr_running /
/// ag_running).
#[pyfunction]
fn isrunning(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let env = env(obj.py())?;
    match resolve_subject(env, obj)? {
        Some(s) => s.running(),
        None => Ok(false),
    }
}

/// getdelegate(obj) -> object or None
///
/// __delegated_to__: the object this operation's `yield from` / `await` currently delegates
/// to, exactly as gi_yieldfrom / cr_await / ag_await report it.
#[pyfunction]
fn getdelegate<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let env = env(py)?;
    match resolve_subject(env, obj)? {
        Some(s) => s.delegate(),
        None => Ok(py.None().into_bound(py)),
    }
}

/// getreturnsto(obj) -> generator, coroutine, async generator or None
///
/// __returns_to__: the operation whose `yield from` / `await` is currently delegating to
/// this one (directly or through a coroutine_wrapper / asend / athrow wrapper of it), or
/// None. Found through gc.get_referrers (suspended) or the frame's f_back (running), so it
/// costs a scan of the GC-tracked objects.
#[pyfunction]
fn getreturnsto<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let env = env(py)?;
    let found = match resolve_subject(env, obj)? {
        Some(s) => returns_to(env, &s)?,
        None => None,
    };
    Ok(found.unwrap_or_else(|| py.None().into_bound(py)))
}

/// unwrap(obj) -> generator, coroutine, async generator (or compiled look-alike)
///
/// The object that carries the state of `obj`: `obj` itself for a generator, coroutine or
/// async generator; the wrapped one for a wrapper; a Task's coroutine (None if it dropped it).
#[pyfunction]
fn unwrap<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let env = env(py)?;
    Ok(match resolve_subject(env, obj)? {
        Some(s) => s.obj,
        None => py.None().into_bound(py),
    })
}

// ---------------------------------------------------------------------------------------
// The descriptors install() adds
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Which {
    Code,
    Frame,
    Running,
    DelegatedTo,
    ReturnsTo,
}

/// A read-only data descriptor for one protocol attribute (`__frame__`...), installed into
/// a type's dict by install().
#[pyclass(module = "async_introspection", name = "async_attribute", frozen)]
struct AsyncAttribute {
    name: &'static str,
    which: Which,
    owner: String,
}

#[pymethods]
impl AsyncAttribute {
    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        obj: Option<Bound<'py, PyAny>>,
        _owner: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let Some(obj) = obj.filter(|o| !o.is_none()) else {
            return Ok(slf.clone().into_any());
        };
        let this = slf.get();
        let result = match this.which {
            Which::Code => getcode(&obj),
            Which::Frame => getframe(&obj),
            Which::Running => isrunning(&obj).map(|b| PyBool::new(py, b).to_owned().into_any()),
            Which::DelegatedTo => getdelegate(&obj),
            Which::ReturnsTo => getreturnsto(&obj),
        };
        // Attribute access must fail with AttributeError so that hasattr() works.
        result.map_err(|e| {
            if e.is_instance_of::<PyAttributeError>(py) {
                e
            } else {
                PyAttributeError::new_err(format!("{}: {}", this.name, e.value(py)))
            }
        })
    }

    fn __set__(&self, _obj: Bound<'_, PyAny>, _value: Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyAttributeError::new_err(format!(
            "attribute '{}' of '{}' objects is not writable",
            self.name, self.owner
        )))
    }

    fn __delete__(&self, _obj: Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyAttributeError::new_err(format!(
            "attribute '{}' of '{}' objects is not writable",
            self.name, self.owner
        )))
    }

    #[getter]
    fn __name__(&self) -> &'static str {
        self.name
    }

    fn __repr__(&self) -> String {
        format!(
            "<attribute '{}' of '{}' objects (async_introspection)>",
            self.name, self.owner
        )
    }
}

// ---------------------------------------------------------------------------------------
// install()
// ---------------------------------------------------------------------------------------

struct Report<'py> {
    installed: Bound<'py, PyList>,
    newly: Bound<'py, PyList>,
    native: Bound<'py, PyList>,
    failed: Bound<'py, PyDict>,
}

/// The dict behind a type's read-only `__dict__` mappingproxy: its only GC referent.
fn real_type_dict<'py>(env: &Env, ty: &Bound<'py, PyType>) -> Result<Bound<'py, PyDict>, String> {
    let py = ty.py();
    let proxy = ty.getattr("__dict__").map_err(|e| e.to_string())?;
    let referents = env
        .get_referents
        .bind(py)
        .call1((&proxy,))
        .map_err(|e| e.to_string())?;
    let first = referents
        .get_item(0)
        .map_err(|_| "gc.get_referents(type.__dict__) is empty".to_string())?;
    let dict = first
        .cast_into::<PyDict>()
        .map_err(|_| "gc.get_referents(type.__dict__)[0] is not a dict".to_string())?;
    let same = dict.len() == proxy.len().unwrap_or(usize::MAX) && dict.eq(&proxy).unwrap_or(false);
    if !same {
        return Err("gc.get_referents(type.__dict__)[0] is not the type's dict".into());
    }
    Ok(dict)
}

fn is_ours(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<AsyncAttribute>()
}

/// Check an installed attribute on a fresh sample object against the accessor functions.
fn verify(py: Python<'_>, env: &Env, kind_index: usize, name: &str) -> Result<(), String> {
    {
        let make = env.samples[kind_index].bind(py);
        let sample = make.call0().map_err(|e| e.to_string())?;
        let outcome = (|| -> PyResult<bool> {
            let got = sample.getattr(name)?;
            let (prefix, delegate) = match kind_index {
                0 => ("gi", "gi_yieldfrom"),
                1 => ("cr", "cr_await"),
                _ => ("ag", "ag_await"),
            };
            Ok(match name {
                "__code__" => got.is(sample.getattr(format!("{prefix}_code"))?),
                "__frame__" => got.is(sample.getattr(format!("{prefix}_frame"))?),
                "__running__" => got.is(sample.getattr(format!("{prefix}_running"))?),
                "__delegated_to__" => got.is(sample.getattr(delegate)?),
                _ => got.is_none(),
            })
        })();
        if kind_index == 1 {
            let _ = sample.call_method0("close");
        }
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err("installed, but reads a different value than the accessor".into()),
            Err(e) => Err(format!("installed, but reading it raised {e}")),
        }
    }
}

fn install_into_builtin(
    env: &Env,
    report: &Report<'_>,
    label: &str,
    ty: &Bound<'_, PyType>,
    kind_index: usize,
) -> PyResult<()> {
    let py = ty.py();
    let dict = match real_type_dict(env, ty) {
        Ok(d) => d,
        Err(reason) => {
            for (name, _) in ATTRIBUTES {
                report.failed.set_item(format!("{label}.{name}"), &reason)?;
            }
            return Ok(());
        }
    };
    let mut added = Vec::new();
    for (name, which) in ATTRIBUTES {
        let key = format!("{label}.{name}");
        match dict.get_item(name)? {
            Some(v) if is_ours(&v) => report.installed.append(&key)?,
            Some(_) => report.native.append(&key)?,
            None => {
                let attr = Bound::new(
                    py,
                    AsyncAttribute {
                        name,
                        which,
                        owner: label.to_string(),
                    },
                )?;
                dict.set_item(name, attr)?;
                added.push((name, key));
            }
        }
    }
    if added.is_empty() {
        return Ok(());
    }
    // The type's attribute cache (and, on 3.11+, the specialising interpreter's inline
    // caches, keyed on the type's version tag) must forget what they knew.
    // SAFETY: `ty` is a live type object; PyType_Modified is in the stable ABI.
    unsafe { pyo3::ffi::PyType_Modified(ty.as_type_ptr()) };
    let mut removed = false;
    for (name, key) in added {
        match verify(py, env, kind_index, name) {
            Ok(()) => {
                report.installed.append(&key)?;
                report.newly.append(&key)?;
            }
            Err(reason) => {
                dict.del_item(name)?;
                removed = true;
                report.failed.set_item(&key, reason)?;
            }
        }
    }
    if removed {
        // SAFETY: as above.
        unsafe { pyo3::ffi::PyType_Modified(ty.as_type_ptr()) };
    }
    Ok(())
}

fn install_into_class(report: &Report<'_>, label: &str, ty: &Bound<'_, PyType>) -> PyResult<()> {
    let py = ty.py();
    let dict = ty.getattr("__dict__")?;
    for (name, which) in ATTRIBUTES {
        let key = format!("{label}.{name}");
        match dict.get_item(name) {
            Ok(v) if is_ours(&v) => report.installed.append(&key)?,
            Ok(_) => report.native.append(&key)?,
            Err(_) => {
                let attr = Bound::new(
                    py,
                    AsyncAttribute {
                        name,
                        which,
                        owner: label.to_string(),
                    },
                )?;
                match ty.setattr(name, attr) {
                    Ok(()) => {
                        report.installed.append(&key)?;
                        report.newly.append(&key)?;
                    }
                    Err(e) => report.failed.set_item(&key, e.to_string())?,
                }
            }
        }
    }
    Ok(())
}

/// Add `name` to `inspect.__all__` (a list) unless it is there: a constant has no
/// `__module__` of its own, so `from inspect import *` and CPython's own
/// `support.check__all__(self, inspect)` (test_inspect's `test__all__`) expect every public
/// one in `__all__`. `getasyncstate`, whose `__module__` is this module, is not added: the
/// same check leaves names of other modules out of `__all__`.
fn export_from_inspect(inspect: &Bound<'_, PyModule>, name: &str) -> PyResult<()> {
    if let Ok(all) = inspect.getattr("__all__") {
        if let Ok(list) = all.cast::<PyList>() {
            if !list.contains(name)? {
                list.append(name)?;
            }
        }
    }
    Ok(())
}

/// install() -> dict
///
/// Make the bpo-31230 protocol look native in this interpreter: add the read-only
/// attributes __code__, __frame__, __running__, __delegated_to__ and __returns_to__ to the
/// builtin generator, coroutine and async_generator types (and to types._GeneratorWrapper),
/// and set inspect.getasyncstate and inspect.ASYNC_CREATED/RUNNING/SUSPENDED/CLOSED (the
/// constants also in inspect.__all__).
///
/// Never raises for an unsupported runtime: returns a report
///   {"runtime": str, "complete": bool,
///    "installed": [names now provided by this module],
///    "newly_installed": [names this call added],
///    "native": [names the runtime already had, left alone],
///    "failed": {name: reason}}
/// Idempotent: a second call adds nothing and reports the same "installed".
#[pyfunction]
#[pyo3(pass_module)]
fn install<'py>(this: &Bound<'py, PyModule>) -> PyResult<Bound<'py, PyDict>> {
    let py = this.py();
    let env = env(py)?;
    let report = Report {
        installed: PyList::empty(py),
        newly: PyList::empty(py),
        native: PyList::empty(py),
        failed: PyDict::new(py),
    };
    let sys = py.import("sys")?;
    let implementation: String = sys.getattr("implementation")?.getattr("name")?.extract()?;
    let version = sys.getattr("version_info")?;
    let runtime = format!(
        "{} {}.{}.{}",
        implementation,
        version.get_item(0)?,
        version.get_item(1)?,
        version.get_item(2)?
    );

    let builtins = [
        ("generator", env.generator.bind(py), 0usize),
        ("coroutine", env.coroutine.bind(py), 1),
        ("async_generator", env.async_generator.bind(py), 2),
    ];
    if implementation == "cpython" {
        for (label, ty, idx) in builtins {
            install_into_builtin(env, &report, label, ty, idx)?;
        }
    } else {
        for (label, _, _) in builtins {
            for (name, _) in ATTRIBUTES {
                report.failed.set_item(
                    format!("{label}.{name}"),
                    format!("{implementation} is not CPython: its builtin types are not patched"),
                )?;
            }
        }
    }
    if let Some(w) = &env.generator_wrapper {
        install_into_class(&report, "types._GeneratorWrapper", w.bind(py))?;
    }

    // inspect.getasyncstate and the ASYNC_* constants.
    let inspect = py.import("inspect")?;
    let ours_fn = this.getattr("getasyncstate")?;
    let mut wanted: Vec<(String, Bound<'py, PyAny>)> =
        vec![("getasyncstate".into(), ours_fn.clone())];
    for s in STATES {
        wanted.push((s.into(), PyString::intern(py, s).into_any()));
    }
    for (name, value) in wanted {
        let key = format!("inspect.{name}");
        match inspect.getattr(name.as_str()) {
            Ok(existing) => {
                let same = existing.is(&value)
                    || (name != "getasyncstate" && existing.eq(&value).unwrap_or(false));
                if same {
                    report.installed.append(&key)?;
                } else {
                    report.native.append(&key)?;
                }
            }
            Err(_) => match inspect.setattr(name.as_str(), &value) {
                Ok(()) => {
                    report.installed.append(&key)?;
                    report.newly.append(&key)?;
                    if name != "getasyncstate" {
                        export_from_inspect(&inspect, &name)?;
                    }
                }
                Err(e) => report.failed.set_item(&key, e.to_string())?,
            },
        }
    }

    let out = PyDict::new(py);
    out.set_item("runtime", runtime)?;
    out.set_item("complete", report.failed.is_empty())?;
    out.set_item("installed", &report.installed)?;
    out.set_item("newly_installed", &report.newly)?;
    out.set_item("native", &report.native)?;
    out.set_item("failed", &report.failed)?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The module
// ---------------------------------------------------------------------------------------

/// Reference implementation of the bpo-31230 "asynchronous operation introspection"
/// protocol: getasyncstate(), getcode(), getframe(), isrunning(), getdelegate(),
/// getreturnsto(), unwrap(), and install() to make the protocol native-looking.
#[pymodule]
fn async_introspection(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    env(py)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    for s in STATES {
        m.add(s, PyString::intern(py, s))?;
    }
    m.add_function(wrap_pyfunction!(getasyncstate, m)?)?;
    m.add_function(wrap_pyfunction!(getcode, m)?)?;
    m.add_function(wrap_pyfunction!(getframe, m)?)?;
    m.add_function(wrap_pyfunction!(isrunning, m)?)?;
    m.add_function(wrap_pyfunction!(getdelegate, m)?)?;
    m.add_function(wrap_pyfunction!(getreturnsto, m)?)?;
    m.add_function(wrap_pyfunction!(unwrap, m)?)?;
    m.add_function(wrap_pyfunction!(install, m)?)?;
    m.add_class::<AsyncAttribute>()?;
    Ok(())
}
