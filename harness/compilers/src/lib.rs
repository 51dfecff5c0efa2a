//! Compiled implementations as columns of their own: the case sources compiled with Cython
//! or mypyc for one runtime, so the matrix shows what compiled generators and coroutines
//! lack against the spec.
//!
//! [`build`] takes a runtime, a [`Compiler`] and the case sources (id → Python source) and
//! returns a directory of importable compiled modules, one module per case, with the module
//! name of each case or the compiler's complaint about it. It does everything itself:
//!
//! * **Compilers from PyPI, into its own cache.** A virtual environment per runtime and
//!   compiler version under `CACHE/venvs/`, made with the runtime's own `-m venv` and filled
//!   by pip with the versions pinned in [`PINS`] (the newest release that supports the
//!   runtime's Python).
//! * **Batches.** Cython translates every case with the shared utility module of Cython 3.1+
//!   (`--shared`), so each case's C is small, and all the case objects and the utility module
//!   are linked into ONE shared library holding one `PyInit_<name>` per case. mypyc compiles
//!   every case in one invocation, into 16 groups by a hash of the module name (one C
//!   translation unit each: a single unit of 250 modules takes minutes in gcc, 16 small ones
//!   seconds, and a new case changes one group only); each group's library also carries its
//!   modules' init shims. A small meta-path finder (`introspec_compiled.py`, loaded with the
//!   protocol's `load` request) imports each module from its library with
//!   `importlib.machinery.ExtensionFileLoader`.
//! * **Caches.** The finished directory is keyed by a digest of (compiler version, runtime
//!   identity, sources): a warm run rebuilds nothing. Below it, objects are cached by the
//!   digest of what goes into them (Cython's C output is shared between runtimes with the same
//!   Cython), so a new case costs one translation.
//! * **Failures cost one case.** A case the compiler rejects gets its message; the others are
//!   built without it. When the compiler's output does not say which case broke the batch, the
//!   batch is split in halves until it does.
//! * **CPU.** At most [`BuildOptions::jobs`] C compilers run at once in the process (default 2).

#![warn(missing_docs)]

pub mod gcc;
pub mod util;
pub mod venv;

mod cython;
mod mypyc;
mod nuitka;
mod progress;

pub use progress::{Progress, Step};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use introspec_runtimes::{Identity, Runtime};
use serde::{Deserialize, Serialize};

use util::{write_atomic, Digest, Lock};

/// Bumped whenever the way a build is made changes, so that old cached builds are not reused.
const BUILD_LOGIC: &str = "introspec-compilers 3";

/// The finder module every build directory holds (see the crate docs).
pub const FINDER_MODULE: &str = "introspec_compiled";
const FINDER: &str = include_str!("../py/introspec_compiled.py");
const MANIFEST: &str = "introspec_compiled.json";

pub use introspec_results::Compiler;

/// How builds are made: the caller's settings, read once at its edge (the runner reads
/// `INTROSPEC_BUILD_JOBS`, `CC` and `INTROSPEC_BUILD_LOG`); nothing in this crate reads the
/// environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// How many C compilers (and Cython or mypyc translators) run at once in this process,
    /// over every build (at least 1).
    pub jobs: usize,
    /// The C compiler's command (part of every object's cache key).
    pub cc: String,
    /// Print every build step with its time on stderr.
    pub log: bool,
}

impl Default for BuildOptions {
    /// Two jobs (the machines this suite runs on have two cores, shared), `gcc`, quiet.
    fn default() -> Self {
        BuildOptions {
            jobs: 2,
            cc: "gcc".into(),
            log: false,
        }
    }
}

impl BuildOptions {
    /// A line on stderr about the steps of a build, when [`BuildOptions::log`] is set.
    pub(crate) fn log(&self, args: std::fmt::Arguments) {
        if self.log {
            eprintln!("introspec-compilers: {args}");
        }
    }
}

