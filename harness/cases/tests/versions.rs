//! Every version condition of the corpus is PEP 440 as `pep440_rs` reads it, and a
//! condition that likely does not say what was meant (`==3.12`) is a located warning.

use std::path::{Path, PathBuf};

use introspec_cases::{ColumnFacts, Corpus};
use introspec_spec::{Severity, Spec, Specifier, Version};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            toml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

/// Every string under a `python` key, at any depth (cases, their deviations, deviation files).
fn python_values(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                match (k.as_str(), x) {
                    ("python", toml::Value::String(s)) => out.push(s.clone()),
                    _ => python_values(x, out),
                }
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|x| python_values(x, out)),
        _ => {}
    }
}

#[test]
fn every_version_condition_of_the_corpus_parses_and_is_kept() {
    let root = root();
    let mut files = Vec::new();
    toml_files(&root.join("cases"), &mut files);
    let mut raw = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        python_values(&v, &mut raw);
    }
    assert!(raw.len() > 400, "only {} conditions found", raw.len());
    for s in &raw {
        let p = Specifier::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(p.lints().is_empty(), "`{s}`: {:?}", p.lints());
    }

    // the spec's feature versions
    let spec = Spec::load(&root.join("spec")).expect("the spec loads");
    let features: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("spec/features.toml")).unwrap()).unwrap();
    let mut versions = 0;
    for (name, f) in &features {
        for key in ["since", "until"] {
            if let Some(s) = f.get(key).and_then(|v| v.as_str()) {
                let v = Version::parse(s).unwrap_or_else(|e| panic!("{name}.{key}: {e}"));
                let loaded = match key {
                    "since" => spec.features[name].since.clone(),
                    _ => spec.features[name].until.clone(),
                };
                assert_eq!(loaded, Some(v), "{name}.{key}");
                versions += 1;
            }
        }
    }
    assert!(versions > 20, "only {versions} feature versions");

    // and the loader kept every one of them: as many parsed conditions as written ones
    let corpus = Corpus::load(&root.join("cases"), &spec);
    let bad: Vec<String> = corpus.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let w: Vec<String> = corpus.warnings.iter().map(|d| d.to_string()).collect();
    assert!(w.is_empty(), "{}", w.join("\n"));
    let kept = corpus.cases.iter().filter(|c| c.python.is_some()).count()
        + corpus
            .cases
            .iter()
            .flat_map(|c| &c.deviations)
            .chain(&corpus.deviations)
            .filter(|d| d.when.python.is_some())
            .count();
    assert_eq!(kept, raw.len());
}

/// A pre-release column is selected as PEP 440 orders it: after every 3.14 final, before
/// 3.15.0, and only by conditions that admit it.
#[test]
fn a_pre_release_column_is_matched_exactly() {
    let facts = |v: &str| ColumnFacts {
        name: format!("cpython-{v}"),
        implementation: "cpython".into(),
        language: Version::parse(v).unwrap(),
        compiler: "cpython".into(),
        reference: false,
    };
    let sel = |p: &str| introspec_cases::Selector {
        python: Some(Specifier::parse(p).unwrap()),
        ..Default::default()
    };
    let a3 = facts("3.15.0a3");
    assert!(sel(">=3.14").matches(&a3));
    assert!(sel("~=3.14").matches(&a3));
    assert!(sel(">=3.15.0a1").matches(&a3));
    assert!(sel("==3.15.*").matches(&a3));
    assert!(!sel(">=3.15").matches(&a3));
    assert!(!sel("<3.15").matches(&a3));
    assert!(!sel("~=3.14.0").matches(&a3));
    assert!(sel("===3.15.0a3").matches(&a3));
    let rc1 = facts("3.14.0rc1");
    assert!(sel(">=3.14.0rc1,<3.15").matches(&rc1));
    assert!(!sel(">=3.14.0").matches(&rc1));
}

#[test]
fn equality_on_a_short_release_is_a_located_warning_with_the_fix() {
    let root = root();
    let spec = Spec::load(&root.join("spec")).expect("the spec loads");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("lint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("deviations")).unwrap();
    let case = "[[case]]\nid = \"l.one\"\ntitle = \"t\"\nkind = \"generator\"\n\
         source = \"https://peps.python.org/pep-0255/\"\npython = \"==3.12\"\n\
         code = '''\ndef gen():\n    yield 1\n'''\nsubject = \"gen()\"\n\n\
         [[case.step]]\ndo = \"create\"\n\n\
         [[case.deviation]]\nwhen = { python = \">=3.8,!=3.10\" }\nreason = \"r\"\n\
         link = \"https://example.org/\"\n";
    std::fs::write(dir.join("l.toml"), case).unwrap();
    let dev = "[[deviation]]\ncases = \"l.*\"\n\nwhen = { python = \"==3\" }\n\
         reason = \"r\"\nlink = \"https://example.org/\"\n";
    std::fs::write(dir.join("deviations/d.toml"), dev).unwrap();
    let corpus = Corpus::load(&dir, &spec);
    let errs: Vec<String> = corpus.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(corpus.cases.len(), 1, "a lint leaves the case in");
    let mut w: Vec<String> = corpus.warnings.iter().map(|d| d.to_string()).collect();
    w.sort();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(corpus
        .warnings
        .iter()
        .all(|d| d.severity == Severity::Warning));
    let f = |name: &str| dir.join(name).display().to_string();
    assert_eq!(w.len(), 3, "{w:#?}");
    for (at, lint, fix) in [
        (
            f("deviations/d.toml") + ":4:19",
            "`==3` in `==3` matches 3.0 alone",
            "==3.*",
        ),
        (
            f("l.toml") + ":6:10",
            "`==3.12` in `==3.12` matches 3.12.0 alone",
            "==3.12.*",
        ),
        (
            f("l.toml") + ":17:19",
            "`!=3.10` in `>=3.8,!=3.10` matches 3.10.0 alone",
            ">=3.8,!=3.10.*",
        ),
    ] {
        let start = format!("{at}: warning: {lint}");
        let help = format!("\n  help: write `python = \"{fix}\"`");
        assert!(
            w.iter()
                .any(|d| d.starts_with(&start) && d.ends_with(&help)),
            "no `{start}` … `{help}` in {w:#?}"
        );
    }
}
