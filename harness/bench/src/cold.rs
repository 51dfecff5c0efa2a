//! `introspec bench --cold`: what a new user waits for, measured in one run on this machine.
//!
//! 1. The Rust build: `cargo build --release --bin introspec` into an empty target directory.
//! 2. The interpreter columns cold: that binary's `introspec run` with `INTROSPEC_COMPILERS=none`
//!    on an empty cache.
//! 3. The whole main job cold: `introspec run` (every column, compiled ones included) on another
//!    empty cache, with `INTROSPEC_BUILD_LOG` so that every build step's time is kept: the
//!    profile of where a cold run's time goes.
//! 4. Warm: `introspec run` again on that cache, every column and the interpreter columns
//!    alone, each `repeats` times (minimum, median, maximum).
//!
//! Peak memory comes from the run itself (`introspec run` prints the peak resident set of
//! the harness and of the largest process it waited for: a worker or a build step).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// What the cold measurement found.
#[derive(Debug, Serialize)]
pub struct Cold {
    /// `cargo build --release --bin introspec`, empty target directory.
    pub rust_build_s: f64,
    /// The CPU time (user + system, every process) of that build: over `rust_build_s`, the
    /// cores it kept busy on average.
    pub rust_build_cpu_s: f64,
    /// `introspec run`, `INTROSPEC_COMPILERS=none`, empty cache.
    pub interpreters_cold_s: f64,
    /// `introspec run`, every column, empty cache.
    pub whole_cold_s: f64,
    /// The CPU time of that run, every process it started included.
    pub whole_cold_cpu_s: f64,
    /// Where that CPU time went, as the run reports it: the harness, its workers, and each
    /// compiler's build steps (venvs, translation, gcc, linking), summed over columns.
    pub whole_cold_profile: Option<CpuProfile>,
    /// The Rust build and the interpreter columns cold (target: under 240 s).
    pub interpreters_with_build_s: f64,
    /// The Rust build and the whole main job cold (target: under 600 s).
    pub whole_with_build_s: f64,
    /// `introspec run`, every column, warm (target: under 20 s).
    pub warm_s: Spread,
    /// `introspec run`, `INTROSPEC_COMPILERS=none`, warm (target: under 5 s).
    pub warm_interpreters_s: Spread,
    /// Peak resident memory of the harness in the whole cold run, MiB (target: under 500).
    pub harness_peak_mib: u64,
    /// Peak resident memory of the largest process it waited for (a worker, a compiler), MiB.
    pub largest_child_peak_mib: u64,
    /// Where the whole cold run's build time went, one line per compiled column and step.
    pub builds: Vec<BuildStep>,
}

/// The run's `cpu profile:` line.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct CpuProfile {
    /// The harness process itself.
    pub harness_s: f64,
    /// Every process it reaped: workers and build steps.
    pub children_s: f64,
    /// The build steps, by compiler and step.
    pub builds: Vec<CpuStep>,
}

/// One compiler's step, summed over the columns it built.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct CpuStep {
    /// `cython` or `mypyc`.
    pub compiler: String,
    /// `environment`, `Python to C`, `C units`, `linking`.
    pub step: String,
    /// CPU seconds of its commands.
    pub cpu_s: f64,
    /// How many commands it ran.
    pub commands: u64,
}

fn cpu_profile(stderr: &str) -> Option<CpuProfile> {
    let line = stderr.lines().rfind(|l| l.starts_with("cpu profile: "))?;
    serde_json::from_str(&line["cpu profile: ".len()..]).ok()
}

/// Minimum, median and maximum of several runs, seconds.
#[derive(Debug, Serialize)]
pub struct Spread {
    pub runs: usize,
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    fn of(mut xs: Vec<f64>) -> Spread {
        xs.sort_by(|a, b| a.total_cmp(b));
        Spread {
            runs: xs.len(),
            min: xs.first().copied().unwrap_or(0.0),
            median: xs.get(xs.len() / 2).copied().unwrap_or(0.0),
            max: xs.last().copied().unwrap_or(0.0),
        }
    }
}

