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
mod isolation;
mod observe;
mod values;
mod worker;

use isolation::*;
use observe::*;
use values::*;
use worker::*;

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
