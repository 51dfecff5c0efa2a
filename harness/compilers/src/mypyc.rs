//! mypyc: the cases split into [`GROUPS`] groups by a hash of the module name, each group
//! compiled by one mypyc invocation into one C translation unit and one shared library that
//! holds the group's module init shims too. Groups are cached by their modules' sources (a
//! new case rebuilds one group). A case mypy or mypyc rejects is remembered and left out and
//! its group built again; a group whose failure names no module is split in halves until the
//! culprit is found.
//!
//! Why not one mypyc process for every group (mypy's start reads the stubs each time): tried
//! and measured on a cold cache. mypyc 1.19 and 2.x stop building IR for every later module
//! once one module has an error (`build_ir` returns early when `errors.num_errors > 0`), so a
//! joint run names only the first few rejected modules: the 86 async-generator rejections of
//! mypyc 2.4.1 took over 20 joint rounds of 5-9 s each, against rounds of about 2 s per group
//! here, two groups at a time. mypy's wheels are compiled by mypyc, so the early return
//! cannot be patched from the driver.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::gcc::{self, Unit};
use crate::util::{write_atomic, Account, Conversation, Digest};
use crate::{Compiler, Ctx, Products, Step};

/// Groups per build. One translation unit of 160 small modules took gcc 135 s at -O0 (the
/// time grows faster than the size), 32 modules 3.6 s: with 16 groups a 250-case corpus makes
/// units of about 16 modules, and a new case recompiles one group.
const GROUPS: u64 = 16;

pub(crate) const DRIVER: &str = include_str!("../py/mypyc_driver.py");

/// Appended to every case for mypyc: mypy rejects names it cannot see, and mypyc compiles a
/// name it cannot see into an unconditional NameError. Declared (not assigned) at the end, the
/// name is looked up in the module's namespace at run time, where the observer puts it, and
/// the case's lines keep their numbers.
const SUFFIX: &str =
    "\n# introspec: the observer puts `observe` in this module's namespace before each case runs\n\
import typing as _introspec_typing\nobserve: _introspec_typing.Any\n";

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    messages: String,
    #[serde(default)]
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    name: String,
    sources: Vec<PathBuf>,
    include_dirs: Vec<String>,
    cflags: Vec<String>,
    macros: Vec<(String, Option<String>)>,
    shims: String,
}

/// The source a case is compiled from.
pub(crate) fn source_of(code: &str) -> String {
    let mut s = code.to_string();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(SUFFIX);
    s
}

pub(crate) fn build(ctx: &Ctx) -> Result<Products, String> {
    let rejects = ctx.kept("mypyc-rejects");
    let mut products = Products::default();
    let mut buckets: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
    for (_, m, code) in &ctx.sources {
        let src = source_of(code);
        // a case this mypyc rejected before is not tried again (the message is kept)
        match std::fs::read_to_string(rejects.join(format!("{}.err", module_key(ctx, m, &src)))) {
            Ok(why) => {
                products.errors.insert(m.clone(), why);
            }
            Err(_) => buckets.entry(bucket(m)).or_default().push((m.clone(), src)),
        }
    }
    let queue: Vec<(String, Vec<(String, String)>)> = buckets
        .into_iter()
        .map(|(b, mods)| (format!("introspec_mypyc_g{b:02}"), mods))
        .collect();
    let seed = if queue.is_empty() {
        None
    } else {
        stub_cache(ctx)
    };
    let seed = seed.as_deref();
    let next = std::sync::Mutex::new(0usize);
    let results = std::sync::Mutex::new(Vec::new());
    ctx.report.step(Step::Groups, 0, queue.len());
    std::thread::scope(|s| {
        for _ in 0..ctx.opts.jobs.max(1).min(queue.len()) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    if *n >= queue.len() {
                        return;
                    }
                    *n += 1;
                    *n - 1
                };
                let (name, mods) = &queue[i];
                let mut out = Products::default();
                let r = build_group(ctx, &rejects, seed, name, mods, &mut out).map(|_| out);
                let mut all = results.lock().unwrap();
                all.push(r);
                ctx.report.step(Step::Groups, all.len(), queue.len());
            });
        }
    });
    for r in results.into_inner().unwrap() {
        let r = r?;
        products.errors.extend(r.errors);
        products.libraries.extend(r.libraries);
        products.preload.extend(r.preload);
    }
    products.preload.sort();
    for entry in std::fs::read_dir(&ctx.dir)
        .map_err(|e| format!("cannot list {}: {e}", ctx.dir.display()))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with("work-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(products)
}

