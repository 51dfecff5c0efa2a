//! `cargo test`: a short fuzz campaign with a fixed seed and budget on every column found,
//! one trial each (`fuzz::COLUMN`, so `cargo test -- fuzz::cpython-3.12` runs one). The same
//! generated programs run on every column; a failure prints the shrunk program as Python,
//! its operations and the seed.

use std::path::Path;

use introspec_fuzz::{Campaign, Lane, Model, Settings};
use introspec_runner::Project;
use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Generated programs per column: enough to reach every spec transition, few enough to stay
/// within a few seconds for all columns. A column with the reference implementation loaded
/// reads ten times slower (`__returns_to__` searches the referrers) and runs the first
/// `REF_CASES` of the same sequence.
const CASES: usize = 48;
const REF_CASES: usize = 12;
const SEED: u64 = 0x3123_0006;

/// Why a runtime's column is not fuzzed: its known deviations depend on the path a generated
/// program takes, which a deviation record, selected by case id, cannot say for generated
/// programs (a record over `generator.fuzz.*` covers every generated program, and is XPASS
/// on each one that does not take that path, and on the committed regression cases of that
/// name). Their corpus cases run in the conformance suite with their deviations.
fn not_fuzzed(implementation: &str) -> Option<&'static str> {
    match implementation {
        // gi_frame is kept when the body returns, cleared when it raises; its StopIteration
        // carries ''
        "jython" => Some("not fuzzed: Jython's deviations depend on the path a generated program takes (gi_frame kept when the body returns, cleared when it raises), which no record by case id can say (cases/deviations/jython.toml has its corpus's)"),
        // send() on a closed coroutine returns StopIteration where CPython raises
        // RuntimeError, and a coroutine awaited by a generated generator has no cr_suspended
        "rustpython" => Some("not fuzzed: RustPython's deviations depend on what a generated program makes and does (a closed coroutine resumed answers StopIteration, not RuntimeError, in the programs that resume one; cr_suspended is missing from the coroutines a generator program awaits, in those that make one), which no record by case id can say (cases/deviations/rustpython.toml has its corpus's)"),
        _ => None,
    }
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let project = match Project::load(
        &root,
        &introspec_runner::Settings::from_env().expect("the settings are valid"),
    ) {
        Ok(p) => p,
        Err(d) => {
            let msg = d.to_string();
            libtest_mimic::run(
                &args,
                vec![Trial::test("fuzz::spec", move || Err(Failed::from(msg)))],
            )
            .exit();
        }
    };
    let project: &'static Project = Box::leak(Box::new(project));
    let cols = introspec_fuzz::cli::select_columns(project, &[], false);
    let mut trials = Vec::new();
    for col in cols {
        let name = format!("fuzz::{}", col.name);
        if let Some(why) = not_fuzzed(&col.runtime.identity.implementation) {
            trials.push(Trial::ignorable_test(name, move || {
                Ok(Completion::ignored_with(why))
            }));
            continue;
        }
        trials.push(Trial::test(name, move || {
            let model = Model::new(&project.spec, None).map_err(Failed::from)?;
            let cases = if col.reference { REF_CASES } else { CASES };
            let settings = Settings {
                seed: SEED,
                max_cases: Some(cases),
                ..Settings::default()
            };
            let lane = Lane::new(col, &project.cache);
            let mut c = Campaign::new(&project.spec, &project.corpus, model, vec![lane], settings);
            let mut log = String::new();
            c.run(&mut |m| {
                log.push_str(m);
                log.push('\n');
            });
            if let Some(b) = &c.lanes[0].broken {
                return Err(Failed::from(format!("the column cannot run: {b}")));
            }
            if c.findings.is_empty() {
                Ok(())
            } else {
                Err(Failed::from(format!(
                    "{} finding(s) in {} transitions (seed {SEED:#x}):\n{log}",
                    c.findings.len(),
                    c.stats.transitions
                )))
            }
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
