//! The events layer (issue 15): what `sys.settrace` and `sys.monitoring` deliver during each
//! step of a case that has an `events:…` read. The recording is `events.py`, one text with the
//! portable observer (harness/worker/src/observers.rs puts it into that file); this module
//! loads it once per worker and calls it around the steps and for the reads.

use introspec_protocol::{EventSource, Value};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

/// The recording's text.
const EVENTS: &str = include_str!("events.py");

/// `events_start`, `events_stop` and `events_read` of `events.py`.
pub(crate) struct Events {
    start: Py<PyAny>,
    stop: Py<PyAny>,
    read: Py<PyAny>,
}

/// Which sources the steps of a case record: `None` when the case reads no events, and then
/// its steps run with no tracing at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub trace: bool,
    pub monitoring: bool,
}

impl Wanted {
    /// The sources read by some read of the case, if any.
    pub fn of(sources: impl IntoIterator<Item = EventSource>) -> Option<Wanted> {
        let mut w = Wanted {
            trace: false,
            monitoring: false,
        };
        for s in sources {
            match s {
                EventSource::Settrace => w.trace = true,
                EventSource::Monitoring => w.monitoring = true,
            }
        }
        (w.trace || w.monitoring).then_some(w)
    }
}

impl Events {
    pub fn load(py: Python<'_>) -> PyResult<Events> {
        let builtins = py.import("builtins")?;
        let ns = PyDict::new(py);
        let code = builtins
            .getattr("compile")?
            .call1((EVENTS, "<introspec events.py>", "exec"))?;
        builtins.getattr("exec")?.call1((code, &ns))?;
        let get = |name: &str| -> PyResult<Py<PyAny>> {
            ns.get_item(name)?
                .map(Bound::unbind)
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(name.to_string()))
        };
        Ok(Events {
            start: get("events_start")?,
            stop: get("events_stop")?,
            read: get("events_read")?,
        })
    }

    /// Run `op` with the events of code compiled from `origin` recorded, and every tracer and
    /// tool id the step found given back after it. `Err` when the recording could not start
    /// (then `op` is not run) or stop: the case ends with that error (phase `step`), as in the
    /// portable observer.
    pub fn around<T>(
        &self,
        py: Python<'_>,
        origin: &str,
        wanted: Wanted,
        op: impl FnOnce() -> T,
    ) -> PyResult<T> {
        self.start
            .bind(py)
            .call1((origin, wanted.trace, wanted.monitoring))?;
        let out = op();
        self.stop.bind(py).call0()?;
        Ok(out)
    }

    /// The value of an `events:SOURCE` read: the texts recorded so far in the step, or
    /// `Missing` where the interpreter has no such source.
    pub fn read(&self, py: Python<'_>, source: EventSource) -> PyResult<Value> {
        let v = self.read.bind(py).call1((source.name(),))?;
        if v.is_none() {
            return Ok(Value::Missing(source.missing_name().into()));
        }
        let list = v.cast_into::<PyList>()?;
        let mut out = Vec::with_capacity(list.len());
        for t in list.iter() {
            out.push(Value::Str(crate::text(t.cast::<PyString>()?)));
        }
        Ok(Value::Seq(out))
    }
}
