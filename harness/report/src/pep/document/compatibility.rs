//! Backwards compatibility: usage in the wild and CPython's own test suites with the
//! proposal installed.

use super::*;

pub(super) fn compatibility(s: &mut String, prose: &Prose, usage: Option<&Usage>) {
    heading(s, "Backwards compatibility", '=');
    let c = &prose.compatibility;
    let _ = writeln!(s, "{}\n", c.intro.trim());
    match usage {
        None => {
            let _ = writeln!(s, "No usage report (``reports/usage-in-the-wild.json``) was given to this rendering: run ``introspec usage``.\n");
        }
        Some(u) => {
            let mut rows = Vec::new();
            for p in &u.patterns {
                let mut places = 0;
                let mut tests = 0;
                let mut pkgs = 0;
                for pk in &u.packages {
                    let n = pk.places.iter().filter(|x| x.pattern == *p).count();
                    places += n;
                    tests += pk
                        .places
                        .iter()
                        .filter(|x| x.pattern == *p && x.test)
                        .count();
                    if n > 0 {
                        pkgs += 1;
                    }
                }
                rows.push(vec![
                    rst_code(p),
                    places.to_string(),
                    tests.to_string(),
                    pkgs.to_string(),
                ]);
            }
            simple_table(s, &["attribute", "places", "in tests", "packages"], &rows);
            let pkgs: Vec<String> = u
                .packages
                .iter()
                .map(|p| format!("{} {}", p.name, p.version))
                .collect();
            let _ = writeln!(
                s,
                "Packages (``{}``, parsed with {}): {}.\n",
                u.pins,
                rst(&u.scanner),
                rst(&pkgs.join(", "))
            );
            let _ = writeln!(s, "Where the probes are:\n");
            for p in &c.probes {
                let mut at = Vec::new();
                for pk in &u.packages {
                    let places: Vec<String> = pk
                        .places
                        .iter()
                        .filter(|x| x.pattern == *p && !x.test)
                        .map(|x| format!("{}:{}", x.file, x.line))
                        .collect();
                    if !places.is_empty() {
                        at.push(format!("{} ({})", pk.name, places.len()));
                    }
                }
                let _ = writeln!(
                    s,
                    "* {} outside tests: {}",
                    rst_code(p),
                    if at.is_empty() {
                        "none".into()
                    } else {
                        rst(&at.join(", "))
                    }
                );
            }
            s.push('\n');
            let _ = writeln!(s, "{}\n", c.probes_note.trim());
        }
    }
}

