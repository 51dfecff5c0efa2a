//! One regrtest run: a scratch directory, a clean environment, the memory and time bounds,
//! and what the run left read back by `collect.py` with the same interpreter. A run is kept
//! in the cache under a digest of everything it was made from, so asking again costs nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::{Inputs, Interpreter, Mode, Outcome, Probe, Run, REGRTEST_ARGS};

const SITECUSTOMIZE: &str = include_str!("sitecustomize.py");
const COLLECT: &str = include_str!("collect.py");
/// Bumped when what a run records changes, so older cached runs are not reused.
const RUN_FORMAT: &str = "1";

/// What `collect.py` prints.
#[derive(Deserialize)]
struct Collected {
    cases: BTreeMap<String, Outcome>,
    unnamed: usize,
    result: Option<String>,
}

fn key(py: &Interpreter, inputs: &Inputs, suite: &str, mode: Mode, only: &[String]) -> String {
    let mut d = introspec_cache::Digest::new();
    d.add(RUN_FORMAT)
        .add(py.path.to_string_lossy().as_bytes())
        .add(&py.version)
        .add(suite)
        .add(mode.name())
        .add(SITECUSTOMIZE)
        .add(COLLECT)
        .add(REGRTEST_ARGS.join(" "))
        .add(format!("{:?}", inputs.memory_limit))
        .add(inputs.run_timeout.as_secs().to_string());
    if mode != Mode::Bare {
        d.add(&inputs.reference_module);
    }
    if let Some(t) = &inputs.testdir {
        d.add(t.to_string_lossy().as_bytes());
    }
    for t in only {
        d.add(t);
    }
    d.short()
}

/// A run from the cache, or run now and cached.
pub fn run_cached(
    py: &Interpreter,
    inputs: &Inputs,
    suite: &str,
    mode: Mode,
    only: &[String],
    progress: &dyn Fn(&str),
) -> Result<Run, String> {
    let k = key(py, inputs, suite, mode, only);
    let file = inputs.cache.join("testsuites").join(format!("{k}.json"));
    let what = format!(
        "{} {suite} {}{}",
        py.name,
        mode.name(),
        if only.is_empty() {
            String::new()
        } else {
            format!(" (rerun of {} cases)", only.len())
        }
    );
    if let Ok(text) = std::fs::read_to_string(&file) {
        if let Ok(run) = serde_json::from_str::<Run>(&text) {
            progress(&format!("{what}: from the cache"));
            return Ok(run);
        }
    }
    progress(&format!("{what}: running"));
    let started = Instant::now();
    let run = run_once(py, inputs, suite, mode, only, &k)?;
    progress(&format!(
        "{what}: {} cases, result {}, {} s",
        run.cases.len(),
        run.result.as_deref().unwrap_or("none"),
        started.elapsed().as_secs()
    ));
    let text = serde_json::to_string(&run).map_err(|e| e.to_string())?;
    introspec_cache::write_atomic(&file, text.as_bytes())?;
    Ok(run)
}

fn io(what: &str, p: &Path) -> impl FnOnce(std::io::Error) -> String {
    let p = p.display().to_string();
    let what = what.to_string();
    move |e| format!("cannot {what} {p}: {e}")
}