/// The module a stub cache is made from: it imports what the cases import, so that mypy
/// analyses the standard library's stubs they need once per runtime.
const SEED_MODULE: &str =
    "import asyncio\nimport inspect\nimport sys\nimport types\nimport typing\n";

/// A mypy cache of the standard library's stubs for this runtime, mypy and [`OPTIONS`], made
/// once (by the driver itself, from [`SEED_MODULE`]) and copied by every group's driver, so
/// that sixteen groups do not analyse the stubs sixteen times (each about 1 s of CPU). `None`
/// when it cannot be made: the groups then make their own, as before, only slower.
fn stub_cache(ctx: &Ctx) -> Option<PathBuf> {
    let mut d = Digest::new();
    d.add(ctx.pin.version)
        .add(crate::venv::runtime_key(ctx.rt))
        .add(DRIVER)
        .add(OPTIONS.join(" "))
        .add(SEED_MODULE);
    let parent = ctx
        .cache
        .join("compiled")
        .join("mypy-stubs")
        .join(ctx.pin.version);
    let dir = parent.join(d.short());
    if dir.is_dir() {
        return Some(dir);
    }
    std::fs::create_dir_all(&parent).ok()?;
    let _lock = crate::util::Lock::acquire(&parent.join(format!("{}.lock", d.short()))).ok()?;
    if dir.is_dir() {
        return Some(dir);
    }
    let work = crate::util::temp_beside(&dir.with_extension("work"));
    std::fs::create_dir_all(&work).ok()?;
    let made = work.join("cache");
    let request = serde_json::json!({
        "groups": [["introspec_mypy_seed", ["introspec_mypy_seed.py"]]],
        "options": OPTIONS,
        "cache": made.display().to_string(),
    });
    let ok = write_atomic(&work.join("introspec_mypy_seed.py"), SEED_MODULE.as_bytes()).is_ok()
        && {
            let mut cmd = Command::new(&ctx.venv.python);
            cmd.arg("-c").arg(DRIVER).current_dir(&work);
            let account = Account {
                compiler: Compiler::Mypyc,
                step: Step::Translate,
            };
            gcc::with_permit(ctx.opts, || {
                let Ok(mut driver) = Conversation::start(&mut cmd, account) else {
                    return false;
                };
                let answered = driver.send(&request.to_string()).is_ok()
                    && driver
                        .receive()
                        .and_then(|l| serde_json::from_str::<Answer>(&l).ok())
                        .is_some_and(|a| a.ok);
                driver.finish();
                answered
            })
        };
    let placed = ok && crate::util::move_into_place(&made, &dir).is_ok();
    let _ = std::fs::remove_dir_all(&work);
    ctx.opts.log(format_args!(
        "{}: mypy stub cache {}",
        ctx.rt.name,
        if placed { "made" } else { "not made" }
    ));
    placed.then_some(dir)
}

/// The mypy options of every build: imports mypy cannot resolve are left to run time, and
/// two checks that reject ordinary untyped Python (a module-level `log = []`, `x = f()` of
/// a function returning None) are off; every other type error still rejects the case.
const OPTIONS: [&str; 4] = [
    "--ignore-missing-imports",
    "--allow-untyped-globals",
    "--disable-error-code",
    "func-returns-value",
];

fn module_key(ctx: &Ctx, module: &str, src: &str) -> String {
    let mut d = Digest::new();
    d.add(ctx.pin.version)
        .add(crate::venv::runtime_key(ctx.rt))
        .add(DRIVER)
        .add(OPTIONS.join(" "))
        .add(module)
        .add(src);
    d.hex()
}

fn bucket(module: &str) -> u64 {
    let mut d = Digest::new();
    d.add(module);
    u64::from_str_radix(&d.hex()[..8], 16).unwrap_or(0) % GROUPS
}