/// The pinned release of `compiler` for a runtime, or why it cannot build for it.
pub fn pin(compiler: Compiler, id: &Identity) -> Result<&'static Pin, String> {
    if id.implementation != "cpython" {
        return Err(format!(
            "the batched {} build is made for CPython only, not {}",
            compiler.name(),
            id.implementation
        ));
    }
    if id.free_threaded {
        return Err(format!(
            "free-threaded builds need {}'s multi-phase module init, which the batched build does not make",
            compiler.name()
        ));
    }
    let v = id.version.release();
    let minor = |p: (u32, u32)| (u64::from(p.0), u64::from(p.1));
    let of = || PINS.iter().filter(|p| p.compiler == compiler);
    if let Some(p) = of().find(|p| (v.0, v.1) >= minor(p.python) && (v.0, v.1) <= minor(p.newest)) {
        return Ok(p);
    }
    let oldest = of().map(|p| p.python).min().unwrap_or((3, 0));
    if (v.0, v.1) < minor(oldest) {
        return Err(format!(
            "{} needs CPython {}.{} or newer for the batched build (the column is {})",
            compiler.name(),
            oldest.0,
            oldest.1,
            id.version
        ));
    }
    let top = of().max_by_key(|p| p.newest).expect("a pin per compiler");
    Err(format!(
        "{} supports CPython up to {}.{} ({}); this runtime is {}, so the column is not attempted: \
         pin a release that supports it in harness/compilers/src/lib.rs (PINS)",
        top.describe(),
        top.newest.0,
        top.newest.1,
        top.newest_source,
        id.version
    ))
}

/// The runtime whose headers and compiler environment build the compiled columns of `rt`:
/// of the runtimes `found`, the newest final release of the same implementation, feature
/// release (`major.minor`) and build flags (free-threaded, debug), or `rt` itself.
///
/// CPython keeps its ABI within a feature release: "code compiled for Python 3.10.0 will work
/// on 3.10.8 and vice versa" (docs: C API Stability, ABI stability within a minor release,
/// <https://docs.python.org/3/c-api/stable.html>), which is how a `cp311` wheel is built once
/// and installed on every 3.11.x. So two patch releases of one feature release (Debian's
/// 3.11.2, pyenv's 3.11.7) share one build instead of compiling every case twice, and each
/// column still runs its own interpreter. Pre-releases promise no ABI and build for themselves.
///
/// Nuitka's modules build for the runtime itself: its C reads CPython's internal structures
/// (frames, thread state, interpreter frames), which that ABI promise does not cover.
pub fn builder<'a>(
    compiler: Compiler,
    rt: &'a Runtime,
    found: impl IntoIterator<Item = &'a Runtime>,
) -> &'a Runtime {
    let id = &rt.identity;
    if !id.version.is_final() || compiler == Compiler::Nuitka {
        return rt;
    }
    let feature = |r: &Runtime| {
        let (major, minor, _) = r.identity.version.release();
        (major, minor)
    };
    let shares_abi = |r: &Runtime| {
        let o = &r.identity;
        o.implementation == id.implementation
            && o.free_threaded == id.free_threaded
            && o.debug == id.debug
            && o.version.is_final()
            && feature(r) == feature(rt)
    };
    found
        .into_iter()
        .filter(|r| shares_abi(r))
        .chain(std::iter::once(rt))
        .max_by(|a, b| {
            (a.identity.version.release(), &a.name, &a.path).cmp(&(
                b.identity.version.release(),
                &b.name,
                &b.path,
            ))
        })
        .expect("rt itself is a candidate")
}

/// One release installed from PyPI for the runtimes whose Python is at least `python`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The compiler this release provides.
    pub compiler: Compiler,
    /// The oldest Python (major, minor) this release supports.
    pub python: (u32, u32),
    /// The newest Python (major, minor) this release is used for: a newer runtime gets no
    /// column of this compiler (it is reported unsupported, not attempted).
    pub newest: (u32, u32),
    /// Where [`Pin::newest`] comes from.
    pub newest_source: &'static str,
    /// The PyPI package (`cython`, `mypy`).
    pub package: &'static str,
    /// Its exact version.
    pub version: &'static str,
    /// Other packages installed with it, pinned (`setuptools==…`: mypyc's build module imports it).
    pub with: &'static [&'static str],
}

impl Pin {
    /// The pip requirements: `package==version` and the others.
    pub fn requirements(&self) -> Vec<String> {
        std::iter::once(format!("{}=={}", self.package, self.version))
            .chain(self.with.iter().map(|s| s.to_string()))
            .collect()
    }

    /// `cython 3.3.1`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.package, self.version)
    }
}

