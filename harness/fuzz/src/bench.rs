//! `introspec bench fuzz`: transitions executed and checked per second, per runtime, by the
//! fuzzer (generation, prediction, the worker, the judge) and by a Hypothesis
//! `RuleBasedStateMachine` doing the same checks on the same operations inside the same
//! interpreter (`harness/fuzz/hypothesis_machine.py`), and the ratio of the two.
//!
//! Hypothesis is installed from PyPI by the benchmark itself into one virtual environment per
//! runtime under `target/introspec-cache/venvs/`. The machine gets the spec's transitions,
//! each state's invariants per kind and each observable's spellings (with whether the column
//! has them) from the harness as JSON: the same data the fuzzer's model and judge use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use introspec_cases::{Expect, ExpectFrom};
use introspec_runner::{Column, Project, Settings as RunSettings};
use introspec_spec::{Pattern, Spec};
use serde_json::{json, Value};

use crate::campaign::{Campaign, Lane, Settings};
use crate::model::Model;
use crate::program::{Kind, Shape};

/// The Hypothesis machine, carried by the binary and written to the cache.
const MACHINE: &str = include_str!("../hypothesis_machine.py");
/// Workers per runtime: the fuzzer runs one batch while the previous one is judged and the
/// next generated, on as many interpreters as this (the machine has two cores).
pub const WORKERS: usize = 3;
/// The speed-up the fuzzer must reach over Hypothesis on every CPython.
pub const TARGET_RATIO: f64 = 20.0;

/// One runtime's measurement.
#[derive(Debug, Clone)]
pub struct Measure {
    /// The column measured.
    pub column: String,
    /// The fuzzer's rates.
    pub ours: Rate,
    /// Hypothesis's, with its version, or why it could not run.
    pub hypothesis: Result<(Rate, String), String>,
}

fn pattern_json(p: &Pattern) -> Value {
    match p {
        Pattern::State(s) => json!(["state", s]),
        Pattern::Bool(b) => json!(["bool", b]),
        Pattern::None => json!(["none"]),
        Pattern::Any => json!(["any"]),
        Pattern::Type(t) => json!(["type", t]),
        Pattern::Is(r) => json!(["is", r]),
        other => json!(["unsupported", other.to_string()]),
    }
}

/// The data the Hypothesis machine needs for a column: transitions, invariants per kind and
/// state (as the loader adds them), and the spellings of the checked observables.
pub fn machine_spec(spec: &Spec, column: &Column, shape: &Shape) -> Value {
    let avail = column.availability();
    let kinds = ["generator", "coroutine", "iterable_coroutine"];
    let mut invariants = serde_json::Map::new();
    let mut reads = serde_json::Map::new();
    for kind in kinds {
        let mut per_state = serde_json::Map::new();
        for st in introspec_spec::STATES {
            let objects = vec![("subject".to_string(), kind.to_string())];
            let mut out = vec![Expect {
                target: "subject".into(),
                observable: "state".into(),
                layer: None,
                pattern: Pattern::State(st.into()),
                from: ExpectFrom::Case,
            }];
            introspec_cases::load::add_invariants(spec, &objects, &mut out);
            let list: Vec<Value> = out
                .iter()
                .skip(1)
                .map(|e| json!([e.observable, pattern_json(&e.pattern)]))
                .collect();
            per_state.insert(st.to_string(), Value::Array(list));
        }
        invariants.insert(kind.into(), Value::Object(per_state));
        let mut per_obs = serde_json::Map::new();
        for obs in ["state", "running", "suspended", "frame", "delegate"] {
            let Some(o) = spec.observable(obs) else {
                continue;
            };
            let mut list = Vec::new();
            for layer in &spec.layers {
                if let Some(sp) = spec.spelling(o, &layer.name, kind) {
                    let path: Vec<Value> = sp
                        .read
                        .iter()
                        .map(|seg| match seg {
                            introspec_protocol::Segment::Attr(a) => json!(["attr", a]),
                            introspec_protocol::Segment::Call(c) => json!(["call", c]),
                            introspec_protocol::Segment::Flag(f) => json!(["flag", f]),
                            introspec_protocol::Segment::Events(e) => json!(["events", e.name()]),
                        })
                        .collect();
                    list.push(json!({"read": sp.read_text, "path": path, "values": sp.values, "present": spec.has_feature(&sp.feature, &avail)}));
                }
            }
            per_obs.insert(obs.into(), Value::Array(list));
        }
        reads.insert(kind.into(), Value::Object(per_obs));
    }
    let transitions: Vec<Value> = spec
        .transitions
        .iter()
        .map(|t| json!({"op": t.op, "from": t.from, "to": t.to, "finish": t.finish, "raises": t.raises, "body": t.body, "kinds": t.kinds}))
        .collect();
    let kinds: Vec<&str> = shape.kinds.iter().map(|k| k.spec_name()).collect();
    json!({
        "transitions": transitions,
        "invariants": invariants,
        "reads": reads,
        "shape": {"kinds": kinds, "max_ops": shape.max_ops, "max_stmts": shape.max_stmts, "max_depth": shape.max_depth, "max_inner": shape.max_inner},
    })
}