/// Build one group (`name`, its modules) into `ctx.dir`: from the group cache if the same
/// modules were built before, else with mypyc and gcc. A module mypy or mypyc rejects is
/// recorded (and remembered in `rejects`) and the group built again without it; a failure
/// that names no module splits the group in halves.
fn build_group(
    ctx: &Ctx,
    rejects: &Path,
    seed: Option<&Path>,
    name: &str,
    modules: &[(String, String)],
    products: &mut Products,
) -> Result<(), String> {
    let groups_dir = ctx.kept("mypyc-groups");
    let mut left: Vec<(String, String)> = modules.to_vec();
    left.sort();
    loop {
        if left.is_empty() {
            return Ok(());
        }
        let cached_so = groups_dir.join(format!("{}.so", group_key(name, &left)));
        let file = format!("mypyc-{name}.so");
        let lib = format!("{name}__mypyc");
        if cached_so.is_file() {
            crate::util::place(&cached_so, &ctx.dir.join(&file))?;
            for (m, _) in &left {
                products.libraries.insert(m.clone(), file.clone());
            }
            products.libraries.insert(lib.clone(), file);
            products.preload.push(lib);
            return Ok(());
        }
        let work = ctx.dir.join(format!("work-{name}"));
        let _ = std::fs::remove_dir_all(&work);
        for (m, src) in &left {
            write_atomic(&work.join(format!("{m}.py")), src.as_bytes())?;
        }
        let mut request = serde_json::json!({
            "groups": [[name, left.iter().map(|(m, _)| format!("{m}.py")).collect::<Vec<_>>()]],
            "options": OPTIONS,
        });
        if let Some(seed) = seed {
            request["seed"] = seed.display().to_string().into();
        }
        let mut cmd = Command::new(&ctx.venv.python);
        cmd.arg("-c").arg(DRIVER).current_dir(&work);
        // one driver process for every round of this group (see the driver's docs): after a
        // failure it is told which modules to drop and tries again
        let account = Account {
            compiler: Compiler::Mypyc,
            step: Step::Translate,
        };
        let round = gcc::with_permit(ctx.opts, || -> Result<Round, String> {
            let mut driver = Conversation::start(&mut cmd, account)?;
            driver.send(&request.to_string())?;
            loop {
                let t = std::time::Instant::now();
                let line = driver.receive();
                ctx.opts.log(format_args!(
                    "{}: mypyc {name}: {} modules, {:.1} s",
                    ctx.rt.name,
                    left.len(),
                    t.elapsed().as_secs_f64()
                ));
                let answer: Answer = match line.as_deref().map(serde_json::from_str) {
                    Some(Ok(a)) => a,
                    _ => {
                        let out = driver.finish();
                        return Err(format!(
                            "the mypyc driver ({} in {}) gave no answer ({}): {}",
                            ctx.pin.describe(),
                            ctx.venv.dir.display(),
                            out.status,
                            out.tail(8)
                        ));
                    }
                };
                if answer.ok {
                    driver.finish();
                    return Ok(Round::Built(answer));
                }
                let blamed = attribute(&answer.messages, left.iter().map(|(m, _)| m.as_str()));
                if blamed.is_empty() {
                    let _ = driver.send(r#"{"stop": true}"#);
                    driver.finish();
                    return Ok(Round::Unattributed(answer.messages));
                }
                let mut drop = vec![];
                for (m, why) in blamed {
                    // recorded as a stable fact: mypy reports a different subset of a module's
                    // lines from one grouping to the next, so its full text is not recorded
                    let why = format!(
                        "mypyc {} rejected the case: {}",
                        ctx.pin.version,
                        first_diagnostic(&why)
                    );
                    if let Some((_, src)) = left.iter().find(|(x, _)| x == m) {
                        write_atomic(
                            &rejects.join(format!("{}.err", module_key(ctx, m, src))),
                            why.as_bytes(),
                        )?;
                    }
                    products.errors.insert(m.to_string(), why);
                    drop.push(format!("{m}.py"));
                }
                left.retain(|(m, _)| !products.errors.contains_key(m));
                if left.is_empty() {
                    let _ = driver.send(r#"{"stop": true}"#);
                    driver.finish();
                    return Ok(Round::NothingLeft);
                }
                driver.send(&serde_json::json!({ "drop": drop }).to_string())?;
            }
        })?;
        let answer = match round {
            Round::Built(answer) => answer,
            Round::NothingLeft => return Ok(()),
            Round::Unattributed(messages) if left.len() == 1 => {
                // not remembered: a failure that names no module may not be the case's fault
                products.errors.insert(
                    left[0].0.clone(),
                    format!(
                        "mypyc {} failed: {}",
                        ctx.pin.version,
                        first_diagnostic(&messages)
                    ),
                );
                return Ok(());
            }
            Round::Unattributed(_) => {
                let (a, b) = left.split_at(left.len() / 2);
                build_group(ctx, rejects, seed, &format!("{name}a"), a, products)?;
                return build_group(ctx, rejects, seed, &format!("{name}b"), b, products);
            }
        };
        let Some(g) = answer.groups.into_iter().next() else {
            return Err(format!("the mypyc driver answered no group for {name}"));
        };
        let t = std::time::Instant::now();
        let compiled = compile_group(ctx, &g);
        ctx.opts.log(format_args!(
            "{}: gcc {name}: {:.1} s",
            ctx.rt.name,
            t.elapsed().as_secs_f64()
        ));
        match compiled {
            Ok(objects) => {
                // keyed by the modules the rounds left, which the next turn looks up
                let cached_so = groups_dir.join(format!("{}.so", group_key(name, &left)));
                let tmp = crate::util::temp_beside(&cached_so);
                std::fs::create_dir_all(&groups_dir)
                    .map_err(|e| format!("cannot create {}: {e}", groups_dir.display()))?;
                gcc::link(ctx.opts, Compiler::Mypyc, &objects, &tmp)?;
                crate::util::move_into_place(&tmp, &cached_so)?;
                let _ = std::fs::remove_dir_all(&work);
                continue; // placed from the group cache above
            }
            Err(e) if left.len() == 1 => {
                let why = format!(
                    "the C that mypyc {} made does not compile: {}",
                    ctx.pin.version,
                    first_diagnostic(&e)
                );
                write_atomic(
                    &rejects.join(format!("{}.err", module_key(ctx, &left[0].0, &left[0].1))),
                    why.as_bytes(),
                )?;
                products.errors.insert(left[0].0.clone(), why);
                return Ok(());
            }
            Err(_) => {
                let (a, b) = left.split_at(left.len() / 2);
                build_group(ctx, rejects, seed, &format!("{name}a"), a, products)?;
                return build_group(ctx, rejects, seed, &format!("{name}b"), b, products);
            }
        }
    }
}

/// The group cache's key of a group's modules and their sources.
fn group_key(name: &str, modules: &[(String, String)]) -> String {
    let mut d = Digest::new();
    d.add(DRIVER).add(OPTIONS.join(" ")).add(name);
    for (m, src) in modules {
        d.add(m).add(src);
    }
    d.hex()
}

/// How the rounds of one driver process ended.
enum Round {
    /// The group built: its C, to compile.
    Built(Answer),
    /// Every module was rejected.
    NothingLeft,
    /// A failure whose messages name none of the modules left.
    Unattributed(String),
}

/// Compile a group's C and its shims; the objects, or the first compiler complaint.
fn compile_group(ctx: &Ctx, g: &Group) -> Result<Vec<PathBuf>, String> {
    let rkey = crate::venv::runtime_key(ctx.rt);
    let objects_dir = ctx.cache.join("compiled").join("objects").join(&rkey);
    let objkey = format!("mypyc {} {}", ctx.pin.version, rkey);
    let build_dir = g
        .sources
        .first()
        .and_then(|s| s.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ctx.dir.clone());
    let shims = build_dir.join(format!("{}_introspec_shims.c", g.name));
    write_atomic(
        &shims,
        format!("#include <Python.h>\n{}", g.shims).as_bytes(),
    )?;
    let headers = group_headers(&build_dir, &g.name);
    let mut flags: Vec<String> = g.cflags.clone();
    flags.push("-w".into());
    for d in g
        .include_dirs
        .iter()
        .chain([&ctx.venv.config.include, &ctx.venv.config.platinclude])
    {
        flags.push(format!("-I{d}"));
    }
    for (k, v) in &g.macros {
        flags.push(match v {
            Some(v) => format!("-D{k}={v}"),
            None => format!("-D{k}"),
        });
    }
    let units: Vec<Unit> = g
        .sources
        .iter()
        .chain([&shims])
        .map(|s| Unit {
            source: s.clone(),
            flags: flags.clone(),
            extra_key: headers.clone(),
        })
        .collect();
    gcc::compile_all(
        ctx.opts,
        Compiler::Mypyc,
        &units,
        &objects_dir,
        &objkey,
        &|_| {},
    )
    .into_iter()
    .collect()
}

/// The text of the headers mypyc generated for a group (they change with any of its modules).
fn group_headers(build_dir: &Path, group: &str) -> Vec<u8> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(build_dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    n.ends_with(".h") && n.contains(group)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        out.extend(std::fs::read(&n).unwrap_or_default());
    }
    out
}

/// mypy's `m.py:L: error: …` lines, mypyc's `m.py:L: AssertionError: …` crash lines (a crash
/// stops the whole invocation at the first module it meets), and the notes with them, by
/// module.
fn attribute<'a>(
    messages: &str,
    modules: impl Iterator<Item = &'a str>,
) -> BTreeMap<&'a str, String> {
    let modules: Vec<&str> = modules.collect();
    let mut out: BTreeMap<&str, String> = BTreeMap::new();
    for line in messages.lines() {
        let Some((file, rest)) = line.split_once(".py:") else {
            continue;
        };
        let file = file.rsplit('/').next().unwrap_or(file);
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        if let Some(m) = modules.iter().find(|m| **m == file) {
            let e = out.entry(*m).or_default();
            if !e.is_empty() {
                e.push('\n');
            }
            e.push_str(line.trim_end());
        }
    }
    // a module that only has notes was not rejected
    out.retain(|_, v| v.to_lowercase().contains("error"));
    out
}

