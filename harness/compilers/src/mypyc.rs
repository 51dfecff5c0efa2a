//! mypyc: every case compiled in one mypyc invocation, into [`GROUPS`] groups by a hash of
//! the module name (one C translation unit and one shared library each, holding the group's
//! module init shims too). A case mypy or mypyc rejects is left out and the rest compiled
//! again; a group gcc cannot compile is split in halves until the culprit is found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::gcc::{self, Unit};
use crate::util::{run, write_atomic, Digest};
use crate::{Ctx, Products};

/// Groups per build. One translation unit of 160 small modules took gcc 135 s at -O0 (the
/// time grows faster than the size), 32 modules 3.6 s: with 16 groups a 250-case corpus makes
/// units of about 16 modules, and a new case recompiles one group.
const GROUPS: u64 = 16;

const DRIVER: &str = include_str!("../py/mypyc_driver.py");

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
    lib: String,
    modules: Vec<String>,
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
    let modules: Vec<(String, String)> = ctx
        .sources
        .iter()
        .map(|(_, m, code)| (m.clone(), source_of(code)))
        .collect();
    let mut products = Products::default();
    build_set(ctx, &modules, "g", &mut products)?;
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

fn bucket(module: &str) -> u64 {
    let mut d = Digest::new();
    d.add(module);
    u64::from_str_radix(&d.hex()[..8], 16).unwrap_or(0) % GROUPS
}

/// Compile `modules` (module, source) into libraries of `ctx.dir`, recording every module
/// that cannot be compiled in `products.errors`. `tag` names the groups of this attempt.
fn build_set(
    ctx: &Ctx,
    modules: &[(String, String)],
    tag: &str,
    products: &mut Products,
) -> Result<(), String> {
    let mut left: Vec<(String, String)> = modules.to_vec();
    let answer = loop {
        if left.is_empty() {
            return Ok(());
        }
        let work = ctx.dir.join(format!("work-{tag}"));
        let _ = std::fs::remove_dir_all(&work);
        for (m, src) in &left {
            write_atomic(&work.join(format!("{m}.py")), src.as_bytes())?;
        }
        let mut groups: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (m, _) in &left {
            let b = if tag == "g" { bucket(m) } else { 0 };
            groups.entry(b).or_default().push(format!("{m}.py"));
        }
        let request = serde_json::json!({
            "groups": groups.iter().map(|(b, fs)| (format!("introspec_mypyc_{tag}{b:02}"), fs)).collect::<Vec<_>>()
        });
        let mut cmd = Command::new(&ctx.venv.python);
        cmd.arg("-c").arg(DRIVER).current_dir(&work);
        let out = gcc::with_permit(|| run(&mut cmd, Some(request.to_string().as_bytes())));
        let answer: Answer = match out.stdout.lines().last().map(serde_json::from_str) {
            Some(Ok(a)) => a,
            _ => {
                return Err(format!(
                    "the mypyc driver ({} in {}) gave no answer ({}): {}",
                    ctx.pin.describe(),
                    ctx.venv.dir.display(),
                    out.status,
                    out.tail(8)
                ))
            }
        };
        if answer.ok {
            break answer;
        }
        let blamed = attribute(&answer.messages, left.iter().map(|(m, _)| m.as_str()));
        if blamed.is_empty() {
            // nothing says which module broke the batch: split it
            if left.len() == 1 {
                products.errors.insert(
                    left[0].0.clone(),
                    format!(
                        "mypyc {} failed:\n{}",
                        ctx.pin.version,
                        tail(&answer.messages, 12)
                    ),
                );
                return Ok(());
            }
            let (a, b) = left.split_at(left.len() / 2);
            build_set(ctx, a, &format!("{tag}a"), products)?;
            return build_set(ctx, b, &format!("{tag}b"), products);
        }
        for (m, why) in blamed {
            products.errors.insert(
                m.to_string(),
                format!("mypyc {} rejected the case:\n{why}", ctx.pin.version),
            );
        }
        left.retain(|(m, _)| !products.errors.contains_key(m));
    };
    compile_groups(ctx, &answer.groups, tag, &left, products)
}

fn compile_groups(
    ctx: &Ctx,
    groups: &[Group],
    tag: &str,
    sources: &[(String, String)],
    products: &mut Products,
) -> Result<(), String> {
    let rkey = crate::venv::runtime_key(ctx.rt);
    let objects_dir = ctx.cache.join("compiled").join("objects").join(&rkey);
    let objkey = format!("mypyc {} {}", ctx.pin.version, rkey);
    let mut units = Vec::new();
    let mut owner = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
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
        for s in g.sources.iter().chain([&shims]) {
            units.push(Unit {
                source: s.clone(),
                flags: flags.clone(),
                extra_key: headers.clone(),
            });
            owner.push(gi);
        }
    }
    let results = gcc::compile_all(&units, &objects_dir, &objkey);
    let mut objects: Vec<Vec<PathBuf>> = vec![Vec::new(); groups.len()];
    let mut failed: Vec<Option<String>> = vec![None; groups.len()];
    for (gi, r) in owner.into_iter().zip(results) {
        match r {
            Ok(o) => objects[gi].push(o),
            Err(e) => {
                failed[gi].get_or_insert(e);
            }
        }
    }
    for (gi, g) in groups.iter().enumerate() {
        if let Some(e) = &failed[gi] {
            if g.modules.len() == 1 {
                products.errors.insert(
                    g.modules[0].clone(),
                    format!(
                        "the C that mypyc {} made does not compile: {e}",
                        ctx.pin.version
                    ),
                );
            } else {
                let mine: Vec<(String, String)> = sources
                    .iter()
                    .filter(|(m, _)| g.modules.contains(m))
                    .cloned()
                    .collect();
                let (a, b) = mine.split_at(mine.len() / 2);
                build_set(ctx, a, &format!("{tag}{gi}a"), products)?;
                build_set(ctx, b, &format!("{tag}{gi}b"), products)?;
            }
            continue;
        }
        let file = format!("mypyc-{}.so", g.name);
        gcc::link(&objects[gi], &ctx.dir.join(&file))?;
        for m in &g.modules {
            products.libraries.insert(m.clone(), file.clone());
        }
        products.libraries.insert(g.lib.clone(), file.clone());
        products.preload.push(g.lib.clone());
    }
    Ok(())
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

/// mypy's `m.py:L: error: …` lines (and the notes after them), by module.
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
    out.retain(|_, v| v.contains("error:"));
    out
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn mypy_errors_are_attributed_to_their_module() {
        let msgs =
            "ic_a.py:3: error: async generators are unimplemented\nic_b.py:1: note: a note\n\
                    ic_c.py:7:5: error: Name \"x\" is not defined  [name-defined]\nFound 2 errors";
        let e = super::attribute(msgs, ["ic_a", "ic_b", "ic_c"].into_iter());
        assert!(e["ic_a"].contains("unimplemented"));
        assert!(!e.contains_key("ic_b"));
        assert!(e["ic_c"].contains("not defined"));
    }

    #[test]
    fn the_suffix_keeps_line_numbers() {
        let s = super::source_of("def f():\n    yield 1");
        assert!(s.starts_with("def f():\n    yield 1\n"));
        assert!(s.contains("observe: _introspec_typing.Any"));
    }
}