/// Every release this harness installs, newest first per compiler: a runtime gets the first
/// whose oldest Python it meets. The versions are the newest on PyPI for each Python at the
/// time of pinning; Cython 3.1 is the oldest with the shared utility module the batch needs.
pub const PINS: &[Pin] = &[
    Pin {
        compiler: Compiler::Cython,
        python: (3, 9),
        newest: (3, 15),
        newest_source: "its changelog, 3.3.0a1: \"Changes were made to adapt to Python 3.15\" (cython/cython CHANGES.rst); its trove classifiers stop at 3.14",
        package: "cython",
        version: "3.3.1",
        with: &[],
    },
    Pin {
        compiler: Compiler::Cython,
        python: (3, 8),
        newest: (3, 8),
        newest_source: "3.9 and newer take cython 3.3.1; its trove classifiers list 3.8 to 3.14",
        package: "cython",
        version: "3.2.9",
        with: &[],
    },
    Pin {
        compiler: Compiler::Mypyc,
        python: (3, 10),
        newest: (3, 15),
        newest_source: "its trove classifiers, Programming Language :: Python :: 3.10 to 3.15",
        package: "mypy",
        version: "2.4.1",
        with: &["setuptools==84.2.1"],
    },
    Pin {
        compiler: Compiler::Mypyc,
        python: (3, 9),
        newest: (3, 9),
        newest_source: "3.10 and newer take mypy 2.4.1; its trove classifiers list 3.9 to 3.14",
        package: "mypy",
        version: "1.19.1",
        with: &["setuptools==82.0.1"],
    },
    Pin {
        compiler: Compiler::Mypyc,
        python: (3, 8),
        newest: (3, 8),
        newest_source: "3.9 and newer take mypy 1.19.1; its trove classifiers list 3.8 to 3.13",
        package: "mypy",
        version: "1.14.1",
        with: &["setuptools==75.3.4"],
    },
    // Nuitka 4.3.5 supports 3.6 itself, but 3.6.15's pip (18.1) cannot read its pyproject.toml
    // (pytoml's TomlError at line 40, measured here), so 3.6 gets no column
    Pin {
        compiler: Compiler::Nuitka,
        python: (3, 7),
        newest: (3, 14),
        newest_source: "getSupportedPythonVersions() in nuitka/PythonVersions.py of Nuitka 4.3.5 lists 2.6, 2.7 and 3.4 to 3.14; 3.15 only partially (getPartiallySupportedPythonVersions)",
        package: "nuitka",
        version: "4.3.5",
        with: &[],
    },
];

/// One case to compile.
#[derive(Debug, Clone)]
pub struct Source {
    /// The case id (`generator.lifecycle.close`).
    pub id: String,
    /// Its Python source, as the interpreted columns execute it.
    pub code: String,
}

/// What a build gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Build {
    /// The directory to put on `sys.path`; it holds [`FINDER_MODULE`].
    pub dir: PathBuf,
    /// The compiler.
    pub compiler: Compiler,
    /// The compiler release used (`cython 3.3.1`).
    pub release: String,
    /// Per case id: the module to import, or why the case could not be compiled.
    pub modules: BTreeMap<String, Result<String, String>>,
    /// Python module name → shared library file (in `dir`) holding it.
    pub libraries: BTreeMap<String, String>,
    /// The libraries' own modules, imported when the finder is installed.
    pub preload: Vec<String>,
    /// Seconds the build took when it was made.
    pub seconds: f64,
    /// Whether this call found the build in the cache.
    #[serde(skip)]
    pub cached: bool,
}

impl Build {
    /// The module of a case, or why it has none.
    pub fn module(&self, id: &str) -> Result<&str, String> {
        match self.modules.get(id) {
            Some(Ok(m)) => Ok(m),
            Some(Err(e)) => Err(e.clone()),
            None => Err(format!(
                "case `{id}` was not part of the {} build",
                self.release
            )),
        }
    }
}

/// The module name of each case: `ic_` and the id with every character that is not a letter,
/// digit or `_` replaced by `_`; ids that would collide get `_2`, `_3`… in id order.
pub fn module_names<'a>(ids: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, String> {
    let mut ids: Vec<&str> = ids.into_iter().collect();
    ids.sort();
    let mut used = std::collections::BTreeSet::new();
    let mut out = BTreeMap::new();
    for id in ids {
        let base: String = format!("ic_{id}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut name = base.clone();
        let mut n = 1;
        while !used.insert(name.clone()) {
            n += 1;
            name = format!("{base}_{n}");
        }
        out.insert(id.to_string(), name);
    }
    out
}

