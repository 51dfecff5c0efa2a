//! The messages between the harness and a worker: the contract written in
//! `harness/PROTOCOL.md`. Both observers (the PyO3 one and the portable one) produce exactly
//! these shapes; a change here bumps [`PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};

/// The version of the wire protocol; a worker whose `hello` names another one is refused.
pub const PROTOCOL_VERSION: u32 = 2;

/// What a worker says first: who it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    /// `pyo3` or `portable`.
    pub observer: String,
    pub observer_version: String,
    /// `sys.implementation.name` (`platform.python_implementation().lower()` on 2.7).
    pub implementation: String,
    /// The implementation's own version, e.g. `3.12.1` (for PyPy, the language version).
    pub version: String,
    pub version_info: (u32, u32, u32, String, u32),
    pub free_threaded: bool,
    pub debug: bool,
    pub executable: String,
    pub build: String,
}

/// A message from the harness to a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Load(LoadRequest),
    Run(Case),
    Ping {},
    Shutdown {},
}

/// Import a module once for the worker's whole life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRequest {
    pub module: String,
    pub path: Option<String>,
    /// A function of the module to call with no arguments once it is imported (`install`).
    #[serde(default)]
    pub call: Option<String>,
}

/// A message from a worker to the harness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Hello(Hello),
    Loaded(Loaded),
    Result(CaseResult),
    Pong {},
    BadRequest { msg: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    pub module: String,
    pub error: Option<Exc>,
}

/// One case, compiled by the harness from its TOML and the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    /// `file:line` of the case, used as the filename when compiling `source`.
    pub origin: String,
    pub source: String,
    /// A compiled case: the namespace is this module's `__dict__` and `source` is ignored.
    pub module: Option<String>,
    /// Reference expressions; an observed object lists those it is identical to.
    pub refs: Vec<String>,
    pub targets: Vec<Target>,
    pub steps: Vec<Step>,
}

/// A name in the case namespace whose observables are read at every snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub reads: Vec<Path>,
}

/// A read: segments applied left to right to the target object.
pub type Path = Vec<Segment>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// `getattr(cur, name)`.
    Attr(String),
    /// `mod.func(cur)`, the module imported on first use.
    Call(String),
    /// `bool(cur & mask)`.
    Flag(i64),
    /// The events `source` delivered so far in the running step (a list of normalised texts,
    /// see PROTOCOL.md, "Events"), whatever the target: the observer records them only for
    /// the steps of a case that has a read of this segment. Always the only segment of its
    /// read.
    Events(EventSource),
}

/// Where the events of an [`Segment::Events`] read come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    /// `sys.settrace`: `call`, `line`, `return`, `exception` (every version).
    Settrace,
    /// `sys.monitoring` (PEP 669, 3.12+): `PY_START`, `PY_RESUME`, `PY_YIELD`, `PY_RETURN`,
    /// `PY_THROW`, `PY_UNWIND`, `RAISE`, `RERAISE`, `EXCEPTION_HANDLED`, `STOP_ITERATION`.
    Monitoring,
}

impl EventSource {
    pub const ALL: [EventSource; 2] = [EventSource::Settrace, EventSource::Monitoring];

    /// The name on the wire and in the spec's read paths (`events:settrace`).
    pub fn name(self) -> &'static str {
        match self {
            EventSource::Settrace => "settrace",
            EventSource::Monitoring => "monitoring",
        }
    }

    /// What a read of this source is `Missing` as where the interpreter lacks it.
    pub fn missing_name(self) -> &'static str {
        match self {
            EventSource::Settrace => "sys.settrace",
            EventSource::Monitoring => "sys.monitoring",
        }
    }
}

/// One operation of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Step {
    Create { expr: String },
    Next { target: String },
    Send { target: String, arg: String },
    Throw { target: String, arg: String },
    Close { target: String },
    Asend { target: String, arg: String },
    Athrow { target: String, arg: String },
    Aclose { target: String },
    Eval { expr: String, bind: Option<String> },
    Exec { code: String },
}

