//! Nuitka: every case a submodule of ONE package, compiled by one `python -m nuitka
//! --mode=package` into one extension module (Nuitka embeds a package's submodules in its
//! library and imports them with a loader of its own). The package is cached by its modules'
//! sources. A case Nuitka rejects is remembered and left out and the package built again; a
//! failure that names no module splits the cases in halves (two packages, see below).
//!
//! Why one package and not groups, as mypyc's: every Nuitka extension module carries its own
//! copy of Nuitka's runtime, with compiled generator, coroutine and frame types of its own,
//! and the first one loaded replaces `inspect.getcoroutinestate` (and the others, see
//! cases/deviations/nuitka.toml) by a function that recognises only its own types. Measured
//! here with four packages: `inspect.getcoroutinestate()` of a created coroutine read
//! CORO_CREATED for a case in the first package and CORO_CLOSED for the same case in another,
//! so a case's result depended on the group its name hashed to. One package is also what a
//! program compiled by Nuitka is, and cheaper cold: Nuitka's fixed work (its helpers and
//! constants, about 5.6 s of CPU) is done once per runtime.
//!
//! Measured here (CPython 3.12.1, Nuitka 4.3.5, one core): a package of 10 small cases 8.4 s
//! of CPU, of 60 cases 22.6 s, so about 5.6 s per package and 0.28 s per case, nearly all of
//! it gcc (turning Python into C took 1.6 s for the 60). Nuitka's default `-O3` and link-time
//! optimisation are turned off (`CCFLAGS=-O0`, `--lto=no`: 36.8 s of CPU for the 60 with
//! them): the objects are run once, compiled often.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{move_into_place, run, write_atomic, Account, Digest, Output};
use crate::{Compiler, Ctx, Products, Step};

/// The package every case is a submodule of.
const PACKAGE: &str = "introspec_nuitka";

/// Nuitka's options, beside the package and the output directory.
const OPTIONS: &[&str] = &[
    "--quiet",
    "--no-progressbar",
    "--lto=no",
    "--no-pyi-file",
    "--disable-cache=all",
    "--jobs=1",
    // code objects name `<frozen introspec_nuitka.ic_…>`, not the build directory (which
    // is under the cache): nothing machine-specific reaches an observation
    "--file-reference-choice=frozen",
];

/// Appended to Nuitka's C flags (after its own `-O3`, so this one counts).
const CCFLAGS: &str = "-O0 -g0";

const ACCOUNT: Account = Account {
    compiler: Compiler::Nuitka,
    step: Step::Groups,
};

pub(crate) fn build(ctx: &Ctx) -> Result<Products, String> {
    let rejects = ctx.kept("nuitka-rejects");
    let mut products = Products::default();
    let mut modules: Vec<(String, String)> = Vec::new();
    for (_, m, code) in &ctx.sources {
        // a case this Nuitka rejected before is not tried again (the message is kept)
        match std::fs::read_to_string(rejects.join(format!("{}.err", module_key(ctx, m, code)))) {
            Ok(why) => {
                products.errors.insert(m.clone(), why);
            }
            Err(_) => modules.push((m.clone(), code.clone())),
        }
    }
    ctx.report.step(Step::Groups, 0, 1);
    build_group(ctx, &rejects, PACKAGE, &modules, &mut products)?;
    ctx.report.step(Step::Groups, 1, 1);
    products.preload.sort();
    Ok(products)
}

fn module_key(ctx: &Ctx, module: &str, code: &str) -> String {
    let mut d = Digest::new();
    d.add(ctx.pin.version)
        .add(crate::venv::runtime_key(ctx.rt))
        .add(OPTIONS.join(" "))
        .add(CCFLAGS)
        .add(&ctx.opts.cc)
        .add(module)
        .add(code);
    d.hex()
}

fn group_key(ctx: &Ctx, name: &str, modules: &[(String, String)]) -> String {
    let mut d = Digest::new();
    d.add(ctx.pin.version)
        .add(OPTIONS.join(" "))
        .add(CCFLAGS)
        .add(&ctx.opts.cc)
        .add(name);
    for (m, code) in modules {
        d.add(m).add(code);
    }
    d.hex()
}

