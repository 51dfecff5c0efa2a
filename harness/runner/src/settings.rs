//! The settings a run takes from the environment, read once when the project is loaded and
//! validated there: a bad value is an error that names the variable and the fix, never a
//! panic or a silent default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use introspec_results::Compiler;

/// The default per-case timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default memory limit of a worker: 2 GiB of address space.
pub const DEFAULT_MEMORY_LIMIT: u64 = 2 << 30;

/// What the environment set for this run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `INTROSPEC_TIMEOUT`: seconds a case may take unless it sets its own `timeout`.
    pub timeout: Duration,
    /// `INTROSPEC_MEMORY`: the memory limit of every worker (`None`: unlimited).
    pub memory_limit: Option<u64>,
    /// `INTROSPEC_COMPILERS`: the compilers whose columns are made (`cython,mypyc,nuitka`,
    /// or `none`); [`Compiler::DEFAULT`] (Cython and mypyc) by default.
    pub compilers: Vec<Compiler>,
    /// The per-user cache directory: `INTROSPEC_CACHE`, else `$XDG_CACHE_HOME/introspec`,
    /// else `$HOME/.cache/introspec`; `None` when none is set (see [`Settings::cache`]).
    pub cache_dir: Option<PathBuf>,
    /// `INTROSPEC_INSTALL`: the runtimes the harness installs into its cache if missing.
    pub install: Vec<introspec_runtimes::Installable>,
    /// Whether `INTROSPEC_COMPILERS` was set (or `--compilers` given): `introspec run
    /// --python` makes compiled columns only when asked.
    pub compilers_explicit: bool,
    /// `introspec run --python PATH` (the CLI sets it): exactly these interpreters, nothing
    /// searched, `INTROSPEC_PYTHONS` and `runtimes.toml` left out.
    pub pythons: Vec<PathBuf>,
    /// `INTROSPEC_PYTHONS`: interpreters to add, by path.
    pub env_pythons: Vec<PathBuf>,
    /// `INTROSPEC_ONLY_LISTED` set: only `INTROSPEC_PYTHONS` and `runtimes.toml`, no search.
    pub only_listed: bool,
    /// Where the machine is searched (`PYENV_ROOT` or `$HOME/.pyenv`, `PATH`).
    pub search: introspec_runtimes::Search,
    /// How compiled columns are built: `INTROSPEC_BUILD_JOBS` (C compilers at once, default
    /// 2), `CC` (default `gcc`), `INTROSPEC_BUILD_LOG` (set: every build step is printed).
    pub build: introspec_compilers::BuildOptions,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: DEFAULT_TIMEOUT,
            memory_limit: Some(DEFAULT_MEMORY_LIMIT),
            compilers: Compiler::DEFAULT.to_vec(),
            cache_dir: None,
            install: Vec::new(),
            compilers_explicit: false,
            pythons: Vec::new(),
            env_pythons: Vec::new(),
            only_listed: false,
            search: introspec_runtimes::Search::default(),
            build: introspec_compilers::BuildOptions::default(),
        }
    }
}

impl Settings {
    /// Read `INTROSPEC_TIMEOUT`, `INTROSPEC_MEMORY`, `INTROSPEC_COMPILERS`, how compiled
    /// columns are built (`INTROSPEC_BUILD_JOBS`, `CC`, `INTROSPEC_BUILD_LOG`), the cache
    /// directory's variables (`INTROSPEC_CACHE`, `XDG_CACHE_HOME`, `HOME`) and where to find
    /// interpreters (`INTROSPEC_PYTHONS`, `INTROSPEC_ONLY_LISTED`, `PYENV_ROOT`, `PATH`).
    /// Called once, by the binaries (the `introspec` CLI and the test harnesses): no library
    /// reads the environment.
    pub fn from_env() -> Result<Settings, String> {
        Settings::from_vars(|k| std::env::var(k).ok())
    }

    /// [`Settings::from_env`], its error as a diagnostic on `<environment>`.
    pub fn from_env_diagnosed() -> Result<Settings, introspec_spec::Diagnostics> {
        Settings::from_env().map_err(|e| {
            introspec_spec::diag::Diagnostics(vec![introspec_spec::diag::Diagnostic::file(
                Path::new("<environment>"),
                e,
            )])
        })
    }

