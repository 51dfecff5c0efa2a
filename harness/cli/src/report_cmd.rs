//! The report commands of `introspec`: `report`, `compare`, `merge`, and the reports written
//! at the end of `run`. Each reads results files only; nothing is rerun.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use introspec_cases::Corpus;
use introspec_report::ci::CaseLocations;
use introspec_report::compare::FailOn;
use introspec_report::pep::sources::Sources;
use introspec_report::{
    annotations, compare, junit, load, merge, screenshot, summary, write_reports_with, ReportError,
};
use introspec_runner::Results;
use introspec_spec::Spec;

/// The default results file of a project.
pub fn default_results(root: &Path) -> PathBuf {
    root.join("reports/results/latest.json")
}

/// Load the spec the reports take sections, spellings and sources from.
fn spec(root: &Path) -> Result<Spec, ExitCode> {
    Spec::load(&root.join("spec")).map_err(|d| {
        eprintln!("{d}");
        eprintln!(
            "the reports need a valid spec/: fix the errors above (`introspec check` lists them)"
        );
        ExitCode::from(2)
    })
}

/// Write every report of `results` (read from `file`) into `dir`, telling which files were
/// written, then retake `matrix.png` of the new page with `chromium` (where it is installed;
/// without it the picture stays of the page before, and the note says so).
pub fn write(
    root: &Path,
    results: &Results,
    file: &Path,
    dir: &Path,
    chromium: Option<&Path>,
) -> Result<(), ExitCode> {
    let spec = spec(root)?;
    if results.harness.spec_digest != introspec_runner::spec_digest(root) {
        eprintln!(
            "note: spec/ has changed since these results were made (digest {} then, {} now); the reports use today's spec for sections, spellings and sources",
            results.harness.spec_digest,
            introspec_runner::spec_digest(root)
        );
    }
    let corpus = Corpus::load(&root.join("cases"), &spec);
    let sources = Sources::from_checkout(root, &corpus, file).map_err(fail)?;
    match write_reports_with(results, &spec, &sources, dir) {
        Ok(paths) => {
            for p in paths {
                eprintln!("report: {}", p.display());
            }
            screenshot(dir, chromium);
            Ok(())
        }
        Err(e) => {
            eprintln!("{e}");
            Err(ExitCode::from(2))
        }
    }
}

/// Retake `dir/matrix.png` of the page just written, or say why it was not.
fn screenshot(dir: &Path, chromium: Option<&Path>) {
    let Some(browser) = chromium else {
        eprintln!("note: {} not retaken: no chromium here (apt-get install -y chromium, or INTROSPEC_CHROMIUM=PATH); it shows the page of an earlier run", dir.join(screenshot::PNG).display());
        return;
    };
    match screenshot::take(dir, browser) {
        Ok(r) => eprintln!(
            "report: {} (the page at commit {})",
            dir.join(screenshot::PNG).display(),
            r.commit
        ),
        Err(e) => eprintln!(
            "note: {} not retaken: {e}",
            dir.join(screenshot::PNG).display()
        ),
    }
}

fn fail(e: ReportError) -> ExitCode {
    eprintln!("{e}");
    ExitCode::from(2)
}

/// What `introspec report` writes for CI.
#[derive(Debug, Default)]
pub struct CiOutput {
    pub junit: Option<PathBuf>,
    pub annotations: bool,
    pub summary: Option<PathBuf>,
}

impl CiOutput {
    fn any(&self) -> bool {
        self.junit.is_some() || self.annotations || self.summary.is_some()
    }
}

/// `introspec report [--results FILE] [--out DIR] [--junit FILE] [--annotations] [--summary FILE]`.
pub fn report(
    root: &Path,
    results: Option<PathBuf>,
    out: Option<PathBuf>,
    ci: &CiOutput,
    chromium: Option<&Path>,
) -> ExitCode {
    let file = results.unwrap_or_else(|| default_results(root));
    let r = match load::results(&file) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if ci.any() {
        if let Err(c) = write_ci(root, &r, ci) {
            return c;
        }
        if out.is_none() {
            return ExitCode::SUCCESS;
        }
    }
    match write(
        root,
        &r,
        &file,
        &out.unwrap_or_else(|| root.join("reports")),
        chromium,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(c) => c,
    }
}

/// The CI outputs of one results file. The case files and lines come from the corpus as it
/// is now (a results file holds case ids only).
fn write_ci(root: &Path, r: &Results, ci: &CiOutput) -> Result<(), ExitCode> {
    if let Some(path) = &ci.junit {
        introspec_cache::write_atomic(path, junit::render(r).as_bytes()).map_err(|e| {
            fail(ReportError::io(
                path,
                "cannot write the JUnit XML",
                &std::io::Error::other(e),
            ))
        })?;
        eprintln!("junit: {}", path.display());
    }
    if !ci.annotations && ci.summary.is_none() {
        return Ok(());
    }
    let spec = spec(root)?;
    let corpus = Corpus::load(&root.join("cases"), &spec);
    let locations = CaseLocations::from_corpus(&corpus, root);
    if ci.annotations {
        let text = annotations::render(r, &locations);
        let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    }
    if let Some(path) = &ci.summary {
        // appended, as GitHub expects of $GITHUB_STEP_SUMMARY (other steps may write it too)
        let body = summary::render(r, &locations);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, body.as_bytes()))
            .map_err(|e| fail(ReportError::io(path, "cannot write the job summary", &e)))?;
        eprintln!("summary: {}", path.display());
    }
    Ok(())
}

/// `introspec compare OLD NEW [--fail-on CLASSES]`: Markdown on standard output; exit 1
/// when a trial changed in one of the classes `fail_on`, else 0.
pub fn compare(old: &Path, new: &Path, fail_on: &[FailOn]) -> ExitCode {
    let (o, n) = match (load::results(old), load::results(new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let text = compare::render(
        &o,
        &n,
        &old.display().to_string(),
        &new.display().to_string(),
    );
    // a closed pipe (`| head`) is not an error of the comparison
    let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    let changes = compare::changes(&o, &n);
    let failing = compare::failing(&changes, fail_on);
    if failing.is_empty() {
        return ExitCode::SUCCESS;
    }
    let counts: Vec<String> = FailOn::ALL
        .into_iter()
        .map(|f| (f, failing.iter().filter(|(_, g)| *g == f).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(f, n)| format!("{n} {}", f.name()))
        .collect();
    eprintln!(
        "compare: {} trials changed in a --fail-on class ({}), e.g. {}::{}",
        failing.len(),
        counts.join(", "),
        failing[0].0.column,
        failing[0].0.case
    );
    ExitCode::from(1)
}

/// `introspec merge A.json B.json … --out FILE`.
pub fn merge(files: &[PathBuf], out: &Path) -> ExitCode {
    let mut inputs = Vec::new();
    for f in files {
        match load::results(f) {
            Ok(r) => inputs.push((f.clone(), r)),
            Err(e) => return fail(e),
        }
    }
    let merged = match merge::merge(&inputs) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    match introspec_cache::write_atomic(
        out,
        serde_json::to_string_pretty(&merged).unwrap().as_bytes(),
    ) {
        Ok(()) => {
            eprintln!(
                "merged {} files: {} columns, {} trials into {}",
                files.len(),
                merged.columns.len(),
                merged.trials.len(),
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(ReportError::io(
            out,
            "cannot write the merged results",
            &std::io::Error::other(e),
        )),
    }
}
