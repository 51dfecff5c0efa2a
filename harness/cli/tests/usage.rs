//! `introspec usage` end to end on a small pin file served from `file://` (no network): two
//! runs give the same bytes; and the committed report's Markdown is its JSON's rendering.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A one-file sdist made by a CPython 3 (tarfile), and its sha256.
fn sdist(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("demo-1.0.tar.gz");
    let script = r#"
import hashlib, io, sys, tarfile
src = b"def state(g):\n    return g.gi_frame is None or g.gi_frame.f_lasti == -1\nhasattr(g, '__code__')\n"
info = tarfile.TarInfo("demo-1.0/demo/state.py"); info.size = len(src); info.mtime = 0
with tarfile.open(sys.argv[1], "w:gz") as t:
    t.addfile(info, io.BytesIO(src))
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        path,
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
    )
}

fn usage(cache: &Path, pins: &Path, out: &Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_introspec"))
        .env("INTROSPEC_CACHE", cache)
        .arg("--root")
        .arg(root())
        .arg("usage")
        .arg("--pins")
        .arg(pins)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn two_runs_give_the_same_bytes_and_a_wrong_sha256_stops_the_run() {
    let dir = std::env::temp_dir().join(format!("introspec-usage-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, sha) = sdist(&dir);
    let pin = |sha: &str| {
        format!(
            "[[package]]\nname = \"demo\"\nversion = \"1.0\"\nfile = \"demo-1.0.tar.gz\"\nsha256 = \"{sha}\"\nurl = \"file://{}\"\n",
            file.display()
        )
    };
    let pins = dir.join("pins.toml");
    std::fs::write(&pins, pin(&sha)).unwrap();
    let cache = dir.join("cache");
    let (a, b) = (dir.join("a"), dir.join("b"));
    let first = usage(&cache, &pins, &a);
    assert!(first.0, "{}", first.1);
    assert!(
        first.1.contains("downloaded demo-1.0.tar.gz"),
        "{}",
        first.1
    );
    let second = usage(&cache, &pins, &b);
    assert!(
        second.0 && !second.1.contains("downloaded"),
        "reused: {}",
        second.1
    );
    for name in ["usage-in-the-wild.md", "usage-in-the-wild.json"] {
        let (x, y) = (
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
        );
        assert_eq!(x, y, "{name} differs between two runs");
    }
    let md = std::fs::read_to_string(a.join("usage-in-the-wild.md")).unwrap();
    assert!(md.contains("| `gi_frame` | 2 | **2** | 0 | 1 |"), "{md}");
    assert!(
        md.contains("| `f_lasti == -1` | 1 | **1** | 0 | 1 |"),
        "{md}"
    );
    assert!(md.contains("- `demo/state.py`: 2, 2"), "{md}");

    std::fs::write(&pins, pin(&"f".repeat(64))).unwrap();
    std::fs::remove_dir_all(&cache).unwrap();
    let wrong = usage(&cache, &pins, &dir.join("c"));
    assert!(!wrong.0, "a wrong sha256 fails the run");
    assert!(
        wrong
            .1
            .contains("pins.toml:1: demo 1.0: demo-1.0.tar.gz downloaded from file://"),
        "{}",
        wrong.1
    );
    assert!(!dir.join("c").exists(), "no report from a refused file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_committed_markdown_is_the_committed_json_rendered() {
    let json = std::fs::read_to_string(root().join("reports/usage-in-the-wild.json")).unwrap();
    let report: introspec_usage::Report = serde_json::from_str(&json).unwrap();
    assert_eq!(report.schema, introspec_usage::SCHEMA);
    assert_eq!(
        introspec_usage::render::json(&report),
        json,
        "the JSON is as render writes it"
    );
    let md = std::fs::read_to_string(root().join("reports/usage-in-the-wild.md")).unwrap();
    assert!(
        introspec_usage::render::markdown(&report) == md,
        "reports/usage-in-the-wild.md is not its JSON rendered: rerun `introspec usage`"
    );
    let pins = introspec_usage::Pins::load(&root().join("reports/usage/packages.toml")).unwrap();
    let pinned: Vec<(&str, &str)> = pins
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    let reported: Vec<(&str, &str)> = report
        .packages
        .iter()
        .skip(1)
        .map(|s| (s.name.as_str(), s.version.as_str()))
        .collect();
    assert_eq!(
        pinned, reported,
        "the report is of the pinned packages: rerun `introspec usage`"
    );
}