    /// The same from any source of variables (tests).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut s = Settings::default();
        if let Some(v) = get("INTROSPEC_TIMEOUT").filter(|v| !v.is_empty()) {
            s.timeout = parse_timeout(&v).map_err(|why| {
                format!("INTROSPEC_TIMEOUT={v:?}: {why}; give seconds, for example INTROSPEC_TIMEOUT=10 or 0.5")
            })?;
        }
        if let Some(v) = get("INTROSPEC_MEMORY").filter(|v| !v.is_empty()) {
            s.memory_limit = parse_memory(&v).map_err(|why| {
                format!("INTROSPEC_MEMORY={v:?}: {why}; give a size such as 2GiB, 512MiB or 1073741824, or `none`")
            })?;
        }
        if let Some(v) = get("INTROSPEC_COMPILERS") {
            s.compilers = parse_compilers(&v).map_err(|why| {
                format!("INTROSPEC_COMPILERS={v:?}: {why}; give `none` or a list of `cython`, `mypyc`, `nuitka` (`cython,mypyc,nuitka`)")
            })?;
            s.compilers_explicit = true;
        }
        if let Some(v) = get("INTROSPEC_PYTHONS") {
            s.env_pythons = introspec_runtimes::Options::split_pythons(&v);
        }
        s.only_listed = get("INTROSPEC_ONLY_LISTED").is_some();
        s.search = introspec_runtimes::Search::from_vars(|k| get(k).map(Into::into));
        let set = |k: &str| get(k).filter(|d| !d.is_empty()).map(PathBuf::from);
        s.cache_dir = set("INTROSPEC_CACHE")
            .or_else(|| set("XDG_CACHE_HOME").map(|d| d.join("introspec")))
            .or_else(|| set("HOME").map(|h| h.join(".cache/introspec")));
        if let Some(v) = get("INTROSPEC_BUILD_JOBS").filter(|v| !v.is_empty()) {
            s.build.jobs = v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("INTROSPEC_BUILD_JOBS={v:?}: not a whole number above 0; give how many C compilers may run at once, for example INTROSPEC_BUILD_JOBS=4")
            })?;
        }
        if let Some(cc) = get("CC").filter(|v| !v.trim().is_empty()) {
            s.build.cc = cc;
        }
        s.build.log = get("INTROSPEC_BUILD_LOG").is_some();
        if let Some(v) = get("INTROSPEC_INSTALL") {
            s.install = introspec_runtimes::Installable::parse_list(&v).map_err(|why| {
                format!("INTROSPEC_INSTALL={v:?}: {why}, for example INTROSPEC_INSTALL=rustpython")
            })?;
        }
        Ok(s)
    }

    /// The cache directory: [`Settings::cache_dir`], else the checkout's
    /// `target/introspec-cache`. It is per user, not per checkout, so a fresh clone (a CI run)
    /// reuses the observers, the virtual environments and the compiled cases that an earlier
    /// run on the machine built; every entry is keyed by the content it was made from, so
    /// nothing stale is ever used.
    pub fn cache(&self, project_root: &Path) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| project_root.join("target/introspec-cache"))
    }

    /// Where discovery looks: with [`Settings::pythons`] (`--python`) exactly those; else
    /// `INTROSPEC_PYTHONS`, `runtimes.toml` at the project root and, unless
    /// `INTROSPEC_ONLY_LISTED`, the machine. Identities are cached under the checkout's
    /// `target/`.
    pub fn discovery(&self, project_root: &Path) -> introspec_runtimes::Options {
        let cache_file = Some(project_root.join("target/introspec-cache/runtimes.json"));
        if !self.pythons.is_empty() {
            return introspec_runtimes::Options {
                cache_file,
                ..introspec_runtimes::Options::only(&self.pythons)
            };
        }
        introspec_runtimes::Options {
            pythons: Vec::new(),
            env_pythons: self.env_pythons.clone(),
            runtimes_toml: Some(project_root.join("runtimes.toml")),
            cache_file,
            search: (!self.only_listed).then(|| self.search.clone()),
            cache_dir: Some(self.cache(project_root)),
            install: self.install.clone(),
        }
    }

    /// Settle the compiled columns of a run given `--python` (compiled columns only when
    /// asked: by `--compilers` or `INTROSPEC_COMPILERS`) and `--compilers` itself.
    pub fn with_pythons(mut self, pythons: Vec<PathBuf>, compilers: Option<Vec<Compiler>>) -> Self {
        if let Some(c) = compilers {
            self.compilers = c;
            self.compilers_explicit = true;
        }
        if !pythons.is_empty() && !self.compilers_explicit {
            self.compilers.clear();
        }
        self.pythons = pythons;
        self
    }
}