/// Build one package (`name`, its modules) into `ctx.dir`: from the cache if the same modules
/// were built before, else with Nuitka.
fn build_group(
    ctx: &Ctx,
    rejects: &Path,
    name: &str,
    modules: &[(String, String)],
    products: &mut Products,
) -> Result<(), String> {
    let groups_dir = ctx.kept("nuitka-groups");
    let mut left: Vec<(String, String)> = modules.to_vec();
    left.sort();
    loop {
        if left.is_empty() {
            return Ok(());
        }
        let cached_so = groups_dir.join(format!("{}.so", group_key(ctx, name, &left)));
        if cached_so.is_file() {
            let file = format!("{name}.so");
            crate::util::place(&cached_so, &ctx.dir.join(&file))?;
            for (m, _) in &left {
                products.imports.insert(m.clone(), format!("{name}.{m}"));
            }
            products.libraries.insert(name.to_string(), file);
            products.preload.push(name.to_string());
            return Ok(());
        }
        let work = ctx.dir.join(format!("work-{name}"));
        let _ = std::fs::remove_dir_all(&work);
        let package = work.join(name);
        write_atomic(&package.join("__init__.py"), b"")?;
        for (m, code) in &left {
            write_atomic(&package.join(format!("{m}.py")), code.as_bytes())?;
        }
        let t = std::time::Instant::now();
        let out = crate::gcc::with_permit(ctx.opts, || nuitka(ctx, &work, name));
        ctx.opts.log(format_args!(
            "{}: nuitka {name}: {} modules, {:.1} s",
            ctx.rt.name,
            left.len(),
            t.elapsed().as_secs_f64()
        ));
        let text = format!("{}\n{}", out.stderr, out.stdout).replace(&*work.to_string_lossy(), "");
        let made = out
            .ok
            .then(|| library_in(&work.join("out"), name))
            .flatten();
        if let Some(made) = made {
            // a module Nuitka could not read is left out of the package with a warning only
            for (m, why) in skipped(&text, name) {
                let Some((_, code)) = left.iter().find(|(x, _)| *x == m) else {
                    continue;
                };
                let why = format!("Nuitka {} did not compile the case: {why}", ctx.pin.version);
                write_atomic(
                    &rejects.join(format!("{}.err", module_key(ctx, &m, code))),
                    why.as_bytes(),
                )?;
                products.errors.insert(m.clone(), why);
                left.retain(|(x, _)| *x != m);
            }
            // kept under the modules it holds, which the next run looks up
            let cached_so = groups_dir.join(format!("{}.so", group_key(ctx, name, &left)));
            std::fs::create_dir_all(&groups_dir)
                .map_err(|e| format!("cannot create {}: {e}", groups_dir.display()))?;
            move_into_place(&made, &cached_so)?;
            let _ = std::fs::remove_dir_all(&work);
            continue; // placed from the group cache above
        }
        let _ = std::fs::remove_dir_all(&work);
        let blamed: Vec<&(String, String)> = left
            .iter()
            .filter(|(m, _)| text.contains(&format!("{m}.py")))
            .collect();
        if blamed.len() == 1 || left.len() == 1 {
            let (m, code) = blamed.first().copied().unwrap_or(&left[0]);
            // recorded as a stable fact: the first error line, without the build's paths
            let why = format!(
                "Nuitka {} rejected the case: {}",
                ctx.pin.version,
                first_error(&text, &out)
            );
            write_atomic(
                &rejects.join(format!("{}.err", module_key(ctx, m, code))),
                why.as_bytes(),
            )?;
            products.errors.insert(m.clone(), why);
            let m = m.clone();
            left.retain(|(x, _)| *x != m);
            continue;
        }
        let (a, b) = left.split_at(left.len() / 2);
        build_group(ctx, rejects, &format!("{name}a"), a, products)?;
        return build_group(ctx, rejects, &format!("{name}b"), b, products);
    }
}

/// `python -m nuitka --mode=package NAME --output-dir=out` in `work`, Nuitka's own caches
/// inside `work` (none of its defaults under `~/.cache` is read or written).
fn nuitka(ctx: &Ctx, work: &Path, name: &str) -> Output {
    let mut cmd = Command::new(&ctx.venv.python);
    cmd.arg("-m")
        .arg("nuitka")
        .arg("--mode=package")
        .arg(name)
        .arg("--output-dir=out")
        .args(OPTIONS)
        .current_dir(work)
        .env("CC", &ctx.opts.cc)
        .env("CCFLAGS", CCFLAGS)
        .env("NUITKA_CACHE_DIR", work.join("nuitka-cache"))
        .env_remove("CFLAGS")
        .env_remove("LDFLAGS");
    run(&mut cmd, None, ACCOUNT)
}

/// The extension module Nuitka wrote for package `name` (`NAME.cpython-312-x86_64-linux-gnu.so`).
fn library_in(out: &Path, name: &str) -> Option<PathBuf> {
    let prefix = format!("{name}.");
    std::fs::read_dir(out)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".so"))
        })
}

/// The first line of Nuitka's output that says what went wrong, without its location.
fn first_error(text: &str, out: &Output) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| l.contains("ERROR") || l.contains("Error:") || l.contains("error:"))
        .or(lines.last())
        .map(|l| l.to_string())
        .unwrap_or_else(|| format!("it stopped ({}) without a message", out.status))
}

/// The modules of package `name` that Nuitka left out of a build that succeeded, with why:
/// `Cannot follow import to module 'NAME.ic_x' because of 'SyntaxError'`.
fn skipped(text: &str, name: &str) -> Vec<(String, String)> {
    let prefix = format!("Cannot follow import to module '{name}.");
    text.lines()
        .filter_map(|l| {
            let at = l.find(&prefix)?;
            let line = &l[at..];
            let rest = &line[prefix.len()..];
            let (module, _) = rest.split_once('\'')?;
            Some((module.to_string(), line.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Nuitka 4.3.5 printed here (CPython 3.12.1) for a package with a module that does
    /// not parse: the build succeeds without it.
    const SKIPPED: &str = "Nuitka-Options:WARNING: Using non-default file reference mode 'frozen' rather than 'runtime' may cause run time issues.\n\
Nuitka-Inclusion:WARNING: Cannot follow import to module 'introspec_nuitka.ic_bad' because of 'SyntaxError'.\n";

    #[test]
    fn a_module_left_out_of_a_successful_build_is_named_with_why() {
        assert_eq!(
            skipped(SKIPPED, "introspec_nuitka"),
            [(
                "ic_bad".to_string(),
                "Cannot follow import to module 'introspec_nuitka.ic_bad' because of 'SyntaxError'."
                    .to_string()
            )]
        );
        assert!(skipped(SKIPPED, "introspec_nuitka_other").is_empty());
    }

    #[test]
    fn the_first_error_line_is_the_reason() {
        let out = Output {
            ok: false,
            status: "exit code 1".into(),
            stdout: String::new(),
            stderr: String::new(),
            cpu: std::time::Duration::ZERO,
        };
        let text = "Nuitka-Options:WARNING: a warning\nNuitka:ERROR: the C compiler failed\nmore\n";
        assert_eq!(
            first_error(text, &out),
            "Nuitka:ERROR: the C compiler failed"
        );
        assert_eq!(
            first_error("", &out),
            "it stopped (exit code 1) without a message"
        );
    }
}
