//! Interpreter discovery. Searching the machine ([`Search`]) finds pyenv's versions,
//! `python3.X` (and `python3.Xt`, `python3.Xd`), `python2.7`, `pypy3`, `rustpython` and
//! `jython` on `PATH`; it adds every path given ([`Options::pythons`]: `introspec run
//! --python`; [`Options::env_pythons`]: `INTROSPEC_PYTHONS`) and in `runtimes.toml`
//! (`[[runtime]] path = "…"`). Each candidate is identified by running it once with a tiny
//! script that works from Python 2.7 on; answers are cached by path, size and modification
//! time, so listing trials starts no interpreter. This crate reads no environment variable:
//! the caller (the CLI) says where to look.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use introspec_spec::Version;
use serde::{Deserialize, Serialize};

pub mod install;
pub use install::Installable;

/// What an interpreter says of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub implementation: String,
    /// The implementation's own version (PyPy: 7.3.11).
    pub implementation_version: String,
    /// The language version with its release level (`sys.version_info` as PEP 440 writes
    /// it): `3.12.1`, `3.15.0a3`, `3.14.0rc1`; `3.9.16` for that PyPy.
    pub version: Version,
    pub free_threaded: bool,
    pub debug: bool,
    pub executable: String,
    pub build: String,
    /// `sys.prefix`: where the interpreter's library is, which tells apart two builds of one
    /// version (a venv's `bin/python` is the base interpreter's file with another prefix).
    #[serde(default)]
    pub prefix: String,
}

/// A usable runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runtime {
    /// The column name: `cpython-3.12.1`, `pypy-3.9.16`, `cpython-3.13.0t`, `cpython-3.13.0d`.
    pub name: String,
    pub path: PathBuf,
    pub identity: Identity,
    /// How it was found: [`Source::label`] (`--python`, `INTROSPEC_PYTHONS`, `runtimes.toml`,
    /// `pyenv`, `PATH`, …).
    pub found_by: String,
}

impl Runtime {
    pub fn language(&self) -> Version {
        self.identity.version.clone()
    }
}

/// A candidate that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unusable {
    pub path: PathBuf,
    pub found_by: String,
    pub why: String,
}

/// A runtime the project expects but that is not on this machine, with the command that
/// installs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Absent {
    pub name: String,
    pub install: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Discovery {
    pub runtimes: Vec<Runtime>,
    pub unusable: Vec<Unusable>,
    pub absent: Vec<Absent>,
}

/// How a candidate was found, in the order of precedence: a path given wins over one found,
/// both when the same interpreter is reached twice and for the plain column name when two
/// builds would share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// `introspec run --python PATH`.
    PythonArg,
    /// `INTROSPEC_PYTHONS`.
    EnvPythons,
    /// `runtimes.toml` at the project root.
    RuntimesToml,
    /// Installed into the cache because `INTROSPEC_INSTALL` asked for it.
    Install,
    /// Installed in the cache by an earlier run.
    Cache,
    /// `$PYENV_ROOT/versions/*`.
    Pyenv,
    /// A `python3.X`, `pypy3`… on `PATH`.
    Path,
}

impl Source {
    /// The name the results and `introspec runtimes` give it.
    pub fn label(self) -> &'static str {
        match self {
            Source::PythonArg => "--python",
            Source::EnvPythons => "INTROSPEC_PYTHONS",
            Source::RuntimesToml => "runtimes.toml",
            Source::Install => "INTROSPEC_INSTALL",
            Source::Cache => "introspec cache",
            Source::Pyenv => "pyenv",
            Source::Path => "PATH",
        }
    }
}

/// Where the machine is searched for interpreters, as the caller read it from its
/// environment (the CLI: `PYENV_ROOT`, else `$HOME/.pyenv`, and `PATH`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// pyenv's root: its `versions/*/bin/python3` are candidates.
    pub pyenv_root: Option<PathBuf>,
    /// The directories of `PATH`, in order.
    pub path: Vec<PathBuf>,
}