/// A virtual environment with Hypothesis for a runtime, made once.
fn venv(cache: &Path, column: &Column, log: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    let dir = cache.join("venvs").join(&column.name);
    let python = dir.join("bin/python");
    let has = |py: &Path| {
        Command::new(py)
            .args(["-c", "import hypothesis"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if python.exists() && has(&python) {
        return Ok(python);
    }
    if column.runtime.language() < introspec_spec::Version::new(3, 0, 0) {
        return Err("Hypothesis no longer supports Python 2".into());
    }
    log(&format!(
        "{}: making {} and installing Hypothesis from PyPI",
        column.name,
        dir.display()
    ));
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(format!(
                "{what} failed: {}",
                err.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
            ))
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    run(
        Command::new(&column.runtime.path)
            .args(["-m", "venv"])
            .arg(&dir),
        "python -m venv",
    )?;
    run(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "hypothesis",
        ]),
        "pip install hypothesis",
    )?;
    Ok(python)
}

/// Run the Hypothesis machine for `seconds`: (transitions/s, checked/s, version).
fn hypothesis_rate(
    project: &Project,
    column: &Column,
    shape: &Shape,
    seconds: f64,
    log: &mut dyn FnMut(&str),
) -> Result<(Rate, String), String> {
    let python = venv(&project.cache, column, log)?;
    let dir = project.cache.join("fuzz-bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let script = dir.join("hypothesis_machine.py");
    std::fs::write(&script, MACHINE).map_err(|e| e.to_string())?;
    let spec_file = dir.join(format!("{}.json", column.name));
    std::fs::write(
        &spec_file,
        machine_spec(&project.spec, column, shape).to_string(),
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new(&python)
        .arg(&script)
        .arg(&spec_file)
        .arg(seconds.to_string())
        .env("PYTHONHASHSEED", "0")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().rev().find(|l| l.starts_with('{')) else {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "the Hypothesis machine failed: {}",
            err.lines().rev().take(6).collect::<Vec<_>>().join(" | ")
        ));
    };
    let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let secs = v["seconds"].as_f64().unwrap_or(1.0).max(1e-9);
    let cpu = v["cpu"].as_f64().unwrap_or(secs).max(1e-9);
    let checked = v["checked"].as_f64().unwrap_or(0.0);
    Ok((
        Rate {
            transitions: v["transitions"].as_f64().unwrap_or(0.0) / secs,
            checked: checked / secs,
            per_cpu: checked / cpu,
        },
        v["hypothesis"].as_str().unwrap_or("?").to_string(),
    ))
}

/// The fuzzer's rate on one column for `seconds` (the worker started beforehand).
/// Transitions per second run and checked, and checked per CPU second.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Transitions run per second.
    pub transitions: f64,
    /// Transitions checked per second.
    pub checked: f64,
    /// Checked transitions per CPU second (all processes of the side measured), the measure
    /// that a loaded machine disturbs least.
    pub per_cpu: f64,
}

fn our_rate(
    project: &Project,
    column: &Column,
    seconds: f64,
    timing: bool,
) -> Result<Rate, String> {
    let model = Model::new(&project.spec, None)?;
    let lanes = (0..WORKERS)
        .map(|_| Lane::new(column.clone(), &project.cache))
        .collect();
    // warm up: start the worker, fill the observer's caches
    let warm = Settings {
        seed: 1,
        max_cases: Some(32 * WORKERS),
        shape: bench_shape(),
        ..Settings::default()
    };
    let mut c = Campaign::new(&project.spec, &project.corpus, model, lanes, warm);
    c.run(&mut |_| {});
    if let Some(b) = &c.lanes[0].broken {
        return Err(b.clone());
    }
    c.settings = Settings {
        seed: 0x6265_6e63,
        max_cases: None,
        max_time: Some(Duration::from_secs_f64(seconds)),
        shape: bench_shape(),
        ..Settings::default()
    };
    c.stats = Default::default();
    c.lanes[0].timing = Default::default();
    let pids: Vec<u32> = c.lanes.iter().filter_map(|l| l.worker_pid()).collect();
    let worker_cpu = || {
        pids.iter()
            .map(|p| cpu_seconds(&p.to_string()))
            .sum::<f64>()
    };
    let (self0, worker0) = (cpu_seconds("self"), worker_cpu());
    let t0 = Instant::now();
    c.run(&mut |_| {});
    let secs = t0.elapsed().as_secs_f64();
    let (harness, worker) = (cpu_seconds("self") - self0, worker_cpu() - worker0);
    let cpu = harness + worker;
    if timing {
        let t = c.lanes[0].timing;
        eprintln!(
            "{}: waiting for the worker {:.2} s, judging {:.2} s, of {secs:.2} s; CPU {harness:.2} s harness, {worker:.2} s worker",
            column.name,
            t[1].as_secs_f64(),
            t[2].as_secs_f64()
        );
    }
    Ok(Rate {
        transitions: c.stats.transitions as f64 / secs,
        checked: c.stats.checked as f64 / secs,
        per_cpu: c.stats.checked as f64 / cpu.max(1e-9),
    })
}

