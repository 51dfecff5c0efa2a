//! The observer contract: the golden transcripts of `harness/protocol/tests/transcripts/`
//! (requests and the answers harness/PROTOCOL.md says a worker gives, written by hand) are
//! replayed through both observers on every runtime found: the portable observer on each
//! (CPython 2.7 and 3.6+, PyPy, Jython, free-threaded builds), the PyO3 one where it loads.
//! Every answer must be the transcript's, as a JSON value (key order aside), once `pid` is
//! dropped. A change of the protocol is a change of the transcripts, checked everywhere.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use introspec_runner::columns;
use introspec_spec::{Specifier, Version};
use introspec_worker::{Observer, Worker};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transcript {
    about: String,
    /// A PEP 440 specifier on the language version (syntax that needs it).
    python: Option<String>,
    exchange: Vec<Exchange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exchange {
    request: String,
    response: Option<String>,
    /// Only the answer's kind (its one key) is compared: its text is the runtime's own.
    response_kind: Option<String>,
}

fn transcripts() -> Vec<(PathBuf, Transcript)> {
    let dir = introspec::project_root(None).join("harness/protocol/tests/transcripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let t: Transcript =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, t)
        })
        .collect()
}

fn json(text: &str, what: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{what} is not JSON ({e}): {text}"))
}

/// The answer without what names the worker's process.
fn without_pid(mut v: Value) -> Value {
    if let Some(r) = v.get_mut("result").and_then(Value::as_object_mut) {
        r.remove("pid");
    }
    v
}

fn applies(t: &Transcript, language: &Version) -> bool {
    t.python.as_deref().is_none_or(|p| {
        Specifier::parse(p)
            .unwrap_or_else(|e| panic!("python = {p:?}: {e}"))
            .contains(language)
    })
}

/// Replays one transcript on a fresh worker; the differences found, each named.
fn replay(worker: &mut Worker, file: &Path, t: &Transcript, on: &str) -> Vec<String> {
    let mut out = Vec::new();
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    for (i, x) in t.exchange.iter().enumerate() {
        let line = x.request.trim().replace('\n', " ");
        let got = match worker.exchange_raw(&line, Duration::from_secs(30)) {
            Ok(g) => g,
            Err(e) => {
                out.push(format!("{name} #{} on {on}: {e}", i + 1));
                return out;
            }
        };
        let got = without_pid(json(&got, "the answer"));
        let same = match (&x.response, &x.response_kind) {
            (Some(want), None) => got == json(want, "the transcript's response"),
            (None, Some(kind)) => got
                .as_object()
                .is_some_and(|o| o.len() == 1 && o.contains_key(kind)),
            _ => panic!("{name} #{}: give response or response_kind", i + 1),
        };
        if !same {
            out.push(format!(
                "{name} #{} on {on} ({}):\n  want: {}\n  got:  {}",
                i + 1,
                t.about,
                x.response
                    .as_deref()
                    .map(|w| json(w, "response").to_string())
                    .unwrap_or_else(|| format!("a {:?} answer", x.response_kind)),
                got
            ));
        }
    }
    out
}

#[test]
fn the_golden_transcripts_hold_through_both_observers_on_every_runtime() {
    let project = common::project();
    let transcripts = transcripts();
    assert!(transcripts.len() >= 10, "the transcripts are missing");
    let mut replayed = 0;
    let mut failures = Vec::new();
    let mut where_run = Vec::new();
    for rt in &project.discover().runtimes {
        let base = columns::base(rt, &project.cache);
        let mut observers = vec![Observer::Portable];
        if base.observer == Observer::Pyo3 {
            observers.push(Observer::Pyo3);
        }
        for observer in observers {
            let mut col = base.clone();
            col.observer = observer;
            let on = format!("{} ({})", rt.name, observer.name());
            let spec = introspec_runner::worker_spec_for(
                &col,
                &project.cache,
                vec![],
                project.settings.memory_limit,
            );
            for (file, t) in &transcripts {
                if !applies(t, &rt.identity.version) {
                    continue;
                }
                // a fresh worker per transcript: one's state cannot explain another's answer
                let mut w = Worker::start(&spec, Duration::from_secs(60))
                    .unwrap_or_else(|e| panic!("{on}: the worker does not start: {}", e.0));
                failures.extend(replay(&mut w, file, t, &on));
                w.kill();
                replayed += 1;
            }
            where_run.push(on);
        }
    }
    eprintln!(
        "replayed {replayed} transcripts on {}",
        where_run.join(", ")
    );
    if where_run.is_empty() {
        eprintln!("no runtime found here: nothing replayed");
        return;
    }
    assert!(
        failures.is_empty(),
        "{} answers differ from the transcripts:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