impl Step {
    /// The operation's name, as cases write it (`do = "send"`).
    pub fn name(&self) -> &'static str {
        match self {
            Step::Create { .. } => "create",
            Step::Next { .. } => "next",
            Step::Send { .. } => "send",
            Step::Throw { .. } => "throw",
            Step::Close { .. } => "close",
            Step::Asend { .. } => "asend",
            Step::Athrow { .. } => "athrow",
            Step::Aclose { .. } => "aclose",
            Step::Eval { .. } => "eval",
            Step::Exec { .. } => "exec",
        }
    }
}

/// What a worker observed for one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: String,
    pub error: Option<CaseError>,
    pub steps: Vec<StepRecord>,
    /// What the case left behind in the worker (threads, timers, signal handlers, tracers,
    /// `sys.monitoring` tools, `sys.path`, builtins), found after it ran; absent when nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left: Vec<Leftover>,
    /// The pid of the process that answered (the observer's `getpid()` when it sends): the
    /// harness takes an answer from the worker alone, not from a process a case forked that
    /// writes on the protocol channel (a copy of the observer, or forged lines). The harness
    /// checks it and clears it, so it is in no results file or snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl CaseResult {
    /// Whether the case left something behind that the observer could not undo: the worker
    /// must not run another case.
    pub fn left_unrecoverable(&self) -> bool {
        self.left.iter().any(|l| !l.undone)
    }
}

/// One thing a case left behind, and whether the observer undid it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    pub what: String,
    pub undone: bool,
}

impl Leftover {
    /// How results name it: `a tracer (sys.settrace) (undone)`, or with `could not be undone:
    /// the worker was replaced`.
    pub fn describe(&self) -> String {
        let done = if self.undone {
            "undone"
        } else {
            "could not be undone: the worker was replaced"
        };
        format!("{} ({done})", self.what)
    }
}

/// Why a case stopped before its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseError {
    /// `compile`, `exec` or `step`.
    pub phase: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub msg: String,
    pub line: Option<u32>,
}

/// The observations of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub outcome: Outcome,
    /// One list per target, one value per read.
    pub after: Snapshot,
    /// One snapshot per `observe()` call made while the step ran.
    pub inside: Vec<Snapshot>,
}

/// For every target, the value of every read.
pub type Snapshot = Vec<Vec<Value>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Returned(Value),
    Raised(Exc),
}

/// An exception, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exc {
    #[serde(rename = "type")]
    pub type_name: String,
    pub msg: String,
    #[serde(default)]
    pub value: Option<Box<Value>>,
}

/// The summary of a Python value (see PROTOCOL.md, "V").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    BigInt(String),
    Float(f64),
    Str(String),
    Seq(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Obj(ObjRef),
    Missing(String),
    Raised(Exc),
    Unbound,
    /// Not an observation: what the judge puts in place of a read that a known deviation
    /// marks as varying from run to run (`varies = true`), so that results and snapshots
    /// hold no value that differs between two runs. No observer sends it.
    Varies,
}

/// An object that is not a plain value: its type name, its snapshot-local identity, and the
/// reference expressions it is identical to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjRef {
    #[serde(rename = "type")]
    pub type_name: String,
    pub id: u32,
    pub refs: Vec<u32>,
}

/// The most bytes of one rendered value (or exception message) that results and snapshots
/// hold; longer ones are cut by [`clip`] (reports/SCHEMA.md).
pub const CLIP_BYTES: usize = 4096;

/// How much longer than [`CLIP_BYTES`] a text may be before [`clip`] cuts it: a clipped value
/// inside a short frame (`returns …`) is not clipped a second time.
pub const CLIP_SLACK: usize = 512;

/// `text` if it is at most [`CLIP_BYTES`] + [`CLIP_SLACK`] long, else its first [`CLIP_BYTES`]
/// bytes (cut at a character boundary) and `…(clipped, N bytes)`, N the full length: a case
/// that observes a 50 MB value gives a results file and a snapshot of bounded size, and still
/// says how long the value was.
pub fn clip(text: String) -> String {
    if text.len() <= CLIP_BYTES + CLIP_SLACK {
        return text;
    }
    let mut cut = CLIP_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…(clipped, {} bytes)", &text[..cut], text.len())
}

