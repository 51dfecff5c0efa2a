//! Isolation between cases (the portable observer's section of that name): what a case may
//! leave behind, saved before and restored after it.

use super::*;

pub(crate) struct Stream {
    pub(crate) name: Py<PyString>,
    pub(crate) fd: i32,
    pub(crate) saved: Py<PyAny>,
}

/// What a case may change in the worker, as it was before the case.
pub(crate) struct Baseline {
    pub(crate) dicts: Vec<(Py<PyDict>, Py<PyDict>)>,
    pub(crate) sys: Py<PyModule>,
    pub(crate) recursion_limit: i64,
    pub(crate) streams: Vec<Stream>,
    /// `asyncio.events`: its running loop and event loop policy are reset after each case.
    pub(crate) asyncio_events: Option<Py<PyModule>>,
    /// `os.fstat` and `os.dup2`, as they were before any case could replace them.
    pub(crate) fstat: Py<PyAny>,
    pub(crate) dup2: Py<PyAny>,
    /// fd 0, 1, 2 → the private descriptor it must point at, and that one's (st_dev, st_ino).
    pub(crate) fds: Vec<(i32, i32, (u64, u64))>,
}

/// The (st_dev, st_ino) of an open descriptor.
pub(crate) fn fd_id(fstat: &Bound<'_, PyAny>, fd: i32) -> PyResult<(u64, u64)> {
    let py = fstat.py();
    let st = fstat.call1((fd,))?;
    Ok((
        st.getattr(intern!(py, "st_dev"))?.extract()?,
        st.getattr(intern!(py, "st_ino"))?.extract()?,
    ))
}

impl Baseline {
    pub(crate) fn capture(py: Python<'_>) -> PyResult<Self> {
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

    pub(crate) fn restore(&mut self, py: Python<'_>) {
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
pub(crate) fn reset_event_loop(events: &Bound<'_, PyModule>) {
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
pub(crate) fn same_dict(live: &Bound<'_, PyDict>, saved: &Bound<'_, PyDict>) -> bool {
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