impl Search {
    /// From a source of variables (`PYENV_ROOT`, `HOME`, `PATH`); the caller passes
    /// `std::env::var_os` at its edge, or fixed values in a test.
    pub fn from_vars(get: impl Fn(&str) -> Option<std::ffi::OsString>) -> Search {
        let set = |k: &str| get(k).filter(|v| !v.is_empty());
        Search {
            pyenv_root: set("PYENV_ROOT")
                .map(PathBuf::from)
                .or_else(|| set("HOME").map(|h| PathBuf::from(h).join(".pyenv"))),
            path: set("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
        }
    }
}

/// Where to look, and where to cache identities.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Interpreters given by path on the command line (`--python`), first in precedence.
    pub pythons: Vec<PathBuf>,
    /// Interpreters given by path in `INTROSPEC_PYTHONS`.
    pub env_pythons: Vec<PathBuf>,
    pub runtimes_toml: Option<PathBuf>,
    pub cache_file: Option<PathBuf>,
    /// Search pyenv, PATH and the runtimes installed in `cache_dir`; `None`: only the paths
    /// given (`--python`, `INTROSPEC_ONLY_LISTED`, tests that want only explicit paths).
    pub search: Option<Search>,
    /// The per-user cache, where [`Installable`] runtimes are installed.
    pub cache_dir: Option<PathBuf>,
    /// The runtimes to install into `cache_dir` if they are not there (`INTROSPEC_INSTALL`).
    pub install: Vec<Installable>,
}

impl Options {
    /// Only these paths, nothing searched.
    pub fn only(paths: &[PathBuf]) -> Options {
        Options {
            pythons: paths.to_vec(),
            ..Default::default()
        }
    }

    /// Split `INTROSPEC_PYTHONS`'s value (`:`-separated paths, empty parts ignored).
    pub fn split_pythons(list: &str) -> Vec<PathBuf> {
        list.split(':')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect()
    }
}

/// The identification script: Python 2.7 and 3.x, prints one JSON line.
pub const IDENTIFY: &str = r#"
import sys, json, platform
try:
    import sysconfig
    ft = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
except Exception:
    ft = False
impl = getattr(sys, "implementation", None)
name = impl.name if impl else platform.python_implementation().lower()
def pep440(v):
    level = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v[3], "")
    return "%d.%d.%d" % (v[0], v[1], v[2]) + (level and "%s%d" % (level, v[4]))
iv = impl.version if impl else sys.version_info
sys.stdout.write(json.dumps({"implementation": name, "implementation_version": pep440(iv),
  "version": pep440(sys.version_info), "free_threaded": ft,
  "debug": hasattr(sys, "gettotalrefcount"), "executable": sys.executable or "",
  "build": " ".join(sys.version.split(None, 1)[1:]).replace("\n", " "),
  "prefix": sys.prefix or ""}) + "\n")
"#;

/// Ask one interpreter who it is (at most 60 s: Jython's JVM alone took 22 s to start on a
/// loaded 2-core machine).
pub fn identify(path: &Path) -> Result<Identity, String> {
    if !path.exists() {
        return Err("no such file".into());
    }
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
            return Err("not an executable file".into());
        }
    }
    let mut child = Command::new(path)
        .args(["-c", IDENTIFY])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // the JVM under Jython starts in half the time with the client compiler only
        .env(
            "JAVA_TOOL_OPTIONS",
            "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        )
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(_) => break,
            None if start.elapsed() > Duration::from_secs(60) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("did not answer within 60 s".into());
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    match line.and_then(|l| serde_json::from_str::<Identity>(l).ok()) {
        Some(id) => Ok(id),
        None => {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string();
            Err(if out.status.success() {
                "is not a Python interpreter (it did not answer the identification script)".into()
            } else {
                format!(
                    "died at start-up ({}){}",
                    out.status,
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    }
                )
            })
        }
    }
}