/// One step of a compiled column's build, as the build log gives it.
#[derive(Debug, Serialize, PartialEq)]
pub struct BuildStep {
    /// The log line's subject (`cpython-3.9.18`), and its step (`gcc 323 cython units`).
    pub runtime: String,
    pub step: String,
    /// Wall seconds of the step (builds of two columns overlap: these do not add up to wall).
    pub seconds: f64,
}

/// Options of the cold measurement.
pub struct ColdOptions {
    /// A scratch directory that will hold the empty target directory and caches.
    pub scratch: PathBuf,
    /// Warm runs per figure.
    pub repeats: usize,
}

/// Run the cold measurement from `root` (the checkout).
pub fn cold(root: &Path, opts: &ColdOptions, log: &dyn Fn(&str)) -> Result<Cold, String> {
    let _ = std::fs::remove_dir_all(&opts.scratch);
    std::fs::create_dir_all(&opts.scratch)
        .map_err(|e| format!("cannot create {}: {e}", opts.scratch.display()))?;
    let target = opts.scratch.join("target");
    log("cold (1): cargo build --release --bin introspec, empty target directory");
    let t = Instant::now();
    let cpu_before = crate::children_cpu();
    let mut build = Command::new("cargo");
    build
        .args(["build", "--release", "--bin", "introspec"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root);
    check(&mut build, "cargo build")?;
    let rust_build_s = t.elapsed().as_secs_f64();
    let rust_build_cpu_s = (crate::children_cpu() - cpu_before).as_secs_f64();
    let bin = target.join("release/introspec");

    let results = opts.scratch.join("results.json");
    let run =
        |cache: &Path, compilers: Option<&str>, what: &str| -> Result<(f64, String), String> {
            let mut cmd = Command::new(&bin);
            cmd.args(["run", "--out"])
                .arg(&results)
                .env("INTROSPEC_CACHE", cache)
                .env("INTROSPEC_BUILD_LOG", "1")
                .current_dir(root);
            if let Some(c) = compilers {
                cmd.env("INTROSPEC_COMPILERS", c);
            }
            let t = Instant::now();
            let out = cmd
                .output()
                .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
            let s = t.elapsed().as_secs_f64();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            // exit 1 is a run with failing trials: still a measurement; anything else is not
            if !matches!(out.status.code(), Some(0 | 1)) {
                return Err(format!(
                    "{what}: {} ({})\n{}",
                    bin.display(),
                    out.status,
                    tail(&stderr)
                ));
            }
            log(&format!("  {what}: {s:.1} s"));
            Ok((s, stderr))
        };
    log("cold (2): the interpreter columns, empty cache");
    let (interpreters_cold_s, _) = run(
        &opts.scratch.join("cache-interpreters"),
        Some("none"),
        "interpreters cold",
    )?;
    log("cold (3): every column, empty cache");
    let cache = opts.scratch.join("cache-whole");
    let cpu_before = crate::children_cpu();
    let (whole_cold_s, stderr) = run(&cache, None, "whole cold")?;
    let whole_cold_cpu_s = (crate::children_cpu() - cpu_before).as_secs_f64();
    let (harness_peak_mib, largest_child_peak_mib) = peaks(&stderr);
    let builds = build_steps(&stderr);
    log("warm (4): every column, and the interpreter columns alone");
    let mut warm = vec![];
    let mut warm_interpreters = vec![];
    for _ in 0..opts.repeats.max(1) {
        warm.push(run(&cache, None, "warm")?.0);
        warm_interpreters.push(run(&cache, Some("none"), "warm, interpreters")?.0);
    }
    let _ = std::fs::remove_dir_all(&opts.scratch);
    Ok(Cold {
        rust_build_s,
        rust_build_cpu_s,
        interpreters_cold_s,
        whole_cold_s,
        whole_cold_cpu_s,
        whole_cold_profile: cpu_profile(&stderr),
        interpreters_with_build_s: rust_build_s + interpreters_cold_s,
        whole_with_build_s: rust_build_s + whole_cold_s,
        warm_s: Spread::of(warm),
        warm_interpreters_s: Spread::of(warm_interpreters),
        harness_peak_mib,
        largest_child_peak_mib,
        builds,
    })
}

fn check(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr))
        ))
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The peaks from `introspec run`'s `peak memory: harness N MiB, largest child M MiB` line.
fn peaks(stderr: &str) -> (u64, u64) {
    let Some(line) = stderr.lines().rfind(|l| l.starts_with("peak memory:")) else {
        return (0, 0);
    };
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (
        numbers.first().copied().unwrap_or(0),
        numbers.get(1).copied().unwrap_or(0),
    )
}