/// Compiler names separated by commas or spaces; `none` (or nothing) for none.
pub fn parse_compilers(text: &str) -> Result<Vec<Compiler>, String> {
    let mut out = Vec::new();
    for name in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if name == "none" {
            continue;
        }
        let c = Compiler::parse(name).ok_or_else(|| format!("unknown compiler `{name}`"))?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// A timeout in seconds: finite, at least a millisecond, at most a day.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| "not a number of seconds".to_string())?;
    check_timeout(secs)
}

/// The bounds every timeout obeys, from the environment or a case.
pub fn check_timeout(secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() {
        return Err("not a finite number of seconds".into());
    }
    if !(0.001..=86_400.0).contains(&secs) {
        return Err("outside 0.001 to 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A size: bytes, or a number with K/M/G (powers of 1024, `KiB`/`KB` alike); `none` or `0`
/// for no limit. At least 64 MiB: an interpreter needs that much to start.
pub fn parse_memory(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t == "0" {
        return Ok(None);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| "not a size".to_string())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown unit {other:?}")),
    };
    let bytes = n
        .checked_mul(1u64 << shift)
        .ok_or_else(|| "too large".to_string())?;
    if bytes < 64 << 20 {
        return Err("below 64 MiB, too little for an interpreter to start".into());
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(k: &'static str, v: &'static str) -> Result<Settings, String> {
        Settings::from_vars(|name| (name == k).then(|| v.to_string()))
    }

    #[test]
    fn bad_timeouts_are_errors_that_name_the_variable() {
        for v in ["-1", "nan", "inf", "1e400", "abc", "0", "1e-9"] {
            let e = with("INTROSPEC_TIMEOUT", v).unwrap_err();
            assert!(e.starts_with("INTROSPEC_TIMEOUT="), "{v}: {e}");
        }
        assert_eq!(
            with("INTROSPEC_TIMEOUT", "0.3").unwrap().timeout,
            Duration::from_millis(300)
        );
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("2GiB").unwrap(), Some(2 << 30));
        assert_eq!(parse_memory("512M").unwrap(), Some(512 << 20));
        assert_eq!(parse_memory("none").unwrap(), None);
        assert_eq!(parse_memory("1073741824").unwrap(), Some(1 << 30));
        assert!(parse_memory("12 parsecs").is_err());
        assert!(parse_memory("1k").is_err());
        assert!(parse_memory("99999999999T").is_err());
        assert!(with("INTROSPEC_MEMORY", "lots")
            .unwrap_err()
            .contains("INTROSPEC_MEMORY"));
        assert_eq!(Settings::from_vars(|_| None).unwrap(), Settings::default());
    }

    #[test]
    fn build_options() {
        let d = Settings::default().build;
        assert_eq!((d.jobs, d.cc.as_str(), d.log), (2, "gcc", false));
        assert_eq!(with("INTROSPEC_BUILD_JOBS", "4").unwrap().build.jobs, 4);
        for v in ["0", "-1", "two", "1.5"] {
            let e = with("INTROSPEC_BUILD_JOBS", v).unwrap_err();
            assert!(e.starts_with("INTROSPEC_BUILD_JOBS="), "{v}: {e}");
        }
        assert_eq!(with("CC", "clang").unwrap().build.cc, "clang");
        assert_eq!(with("CC", " ").unwrap().build.cc, "gcc");
        assert!(with("INTROSPEC_BUILD_LOG", "1").unwrap().build.log);
    }

    #[test]
    fn compilers() {
        assert_eq!(Settings::default().compilers, Compiler::DEFAULT);
        assert_eq!(with("INTROSPEC_COMPILERS", "none").unwrap().compilers, []);
        assert_eq!(with("INTROSPEC_COMPILERS", "").unwrap().compilers, []);
        assert_eq!(
            with("INTROSPEC_COMPILERS", "mypyc").unwrap().compilers,
            [Compiler::Mypyc]
        );
        assert_eq!(
            with("INTROSPEC_COMPILERS", "cython, mypyc")
                .unwrap()
                .compilers,
            [Compiler::Cython, Compiler::Mypyc]
        );
        assert_eq!(
            with("INTROSPEC_COMPILERS", "cython,mypyc,nuitka")
                .unwrap()
                .compilers,
            Compiler::ALL
        );
        let e = with("INTROSPEC_COMPILERS", "cyton").unwrap_err();
        assert!(
            e.starts_with("INTROSPEC_COMPILERS=") && e.contains("`cyton`"),
            "{e}"
        );
    }

    #[test]
    fn cache_directory() {
        let root = Path::new("/checkout");
        let vars = |set: &'static [(&'static str, &'static str)]| {
            Settings::from_vars(|k| {
                set.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap()
            .cache(root)
        };
        assert_eq!(vars(&[]), root.join("target/introspec-cache"));
        assert_eq!(vars(&[("HOME", "/h")]), Path::new("/h/.cache/introspec"));
        assert_eq!(
            vars(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]),
            Path::new("/x/introspec")
        );
        assert_eq!(
            vars(&[
                ("HOME", "/h"),
                ("XDG_CACHE_HOME", "/x"),
                ("INTROSPEC_CACHE", "/c")
            ]),
            Path::new("/c")
        );
        assert_eq!(
            vars(&[("HOME", "/h"), ("INTROSPEC_CACHE", "")]),
            Path::new("/h/.cache/introspec")
        );
    }

    #[test]
    fn the_runtimes_to_install() {
        assert_eq!(
            with("INTROSPEC_INSTALL", "rustpython").unwrap().install,
            [introspec_runtimes::Installable::RustPython]
        );
        assert!(with("INTROSPEC_INSTALL", "none")
            .unwrap()
            .install
            .is_empty());
        let e = with("INTROSPEC_INSTALL", "graalpy").unwrap_err();
        assert!(
            e.starts_with("INTROSPEC_INSTALL=") && e.contains("`rustpython`"),
            "{e}"
        );
    }

    /// `--python` alone: exactly those paths, nothing searched, no compiled column; a
    /// compiler asked for (flag or variable) keeps its columns.
    #[test]
    fn python_paths_are_exactly_the_runtimes_and_compilers_come_only_when_asked() {
        let root = Path::new("/r");
        let base = Settings::from_vars(|k| match k {
            "INTROSPEC_PYTHONS" => Some("/x/python:/y/python".into()),
            "PATH" => Some("/usr/bin".into()),
            _ => None,
        })
        .unwrap();
        let o = base.discovery(root);
        assert_eq!(o.env_pythons.len(), 2);
        assert_eq!(o.search.unwrap().path, [PathBuf::from("/usr/bin")]);
        let s = base.clone().with_pythons(vec!["./python".into()], None);
        assert!(s.compilers.is_empty());
        let o = s.discovery(root);
        assert_eq!(o.pythons, [PathBuf::from("./python")]);
        assert!(o.env_pythons.is_empty() && o.search.is_none() && o.runtimes_toml.is_none());
        let s = base
            .clone()
            .with_pythons(vec!["./python".into()], Some(vec![Compiler::Cython]));
        assert_eq!(s.compilers, [Compiler::Cython]);
        let s = with("INTROSPEC_COMPILERS", "mypyc")
            .unwrap()
            .with_pythons(vec!["./python".into()], None);
        assert_eq!(s.compilers, [Compiler::Mypyc]);
        // without --python the default stays both
        assert_eq!(base.with_pythons(vec![], None).compilers, Compiler::DEFAULT);
        assert!(with("INTROSPEC_ONLY_LISTED", "1")
            .unwrap()
            .discovery(root)
            .search
            .is_none());
    }
}