/// The column name of an identity.
pub fn column_name(id: &Identity) -> String {
    // a final release keeps the name it always had (`cpython-3.12.1`); any other carries
    // its release level (`cpython-3.15.0a3`, `rustpython-3.14.0a0`)
    let mut name = format!("{}-{}", id.implementation, id.version);
    // `t` is CPython's name for its free-threaded build (PEP 703's ABI flag, `python3.13t`),
    // told apart from the default build of the same version. RustPython has no GIL in its
    // one build and says so (`Py_GIL_DISABLED` is true in its `_sysconfig`); its identity
    // keeps that, but a `t` on its name would claim a second, GIL-less build of it
    if id.free_threaded && id.implementation == "cpython" {
        name.push('t');
    }
    if id.debug {
        name.push('d');
    }
    name
}

/// The environment a worker needs to start within an address-space limit of `limit` bytes
/// (`RLIMIT_AS`, set by harness/worker). CPython, PyPy and RustPython reserve no more than
/// they use and need nothing; the JVM under Jython reserves a heap of a quarter of the
/// machine's memory and a 1 GiB compressed class space up front, so it does not start at
/// all under a 2 GiB limit ("Could not allocate compressed class space") unless
/// `JAVA_TOOL_OPTIONS` bounds them: a heap of a quarter of the limit, 64 MiB each of class
/// space and code cache, the serial collector (no GC threads' reservations), and no crash
/// report file left in the working directory; and the client compiler only, which starts
/// Jython in about half the wall time (12 s against 22 s measured on a loaded 2-core
/// machine). Every other runtime ignores the variable.
pub fn environment_for_memory_limit(limit: u64) -> Vec<(String, String)> {
    let heap_mib = (limit >> 20) / 4;
    vec![(
        "JAVA_TOOL_OPTIONS".into(),
        format!(
            "-Xmx{heap_mib}m -XX:CompressedClassSpaceSize=64m -XX:ReservedCodeCacheSize=64m \
             -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ErrorFile=/dev/null"
        ),
    )]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimesToml {
    #[serde(default)]
    runtime: Vec<RuntimeEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeEntry {
    path: PathBuf,
}

#[derive(Serialize, Deserialize, Default)]
struct Cache {
    entries: BTreeMap<String, CacheEntry>,
}

#[derive(Serialize, Deserialize, Clone)]
struct CacheEntry {
    stamp: String,
    identity: Result<Identity, String>,
}

fn stamp(path: &Path) -> Option<String> {
    let real = std::fs::canonicalize(path).ok()?;
    let m = std::fs::metadata(&real).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    // the script's digest too: identities made by an older script are asked again
    Some(format!(
        "{}:{}:{}:{}",
        real.display(),
        m.len(),
        mtime,
        introspec_cache::short_digest(IDENTIFY.as_bytes())
    ))
}

/// The names looked for in each `PATH` directory: every `python3.X` with its free-threaded
/// (`python3.Xt`, PEP 703's ABI flag) and debug (`python3.Xd`) builds, then the other
/// implementations.
pub fn path_names() -> Vec<String> {
    let mut names = Vec::new();
    for m in 6..=20 {
        for flags in ["", "t", "d", "td"] {
            names.push(format!("python3.{m}{flags}"));
        }
    }
    names.extend(
        [
            "python2.7",
            "pypy3",
            "pypy",
            "graalpy",
            "rustpython",
            "jython",
        ]
        .map(String::from),
    );
    names
}

/// Candidate interpreter paths, each with how it was found, in the order of precedence
/// ([`Source`]): the paths given, then the cache's runtimes, pyenv's, `PATH`'s.
pub fn candidates(opts: &Options) -> (Vec<(PathBuf, Source)>, Vec<Unusable>) {
    let mut out: Vec<(PathBuf, Source)> = Vec::new();
    let mut bad = Vec::new();
    out.extend(opts.pythons.iter().map(|p| (p.clone(), Source::PythonArg)));
    out.extend(
        opts.env_pythons
            .iter()
            .map(|p| (p.clone(), Source::EnvPythons)),
    );
    if let Some(t) = &opts.runtimes_toml {
        if let Ok(text) = std::fs::read_to_string(t) {
            match toml::from_str::<RuntimesToml>(&text) {
                Ok(rt) => out.extend(
                    rt.runtime
                        .into_iter()
                        .map(|r| (r.path, Source::RuntimesToml)),
                ),
                Err(e) => bad.push(Unusable {
                    path: t.clone(),
                    found_by: Source::RuntimesToml.label().into(),
                    why: format!("cannot parse: {}", e.message()),
                }),
            }
        }
    }
    // the runtimes the harness installs: before pyenv and PATH, so that the pinned build is
    // the plain column name when a user's own build reports the same version
    let (found, failed) = installed(opts);
    out.extend(found);
    bad.extend(failed);
    let Some(search) = &opts.search else {
        return (out, bad);
    };
    if let Some(root) = &search.pyenv_root {
        if let Ok(entries) = std::fs::read_dir(root.join("versions")) {
            let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            dirs.sort();
            for d in dirs {
                let bin = d.join("bin");
                let exe = ["python3", "python", "pypy3", "pypy"]
                    .iter()
                    .map(|n| bin.join(n))
                    .find(|p| p.exists());
                match exe {
                    Some(p) => out.push((p, Source::Pyenv)),
                    None => bad.push(Unusable {
                        path: d,
                        found_by: Source::Pyenv.label().into(),
                        why: "no bin/python in this pyenv version".into(),
                    }),
                }
            }
        }
    }
    let names = path_names();
    for dir in &search.path {
        if dir.components().any(|c| c.as_os_str() == "shims") {
            continue; // pyenv shims resolve to the versions found above
        }
        for n in &names {
            let p = dir.join(n);
            if p.is_file() {
                out.push((p, Source::Path));
            }
        }
    }
    (out, bad)
}

/// The runtimes installed in the cache: each one asked for in `opts.install` is installed
/// first if missing (minutes, once); one already there is used when the machine is searched.
/// Where only the paths given count (`opts.search` is `None`), none: a run told to use
/// exactly these interpreters gets no other, whatever `INTROSPEC_INSTALL` says.
fn installed(opts: &Options) -> (Vec<(PathBuf, Source)>, Vec<Unusable>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let (Some(cache), Some(_)) = (&opts.cache_dir, &opts.search) else {
        return (out, bad);
    };
    for what in Installable::ALL {
        if opts.install.contains(&what) {
            match what.ensure(cache) {
                Ok(exe) => out.push((exe, Source::Install)),
                Err(why) => bad.push(Unusable {
                    path: what.dir(cache),
                    found_by: Source::Install.label().into(),
                    why,
                }),
            }
        } else {
            let exe = what.executable(cache);
            if exe.is_file() {
                out.push((exe, Source::Cache));
            }
        }
    }
    (out, bad)
}

/// Distinct column names for runtimes that would share one (`Runtime::name` set to
/// [`column_name`], in the order of precedence). The first of each name keeps it; each other
/// gets `@` and the shortest tail of its `sys.prefix` that no other in the group has
/// (`cpython-3.12.1@venv-a`), else of its executable's directory, else its rank (`@2`). The
/// debug and free-threaded builds already differ by `d` and `t`.
pub fn distinct_names(runtimes: &mut [Runtime]) {
    fn tails(p: &str) -> Vec<String> {
        let parts: Vec<String> = Path::new(p)
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(s) => Some(
                    s.to_string_lossy()
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                                c
                            } else {
                                '_'
                            }
                        })
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect();
        (1..=parts.len())
            .map(|k| parts[parts.len() - k..].join("-"))
            .collect()
    }
    let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, rt) in runtimes.iter().enumerate() {
        by_name.entry(rt.name.clone()).or_default().push(i);
    }
    let mut taken: Vec<String> = runtimes.iter().map(|r| r.name.clone()).collect();
    for (name, group) in by_name {
        if group.len() < 2 {
            continue;
        }
        for (rank, &i) in group.iter().enumerate().skip(1) {
            let mut choice = None;
            for place in [
                |rt: &Runtime| rt.identity.prefix.clone(),
                |rt: &Runtime| {
                    rt.path
                        .parent()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                },
            ] {
                let mine = tails(&place(&runtimes[i]));
                let others: Vec<Vec<String>> = group
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|&j| tails(&place(&runtimes[j])))
                    .collect();
                choice = mine.iter().enumerate().find_map(|(k, t)| {
                    let unique = others.iter().all(|o| o.get(k) != Some(t));
                    let candidate = format!("{name}@{t}");
                    (unique && !taken.contains(&candidate)).then_some(candidate)
                });
                if choice.is_some() {
                    break;
                }
            }
            let mut chosen = choice.unwrap_or_else(|| format!("{name}@{}", rank + 1));
            let mut n = rank + 1;
            while taken.contains(&chosen) {
                n += 1;
                chosen = format!("{name}@{n}");
            }
            taken.push(chosen.clone());
            runtimes[i].name = chosen;
        }
    }
}

