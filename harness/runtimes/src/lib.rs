//! Interpreter discovery. With no configuration it finds pyenv's versions, `python3.X`,
//! `python2.7`, `pypy3`, `rustpython` and `jython` on `PATH`; it adds every path in `INTROSPEC_PYTHONS` (separated
//! by `:`) and in `runtimes.toml` (`[[runtime]] path = "…"`). Each candidate is identified
//! by running it once with a tiny script that works from Python 2.7 on; answers are cached
//! by path, size and modification time, so listing trials starts no interpreter.

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
}

/// A usable runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runtime {
    /// The column name: `cpython-3.12.1`, `pypy-3.9.16`, `cpython-3.13.0t`, `cpython-3.13.0d`.
    pub name: String,
    pub path: PathBuf,
    pub identity: Identity,
    /// How it was found: `pyenv`, `PATH`, `INTROSPEC_PYTHONS`, `runtimes.toml`.
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

/// Where to look, and where to cache identities.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub env_pythons: Option<String>,
    pub runtimes_toml: Option<PathBuf>,
    pub cache_file: Option<PathBuf>,
    /// Search pyenv, PATH and the runtimes installed in `cache_dir` (off in tests that want
    /// only explicit paths).
    pub search_machine: bool,
    /// The per-user cache, where [`Installable`] runtimes are installed.
    pub cache_dir: Option<PathBuf>,
    /// The runtimes to install into `cache_dir` if they are not there (`INTROSPEC_INSTALL`).
    pub install: Vec<Installable>,
}

impl Options {
    /// The defaults: the environment, `runtimes.toml` at the project root, the cache under `target/`.
    pub fn from_env(project_root: &Path) -> Options {
        Options {
            env_pythons: std::env::var("INTROSPEC_PYTHONS").ok(),
            runtimes_toml: Some(project_root.join("runtimes.toml")),
            cache_file: Some(project_root.join("target/introspec-cache/runtimes.json")),
            search_machine: std::env::var_os("INTROSPEC_ONLY_LISTED").is_none(),
            cache_dir: None,
            install: Vec::new(),
        }
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
  "build": " ".join(sys.version.split(None, 1)[1:]).replace("\n", " ")}) + "\n")
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

/// Candidate interpreter paths, each with how it was found, in a stable order.
pub fn candidates(opts: &Options) -> (Vec<(PathBuf, String)>, Vec<Unusable>) {
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    let mut bad = Vec::new();
    if opts.search_machine {
        let root = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
        if let Some(root) = root {
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
                        Some(p) => out.push((p, "pyenv".into())),
                        None => bad.push(Unusable {
                            path: d,
                            found_by: "pyenv".into(),
                            why: "no bin/python in this pyenv version".into(),
                        }),
                    }
                }
            }
        }
    }
    // the runtimes the harness installs: before PATH, so that the pinned build is the column
    // when a user's own build reports the same version
    let (found, failed) = installed(opts);
    out.extend(found);
    bad.extend(failed);
    if opts.search_machine {
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if dir.components().any(|c| c.as_os_str() == "shims") {
                    continue; // pyenv shims resolve to the versions found above
                }
                let mut names: Vec<String> = (6..=20).map(|m| format!("python3.{m}")).collect();
                names.extend([
                    "python2.7".into(),
                    "pypy3".into(),
                    "pypy".into(),
                    "graalpy".into(),
                    "rustpython".into(),
                    "jython".into(),
                ]);
                for n in names {
                    let p = dir.join(&n);
                    if p.is_file() {
                        out.push((p, "PATH".into()));
                    }
                }
            }
        }
    }
    if let Some(list) = &opts.env_pythons {
        for p in list.split(':').filter(|s| !s.trim().is_empty()) {
            out.push((PathBuf::from(p.trim()), "INTROSPEC_PYTHONS".into()));
        }
    }
    if let Some(t) = &opts.runtimes_toml {
        if let Ok(text) = std::fs::read_to_string(t) {
            match toml::from_str::<RuntimesToml>(&text) {
                Ok(rt) => out.extend(
                    rt.runtime
                        .into_iter()
                        .map(|r| (r.path, "runtimes.toml".into())),
                ),
                Err(e) => bad.push(Unusable {
                    path: t.clone(),
                    found_by: "runtimes.toml".into(),
                    why: format!("cannot parse: {}", e.message()),
                }),
            }
        }
    }
    (out, bad)
}

/// The runtimes installed in the cache: each one asked for in `opts.install` is installed
/// first if missing (minutes, once); one already there is used when the machine is searched.
fn installed(opts: &Options) -> (Vec<(PathBuf, String)>, Vec<Unusable>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let Some(cache) = &opts.cache_dir else {
        return (out, bad);
    };
    for what in Installable::ALL {
        if opts.install.contains(&what) {
            match what.ensure(cache) {
                Ok(exe) => out.push((exe, "INTROSPEC_INSTALL".into())),
                Err(why) => bad.push(Unusable {
                    path: what.dir(cache),
                    found_by: "INTROSPEC_INSTALL".into(),
                    why,
                }),
            }
        } else if opts.search_machine {
            let exe = what.executable(cache);
            if exe.is_file() {
                out.push((exe, "introspec cache".into()));
            }
        }
    }
    (out, bad)
}

/// Find and identify every interpreter. Duplicates (the same file reached twice, or the same
/// implementation and build found twice) keep the first.
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
    let results: Vec<(PathBuf, String, Result<Identity, String>)> = std::thread::scope(|s| {
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
                    (p.clone(), how.clone(), r, st)
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
    let mut seen_real: Vec<PathBuf> = Vec::new();
    for (path, how, r) in results {
        match r {
            Err(why) => unusable.push(Unusable {
                path,
                found_by: how,
                why,
            }),
            Ok(id) => {
                let real = std::fs::canonicalize(&path).unwrap_or(path.clone());
                let name = column_name(&id);
                if seen_real.contains(&real) || runtimes.iter().any(|r| r.name == name) {
                    continue;
                }
                seen_real.push(real);
                runtimes.push(Runtime {
                    name,
                    path,
                    identity: id,
                    found_by: how,
                });
            }
        }
    }
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
    if opts.search_machine {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            env_pythons: Some(paths.join(":")),
            runtimes_toml: None,
            cache_file: None,
            search_machine: false,
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
            env_pythons: Some("/nonexistent/python:/etc/passwd".into()),
            runtimes_toml: None,
            cache_file: None,
            search_machine: false,
            ..Default::default()
        };
        let d = discover(&opts);
        assert!(d.runtimes.is_empty());
        assert_eq!(d.unusable.len(), 2);
        assert!(d.unusable[0].why.contains("no such file"));
        assert!(d.unusable[1].why.contains("not an executable"));
    }
}
