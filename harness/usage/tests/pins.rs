//! The committed pin file, the loader's errors, and the sha256 check on the real fetch path
//! (a `file://` URL fetched by the scanning interpreter, as an https one is).

use std::path::{Path, PathBuf};

use introspec_usage::fetch::{cached_path, fetch, sha256_hex, Fetched};
use introspec_usage::pins::is_sha256;
use introspec_usage::Pins;

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reports/usage/packages.toml")
}

fn python() -> PathBuf {
    let d = introspec_runtimes::discover(&introspec_runtimes::Options {
        search: Some(introspec_runtimes::Search::from_vars(|k| {
            std::env::var_os(k)
        })),
        ..Default::default()
    });
    d.runtimes
        .into_iter()
        .find(|r| r.identity.implementation == "cpython" && r.identity.version.release().0 == 3)
        .expect("a CPython 3 on this machine")
        .path
}

#[test]
fn committed_pins_parse_and_every_entry_is_exact() {
    let pins = Pins::load(&committed()).unwrap();
    assert!(
        pins.packages.len() >= 14,
        "{} packages",
        pins.packages.len()
    );
    for p in &pins.packages {
        assert!(!p.version.is_empty(), "{}: no version", p.name);
        assert!(
            p.file.contains(&p.version),
            "{}: {} is not version {}",
            p.name,
            p.file,
            p.version
        );
        assert!(is_sha256(&p.sha256), "{}: sha256 {:?}", p.name, p.sha256);
        assert!(
            p.url
                .starts_with("https://files.pythonhosted.org/packages/")
                && p.url.ends_with(&p.file),
            "{}: url {}",
            p.name,
            p.url
        );
        let sdist_or_pure = p.file.ends_with(".tar.gz")
            || p.file.ends_with(".zip")
            || p.file.ends_with("-none-any.whl");
        assert!(
            sdist_or_pure,
            "{}: {} is neither an sdist nor a pure wheel",
            p.name, p.file
        );
    }
    let s = pins.stdlib.expect("a pinned standard library");
    assert_eq!(s.python.split('.').count(), 3);
    assert!(s.tree_sha256.as_deref().is_some_and(is_sha256));
}

const ONE: &str = r#"
[[package]]
name = "demo"
version = "1.0"
file = "demo-1.0.tar.gz"
sha256 = "SHA"
url = "URL"
"#;

#[test]
fn a_bad_pin_is_refused_at_its_line() {
    let path = Path::new("reports/usage/packages.toml");
    let text = ONE.replace("URL", "https://x/demo-1.0.tar.gz");
    let e = Pins::parse(path, &text.replace("SHA", "abc")).unwrap_err();
    assert!(
        e.starts_with("reports/usage/packages.toml:2: package \"demo\": sha256 = \"abc\""),
        "{e}"
    );
    assert!(e.contains("https://pypi.org/pypi/demo/1.0/json"), "{e}");
    let good = text.replace("SHA", &"a".repeat(64));
    let e = Pins::parse(path, &good.replace("version = \"1.0\"\n", "")).unwrap_err();
    assert!(e.contains("missing field `version`"), "{e}");
    let e = Pins::parse(path, &format!("{good}{good}")).unwrap_err();
    assert!(e.contains("pinned twice (also at line 2)"), "{e}");
    assert_eq!(Pins::parse(path, &good).unwrap().packages[0].line, 2);
}

#[test]
fn a_wrong_sha256_is_refused_naming_the_package_and_the_fix() {
    let dir = std::env::temp_dir().join(format!("introspec-usage-pins-{}", std::process::id()));
    let (served, cache) = (dir.join("served"), dir.join("cache"));
    std::fs::create_dir_all(&served).unwrap();
    let bytes = b"not really a tarball";
    std::fs::write(served.join("demo-1.0.tar.gz"), bytes).unwrap();
    let url = format!("file://{}/demo-1.0.tar.gz", served.display());
    let pins_path = Path::new("reports/usage/packages.toml");
    let wrong = "0".repeat(64);
    let text = ONE.replace("URL", &url);
    let pins = Pins::parse(pins_path, &text.replace("SHA", &wrong)).unwrap();
    let e = fetch(&cache, pins_path, &pins.packages[0], &python()).unwrap_err();
    assert!(
        e.starts_with(
            "reports/usage/packages.toml:2: demo 1.0: demo-1.0.tar.gz downloaded from file://"
        ),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "has sha256 {}, not the pinned {wrong}",
            sha256_hex(bytes)
        )),
        "{e}"
    );
    assert!(
        e.contains("https://pypi.org/pypi/demo/1.0/json") && e.contains("correct the sha256"),
        "{e}"
    );
    assert!(
        !cached_path(&cache, &pins.packages[0]).exists(),
        "nothing cached"
    );

    // the right sha256: downloaded once, then reused; a cached file altered since is fetched again
    let pins = Pins::parse(pins_path, &text.replace("SHA", &sha256_hex(bytes))).unwrap();
    let p = &pins.packages[0];
    let first = fetch(&cache, pins_path, p, &python()).unwrap();
    assert_eq!(first.1, Fetched::Downloaded);
    assert_eq!(
        fetch(&cache, pins_path, p, &python()).unwrap().1,
        Fetched::Cached
    );
    std::fs::write(&first.0, b"altered").unwrap();
    assert_eq!(
        fetch(&cache, pins_path, p, &python()).unwrap().1,
        Fetched::Downloaded
    );
    assert_eq!(std::fs::read(&first.0).unwrap(), bytes);
    let leftovers: Vec<_> = std::fs::read_dir(first.0.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left");
    std::fs::remove_dir_all(&dir).unwrap();
}
