//! The C compiler: a process-wide limit on how many run at once, a cache of object files
//! keyed by the digest of everything that goes into them, and links.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Condvar, Mutex, OnceLock};

use crate::util::{move_into_place, run, temp_beside, Account, Digest};
use crate::{BuildOptions, Compiler, Step};

struct Permits {
    used: Mutex<usize>,
    freed: Condvar,
}

fn permits() -> &'static Permits {
    static P: OnceLock<Permits> = OnceLock::new();
    P.get_or_init(|| Permits {
        used: Mutex::new(0),
        freed: Condvar::new(),
    })
}

/// Run `f` while holding one of the process's permits ([`BuildOptions::jobs`] in all).
pub fn with_permit<T>(opts: &BuildOptions, f: impl FnOnce() -> T) -> T {
    let p = permits();
    let max = opts.jobs.max(1);
    {
        let mut used = p.used.lock().unwrap();
        while *used >= max {
            used = p.freed.wait(used).unwrap();
        }
        *used += 1;
    }
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            let p = permits();
            *p.used.lock().unwrap() -= 1;
            p.freed.notify_one();
        }
    }
    let _r = Release;
    f()
}

/// One translation unit to compile.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The C file.
    pub source: PathBuf,
    /// Flags (includes, defines, warnings, optimisation); `-c`, `-fPIC` and `-o` are added.
    pub flags: Vec<String>,
    /// What else the object depends on (generated headers), hashed with the source.
    pub extra_key: Vec<u8>,
}

/// Compile units in parallel (at most [`BuildOptions::jobs`] at once), each to a cached object under
/// `objects`, keyed by the digest of `key`, the unit's flags, source text and `extra_key`.
/// Returns, per unit, the object or the compiler's complaint. `on_done` is called with the
/// number of units finished each time one finishes.
pub fn compile_all(
    opts: &BuildOptions,
    compiler: Compiler,
    units: &[Unit],
    objects: &Path,
    key: &str,
    on_done: &(dyn Fn(usize) + Sync),
) -> Vec<Result<PathBuf, String>> {
    let next = Mutex::new(0usize);
    let finished = Mutex::new(0usize);
    let results: Mutex<Vec<Option<Result<PathBuf, String>>>> = Mutex::new(vec![None; units.len()]);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1).min(units.len()) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    if *n >= units.len() {
                        return;
                    }
                    *n += 1;
                    *n - 1
                };
                let r = compile_one(opts, compiler, &units[i], objects, key);
                results.lock().unwrap()[i] = Some(r);
                let n = {
                    let mut f = finished.lock().unwrap();
                    *f += 1;
                    *f
                };
                on_done(n);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every unit was compiled"))
        .collect()
}

fn compile_one(
    opts: &BuildOptions,
    compiler: Compiler,
    unit: &Unit,
    objects: &Path,
    key: &str,
) -> Result<PathBuf, String> {
    let text = std::fs::read(&unit.source)
        .map_err(|e| format!("cannot read {}: {e}", unit.source.display()))?;
    let mut d = Digest::new();
    d.add(key).add(&opts.cc);
    for f in &unit.flags {
        d.add(f);
    }
    d.add(&text).add(&unit.extra_key);
    let obj = objects.join(format!("{}.o", d.hex()));
    if obj.is_file() {
        return Ok(obj);
    }
    std::fs::create_dir_all(objects)
        .map_err(|e| format!("cannot create {}: {e}", objects.display()))?;
    let input = [OsStr::new("-c"), unit.source.as_os_str()];
    compile_into(opts, compiler, &unit.flags, &input, &obj).map_err(|(status, errors)| {
        format!(
            "{} {} failed ({status}):\n{errors}",
            opts.cc,
            unit.source.display()
        )
    })?;
    Ok(obj)
}

/// `cc FLAGS -fPIC INPUT -o OUT`, written beside `out` and moved into place; on failure,
/// the exit status and the compiler's error lines.
fn compile_into(
    opts: &BuildOptions,
    compiler: Compiler,
    flags: &[String],
    input: &[&OsStr],
    out: &Path,
) -> Result<(), (String, String)> {
    let tmp = temp_beside(out);
    let mut cmd = Command::new(&opts.cc);
    cmd.args(flags).arg("-fPIC").args(input).arg("-o").arg(&tmp);
    let account = Account {
        compiler,
        step: Step::Compile,
    };
    let res = with_permit(opts, || run(&mut cmd, None, account));
    if !res.ok {
        let _ = std::fs::remove_file(&tmp);
        return Err((res.status.to_string(), clip_errors(&res.stderr)));
    }
    move_into_place(&tmp, out).map_err(|e| (String::from("not moved into place"), e))
}

/// A header compiled once (`gcc -x c-header`), for units that include it first: the
/// `-include` flags that make a unit read it, or `None` when it could not be made (the units
/// then compile without it, only slower). Cached under `objects` by the digest of `key`, the
/// flags and the text, like the objects; a unit whose flags hold the header's path therefore
/// has its object keyed by the header too.
///
/// gcc reads a `.gch` beside the header only when it was made with the same options, and
/// falls back to the header's text otherwise ("Precompiled Headers", GCC manual), so a header
/// that is not usable costs time, never a different object.
pub fn precompile(
    opts: &BuildOptions,
    compiler: Compiler,
    text: &str,
    flags: &[String],
    objects: &Path,
    key: &str,
) -> Option<Vec<String>> {
    let mut d = Digest::new();
    d.add(key).add(&opts.cc).add("precompiled header");
    for f in flags {
        d.add(f);
    }
    d.add(text);
    let header = objects.join(format!("{}.h", d.hex()));
    let gch = objects.join(format!("{}.h.gch", d.hex()));
    let uses = vec!["-include".to_string(), header.display().to_string()];
    if header.is_file() && gch.is_file() {
        return Some(uses);
    }
    std::fs::create_dir_all(objects).ok()?;
    crate::util::write_atomic(&header, text.as_bytes()).ok()?;
    let input = [OsStr::new("-x"), OsStr::new("c-header"), header.as_os_str()];
    if let Err((status, errors)) = compile_into(opts, compiler, flags, &input, &gch) {
        opts.log(format_args!("no precompiled header ({status}): {errors}"));
        return None;
    }
    Some(uses)
}

/// Link objects into one shared library at `out`.
pub fn link(
    opts: &BuildOptions,
    compiler: Compiler,
    objects: &[PathBuf],
    out: &Path,
) -> Result<(), String> {
    let tmp = temp_beside(out);
    let mut cmd = Command::new(&opts.cc);
    cmd.arg("-shared").args(objects).arg("-o").arg(&tmp);
    let account = Account {
        compiler,
        step: Step::Link,
    };
    let res = with_permit(opts, || run(&mut cmd, None, account));
    if !res.ok {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "linking {} objects into {} failed ({}):\n{}",
            objects.len(),
            out.display(),
            res.status,
            clip_errors(&res.stderr)
        ));
    }
    move_into_place(&tmp, out)
}

/// The compiler's error lines first (at most 12), then the rest up to 12 lines in all.
fn clip_errors(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let mut out: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("error"))
        .take(12)
        .collect();
    if out.is_empty() {
        out = lines
            .into_iter()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
    }
    out.join("\n")
}