/// Where builds and environments are kept, and how they are made.
pub(crate) struct Ctx<'a> {
    pub opts: &'a BuildOptions,
    pub cache: &'a Path,
    pub rt: &'a Runtime,
    pub pin: &'a Pin,
    pub venv: venv::Venv,
    /// The build directory being filled.
    pub dir: PathBuf,
    /// (case id, module, source), in id order.
    pub sources: Vec<(String, String, String)>,
    /// Where the build's steps are reported as they go.
    pub report: progress::Reporter<'a>,
}

impl Ctx<'_> {
    /// `CACHE/compiled/KIND/VERSION/RUNTIME`: where a compiler keeps what it made for this
    /// runtime with this release (`mypyc-groups`, `nuitka-rejects`…).
    pub fn kept(&self, kind: &str) -> PathBuf {
        self.cache
            .join("compiled")
            .join(kind)
            .join(self.pin.version)
            .join(venv::runtime_key(self.rt))
    }
}

/// What a compiler's build step produced in the build directory.
#[derive(Default)]
pub(crate) struct Products {
    /// Module → why it could not be compiled.
    pub errors: BTreeMap<String, String>,
    /// Python module name → library file name.
    pub libraries: BTreeMap<String, String>,
    pub preload: Vec<String>,
    /// Module → the name it is imported by, where that is not the module's own (Nuitka's
    /// cases are submodules of their group's package).
    pub imports: BTreeMap<String, String>,
}

/// Make the virtual environments that builds of `wanted` (runtime, compiler) pairs will need,
/// `at_once` at a time, in the order given, ahead of the builds: an environment is mostly a
/// download from PyPI, so making them while other work keeps the cores busy takes them off
/// the builds' path. A build that needs one still being made waits for it (the environment's
/// lock); one that failed here is tried again by its build, which reports why. None is
/// started once `stop` says so.
pub fn prepare_environments(
    opts: &BuildOptions,
    cache: &Path,
    wanted: &[(&Runtime, Compiler)],
    at_once: usize,
    stop: &(dyn Fn() -> bool + Sync),
) {
    let mut seen = std::collections::BTreeSet::new();
    let todo: Vec<(&Runtime, &'static Pin)> = wanted
        .iter()
        .filter_map(|(rt, c)| pin(*c, &rt.identity).ok().map(|p| (*rt, p)))
        .filter(|(rt, p)| seen.insert((rt.path.clone(), p.package, p.version)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..at_once.max(1).min(todo.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((rt, pin)) = todo.get(i) else {
                    return;
                };
                if stop() {
                    return;
                }
                let t = Instant::now();
                let r = venv::ensure(cache, rt, pin);
                opts.log(format_args!(
                    "{}: environment {} ahead of the build, {:.1} s{}",
                    rt.name,
                    pin.describe(),
                    t.elapsed().as_secs_f64(),
                    if r.is_ok() { "" } else { " (failed)" }
                ));
            });
        }
    });
}

