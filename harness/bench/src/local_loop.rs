//! The local loop (issue 16 item 5): `introspec run --python PATH` on one interpreter, warm,
//! the whole corpus on its two columns (plain and `+ref`), as a core developer reruns it
//! after each change to their build. Target: under 2 s of wall time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

/// The target of issue 16.
pub const TARGET_S: f64 = 2.0;

/// What to measure.
pub struct LocalLoopOptions {
    /// The `introspec` binary to run (the one measuring: `std::env::current_exe`).
    pub exe: PathBuf,
    /// The interpreter given to `--python`.
    pub python: PathBuf,
    /// Timed runs after one untimed warm-up (the median is reported).
    pub repeats: usize,
    /// Where the runs write their results.
    pub scratch: PathBuf,
}

/// The figure.
#[derive(Debug, Serialize)]
pub struct LocalLoop {
    /// The command timed (the results path left out).
    pub command: String,
    /// The columns it ran.
    pub columns: Vec<String>,
    pub trials: usize,
    /// Each timed run's wall time.
    pub runs_s: Vec<f64>,
    pub median_s: f64,
    pub target_s: f64,
    /// The 1-minute load average before the first run (`/proc/loadavg`): the machine's
    /// other work, which the figure includes.
    pub load_before: f64,
    pub cores: usize,
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Run `introspec run --python PATH` once to warm up, then `repeats` times, timed.
pub fn local_loop(
    root: &Path,
    opts: &LocalLoopOptions,
    log: &dyn Fn(&str),
) -> Result<LocalLoop, String> {
    std::fs::create_dir_all(&opts.scratch)
        .map_err(|e| format!("{}: {e}", opts.scratch.display()))?;
    let out = opts.scratch.join("local-loop.json");
    let once = || -> Result<(f64, serde_json::Value), String> {
        let start = Instant::now();
        let o = Command::new(&opts.exe)
            .arg("--root")
            .arg(root)
            .args(["run", "--python"])
            .arg(&opts.python)
            .arg("--out")
            .arg(&out)
            // exactly the two columns: no compiled one even when the environment asks
            .env("INTROSPEC_COMPILERS", "none")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", opts.exe.display()))?;
        let wall = start.elapsed().as_secs_f64();
        // 1: some trial fails the run, still a whole run
        if !matches!(o.status.code(), Some(0 | 1)) {
            return Err(format!(
                "`introspec run --python {}` failed ({}): {}",
                opts.python.display(),
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let v = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", out.display()))?;
        Ok((wall, v))
    };
    let load_before = load_average();
    log(&format!(
        "local loop: introspec run --python {} (warm-up, then {} timed runs)",
        opts.python.display(),
        opts.repeats
    ));
    let (_, results) = once()?;
    let mut runs_s = Vec::new();
    for _ in 0..opts.repeats.max(1) {
        let (wall, _) = once()?;
        log(&format!("  {wall:.2} s"));
        runs_s.push(wall);
    }
    let columns: Vec<String> = results["columns"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let trials = results["trials"].as_array().map_or(0, Vec::len);
    let mut sorted = runs_s.clone();
    sorted.sort_by(f64::total_cmp);
    let median_s = sorted[sorted.len() / 2];
    Ok(LocalLoop {
        command: format!(
            "INTROSPEC_COMPILERS=none introspec run --python {}",
            opts.python.display()
        ),
        columns,
        trials,
        runs_s,
        median_s,
        target_s: TARGET_S,
        load_before,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}

/// One line for the table.
pub fn render(l: &LocalLoop) -> String {
    format!(
        "local loop ({}): median {:.2} s of {} runs (target {:.0} s), {} columns, {} trials; load {:.1} on {} cores before\n",
        l.command,
        l.median_s,
        l.runs_s.len(),
        l.target_s,
        l.columns.len(),
        l.trials,
        l.load_before,
        l.cores
    )
}