/// Find and identify every interpreter. The same interpreter reached twice (one file with one
/// `sys.prefix`: a symlink, `/bin` and `/usr/bin`) is kept once, as the first in precedence
/// found it (a path given wins); two builds that would share a column name are both kept,
/// under distinct names ([`distinct_names`]).
pub fn discover(opts: &Options) -> Discovery {
    let (cands, mut unusable) = candidates(opts);
    let mut cache: Cache = opts
        .cache_file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut dirty = false;
    // identify in parallel: each start-up costs tens of milliseconds
    let results: Vec<(PathBuf, Source, Result<Identity, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = cands
            .iter()
            .map(|(p, how)| {
                let st = stamp(p);
                let cached = st.as_ref().and_then(|st| {
                    cache
                        .entries
                        .get(&p.display().to_string())
                        .filter(|e| &e.stamp == st)
                        .cloned()
                });
                s.spawn(move || {
                    let r = match cached {
                        Some(c) => (c.identity, false),
                        None => (identify(p), true),
                    };
                    (p.clone(), *how, r, st)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("identification thread"))
            .map(|(p, how, (r, fresh), st)| {
                if fresh {
                    if let Some(st) = st {
                        cache.entries.insert(
                            p.display().to_string(),
                            CacheEntry {
                                stamp: st,
                                identity: r.clone(),
                            },
                        );
                        dirty = true;
                    }
                }
                (p, how, r)
            })
            .collect()
    });
    if dirty {
        if let Some(f) = &opts.cache_file {
            // atomic: harnesses started at once on an empty cache all write it
            let body = serde_json::to_string_pretty(&cache).unwrap_or_default();
            let _ = introspec_cache::write_atomic(f, body.as_bytes());
        }
    }
    let mut runtimes: Vec<Runtime> = Vec::new();
    let mut seen: Vec<(PathBuf, String)> = Vec::new();
    for (path, how, r) in results {
        match r {
            Err(why) => unusable.push(Unusable {
                path,
                found_by: how.label().into(),
                why,
            }),
            Ok(id) => {
                let real = std::fs::canonicalize(&path).unwrap_or(path.clone());
                let key = (real, id.prefix.clone());
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                runtimes.push(Runtime {
                    name: column_name(&id),
                    path,
                    identity: id,
                    found_by: how.label().into(),
                });
            }
        }
    }
    distinct_names(&mut runtimes);
    runtimes.sort_by(|a, b| {
        (
            a.identity.implementation != "cpython",
            &a.identity.implementation,
            a.language(),
            &a.name,
        )
            .cmp(&(
                b.identity.implementation != "cpython",
                &b.identity.implementation,
                b.language(),
                &b.name,
            ))
    });
    let mut absent = Vec::new();
    if opts.search.is_some() {
        let has = |implementation: &str| {
            runtimes
                .iter()
                .any(|r| r.identity.implementation == implementation)
        };
        for (implementation, install) in [
            ("pypy", "apt-get install -y pypy3".to_string()),
            ("jython", "apt-get install -y jython".to_string()),
            ("rustpython", Installable::RustPython.how_to_install()),
        ] {
            if !has(implementation) {
                absent.push(Absent {
                    name: implementation.into(),
                    install,
                });
            }
        }
    }
    Discovery {
        runtimes,
        unusable,
        absent,
    }
}

/// The Lib directory of a CPython (`sysconfig`'s `stdlib` path), for the tools that read its
/// sources or run its test suites.
pub fn stdlib_dir(python: &Path) -> Result<PathBuf, String> {
    let out = std::process::Command::new(python)
        .args([
            "-I",
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || dir.is_empty() {
        return Err(format!("{} did not say where its Lib is", python.display()));
    }
    Ok(PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run told to use only the interpreters listed gets no runtime from the cache, even
    /// one asked for with `INTROSPEC_INSTALL` (nothing is installed for it either); a run
    /// that searches the machine gets the one installed there.
    #[test]
    fn the_cache_s_runtimes_join_only_a_search() {
        let cache =
            std::env::temp_dir().join(format!("introspec-installed-{}", std::process::id()));
        let exe = Installable::RustPython.executable(&cache);
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::write(&exe, "").unwrap();
        let listed = Options {
            cache_dir: Some(cache.clone()),
            install: vec![Installable::RustPython],
            ..Options::default()
        };
        let (found, failed) = installed(&listed);
        assert!(
            found.is_empty() && failed.is_empty(),
            "{found:?} {failed:?}"
        );
        let searching = Options {
            search: Some(Search {
                pyenv_root: None,
                path: vec![],
            }),
            ..listed
        };
        let (found, _) = installed(&Options {
            install: vec![],
            ..searching
        });
        assert_eq!(found, vec![(exe, Source::Cache)]);
        let _ = std::fs::remove_dir_all(&cache);
    }

    #[test]
    fn names() {
        let mut id = Identity {
            implementation: "cpython".into(),
            implementation_version: "3.13.0".into(),
            version: Version::new(3, 13, 0),
            free_threaded: true,
            debug: false,
            executable: String::new(),
            build: String::new(),
            prefix: String::new(),
        };
        assert_eq!(column_name(&id), "cpython-3.13.0t");
        id.free_threaded = false;
        id.debug = true;
        assert_eq!(column_name(&id), "cpython-3.13.0d");
        id.debug = false;
        id.version = Version::parse("3.15.0a3").unwrap();
        assert_eq!(column_name(&id), "cpython-3.15.0a3");
        id.version = Version::parse("3.14.0rc1").unwrap();
        id.free_threaded = true;
        assert_eq!(column_name(&id), "cpython-3.14.0rc1t");
        // RustPython 0.5.0: sys.version_info (3, 14, 0, 'alpha', 0), Py_GIL_DISABLED true
        id.implementation = "rustpython".into();
        id.version = Version::parse("3.14.0a0").unwrap();
        assert_eq!(column_name(&id), "rustpython-3.14.0a0");
        id.implementation = "jython".into();
        id.version = Version::new(2, 7, 3);
        id.free_threaded = false;
        assert_eq!(column_name(&id), "jython-2.7.3");
    }

    /// A pre-release keeps its release level in its identity and column name: a real
    /// interpreter runs the identification script with `sys.version_info` set as a
    /// 3.15.0a3 and a 3.14.0rc1 build set it.
    #[test]
    fn a_pre_release_is_identified_with_its_release_level() {
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("a python3 to run the identification script");
        let dir = std::env::temp_dir().join(format!("introspec-prerelease-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut paths = Vec::new();
        for (name, info) in [
            ("a3", "(3, 15, 0, \"alpha\", 3)"),
            ("rc1", "(3, 14, 0, \"candidate\", 1)"),
        ] {
            let fake = dir.join(format!("python-{name}"));
            std::fs::write(
                &fake,
                format!(
                    "#!/bin/sh\nexec {python} -c 'import sys; sys.version_info = {info}; exec(sys.argv[1])' \"$2\"\n"
                ),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
            paths.push(fake.display().to_string());
        }
        let d = discover(&Options {
            env_pythons: paths.iter().map(PathBuf::from).collect(),
            ..Default::default()
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert!(d.unusable.is_empty(), "{:?}", d.unusable);
        let names: Vec<&str> = d.runtimes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["cpython-3.14.0rc1", "cpython-3.15.0a3"]);
        assert_eq!(
            d.runtimes[1].language(),
            Version::parse("3.15.0a3").unwrap()
        );
        assert!(d.runtimes[0].language() < Version::new(3, 14, 0));
    }

    #[test]
    fn a_missing_path_is_unusable_not_a_panic() {
        let opts = Options {
            env_pythons: Options::split_pythons("/nonexistent/python:/etc/passwd"),
            ..Default::default()
        };
        let d = discover(&opts);
        assert!(d.runtimes.is_empty());
        assert_eq!(d.unusable.len(), 2);
        assert!(d.unusable[0].why.contains("no such file"));
        assert!(d.unusable[1].why.contains("not an executable"));
    }

    fn runtime(name: &str, prefix: &str, path: &str) -> Runtime {
        Runtime {
            name: name.into(),
            path: PathBuf::from(path),
            identity: Identity {
                implementation: "cpython".into(),
                implementation_version: "3.12.1".into(),
                version: Version::new(3, 12, 1),
                free_threaded: false,
                debug: false,
                executable: path.into(),
                build: String::new(),
                prefix: prefix.into(),
            },
            found_by: Source::PythonArg.label().into(),
        }
    }

    /// Two builds under one name: the first keeps it, the other gets the shortest tail of its
    /// prefix that tells them apart; equal prefixes fall back to the executable's directory,
    /// then to the rank. Nothing is dropped.
    #[test]
    fn builds_sharing_a_name_get_distinct_names() {
        let mut rts = vec![
            runtime("cpython-3.12.1", "/tmp/a/venv", "/tmp/a/venv/bin/python"),
            runtime("cpython-3.12.1", "/tmp/b/venv", "/tmp/b/venv/bin/python"),
            runtime(
                "cpython-3.12.1",
                "/root/.pyenv/versions/3.12.1",
                "/root/.pyenv/versions/3.12.1/bin/python3",
            ),
            runtime("cpython-3.11.7", "/p", "/p/bin/python"),
        ];
        distinct_names(&mut rts);
        let names: Vec<&str> = rts.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cpython-3.12.1",
                "cpython-3.12.1@b-venv",
                "cpython-3.12.1@3.12.1",
                "cpython-3.11.7"
            ]
        );
        let mut same_prefix = vec![
            runtime("cpython-3.12.1", "/opt/py", "/opt/py/bin/python"),
            runtime("cpython-3.12.1", "/opt/py", "/home/me/copy/python"),
            runtime("cpython-3.12.1", "/opt/py", "/home/me/copy/python"),
        ];
        distinct_names(&mut same_prefix);
        let names: Vec<&str> = same_prefix.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["cpython-3.12.1", "cpython-3.12.1@2", "cpython-3.12.1@3"]
        );
    }

    #[test]
    fn the_path_scan_names_free_threaded_and_debug_builds() {
        let names = path_names();
        for n in [
            "python3.13",
            "python3.13t",
            "python3.13d",
            "python3.14td",
            "pypy3",
        ] {
            assert!(names.iter().any(|x| x == n), "{n}");
        }
    }

    #[test]
    fn search_reads_only_what_it_is_given() {
        let s = Search::from_vars(|k| match k {
            "HOME" => Some("/h".into()),
            "PATH" => Some("/a:/b".into()),
            _ => None,
        });
        assert_eq!(s.pyenv_root, Some(PathBuf::from("/h/.pyenv")));
        assert_eq!(s.path, [PathBuf::from("/a"), PathBuf::from("/b")]);
        let s = Search::from_vars(|k| (k == "PYENV_ROOT").then(|| "/p".into()));
        assert_eq!(s.pyenv_root, Some(PathBuf::from("/p")));
        assert!(s.path.is_empty());
    }
}