/// Compile `sources` with `compiler` for `rt`, or find the build in `cache`. An `Err` means
/// the whole column cannot be built (no compiler for this runtime, the environment could not
/// be made, the link failed); a case the compiler rejects is an `Err` in [`Build::modules`].
pub fn build(
    opts: &BuildOptions,
    cache: &Path,
    rt: &Runtime,
    compiler: Compiler,
    sources: &[Source],
    on_progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Build, String> {
    let started = Instant::now();
    let pin = pin(compiler, &rt.identity)?;
    let names = module_names(sources.iter().map(|s| s.id.as_str()));
    let mut triples: Vec<(String, String, String)> = sources
        .iter()
        .map(|s| (s.id.clone(), names[&s.id].clone(), s.code.clone()))
        .collect();
    triples.sort();
    let rkey = venv::runtime_key(rt);
    let mut d = Digest::new();
    d.add(BUILD_LOGIC)
        .add(compiler.name())
        .add(pin.requirements().join(" "))
        .add(&rkey)
        .add(&opts.cc);
    for (id, m, code) in &triples {
        d.add(id).add(m).add(code);
    }
    let parent = cache
        .join("compiled")
        .join(format!("{}-{}", compiler.name(), pin.version))
        .join(&rkey);
    let dir = parent.join(d.short());
    if let Some(b) = cached(&dir) {
        return Ok(b);
    }
    let _lock = Lock::acquire(&parent.join(format!("{}.lock", d.short())))?;
    if let Some(b) = cached(&dir) {
        return Ok(b);
    }
    eprintln!(
        "introspec: compiling {} cases with {} for {} (cached for the next runs)",
        triples.len(),
        pin.describe(),
        rt.name
    );
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot remove the unfinished build {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let report = progress::Reporter {
        runtime: &rt.name,
        compiler,
        release: pin.describe(),
        started,
        sink: on_progress,
    };
    report.step(Step::Environment, 0, 1);
    let venv = venv::ensure(cache, rt, pin)?;
    let ctx = Ctx {
        opts,
        cache,
        rt,
        pin,
        venv,
        dir: dir.clone(),
        sources: triples.clone(),
        report,
    };
    let products = match compiler {
        Compiler::Cython => cython::build(&ctx)?,
        Compiler::Mypyc => mypyc::build(&ctx)?,
        Compiler::Nuitka => nuitka::build(&ctx)?,
    };
    let modules: BTreeMap<String, Result<String, String>> = triples
        .iter()
        .map(|(id, m, _)| {
            let r = match products.errors.get(m) {
                Some(e) => Err(e.clone()),
                None if products.imports.contains_key(m) => Ok(products.imports[m].clone()),
                None if products.libraries.contains_key(m) => Ok(m.clone()),
                None => Err(format!(
                    "{} produced no module {m} and said nothing about it",
                    pin.describe()
                )),
            };
            (id.clone(), r)
        })
        .collect();
    let b = Build {
        dir: dir.clone(),
        compiler,
        release: pin.describe(),
        modules,
        libraries: products.libraries,
        preload: products.preload,
        seconds: started.elapsed().as_secs_f64(),
        cached: false,
    };
    write_atomic(&dir.join(format!("{FINDER_MODULE}.py")), FINDER.as_bytes())?;
    // the manifest is written last: its presence marks a finished build
    let json = serde_json::to_string_pretty(&b).expect("a build serializes");
    write_atomic(&dir.join(MANIFEST), json.as_bytes())?;
    let failed = b.modules.values().filter(|m| m.is_err()).count();
    eprintln!(
        "introspec: {} for {}: {} modules, {} not compiled, {:.1} s, in {}",
        pin.describe(),
        rt.name,
        b.modules.len() - failed,
        failed,
        b.seconds,
        dir.display()
    );
    prune(&parent, &dir);
    Ok(b)
}

fn cached(dir: &Path) -> Option<Build> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let mut b: Build = serde_json::from_str(&text).ok()?;
    if !dir.join(format!("{FINDER_MODULE}.py")).is_file()
        || b.libraries.values().any(|l| !dir.join(l).is_file())
    {
        return None;
    }
    b.dir = dir.to_path_buf();
    b.cached = true;
    // mark it used, so that pruning keeps it
    let _ = filetime_now(&dir.join(MANIFEST));
    Some(b)
}

fn filetime_now(path: &Path) -> std::io::Result<()> {
    let f = std::fs::File::options().append(true).open(path)?;
    f.set_modified(std::time::SystemTime::now())
}

/// Remove the builds of the same runtime and compiler that no run has used for two days.
fn prune(parent: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let old = std::time::Duration::from_secs(2 * 24 * 3600);
    for e in entries.flatten() {
        let p = e.path();
        if p == keep || !p.is_dir() {
            continue;
        }
        let used = std::fs::metadata(p.join(MANIFEST))
            .and_then(|m| m.modified())
            .ok();
        if used
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > old)
        {
            let _ = std::fs::remove_dir_all(&p);
            let _ = std::fs::remove_file(p.with_extension("lock"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(version: &str, implementation: &str) -> Identity {
        Identity {
            implementation: implementation.into(),
            implementation_version: version.into(),
            version: introspec_spec::Version::parse(version).unwrap(),
            free_threaded: false,
            debug: false,
            executable: "/x/python".into(),
            build: "b".into(),
            prefix: "/x".into(),
        }
    }

    #[test]
    fn pins_follow_the_runtime() {
        assert_eq!(
            pin(Compiler::Cython, &id("3.13.0", "cpython"))
                .unwrap()
                .version,
            "3.3.1"
        );
        assert_eq!(
            pin(Compiler::Cython, &id("3.8.18", "cpython"))
                .unwrap()
                .version,
            "3.2.9"
        );
        assert_eq!(
            pin(Compiler::Mypyc, &id("3.9.18", "cpython"))
                .unwrap()
                .version,
            "1.19.1"
        );
        assert_eq!(
            pin(Compiler::Mypyc, &id("3.12.1", "cpython"))
                .unwrap()
                .version,
            "2.4.1"
        );
        assert!(pin(Compiler::Mypyc, &id("3.7.16", "cpython"))
            .unwrap_err()
            .contains("3.8 or newer"));
        assert!(pin(Compiler::Cython, &id("3.9.16", "pypy")).is_err());
        // a Python newer than every pin supports: unsupported, with why, not attempted
        for (c, newest) in [
            (Compiler::Cython, "3.15"),
            (Compiler::Mypyc, "3.15"),
            (Compiler::Nuitka, "3.14"),
        ] {
            let e = pin(c, &id("3.16.0", "cpython")).unwrap_err();
            assert!(
                e.contains(&format!("up to {newest}")) && e.contains("not attempted"),
                "{e}"
            );
        }
        // Nuitka: 3.7 to 3.14 (3.6's pip cannot install it; 3.15 only partly supported)
        assert_eq!(
            pin(Compiler::Nuitka, &id("3.7.16", "cpython"))
                .unwrap()
                .version,
            "4.3.5"
        );
        assert_eq!(
            pin(Compiler::Nuitka, &id("3.14.7", "cpython"))
                .unwrap()
                .version,
            "4.3.5"
        );
        assert!(pin(Compiler::Nuitka, &id("3.6.15", "cpython"))
            .unwrap_err()
            .contains("3.7 or newer"));
        assert!(pin(Compiler::Nuitka, &id("3.15.0a3", "cpython")).is_err());
        assert_eq!(
            pin(Compiler::Cython, &id("3.15.0a3", "cpython"))
                .unwrap()
                .version,
            "3.3.1"
        );
        let mut ft = id("3.13.0", "cpython");
        ft.free_threaded = true;
        assert!(pin(Compiler::Cython, &ft).is_err());
    }

    fn runtime(name: &str, version: &str, implementation: &str) -> Runtime {
        Runtime {
            name: name.into(),
            path: format!("/opt/{name}/bin/python").into(),
            identity: id(version, implementation),
            found_by: "test".into(),
        }
    }

    #[test]
    fn one_build_serves_every_patch_release_of_a_feature_release() {
        let debian = runtime("cpython-3.11.2", "3.11.2", "cpython");
        let pyenv = runtime("cpython-3.11.7", "3.11.7", "cpython");
        let other_minor = runtime("cpython-3.12.1", "3.12.1", "cpython");
        let pypy = runtime("pypy-3.11.9", "3.11.9", "pypy");
        let mut ft = runtime("cpython-3.11.9t", "3.11.9", "cpython");
        ft.identity.free_threaded = true;
        let mut dbg = runtime("cpython-3.11.9d", "3.11.9", "cpython");
        dbg.identity.debug = true;
        let pre = runtime("cpython-3.11.9rc1", "3.11.9rc1", "cpython");
        let found = [&debian, &pyenv, &other_minor, &pypy, &ft, &dbg, &pre];
        // the newest final patch release of the same build builds for both
        assert_eq!(
            builder(Compiler::Cython, &debian, found).name,
            "cpython-3.11.7"
        );
        assert_eq!(
            builder(Compiler::Mypyc, &pyenv, found).name,
            "cpython-3.11.7"
        );
        // another feature release, implementation or build flag, or a pre-release, does not
        assert_eq!(
            builder(Compiler::Cython, &other_minor, found).name,
            "cpython-3.12.1"
        );
        assert_eq!(
            builder(Compiler::Cython, &ft, found).name,
            "cpython-3.11.9t"
        );
        assert_eq!(
            builder(Compiler::Cython, &dbg, found).name,
            "cpython-3.11.9d"
        );
        assert_eq!(
            builder(Compiler::Cython, &pre, found).name,
            "cpython-3.11.9rc1"
        );
        // alone, a runtime builds for itself
        assert_eq!(
            builder(Compiler::Cython, &debian, []).name,
            "cpython-3.11.2"
        );
        // Nuitka's C reads CPython's internals: each patch release builds for itself
        assert_eq!(
            builder(Compiler::Nuitka, &debian, found).name,
            "cpython-3.11.2"
        );
    }

    #[test]
    fn module_names_are_identifiers_and_unique() {
        let m = module_names([
            "generator.lifecycle.close",
            "generator.lifecycle_close",
            "a-b.c",
        ]);
        assert_eq!(
            m["generator.lifecycle.close"],
            "ic_generator_lifecycle_close"
        );
        assert_eq!(
            m["generator.lifecycle_close"],
            "ic_generator_lifecycle_close_2"
        );
        assert_eq!(m["a-b.c"], "ic_a_b_c");
    }
}
