//! The report commands of `introspec`: `report`, `compare`, `merge`, and the reports written
//! at the end of `run`. Each reads results files only; nothing is rerun.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use introspec_report::{compare, load, merge, write_reports, ReportError};
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

/// Write every report of `results` into `dir`, telling which files were written.
pub fn write(root: &Path, results: &Results, dir: &Path) -> Result<(), ExitCode> {
    let spec = spec(root)?;
    if results.harness.spec_digest != introspec_runner::spec_digest(root) {
        eprintln!(
            "note: spec/ has changed since these results were made (digest {} then, {} now); the reports use today's spec for sections, spellings and sources",
            results.harness.spec_digest,
            introspec_runner::spec_digest(root)
        );
    }
    match write_reports(results, &spec, dir) {
        Ok(paths) => {
            for p in paths {
                eprintln!("report: {}", p.display());
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("{e}");
            Err(ExitCode::from(2))
        }
    }
}

fn fail(e: ReportError) -> ExitCode {
    eprintln!("{e}");
    ExitCode::from(2)
}

/// `introspec report [--results FILE] [--out DIR]`.
pub fn report(root: &Path, results: Option<PathBuf>, out: Option<PathBuf>) -> ExitCode {
    let file = results.unwrap_or_else(|| default_results(root));
    let r = match load::results(&file) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match write(root, &r, &out.unwrap_or_else(|| root.join("reports"))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(c) => c,
    }
}

/// `introspec compare OLD NEW`: Markdown on standard output; exit 0 whatever changed.
pub fn compare(old: &Path, new: &Path) -> ExitCode {
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
    ExitCode::SUCCESS
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
