//! What a build reports while it works, so that a user waiting for a cold build sees which
//! runtime and compiler is building, how far it is and how long it has taken.

use std::time::{Duration, Instant};

/// The step a build is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Finding or making the virtual environment that holds the compiler.
    Environment,
    /// The compiler turning Python into C (`done` of `total` cases or groups).
    Translate,
    /// The C compiler (`done` of `total` translation units).
    Compile,
    /// Linking the objects into shared libraries.
    Link,
    /// Groups of cases each taken from Python to a library (mypyc: `done` of `total`).
    Groups,
}

impl Step {
    /// How the step is shown (`C units`).
    pub fn describe(self) -> &'static str {
        match self {
            Step::Environment => "environment",
            Step::Translate => "Python to C",
            Step::Compile => "C units",
            Step::Link => "linking",
            Step::Groups => "groups",
        }
    }
}

/// One report of a build's progress.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    /// The runtime's column name (`cpython-3.12.1`).
    pub runtime: &'a str,
    /// The compiler.
    pub compiler: crate::Compiler,
    /// The compiler release (`cython 3.3.1`).
    pub release: &'a str,
    /// The step.
    pub step: Step,
    /// Units of the step done so far.
    pub done: usize,
    /// Units of the step in all.
    pub total: usize,
    /// Time since the build started.
    pub elapsed: Duration,
}

/// Sends a build's reports to the caller's sink.
pub(crate) struct Reporter<'a> {
    pub runtime: &'a str,
    pub compiler: crate::Compiler,
    pub release: String,
    pub started: Instant,
    pub sink: &'a (dyn Fn(&Progress) + Sync),
}

impl Reporter<'_> {
    /// Report `done` of `total` units of `step`.
    pub fn step(&self, step: Step, done: usize, total: usize) {
        (self.sink)(&Progress {
            runtime: self.runtime,
            compiler: self.compiler,
            release: &self.release,
            step,
            done,
            total,
            elapsed: self.started.elapsed(),
        });
    }
}
