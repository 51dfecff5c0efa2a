//! `introspec fuzz`: a campaign as long as asked, on the columns asked, reporting transitions
//! run and checked and every finding (written as a case under `cases/regressions/`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use introspec_runner::{columns, Column, Project, Settings as RunSettings};

use crate::campaign::{Campaign, Lane, Settings};
use crate::emit::write_regression;
use crate::model::{Model, Plant};
use crate::program::Kind;

/// What `introspec fuzz` was asked.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// Columns whose name contains one of these (all when empty).
    pub runtimes: Vec<String>,
    /// How long to run.
    pub seconds: f64,
    /// The campaign seed (a fresh one when `None`, printed).
    pub seed: Option<u64>,
    /// Stop after this many programs instead of (or before) the time.
    pub cases: Option<usize>,
    /// Subject kinds (spec names); all the fuzzer knows when empty.
    pub kinds: Vec<String>,
    /// Where findings are written as case files.
    pub regressions: PathBuf,
    /// Leave out the `+ref` columns.
    pub no_reference: bool,
    /// A bug planted in the model (`INTROSPEC_FUZZ_PLANT`), to see the fuzzer find it.
    pub plant: Option<Plant>,
}

/// The columns of the runtimes asked for (not the compiled ones).
pub fn select_columns(project: &Project, runtimes: &[String], no_reference: bool) -> Vec<Column> {
    let discovery = project.discover();
    let mut cols = columns::all(
        &discovery.runtimes,
        &project.cache,
        &project.settings.compilers,
    );
    // generated cases run from source: a compiled column (Cython, mypyc) would compile
    // nothing of theirs
    cols.retain(|c| c.compiler.is_none());
    if no_reference {
        cols.retain(|c| !c.reference);
    }
    if !runtimes.is_empty() {
        cols.retain(|c| {
            runtimes
                .iter()
                .any(|r| c.name == *r || c.name.contains(r.as_str()))
        });
    }
    cols
}

/// Run `introspec fuzz`; the exit code is 1 when there are findings.
pub fn fuzz(root: &Path, settings: &RunSettings, opts: &FuzzOptions) -> Result<bool, String> {
    let project = Project::load(root, settings).map_err(|d| d.to_string())?;
    let plant = opts.plant.clone();
    let model = Model::new(&project.spec, plant.clone())?;
    let cols = select_columns(&project, &opts.runtimes, opts.no_reference);
    if cols.is_empty() {
        return Err(format!(
            "no column matches {:?}; `introspec runtimes` lists them",
            opts.runtimes
        ));
    }
    let seed = opts.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (t.as_nanos() as u64) ^ u64::from(std::process::id())
    });
    let mut settings = Settings {
        seed,
        max_cases: opts.cases,
        max_time: Some(Duration::from_secs_f64(opts.seconds)),
        ..Settings::default()
    };
    if !opts.kinds.is_empty() {
        settings.shape.kinds = opts
            .kinds
            .iter()
            .map(|k| Kind::parse(k).ok_or_else(|| format!("unknown kind `{k}` (generator, coroutine, iterable_coroutine, async_generator)")))
            .collect::<Result<_, _>>()?;
    }
    let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
    eprintln!(
        "introspec fuzz: seed {seed}, {:.0} s, columns {}{}",
        opts.seconds,
        names.join(", "),
        plant
            .map(|p| format!(", PLANTED {}.{}.{}={}", p.op, p.from, p.field, p.value))
            .unwrap_or_default()
    );
    let lanes = cols
        .into_iter()
        .map(|c| Lane::new(c, &project.cache))
        .collect();
    let mut c = Campaign::new(&project.spec, &project.corpus, model, lanes, settings);
    c.run(&mut |m| eprintln!("{m}"));
    for lane in &c.lanes {
        if let Some(b) = &lane.broken {
            eprintln!("column {} cannot run: {b}", lane.column.name);
        }
    }
    let s = &c.stats;
    println!(
        "{:<22} {:>12} {:>12} {:>10} {:>14}",
        "column", "transitions", "checked", "seconds", "transitions/s"
    );
    for (name, (tr, ck, t)) in &s.per_column {
        println!(
            "{name:<22} {tr:>12} {ck:>12} {:>10.1} {:>14.0}",
            t.as_secs_f64(),
            *tr as f64 / t.as_secs_f64().max(1e-9)
        );
    }
    println!(
        "seed {seed}: {} programs, {} transitions run, {} checked, {} skipped, {} shrink runs, {} finding(s), {:.1} s",
        s.cases,
        s.transitions,
        s.checked,
        s.skipped,
        s.shrink_runs,
        c.findings.len(),
        s.elapsed.as_secs_f64()
    );
    for f in &c.findings {
        match write_regression(&opts.regressions, f) {
            Ok(p) => println!(
                "finding ({} cases): {}{}\n  written: {}",
                f.count,
                f.signature,
                if f.columns.is_empty() {
                    String::new()
                } else {
                    format!("\n  also fails on: {}", f.columns.join(", "))
                },
                p.display()
            ),
            Err(e) => println!(
                "finding: {}\n  cannot write it under {}: {e}",
                f.signature,
                opts.regressions.display()
            ),
        }
    }
    Ok(!c.findings.is_empty())
}

/// `introspec fuzz --replay PATH`: run the case files under `path` (a file or a directory,
/// as written under `cases/regressions/`) on the columns asked, with the corpus's known
/// deviations, and explain every failure. `Ok(true)` when every trial passes (or is XFAIL).
pub fn replay(
    root: &Path,
    settings: &RunSettings,
    path: &Path,
    runtimes: &[String],
    no_reference: bool,
) -> Result<bool, String> {
    let project = Project::load(root, settings).map_err(|d| d.to_string())?;
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        let tmp = std::env::temp_dir().join(format!("introspec-replay-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        std::fs::copy(path, tmp.join(path.file_name().unwrap_or_default()))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        tmp
    };
    let corpus = introspec_cases::Corpus::load(&dir, &project.spec);
    for d in &corpus.diagnostics {
        eprintln!("{d}");
    }
    if corpus.cases.is_empty() {
        return Err(format!("no case under {}", path.display()));
    }
    let mut all_ok = corpus.diagnostics.is_empty();
    let cases: Vec<&introspec_cases::Case> = corpus.cases.iter().collect();
    for col in select_columns(&project, runtimes, no_reference) {
        let mut lane = Lane::new(col, &project.cache);
        let judged = lane.run(&project.spec, &project.corpus, &cases);
        for (case, j) in cases.iter().zip(judged) {
            match j {
                crate::campaign::Judged::Skip(why) => {
                    println!("SKIP {}::{} ({why})", lane.column.name, case.id)
                }
                crate::campaign::Judged::Done(v, _) => {
                    println!("{} {}::{}", v.status.name(), lane.column.name, case.id);
                    if v.status.fails_run() {
                        all_ok = false;
                        print!("{}", introspec_judge::explain(case, &v));
                    }
                }
            }
        }
    }
    Ok(all_ok)
}