/// The kind of a compiler's complaint, as a fact that does not depend on the build: the
/// diagnostics without their `file:line[:col]: ` locations, the first in sorted order of
/// those that say `error` (else of all). mypy reports a different subset of a module's
/// offending lines depending on which modules share its group, and gcc names temporary
/// paths, so the full text would make results differ between two cold builds.
pub(crate) fn first_diagnostic(text: &str) -> String {
    let mut kinds: Vec<String> = text
        .lines()
        .map(|l| strip_location(l.trim()).to_string())
        .filter(|l| !l.is_empty())
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .iter()
        .find(|k| k.to_lowercase().contains("error"))
        .or(kinds.first())
        .cloned()
        .unwrap_or_else(|| "no message".to_string())
}

/// `ic_a.py:8:5: error: x` → `error: x`; a line without a location is returned whole.
fn strip_location(line: &str) -> &str {
    let mut rest = line;
    let Some((_, after)) = rest.split_once(':') else {
        return line;
    };
    rest = after;
    let mut numbers = 0;
    while let Some((n, after)) = rest.split_once(':') {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        numbers += 1;
        rest = after;
    }
    if numbers == 0 {
        line
    } else {
        rest.trim_start()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mypy_errors_are_attributed_to_their_module() {
        let msgs =
            "ic_a.py:3: error: async generators are unimplemented\nic_b.py:1: note: a note\n\
                    ic_c.py:7:5: error: Name \"x\" is not defined  [name-defined]\nFound 2 errors\n\
                    Traceback (most recent call last):\n  File \"mypyc/irbuild/builder.py\", line 273\n\
                    ic_d.py:23: AssertionError: \nic_d.py:23: note: this is an internal mypyc error";
        let e = super::attribute(msgs, ["ic_a", "ic_b", "ic_c"].into_iter());
        assert!(e["ic_a"].contains("unimplemented"));
        assert!(!e.contains_key("ic_b"));
        assert!(e["ic_c"].contains("not defined"));
        let e = super::attribute(msgs, ["ic_d"].into_iter());
        assert!(e["ic_d"].contains("internal mypyc error"));
    }

    #[test]
    fn a_rejection_is_recorded_without_its_lines() {
        let one = "ic_a.py:8: error: async generators are unimplemented\n\
                   ic_a.py:10: error: async generators are unimplemented";
        let other = "ic_a.py:3: error: async generators are unimplemented";
        assert_eq!(super::first_diagnostic(one), super::first_diagnostic(other));
        assert_eq!(
            super::first_diagnostic(one),
            "error: async generators are unimplemented"
        );
        assert_eq!(
            super::first_diagnostic("/tmp/x/.o.1.tmp.c:3:1: error: expected ';'\nnote: n"),
            "error: expected ';'"
        );
        assert_eq!(super::first_diagnostic("Traceback"), "Traceback");
    }

    #[test]
    fn the_suffix_keeps_line_numbers() {
        let s = super::source_of("def f():\n    yield 1");
        assert!(s.starts_with("def f():\n    yield 1\n"));
        assert!(s.contains("observe: _introspec_typing.Any"));
    }
}
