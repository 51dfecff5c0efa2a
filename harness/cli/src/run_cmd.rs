//! `introspec run`: every case on every column, the summary, the results file and the reports.

use super::*;

pub(crate) fn run(
    root: &std::path::Path,
    settings: Settings,
    jobs: Option<usize>,
    narrow: &RunChoices,
    out: Option<PathBuf>,
) -> ExitCode {
    let started = Instant::now();
    let only_columns = &narrow.columns;
    let only_cases = &narrow.cases;
    let no_reference = narrow.no_reference;
    // the committed results and reports are the whole matrix's: a run on part of it writes
    // its results elsewhere (README, "Set-up and the two commands")
    let narrowed = !settings.pythons.is_empty()
        || settings.only_listed
        || !only_columns.is_empty()
        || !only_cases.is_empty()
        || no_reference;
    let mut project = match load_with(root, &settings) {
        Ok(p) => p,
        Err(c) => return c,
    };
    for d in &project.corpus.diagnostics {
        eprintln!("{d}");
    }
    let dropped_input: Vec<String> = project
        .corpus
        .diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect();
    if !only_cases.is_empty() {
        project
            .corpus
            .cases
            .retain(|c| only_cases.iter().any(|f| c.id.contains(f.as_str())));
    }
    let discovery = project.discover();
    for u in &discovery.unusable {
        eprintln!(
            "unusable runtime {} ({}): {}",
            u.path.display(),
            u.found_by,
            u.why
        );
    }
    for a in &discovery.absent {
        eprintln!("absent runtime {}: install it with `{}`", a.name, a.install);
    }
    if project.settings.compilers_explicit {
        // asked for by name: say where a compiler makes no column (unsupported, not attempted)
        for rt in &discovery.runtimes {
            for compiler in &project.settings.compilers {
                if let Err(why) = columns::compiled(rt, *compiler) {
                    eprintln!("no {} column for {}: {why}", compiler.name(), rt.name);
                }
            }
        }
    }
    let mut cols = columns::all(
        &discovery.runtimes,
        &project.cache,
        &project.settings.compilers,
    );
    if no_reference {
        cols.retain(|c| !c.reference);
    }
    if !only_columns.is_empty() {
        cols.retain(|c| only_columns.iter().any(|f| c.name.contains(f.as_str())));
    }
    let mut session = Session::new(&project, cols);
    session.record_timings = narrow.timings;
    session.keep_observations = false; // the results and reports need the verdicts only
    let builds = std::sync::Arc::new(progress::BuildProgress::default());
    let sink = builds.clone();
    session.on_build = Box::new(move |p| sink.report(p));
    let stop = session.stop.clone();
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            // quitting at once drops no worker: kill each, and what its cases started
            introspec_worker::procs::kill_all();
            // never in the middle of writing the results (which is atomic, and short): a
            // temporary file would be left beside them
            let _writing = RESULTS_WRITE.lock();
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping the workers and writing the results so far (Ctrl-C again to quit at once)");
    });
    let jobs = jobs.unwrap_or_else(default_jobs);
    eprintln!(
        "introspec: {} cases × {} columns, {} jobs",
        session.compiled.len(),
        session.columns.len(),
        jobs
    );
    let commit = git_commit(root);
    session.run_all(jobs, &|event| match event {
        RunEvent::Column {
            column,
            done,
            total,
            trials,
        } => eprintln!(
            "[{done}/{total} columns] {} done; {trials} trials, {:.1} s",
            session.columns[column].name,
            started.elapsed().as_secs_f64()
        ),
        RunEvent::InterpretersDone => {
            let so_far = session.results(&discovery, &commit, false);
            eprintln!(
                "introspec: the interpreter columns are judged ({:.1} s); the compiled columns build next",
                started.elapsed().as_secs_f64()
            );
            print_summary(&so_far, &|_| String::new(), false);
        }
    });
    let interrupted = session.stop.load(Ordering::SeqCst);
    session.kill_all();
    eprintln!(
        "peak memory: harness {} MiB, largest child {} MiB (a worker or a build step)",
        introspec_bench::own_peak_rss() / 1024,
        introspec_bench::children_peak_rss() / 1024
    );
    print_cpu();
    let results = session.results(&discovery, &commit, interrupted);
    print_summary(&results, &|name| provenance(&session, name), true);
    let main_results = root.join("reports/results/latest.json");
    let out = out.unwrap_or_else(|| {
        if narrowed {
            root.join("target/introspec/results.json")
        } else {
            main_results.clone()
        }
    });
    // atomic: an interrupt while writing leaves the previous results whole; a second Ctrl-C
    // waits for the write to end (RESULTS_WRITE) before it quits
    let written = {
        let _writing = RESULTS_WRITE.lock();
        introspec_cache::write_atomic(
            &out,
            serde_json::to_string_pretty(&results).unwrap().as_bytes(),
        )
    };
    match written {
        Ok(()) => eprintln!(
            "results: {} ({:.1} s)",
            out.display(),
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("cannot write {}: {e}", out.display());
            return ExitCode::from(2);
        }
    }
    // the reports are the whole matrix's: a run narrowed to some columns or cases (or
    // written elsewhere) leaves them alone; `introspec report --results FILE` makes its own
    let whole = !narrowed && !interrupted && out == main_results;
    if whole {
        let chromium = chromium();
        if let Err(code) = report_cmd::write(
            root,
            &results,
            &out,
            &root.join("reports"),
            chromium.as_deref(),
        ) {
            return code;
        }
    } else {
        eprintln!("reports/ left as it was (a narrowed or interrupted run); `introspec report --results {}` writes reports from it", out.display());
    }
    if interrupted {
        return ExitCode::from(130);
    }
    if results.trials.iter().any(|t| t.status.fails_run()) || !results.broken.is_empty() {
        ExitCode::from(1)
    } else if !dropped_input.is_empty() {
        // a case file that failed to load is input silently dropped: it fails the run
        eprintln!(
            "{} input problem(s) above: the cases they name were not run (`introspec check` lists them)",
            dropped_input.len()
        );
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Where a column's compiled modules came from: `built 131 s`, `cache`, or nothing for an
/// interpreter column.
pub(crate) fn provenance(session: &Session, column: &str) -> String {
    let Some(i) = session.columns.iter().position(|c| c.name == column) else {
        return String::new();
    };
    match session.build_of(i) {
        Some(b) if b.build.cached => "cache".into(),
        Some(b) => format!("built {:.0} s", b.build.seconds),
        None if session.columns[i].compiler.is_some() => "not built".into(),
        None => String::new(),
    }
}

/// Runtimes × result states (only the columns that have trials so far), with the source of
/// each compiled column's build, and every problem listed below when `problems` is set.
pub(crate) fn print_summary(r: &Results, source: &dyn Fn(&str) -> String, problems: bool) {
    let states = Status::ALL;
    print!("{:<24}", "column");
    for s in states {
        print!("{:>8}", s.name());
    }
    println!("{:>8}  build", "total");
    for col in &r.columns {
        let trials: Vec<_> = r.trials.iter().filter(|t| t.column == col.name).collect();
        if trials.is_empty() && !problems {
            continue;
        }
        print!("{:<24}", col.name);
        for s in states {
            print!("{:>8}", trials.iter().filter(|t| t.status == s).count());
        }
        println!("{:>8}  {}", trials.len(), source(&col.name));
    }
    if !problems {
        return;
    }
    for b in &r.broken {
        println!("\ncolumn broken: {}: {}", b.column, b.why);
    }
    let bad: Vec<_> = r.trials.iter().filter(|t| t.status.fails_run()).collect();
    if !bad.is_empty() {
        println!("\n{} trials need attention:", bad.len());
        for t in bad.iter().take(40) {
            println!(
                "  {} {}::{} {}",
                t.status.name(),
                t.column,
                t.case,
                t.reason
                    .clone()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
        if bad.len() > 40 {
            println!("  … and {} more (see the results file)", bad.len() - 40);
        }
    }
}

/// Where the run's CPU time went: the harness itself, every process it reaped (workers and
/// build steps), and of those the build steps by compiler and step, from the builds' own
/// accounting (`wait4` per command). Printed as a line a person reads and, for `introspec
/// bench --cold`, as one line of JSON.
pub(crate) fn print_cpu() {
    let own = introspec_bench::own_cpu().as_secs_f64();
    let children = introspec_bench::children_cpu().as_secs_f64();
    let profile = introspec_compilers::util::cpu_profile();
    let builds: f64 = profile.iter().map(|(_, d, _)| d.as_secs_f64()).sum();
    let mut line = format!(
        "CPU: harness {own:.1} s, workers {:.1} s, builds {builds:.1} s",
        (children - builds).max(0.0)
    );
    for (a, d, n) in &profile {
        line.push_str(&format!(
            "; {} {} {:.1} s ({n})",
            a.compiler.name(),
            a.step.describe(),
            d.as_secs_f64()
        ));
    }
    eprintln!("{line}");
    let steps: Vec<serde_json::Value> = profile
        .iter()
        .map(|(a, d, n)| {
            serde_json::json!({
                "compiler": a.compiler.name(),
                "step": a.step.describe(),
                "cpu_s": d.as_secs_f64(),
                "commands": n,
            })
        })
        .collect();
    eprintln!(
        "cpu profile: {}",
        serde_json::json!({
            "harness_s": own,
            "children_s": children,
            "builds": steps,
        })
    );
}
