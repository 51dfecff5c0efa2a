//! The scanner on a fixture with each pattern and a non-match for each, and on archives: an
//! sdist's top directory left out, a wheel's paths kept, a Python 2 file counted unparsed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use introspec_usage::scan::{scan, Kind, Source};
use introspec_usage::{Form, Pattern};

/// The newest CPython 3 on the machine, as `introspec usage` picks it.
fn python() -> PathBuf {
    let d = introspec_runtimes::discover(&introspec_runtimes::Options {
        search: Some(introspec_runtimes::Search::from_vars(|k| {
            std::env::var_os(k)
        })),
        ..Default::default()
    });
    d.runtimes
        .into_iter()
        .filter(|r| r.identity.implementation == "cpython" && r.identity.version.release().0 == 3)
        .filter(|r| !r.identity.free_threaded && !r.identity.debug)
        .max_by(|a, b| a.identity.version.cmp(&b.identity.version))
        .expect("a CPython 3 on this machine")
        .path
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture")
}

fn parse_pattern(name: &str) -> Pattern {
    *Pattern::ALL
        .iter()
        .find(|p| p.name() == name)
        .unwrap_or_else(|| panic!("unknown pattern {name:?} in the fixture"))
}

/// (line, pattern, form) the fixture's `# expect:` comments name.
fn expected(text: &str) -> BTreeSet<(u32, Pattern, Form)> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let Some((_, want)) = line.split_once("# expect: ") else {
            continue;
        };
        for item in want.split("; ") {
            let (pattern, form) = item.rsplit_once('/').expect("pattern/form");
            let form: Form = serde_json::from_value(serde_json::json!(form)).expect("a form");
            out.insert((i as u32 + 1, parse_pattern(pattern), form));
        }
    }
    out
}

#[test]
fn every_pattern_and_no_non_match() {
    let path = fixture().join("patterns.py");
    let text = std::fs::read_to_string(&path).unwrap();
    let want = expected(&text);
    let covered: BTreeSet<Pattern> = want.iter().map(|w| w.1).collect();
    assert_eq!(
        covered.len(),
        Pattern::ALL.len(),
        "the fixture names every pattern"
    );
    let non_matches = text
        .lines()
        .skip_while(|l| !l.starts_with("# none of these"))
        .count();
    assert!(non_matches > 15, "the fixture has its non-matches");
    let source = Source {
        name: "fixture".into(),
        kind: Kind::Dir { exclude: vec![] },
        path: fixture(),
    };
    let got = scan(&python(), &[source]).unwrap().remove(0);
    assert_eq!(got.files, 1);
    assert!(got.unparsed.is_empty(), "{:?}", got.unparsed);
    let got: BTreeSet<(u32, Pattern, Form)> = got
        .findings
        .iter()
        .inspect(|f| assert_eq!(f.file, "patterns.py"))
        .map(|f| (f.line, f.pattern, f.form))
        .collect();
    let missed: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed {missed:?}, extra {extra:?}"
    );
}

/// Build archives with the scanning interpreter's tarfile and zipfile.
fn archive(python: &Path, dir: &Path, name: &str, members: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(name);
    let script = r#"
import json, sys, tarfile, zipfile, io
path, members = sys.argv[1], json.loads(sys.argv[2])
if path.endswith(".tar.gz"):
    with tarfile.open(path, "w:gz") as t:
        for name, text in members:
            data = text.encode()
            info = tarfile.TarInfo(name); info.size = len(data)
            t.addfile(info, io.BytesIO(data))
else:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members:
            z.writestr(name, text)
"#;
    let status = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&path)
        .arg(serde_json::to_string(members).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    path
}

#[test]
fn archives_sdist_top_directory_wheel_paths_and_python2() {
    let python = python();
    let dir = std::env::temp_dir().join(format!("introspec-usage-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let members = [
        ("pkg-1.0/pkg/core.py", "def f(c):\n    return c.cr_frame\n"),
        ("pkg-1.0/pkg/old.py", "print 'python 2'\nx.gi_frame\n"),
        ("pkg-1.0/README.txt", "x.gi_frame"),
    ];
    let sdist = archive(&python, &dir, "pkg-1.0.tar.gz", &members);
    let wheel_members = [
        ("pkg/core.py", "g.gi_code\n"),
        ("pkg/tests/test_x.py", "a.ag_await\n"),
    ];
    let wheel = archive(&python, &dir, "pkg-1.0-py3-none-any.whl", &wheel_members);
    let sources = [
        Source {
            name: "sdist".into(),
            kind: Kind::Sdist,
            path: sdist,
        },
        Source {
            name: "wheel".into(),
            kind: Kind::Wheel,
            path: wheel,
        },
    ];
    let got = scan(&python, &sources).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let (s, w) = (&got[0], &got[1]);
    assert_eq!((s.files, s.unparsed.len()), (2, 1));
    assert_eq!(s.unparsed[0].file, "pkg/old.py");
    assert!(
        s.unparsed[0].why.starts_with("SyntaxError"),
        "{}",
        s.unparsed[0].why
    );
    let places: Vec<_> = s
        .findings
        .iter()
        .map(|f| (f.file.as_str(), f.line, f.pattern))
        .collect();
    assert_eq!(places, [("pkg/core.py", 2, Pattern::CrFrame)]);
    let places: Vec<_> = w
        .findings
        .iter()
        .map(|f| (f.file.as_str(), f.line, f.pattern))
        .collect();
    assert_eq!(
        places,
        [
            ("pkg/core.py", 1, Pattern::GiCode),
            ("pkg/tests/test_x.py", 1, Pattern::AgAwait)
        ]
    );
    assert!(introspec_usage::is_test_path("pkg/tests/test_x.py"));
    assert!(!introspec_usage::is_test_path("pkg/core.py"));
}