pub(super) fn testsuites(s: &mut String, prose: &Prose, suites: Option<&Suites>) {
    heading(s, "CPython's test suites with the proposal installed", '-');
    let c = &prose.compatibility;
    let Some(r) = suites else {
        let _ = writeln!(s, "{}\n", c.testsuite_missing.trim());
        return;
    };
    let _ = writeln!(s, "{}\n", c.testsuite_intro.trim());
    let pair = |b: usize, i: usize| {
        if b == i {
            b.to_string()
        } else {
            format!("{b} / {i}")
        }
    };
    let mut rows = Vec::new();
    type Key = (String, String, String, String);
    let mut reproduced: Vec<(Key, Vec<String>)> = Vec::new();
    let mut unreproduced: Vec<(Key, Vec<String>)> = Vec::new();
    let mut not_in_effect: Vec<String> = Vec::new();
    for v in &r.versions {
        // the suites that pass bare and installed with no difference, every worker with the
        // proposal in effect, are one row (their sums); every other suite is a row of its own
        let mut plain = (0usize, 0usize, 0usize, 0usize, 0usize);
        let first_row = rows.len();
        for x in &v.suites {
            let (b, i) = (&x.bare.counts, &x.installed.counts);
            let clean = |side: &SuiteSide| {
                side.result.as_deref() == Some("SUCCESS")
                    && !side.timed_out
                    && side.counts.failures + side.counts.errors == 0
            };
            let in_effect = x
                .installed
                .probe
                .as_ref()
                .is_none_or(|p| p.workers_in_effect == p.workers && p.failures.is_empty());
            if clean(&x.bare) && clean(&x.installed) && x.differences.is_empty() && in_effect {
                plain.0 += 1;
                plain.1 += b.cases;
                plain.2 += i.cases;
                plain.3 += b.skipped;
                plain.4 += i.skipped;
                continue;
            }
            let (b, i) = (&x.bare.counts, &x.installed.counts);
            let workers = match &x.installed.probe {
                Some(p) => format!("{}/{}", p.workers_in_effect, p.workers),
                None => String::new(),
            };
            let result = |side: &SuiteSide| {
                let r = side.result.clone().unwrap_or_else(|| "no result".into());
                if side.timed_out {
                    format!("{r} (timed out)")
                } else {
                    r
                }
            };
            let results = if result(&x.bare) == result(&x.installed) {
                result(&x.bare)
            } else {
                format!("{} / {}", result(&x.bare), result(&x.installed))
            };
            let real = x.differences.iter().filter(|d| d.reproduced).count();
            rows.push(vec![
                "..".into(),
                rst_code(&x.name),
                results,
                pair(b.cases, i.cases),
                pair(b.failures + b.errors, i.failures + i.errors),
                pair(b.skipped, i.skipped),
                workers,
                real.to_string(),
            ]);
            for d in &x.differences {
                let key = (
                    d.test.clone(),
                    d.bare.clone(),
                    d.installed.clone(),
                    d.rerun_loaded.clone(),
                );
                let list = if d.reproduced {
                    &mut reproduced
                } else {
                    &mut unreproduced
                };
                match list.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, vs)) => vs.push(v.version.clone()),
                    None => list.push((key, vec![v.version.clone()])),
                }
            }
            if let Some(p) = &x.installed.probe {
                for f in &p.failures {
                    not_in_effect.push(format!(
                        "{} ``{}``: {} of {} workers; {}",
                        v.version,
                        x.name,
                        p.workers_in_effect,
                        p.workers,
                        rst(f)
                    ));
                }
            }
        }
        if plain.0 > 0 {
            let others = rows.len() > first_row;
            rows.push(vec![
                "..".into(),
                match (others, plain.0) {
                    (false, n) => format!("all {n} suites"),
                    (true, 1) => "the other suite".into(),
                    (true, n) => format!("the other {n} suites"),
                },
                "SUCCESS".into(),
                pair(plain.1, plain.2),
                "0".into(),
                pair(plain.3, plain.4),
                "all".into(),
                "0".into(),
            ]);
        }
        if let Some(row) = rows.get_mut(first_row) {
            row[0] = v.version.clone();
        }
        if !v.missing.is_empty() {
            let names: Vec<String> = v.missing.iter().map(|m| rst_code(m)).collect();
            rows.push(vec![
                v.version.clone(),
                if v.missing.len() == r.suites.len() {
                    "all".into()
                } else {
                    names.join(", ")
                },
                "not in its Lib/test".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    simple_table(
        s,
        &[
            "CPython", "suite", "regrtest", "cases", "failed", "skipped", "workers", "differ",
        ],
        &rows,
    );
    let _ = writeln!(
        s,
        "Cells with two figures are bare / installed. \"failed\": failures and errors. The suites of a CPython that pass bare and installed, with no test that differs and the proposal in effect in every worker, are one row (their sums); the workers column is the installed run's workers with the proposal in effect. Command: ``{}``, at commit ``{}``, reference module ``{}`` (sources ``{}``); ``reports/cpython-test-suites.json`` has every figure.\n",
        r.command, r.commit, r.reference_module, r.reference_source
    );
    let bullet = |(test, bare, installed, loaded): &Key, versions: &[String]| {
        format!(
            "* {} ({}): {bare} bare, {installed} installed; rerun alone: {loaded} with the module imported only",
            rst_code(test),
            versions.join(", ")
        )
    };
    if !not_in_effect.is_empty() {
        let _ = writeln!(s, "{}\n", c.testsuite_not_in_effect.trim());
        for line in &not_in_effect {
            let _ = writeln!(s, "* {line}");
        }
        s.push('\n');
    }
    if reproduced.is_empty() {
        let _ = writeln!(s, "{}\n", c.testsuite_no_difference.trim());
    } else {
        let _ = writeln!(s, "The test cases whose outcome changes:\n");
        // one paragraph per explanation, after the cases it explains
        let why_of = |test: &str| {
            c.testsuite_explained
                .iter()
                .find(|e| e.test == test)
                .map(|e| e.why.trim().to_string())
                .unwrap_or_else(|| "Not yet explained.".into())
        };
        let mut whys: Vec<String> = Vec::new();
        for (k, _) in &reproduced {
            let w = why_of(&k.0);
            if !whys.contains(&w) {
                whys.push(w);
            }
        }
        for w in &whys {
            for (k, vs) in reproduced.iter().filter(|(k, _)| &why_of(&k.0) == w) {
                let _ = writeln!(s, "{}", bullet(k, vs));
            }
            let _ = writeln!(s, "\n{w}\n");
        }
    }
    let _ = writeln!(s, "{}\n", c.stdlib_probes_intro.trim());
    // per call: one row when every CPython gives the same bare and installed answers or
    // answers the same bare and installed, else a row per distinct answer
    // the call with its object named `x`, and the kind it was called on
    let split = |call: &str| -> (String, String) {
        for kind in ["async generator", "generator", "coroutine"] {
            if call.contains(&format!("({kind}")) {
                return (
                    call.replacen(&format!("({kind}"), "(x", 1),
                    kind.to_string(),
                );
            }
        }
        (call.to_string(), String::new())
    };
    let mut calls: Vec<String> = Vec::new();
    let mut kinds: Vec<String> = Vec::new();
    for v in &r.versions {
        for p in &v.stdlib_probes {
            let (call, kind) = split(&p.call);
            if !calls.contains(&call) {
                calls.push(call);
            }
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for call in &calls {
        // (bare, installed) -> (kinds, versions)
        let mut answers: Vec<(String, String, Vec<String>, Vec<String>)> = Vec::new();
        for v in &r.versions {
            for p in &v.stdlib_probes {
                let (c, kind) = split(&p.call);
                if &c != call {
                    continue;
                }
                match answers
                    .iter_mut()
                    .find(|a| a.0 == p.bare && a.1 == p.installed)
                {
                    Some(a) => {
                        if !a.2.contains(&kind) {
                            a.2.push(kind);
                        }
                        if !a.3.contains(&v.version) {
                            a.3.push(v.version.clone());
                        }
                    }
                    None => answers.push((
                        p.bare.clone(),
                        p.installed.clone(),
                        vec![kind],
                        vec![v.version.clone()],
                    )),
                }
            }
        }
        if answers.len() > 1 && answers.iter().all(|a| a.0 == a.1) {
            rows.push(vec![
                rst_code(call),
                "all".into(),
                "differs by kind or version".into(),
                "same".into(),
                "all".into(),
            ]);
            continue;
        }
        for (bare, installed, ks, versions) in answers {
            rows.push(vec![
                rst_code(call),
                if ks.len() == kinds.len() {
                    "all".into()
                } else {
                    ks.join(", ")
                },
                rst(&bare),
                if bare == installed {
                    "same".into()
                } else {
                    rst(&installed)
                },
                if versions.len() == r.versions.len() {
                    "all".into()
                } else {
                    versions.join(", ")
                },
            ]);
        }
    }
    simple_table(s, &["call", "x", "bare", "installed", "CPython"], &rows);
    let _ = writeln!(s, "{}\n", c.stdlib_probes_note.trim());
    if !unreproduced.is_empty() {
        let _ = writeln!(s, "{}\n", c.testsuite_unreproduced.trim());
        for (k, vs) in &unreproduced {
            let _ = writeln!(s, "{}", bullet(k, vs));
        }
        s.push('\n');
    }
}
