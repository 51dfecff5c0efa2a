//! Runtimes the harness installs itself, on first use, into the per-user cache: today
//! RustPython, built from crates.io by `cargo install` with a pinned version and `--locked`.
//! A build costs minutes of CPU, so it is opt-in ([`Installable`] names in
//! `INTROSPEC_INSTALL`, read by the CLI); an installation already in the cache is used
//! whether or not it is asked for.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A runtime the harness can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Installable {
    /// RustPython from crates.io ([`RUSTPYTHON`]).
    RustPython,
}

/// A crate installed with `cargo install`, exactly as pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CargoPin {
    pub krate: &'static str,
    pub version: &'static str,
    /// `--no-default-features --features …`: the default features minus TLS (`ssl-rustls`
    /// builds aws-lc or ring, minutes more, and no case needs `ssl`), plus `freeze-stdlib`
    /// (the standard library inside the binary, so that the install does not depend on
    /// cargo's registry sources staying where they were unpacked).
    pub features: &'static [&'static str],
    /// The executable the crate installs.
    pub bin: &'static str,
}

/// RustPython 0.5.0. 0.6.0 is newer on crates.io, but its lock file needs rustc 1.96
/// (`rustpython-ruff_python_ast@0.16.5 requires rustc 1.96`, with `--locked`), newer than the
/// toolchain this project builds with; 0.5.0 needs rustc 1.93.
pub const RUSTPYTHON: CargoPin = CargoPin {
    krate: "rustpython",
    version: "0.5.0",
    features: &[
        "threading",
        "stdlib",
        "stdio",
        "importlib",
        "host_env",
        "freeze-stdlib",
    ],
    bin: "rustpython",
};

impl Installable {
    pub const ALL: [Installable; 1] = [Installable::RustPython];

