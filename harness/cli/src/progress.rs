//! What `introspec run` prints while it works: each column as it finishes, the interpreter
//! columns' table as soon as they are all judged, and the steps of every compiled build with
//! units done of total, elapsed time and an estimate of the rest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use introspec_compilers::{Progress, Step};

/// How often one build's progress is printed at most, within one step.
const EVERY: Duration = Duration::from_secs(5);

/// Remembers, per build, the step it is in, when that step began and when it was last printed.
#[derive(Default)]
pub struct BuildProgress {
    builds: Mutex<HashMap<(String, String), Seen>>,
}

struct Seen {
    step: Step,
    step_started: Duration,
    printed: Instant,
}

impl BuildProgress {
    /// Print `p` if its build entered a new step, finished a step, or was last printed
    /// [`EVERY`] ago.
    pub fn report(&self, p: &Progress) {
        let mut builds = self.builds.lock().unwrap();
        let key = (p.runtime.to_string(), p.release.to_string());
        let now = Instant::now();
        let seen = builds.entry(key).or_insert(Seen {
            step: p.step,
            step_started: p.elapsed,
            printed: now - EVERY,
        });
        let new_step = seen.step != p.step;
        if new_step {
            seen.step = p.step;
            seen.step_started = p.elapsed;
        }
        if p.total == 0 {
            return; // nothing to do in this step (every case was rejected or cached)
        }
        let finished = p.done == p.total;
        if !(new_step || finished || now.duration_since(seen.printed) >= EVERY) {
            return;
        }
        seen.printed = now;
        let in_step = p.elapsed.saturating_sub(seen.step_started);
        eprintln!("{}", line(p, in_step));
    }
}

/// `building cpython-3.9.18+cython (cython 3.3.1): C units 120/323, 41 s, about 69 s left`.
fn line(p: &Progress, in_step: Duration) -> String {
    let mut s = format!(
        "building {}+{} ({}): {}",
        p.runtime,
        p.compiler.name(),
        p.release,
        p.step.describe()
    );
    if matches!(p.step, Step::Compile | Step::Translate | Step::Groups) {
        s.push_str(&format!(" {}/{}", p.done, p.total));
    }
    s.push_str(&format!(", {:.0} s", p.elapsed.as_secs_f64()));
    if let Some(left) = estimate(p.done, p.total, in_step) {
        s.push_str(&format!(
            ", about {:.0} s left in this step",
            left.as_secs_f64()
        ));
    }
    s
}

/// Time left in a step at the rate so far, once a unit is done and some remain.
fn estimate(done: usize, total: usize, in_step: Duration) -> Option<Duration> {
    (done > 0 && done < total).then(|| in_step.mul_f64((total - done) as f64 / done as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_the_rate_so_far_over_what_is_left() {
        assert_eq!(
            estimate(100, 300, Duration::from_secs(10)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(estimate(0, 300, Duration::from_secs(10)), None);
        assert_eq!(estimate(300, 300, Duration::from_secs(10)), None);
    }

    #[test]
    fn a_line_names_the_column_the_step_and_the_counts() {
        let p = Progress {
            runtime: "cpython-3.9.18",
            compiler: introspec_compilers::Compiler::Cython,
            release: "cython 3.3.1",
            step: Step::Compile,
            done: 120,
            total: 323,
            elapsed: Duration::from_secs(41),
        };
        let l = line(&p, Duration::from_secs(24));
        assert_eq!(
            l,
            "building cpython-3.9.18+cython (cython 3.3.1): C units 120/323, 41 s, about 41 s left in this step"
        );
    }
}