impl Value {
    /// A short human rendering, used in diffs and snapshots, [`clip`]ped.
    pub fn render(&self, refs: &[String]) -> String {
        clip(self.render_full(refs))
    }

    fn render_full(&self, refs: &[String]) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => i.to_string(),
            Value::BigInt(s) => s.clone(),
            Value::Float(f) => format!("{f:?}"),
            Value::Str(s) => format!("{s:?}"),
            Value::Seq(items) => {
                let inner: Vec<String> = items.iter().map(|v| v.render_full(refs)).collect();
                format!("[{}]", inner.join(", "))
            }
            Value::Dict(items) => {
                let inner: Vec<String> = items
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.render_full(refs), v.render_full(refs)))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
            Value::Obj(o) => {
                let names: Vec<&str> = o
                    .refs
                    .iter()
                    .filter_map(|i| refs.get(*i as usize).map(String::as_str))
                    .collect();
                if names.is_empty() {
                    format!("<{} #{}>", o.type_name, o.id)
                } else {
                    format!("<{} #{} is {}>", o.type_name, o.id, names.join(", "))
                }
            }
            Value::Missing(name) => format!("<missing {name}>"),
            Value::Raised(e) => format!("<raises {}: {}>", e.type_name, e.msg),
            Value::Unbound => "<unbound>".into(),
            Value::Varies => "<varies>".into(),
        }
    }
}

/// Encode one message as a protocol line (without the newline).
pub fn encode<T: Serialize>(msg: &T) -> String {
    serde_json::to_string(msg).expect("protocol messages always serialise")
}

/// Decode one protocol line.
pub fn decode<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, serde_json::Error> {
    serde_json::from_str(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes_match_protocol_md() {
        let step: Step = decode(r#"{"op": "send", "target": "subject", "arg": "None"}"#).unwrap();
        assert_eq!(
            step,
            Step::Send {
                target: "subject".into(),
                arg: "None".into()
            }
        );
        let v: Value = decode(r#"{"Obj": {"type": "frame", "id": 0, "refs": [1]}}"#).unwrap();
        assert_eq!(
            v.render(&["a".into(), "gen.__code__".into()]),
            "<frame #0 is gen.__code__>"
        );
        assert_eq!(decode::<Value>(r#""None""#).unwrap(), Value::None);
        let out: Outcome =
            decode(r#"{"Raised": {"type": "StopIteration", "msg": "", "value": {"Int": 3}}}"#)
                .unwrap();
        assert!(matches!(out, Outcome::Raised(Exc { value: Some(_), .. })));
        let req: Request = decode(r#"{"ping": {}}"#).unwrap();
        assert_eq!(req, Request::Ping {});
        assert_eq!(encode(&Request::Shutdown {}), r#"{"shutdown":{}}"#);
        let seg: Segment = decode(r#"{"call": "inspect.getgeneratorstate"}"#).unwrap();
        assert_eq!(seg, Segment::Call("inspect.getgeneratorstate".into()));
        let seg: Segment = decode(r#"{"events": "monitoring"}"#).unwrap();
        assert_eq!(seg, Segment::Events(EventSource::Monitoring));
        assert_eq!(
            encode(&Segment::Events(EventSource::Settrace)),
            r#"{"events":"settrace"}"#
        );
        let d: Value = decode(r#"{"Dict": [[{"Str": "x"}, {"Int": 1}]]}"#).unwrap();
        assert_eq!(d.render(&[]), r#"{"x": 1}"#);
        let big = Value::Seq(vec![Value::Str("é".repeat(5000)); 3]);
        let r = big.render(&[]);
        let full = 3 * (2 * 5000 + 2) + 2 * 2 + 2;
        assert!(r.len() <= CLIP_BYTES + 40, "{}", r.len());
        assert_eq!(clip(format!("returns {r}")), format!("returns {r}"));
        assert!(
            r.ends_with(&format!("…(clipped, {full} bytes)")),
            "{}",
            &r[r.len() - 40..]
        );
        assert_eq!(clip("short".into()), "short");
    }
}
