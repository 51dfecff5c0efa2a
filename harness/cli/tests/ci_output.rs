//! The CI commands end to end, on the report crate's small results fixture (no interpreter
//! runs): `compare --fail-on` exit codes, `report --junit/--annotations/--summary` after a
//! `merge`, and the version lint in `introspec check`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the checkout")
}

fn fixture() -> PathBuf {
    checkout().join("harness/report/tests/fixtures/results.json")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("introspec-ci-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The command, with no interpreter it could start by accident.
fn introspec() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_introspec"));
    c.env("INTROSPEC_COMPILERS", "none")
        .env("INTROSPEC_PYTHONS", "")
        .env("INTROSPEC_ONLY_LISTED", "1")
        .arg("--root")
        .arg(checkout());
    c
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The fixture with one trial per given status changed from PASS.
fn changed(dir: &Path, name: &str, to: &[&str]) -> PathBuf {
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    let trials = r["trials"].as_array_mut().unwrap();
    let mut passes = trials.iter_mut().filter(|t| t["status"] == "pass");
    for status in to {
        let t = passes.next().expect("a passing trial to change");
        t["status"] = serde_json::Value::from(*status);
        t["reason"] = serde_json::Value::from(format!("made {status} by the test"));
    }
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(&r).unwrap()).unwrap();
    path
}

fn compare(old: &Path, new: &Path, fail_on: Option<&str>) -> Output {
    let mut c = introspec();
    c.arg("compare").arg(old).arg(new);
    if let Some(f) = fail_on {
        c.arg("--fail-on").arg(f);
    }
    c.output().unwrap()
}

#[test]
fn compare_exits_1_only_on_a_named_class_that_occurs() {
    let dir = scratch("compare");
    let old = fixture();
    let broke = changed(&dir, "broke.json", &["fail"]);
    let xpassed = changed(&dir, "xpassed.json", &["xpass"]);
    let crashed = changed(&dir, "crashed.json", &["crash"]);
    let code = |o: &Output| o.status.code();

    // without --fail-on: 0 whatever changed
    for new in [&broke, &xpassed, &crashed] {
        let o = compare(&old, new, None);
        assert_eq!(code(&o), Some(0), "{}", show(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("### introspec"));
    }
    // the class that occurred: 1, saying why
    let o = compare(&old, &broke, Some("broken,crashing,xpass"));
    assert_eq!(code(&o), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("compare: 1 trials changed in a --fail-on class (1 broken)"),
        "{}",
        show(&o)
    );
    assert_eq!(
        code(&compare(&old, &crashed, Some("broken,crashing,xpass"))),
        Some(1)
    );
    let o = compare(&old, &xpassed, Some("xpass"));
    assert_eq!(code(&o), Some(1), "{}", show(&o));
    // a class that did not occur: 0
    for (new, classes) in [
        (&broke, "crashing,xpass"),
        (&crashed, "broken,xpass"),
        (&xpassed, "crashing,fixed"),
    ] {
        let o = compare(&old, new, Some(classes));
        assert_eq!(code(&o), Some(0), "{classes}: {}", show(&o));
    }
    // nothing changed: 0 on every class
    let every = "broken,crashing,xpass,fixed,skipped,new,removed,other";
    assert_eq!(code(&compare(&old, &old, Some(every))), Some(0));
    // an unknown class is a usage error naming the classes
    let o = compare(&old, &broke, Some("borken"));
    assert_eq!(code(&o), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the classes are broken, crashing, xpass"),
        "{}",
        show(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_fail_on_class_is_documented_in_help_and_readme() {
    let o = introspec().args(["compare", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    let readme = std::fs::read_to_string(checkout().join("README.md")).unwrap();
    for f in introspec_report::compare::FailOn::ALL {
        assert!(
            help.contains(&format!("{} (", f.name())),
            "--help: {}\n{help}",
            f.name()
        );
        assert!(
            readme.contains(&format!("`{}`", f.name())),
            "README.md does not document `{}`",
            f.name()
        );
    }
}

#[test]
fn ci_output_from_merged_results() {
    let dir = scratch("merged");
    // two halves by column, as two CI jobs write them, merged
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    let mut halves = Vec::new();
    for (i, keep) in [
        |c: &str| c.starts_with("cpython-3.1"),
        |c: &str| !c.starts_with("cpython-3.1"),
    ]
    .iter()
    .enumerate()
    {
        let mut r = all.clone();
        r["columns"]
            .as_array_mut()
            .unwrap()
            .retain(|c| keep(c["name"].as_str().unwrap()));
        r["trials"]
            .as_array_mut()
            .unwrap()
            .retain(|t| keep(t["column"].as_str().unwrap()));
        let p = dir.join(format!("half{i}.json"));
        std::fs::write(&p, serde_json::to_string(&r).unwrap()).unwrap();
        halves.push(p);
    }
    let merged = dir.join("merged.json");
    let o = introspec()
        .arg("merge")
        .args(&halves)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));

    let matrix = checkout().join("reports/matrix.md");
    let before = std::fs::metadata(&matrix).and_then(|m| m.modified()).ok();
    let (junit, summary) = (dir.join("junit.xml"), dir.join("summary.md"));
    let o = introspec()
        .arg("report")
        .arg("--results")
        .arg(&merged)
        .arg("--junit")
        .arg(&junit)
        .arg("--annotations")
        .arg("--summary")
        .arg(&summary)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        std::fs::metadata(&matrix).and_then(|m| m.modified()).ok(),
        before,
        "CI output alone leaves reports/ as it was"
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("the XML parses");
    let trials = all["trials"].as_array().unwrap();
    let n = |st: &str| trials.iter().filter(|t| t["status"] == st).count();
    // every trial, plus the broken column's one testcase
    assert_eq!(report.tests, trials.len() + 1);
    assert_eq!(report.failures, n("fail") + n("xpass") + n("flaky"));
    assert_eq!(report.errors, n("crash") + n("timeout") + n("error") + 1);
    assert_eq!(report.skipped, n("skip"));
    let columns = all["columns"].as_array().unwrap().len();
    assert_eq!(report.test_suites.len(), columns + 1);

    let stdout = String::from_utf8_lossy(&o.stdout);
    let annotations: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(annotations.len(), 3, "{stdout}");
    for a in annotations.iter().filter(|a| a.contains("file=")) {
        let props = a["::error ".len()..].split_once("::").unwrap().0;
        let file = props
            .split(',')
            .find_map(|p| p.strip_prefix("file="))
            .unwrap();
        let line: usize = props
            .split(',')
            .find_map(|p| p.strip_prefix("line="))
            .unwrap()
            .parse()
            .unwrap();
        let body = std::fs::read_to_string(checkout().join(file))
            .unwrap_or_else(|e| panic!("{a}: {file}: {e}"));
        let at = body.lines().nth(line - 1).unwrap_or_default();
        assert!(at.starts_with("[[case"), "{a}: line {line} is `{at}`");
    }
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("### introspec: 2 trials fail the run, 1 broken column"),
        "{md}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_warns_of_equality_on_a_short_release_with_the_fix() {
    let dir = scratch("lint");
    std::os::unix::fs::symlink(checkout().join("spec"), dir.join("spec")).unwrap();
    std::fs::create_dir_all(dir.join("cases")).unwrap();
    std::fs::write(
        dir.join("cases/l.toml"),
        "[[case]]\nid = \"l.one\"\ntitle = \"t\"\nkind = \"generator\"\n\
         source = \"https://peps.python.org/pep-0255/\"\npython = \"==3.12\"\n\
         code = '''\ndef gen():\n    yield 1\n'''\nsubject = \"gen()\"\n\n\
         [[case.step]]\ndo = \"create\"\n",
    )
    .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_introspec"));
    let o = c
        .env("INTROSPEC_PYTHONS", "")
        .env("INTROSPEC_ONLY_LISTED", "1")
        .arg("--root")
        .arg(&dir)
        .arg("check")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a lint fails nothing: {}",
        show(&o)
    );
    let want = format!(
        "{}:6:10: warning: `==3.12` in `==3.12` matches 3.12.0 alone",
        dir.join("cases/l.toml").display()
    );
    assert!(err.contains(&want), "{}", show(&o));
    assert!(
        err.contains("  help: write `python = \"==3.12.*\"`"),
        "{}",
        show(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("0 problems, 1 warnings"),
        "{}",
        show(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