/// The build log's `introspec-compilers: RUNTIME: STEP, S s[, …]` lines and the finished
/// builds' `introspec: RELEASE for RUNTIME: …, S s, in DIR` lines.
fn build_steps(stderr: &str) -> Vec<BuildStep> {
    let mut out = vec![];
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("introspec-compilers: ") {
            let Some((runtime, step)) = rest.split_once(": ") else {
                continue;
            };
            if let Some(s) = seconds_in(step) {
                let name = step.split([',', ':']).next().unwrap_or(step);
                out.push(BuildStep {
                    runtime: runtime.to_string(),
                    step: name.to_string(),
                    seconds: s,
                });
            }
        } else if let Some(rest) = line.strip_prefix("introspec: ") {
            let Some((release, rest)) = rest.split_once(" for ") else {
                continue;
            };
            let Some((runtime, rest)) = rest.split_once(": ") else {
                continue;
            };
            if !rest.contains(" modules, ") {
                continue;
            }
            if let Some(s) = seconds_in(rest) {
                out.push(BuildStep {
                    runtime: runtime.to_string(),
                    step: format!("{release}, whole build"),
                    seconds: s,
                });
            }
        }
    }
    out
}

/// The first `N s` figure of a log line.
fn seconds_in(text: &str) -> Option<f64> {
    text.split(", ")
        .find_map(|part| part.strip_suffix(" s").and_then(|n| n.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_log_gives_one_step_per_line() {
        let log = "introspec: compiling 322 cases with cython 3.3.1 for cpython-3.9.18 (cached for the next runs)\n\
                   introspec-compilers: cpython-3.9.18: gcc 323 cython units, 61.5 s\n\
                   introspec-compilers: cpython-3.8.18: mypyc round 2: 16 groups, 234 modules, 9.1 s, ok=true\n\
                   introspec: cython 3.3.1 for cpython-3.9.18: 322 modules, 0 not compiled, 129.8 s, in /c/x\n\
                   [4/30 columns] cpython-3.9.18 done; 1432 trials, 1.3 s\n";
        let steps = build_steps(log);
        assert_eq!(
            steps,
            vec![
                BuildStep {
                    runtime: "cpython-3.9.18".into(),
                    step: "gcc 323 cython units".into(),
                    seconds: 61.5
                },
                BuildStep {
                    runtime: "cpython-3.8.18".into(),
                    step: "mypyc round 2".into(),
                    seconds: 9.1
                },
                BuildStep {
                    runtime: "cpython-3.9.18".into(),
                    step: "cython 3.3.1, whole build".into(),
                    seconds: 129.8
                },
            ]
        );
    }

    #[test]
    fn the_cpu_profile_is_the_runs_last_profile_line() {
        let err = "x\ncpu profile: {\"harness_s\":1.5,\"children_s\":9.0,\"builds\":[{\"compiler\":\"cython\",\"step\":\"C units\",\"cpu_s\":7.25,\"commands\":3}]}\n";
        let p = cpu_profile(err).expect("a profile");
        assert_eq!(p.harness_s, 1.5);
        assert_eq!(p.builds[0].step, "C units");
        assert_eq!(p.builds[0].commands, 3);
        assert!(cpu_profile("no such line").is_none());
    }

    #[test]
    fn the_peaks_come_from_the_runs_last_line_about_them() {
        assert_eq!(
            peaks("x\npeak memory: harness 41 MiB, largest child 1890 MiB\n"),
            (41, 1890)
        );
        assert_eq!(peaks("nothing"), (0, 0));
    }

    #[test]
    fn a_spread_is_min_median_max() {
        let s = Spread::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.runs, s.min, s.median, s.max), (3, 1.0, 2.0, 3.0));
    }
}