/// The programs both sides generate: the kinds the Hypothesis machine knows (generators,
/// coroutines, generator-based coroutines), operations on the subject only, the default sizes.
fn bench_shape() -> Shape {
    Shape {
        kinds: vec![Kind::Generator, Kind::Coroutine, Kind::IterableCoroutine],
        ..Shape::default()
    }
}

/// User and system CPU seconds of a process (`self` or a pid), from /proc (0 elsewhere).
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // the fields after the command name (which may hold spaces) close with ')'
    let Some(rest) = text.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name
    (ticks(11) + ticks(12)) / 100.0
}

/// `introspec bench fuzz`: measure every base column asked (all when `runtimes` is empty);
/// `Ok(true)` when the fuzzer reaches [`TARGET_RATIO`] on every CPython measured.
///
/// `timing` (`INTROSPEC_FUZZ_TIMING`, read by the `introspec` binary) prints where the
/// fuzzer's time went on each column.
pub fn bench(
    root: &Path,
    settings: &RunSettings,
    runtimes: &[String],
    seconds: f64,
    timing: bool,
) -> Result<bool, String> {
    let project = Project::load(root, settings).map_err(|d| d.to_string())?;
    let cols = crate::cli::select_columns(&project, runtimes, true);
    if cols.is_empty() {
        return Err(format!("no column matches {runtimes:?}"));
    }
    let shape = bench_shape();
    let mut log = |m: &str| eprintln!("{m}");
    let mut rows = Vec::new();
    for col in &cols {
        eprintln!("{}: fuzzer, {seconds} s…", col.name);
        let ours = our_rate(&project, col, seconds, timing)?;
        eprintln!("{}: Hypothesis, {seconds} s…", col.name);
        let hypothesis = hypothesis_rate(&project, col, &shape, seconds, &mut log);
        rows.push(Measure {
            column: col.name.clone(),
            ours,
            hypothesis,
        });
    }
    println!(
        "{:<18} {:>11} {:>11} {:>11} {:>11} {:>7} {:>11} {:>11} {:>7}  hypothesis",
        "runtime",
        "fuzz tr/s",
        "fuzz chk/s",
        "hyp tr/s",
        "hyp chk/s",
        "ratio",
        "fuzz chk/cpu",
        "hyp chk/cpu",
        "ratio"
    );
    let mut ok = true;
    let mut json_rows = Vec::new();
    for (m, col) in rows.iter().zip(&cols) {
        let o = m.ours;
        match &m.hypothesis {
            Ok((h, v)) => {
                let ratio = o.checked / h.checked.max(1e-9);
                let cpu_ratio = o.per_cpu / h.per_cpu.max(1e-9);
                if col.runtime.identity.implementation == "cpython" && ratio < TARGET_RATIO {
                    ok = false;
                }
                println!(
                    "{:<18} {:>11.0} {:>11.0} {:>11.0} {:>11.0} {:>6.1}x {:>11.0} {:>11.0} {:>6.1}x  {v}",
                    m.column, o.transitions, o.checked, h.transitions, h.checked, ratio, o.per_cpu, h.per_cpu, cpu_ratio
                );
                json_rows.push(json!({"column": m.column, "fuzz": {"transitions_per_s": o.transitions, "checked_per_s": o.checked, "checked_per_cpu_s": o.per_cpu}, "hypothesis": {"transitions_per_s": h.transitions, "checked_per_s": h.checked, "checked_per_cpu_s": h.per_cpu, "version": v}, "ratio": ratio, "ratio_cpu": cpu_ratio}));
            }
            Err(e) => {
                println!(
                    "{:<18} {:>11.0} {:>11.0} {:>11} {:>11} {:>7} {:>11.0} {:>11} {:>7}  {e}",
                    m.column, o.transitions, o.checked, "-", "-", "-", o.per_cpu, "-", "-"
                );
                json_rows.push(json!({"column": m.column, "fuzz": {"transitions_per_s": o.transitions, "checked_per_s": o.checked, "checked_per_cpu_s": o.per_cpu}, "hypothesis_error": e}));
            }
        }
    }
    println!("ratio = checked transitions per second (wall clock), fuzzer ÷ Hypothesis, target ≥ {TARGET_RATIO}× on every CPython; per CPU second alongside (harness + worker CPU for the fuzzer, the interpreter's for Hypothesis)");
    let out = project.cache.join("fuzz-bench/results.json");
    let _ = std::fs::write(
        &out,
        serde_json::to_string_pretty(&json!({"seconds": seconds, "rows": json_rows}))
            .unwrap_or_default(),
    );
    eprintln!("written: {}", out.display());
    Ok(ok)
}