    /// The name `INTROSPEC_INSTALL` uses.
    pub fn name(self) -> &'static str {
        match self {
            Installable::RustPython => "rustpython",
        }
    }

    pub fn parse(s: &str) -> Option<Installable> {
        Installable::ALL.into_iter().find(|i| i.name() == s)
    }

    /// `INTROSPEC_INSTALL`'s value: names separated by commas or spaces, or `none`.
    pub fn parse_list(text: &str) -> Result<Vec<Installable>, String> {
        let mut out = Vec::new();
        for word in text
            .split([',', ' '])
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            if word == "none" {
                continue;
            }
            match Installable::parse(word) {
                Some(i) if !out.contains(&i) => out.push(i),
                Some(_) => {}
                None => {
                    return Err(format!(
                        "`{word}` is not a runtime the harness installs; give {} or `none`",
                        Installable::ALL
                            .iter()
                            .map(|i| format!("`{}`", i.name()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
        }
        Ok(out)
    }

    pub fn pin(self) -> CargoPin {
        match self {
            Installable::RustPython => RUSTPYTHON,
        }
    }

    /// The install command's arguments after `cargo`, without `--root`.
    pub fn cargo_args(self) -> Vec<String> {
        let p = self.pin();
        vec![
            "install".into(),
            p.krate.into(),
            "--version".into(),
            p.version.into(),
            "--locked".into(),
            "--no-default-features".into(),
            "--features".into(),
            p.features.join(","),
        ]
    }

    /// The command a user can read: `cargo install rustpython --version 0.5.0 --locked …`.
    pub fn command_line(self) -> String {
        format!("cargo {}", self.cargo_args().join(" "))
    }

    /// The installation's directory in the cache: keyed by the whole command, so a new pin
    /// or feature set is a new directory, never a stale binary.
    pub fn dir(self, cache: &Path) -> PathBuf {
        let p = self.pin();
        cache.join("runtimes").join(format!(
            "{}-{}-{}",
            p.krate,
            p.version,
            introspec_cache::short_digest(self.command_line().as_bytes())
        ))
    }

    /// The interpreter, once installed.
    pub fn executable(self, cache: &Path) -> PathBuf {
        self.dir(cache).join("bin").join(self.pin().bin)
    }

    /// What a user without it is told (`Absent::install`).
    pub fn how_to_install(self) -> String {
        format!(
            "INTROSPEC_INSTALL={} (the harness then runs `{}` into its cache on first use; \
             {})",
            self.name(),
            self.command_line(),
            self.cost()
        )
    }

    /// The first install's cost as measured (README, "Runtimes").
    pub fn cost(self) -> &'static str {
        match self {
            Installable::RustPython => {
                "about 14 minutes of CPU the first time (measured: user 13 m 31 s, sys 43 s)"
            }
        }
    }

    /// Install into the cache if it is not there yet, and give the interpreter's path. One
    /// harness builds at a time (a lock in the cache); the others wait and then use its
    /// build. The build goes to a directory of its own, moved into place when complete, so
    /// an interrupted build is never taken for an installation (its target directory stays
    /// in the cache and the next attempt resumes from it).
    pub fn ensure(self, cache: &Path) -> Result<PathBuf, String> {
        let exe = self.executable(cache);
        if exe.is_file() {
            return Ok(exe);
        }
        let dir = self.dir(cache);
        let _lock = introspec_cache::Lock::acquire(&sibling(&dir, "lock"))?;
        if exe.is_file() {
            return Ok(exe); // another harness installed it while this one waited
        }
        let staging = sibling(&dir, "partial");
        let target = sibling(&dir, "target");
        let log = sibling(&dir, "log");
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)
            .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
        let log_file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("cannot write {}: {e}", log.display()))?;
        eprintln!(
            "introspec: installing {} {} into {} with `{}` ({}; log: {})",
            self.name(),
            self.pin().version,
            dir.display(),
            self.command_line(),
            self.cost(),
            log.display()
        );
        let started = Instant::now();
        let status = Command::new("cargo")
            .args(self.cargo_args())
            .arg("--root")
            .arg(&staging)
            .env("CARGO_TARGET_DIR", &target)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .status()
            .map_err(|e| {
                format!(
                    "cannot start cargo to install {} ({e}): install Rust (https://rustup.rs) \
                     or put a {} on PATH",
                    self.name(),
                    self.pin().bin
                )
            })?;
        if !status.success() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let last = text
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with("error") || l.contains("requires rustc"))
                .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))
                .unwrap_or("")
                .trim()
                .to_string();
            return Err(format!(
                "`{}` failed ({status}): {last}; the whole log is {}",
                self.command_line(),
                log.display()
            ));
        }
        let built = staging.join("bin").join(self.pin().bin);
        if !built.is_file() {
            return Err(format!(
                "`{}` succeeded but left no {}; the log is {}",
                self.command_line(),
                built.display(),
                log.display()
            ));
        }
        introspec_cache::move_into_place(&staging, &dir)?;
        let _ = std::fs::remove_dir_all(&target);
        eprintln!(
            "introspec: {} {} installed in {:.0} s",
            self.name(),
            self.pin().version,
            started.elapsed().as_secs_f64()
        );
        Ok(exe)
    }
}

/// `DIR.SUFFIX` beside `DIR` (not `Path::with_extension`: `rustpython-0.5.0-…` has dots).
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_names_what_can_be_installed() {
        assert_eq!(
            Installable::parse_list("rustpython").unwrap(),
            [Installable::RustPython]
        );
        assert_eq!(
            Installable::parse_list(" rustpython, rustpython ").unwrap(),
            [Installable::RustPython]
        );
        assert!(Installable::parse_list("none").unwrap().is_empty());
        assert!(Installable::parse_list("").unwrap().is_empty());
        let e = Installable::parse_list("rustpython,jython").unwrap_err();
        assert!(e.contains("`jython`") && e.contains("`rustpython`"), "{e}");
    }

    #[test]
    fn the_install_is_pinned_and_keyed_by_its_command() {
        let line = Installable::RustPython.command_line();
        assert!(
            line.starts_with("cargo install rustpython --version 0.5.0 --locked "),
            "{line}"
        );
        let dir = Installable::RustPython.dir(Path::new("/c"));
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("rustpython-0.5.0-"), "{name}");
        assert_eq!(
            Installable::RustPython.executable(Path::new("/c")),
            dir.join("bin/rustpython")
        );
    }

    /// A cache that holds the installation is used as it is: nothing is built.
    #[test]
    fn an_installation_in_the_cache_is_used_without_building() {
        let cache =
            std::env::temp_dir().join(format!("introspec-install-test-{}", std::process::id()));
        let exe = Installable::RustPython.executable(&cache);
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let got = Installable::RustPython.ensure(&cache);
        let _ = std::fs::remove_dir_all(&cache);
        assert_eq!(got.unwrap(), exe);
    }
}