fn run_once(
    py: &Interpreter,
    inputs: &Inputs,
    suite: &str,
    mode: Mode,
    only: &[String],
    key: &str,
) -> Result<Run, String> {
    let scratch = inputs
        .cache
        .join("testsuites")
        .join("work")
        .join(format!("{key}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let (home, tmp, site) = (
        scratch.join("home"),
        scratch.join("tmp"),
        scratch.join("site"),
    );
    for d in [&home, &tmp, &site] {
        std::fs::create_dir_all(d).map_err(io("create", d))?;
    }
    let xml = scratch.join("junit.xml");
    let out_file = scratch.join("output.txt");
    let probe = scratch.join("probe.txt");
    let mut cmd = Command::new(&py.path);
    cmd.args(REGRTEST_ARGS).arg("--junit-xml").arg(&xml);
    if let Some(t) = &inputs.testdir {
        cmd.arg("--testdir").arg(t);
    }
    if !only.is_empty() {
        let m = scratch.join("match.txt");
        std::fs::write(&m, only.join("\n") + "\n").map_err(io("write", &m))?;
        cmd.arg("--matchfile").arg(&m);
    }
    cmd.arg(suite);
    cmd.current_dir(&scratch)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("TMPDIR", &tmp)
        .env("LANG", "C.UTF-8")
        .env("PYTHONHASHSEED", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if mode != Mode::Bare {
        let sc = site.join("sitecustomize.py");
        std::fs::write(&sc, SITECUSTOMIZE).map_err(io("write", &sc))?;
        let path =
            std::env::join_paths([&site, &inputs.reference_dir]).map_err(|e| e.to_string())?;
        cmd.env("PYTHONPATH", path)
            .env("INTROSPEC_SUITES_MODE", mode.name())
            .env("INTROSPEC_SUITES_PROBE", &probe);
    }
    let out = std::fs::File::create(&out_file).map_err(io("create", &out_file))?;
    let err = out.try_clone().map_err(io("open", &out_file))?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let limit = inputs.memory_limit;
    #[cfg(target_os = "linux")]
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            // a group of its own, killed whole at the timeout; dies with the harness
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            let core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &core);
            if let Some(bytes) = limit {
                let lim = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", py.path.display()))?;
    let deadline = Instant::now() + inputs.run_timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) => break s,
            None if Instant::now() >= deadline => {
                timed_out = true;
                // SAFETY: the child leads its own process group (setpgid above)
                unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
                break child.wait().map_err(|e| e.to_string())?;
            }
            None => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    // whatever the tests left running in the group goes too
    // SAFETY: as above; a group with no members left is ESRCH, harmless
    unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
    let exit = {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(c), _) => c.to_string(),
            (None, Some(s)) => format!("signal {s}"),
            _ => "unknown".into(),
        }
    };
    let collected = collect(py, &scratch, &xml, &out_file)?;
    let probe = if mode == Mode::Bare {
        None
    } else {
        Some(read_probe(&probe, mode)?)
    };
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(Run {
        mode,
        result: collected.result,
        exit,
        timed_out,
        unnamed: collected.unnamed,
        probe,
        cases: collected.cases,
    })
}

fn collect(py: &Interpreter, scratch: &Path, xml: &Path, out: &Path) -> Result<Collected, String> {
    let script: PathBuf = scratch.join("collect.py");
    std::fs::write(&script, COLLECT).map_err(io("write", &script))?;
    let o = Command::new(&py.path)
        .arg("-I")
        .arg(&script)
        .arg(xml)
        .arg(out)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", py.path.display()))?;
    if !o.status.success() {
        return Err(format!(
            "harness/testsuites/src/collect.py failed on {} ({}): {}",
            py.name,
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    serde_json::from_slice(&o.stdout)
        .map_err(|e| format!("harness/testsuites/src/collect.py printed no report: {e}"))
}

/// Read the probe file: one line per process, `worker STATE` or `other STATE`.
pub fn read_probe(path: &Path, mode: Mode) -> Result<Probe, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    Ok(parse_probe(&text, mode))
}

pub fn parse_probe(text: &str, mode: Mode) -> Probe {
    let want = match mode {
        Mode::Installed => "installed",
        _ => "loaded",
    };
    let mut p = Probe {
        every_process: true,
        ..Probe::default()
    };
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        let (who, state) = line.split_once(' ').unwrap_or((line, ""));
        let ok = state == want;
        if who == "worker" {
            p.workers += 1;
            if ok {
                p.workers_in_effect += 1;
            }
        }
        if !ok {
            p.every_process = false;
            if !p.failures.iter().any(|f| f == state) {
                p.failures.push(state.to_string());
            }
        }
    }
    if lines == 0 {
        p.every_process = false;
        p.failures.push("no process reported".into());
    }
    p.failures.sort();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_names_each_process_that_went_bare() {
        let p = parse_probe(
            "other installed\nworker installed\nworker failed ImportError: x\nworker failed ImportError: x\n",
            Mode::Installed,
        );
        assert_eq!((p.workers, p.workers_in_effect), (3, 1));
        assert!(!p.every_process);
        assert_eq!(p.failures, vec!["failed ImportError: x".to_string()]);
        let none = parse_probe("", Mode::Installed);
        assert!(!none.every_process);
        let loaded = parse_probe("worker loaded\nother loaded\n", Mode::Loaded);
        assert!(loaded.every_process && loaded.workers_in_effect == 1);
    }
}
