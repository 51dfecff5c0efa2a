//! A case's `timeout` is validated when the corpus loads: a value no clock can honour is a
//! located error, never a case that then times out on every step.

use std::path::Path;

use introspec_cases::Corpus;
use introspec_spec::Spec;

fn load_with_timeout(value: &str) -> Corpus {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let spec = Spec::load(&root.join("spec")).expect("the spec loads");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "timeouts-{}-{}",
        std::process::id(),
        value.replace(['.', '-'], "_")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let case = format!(
        "[[case]]\nid = \"t.one\"\ntitle = \"t\"\nkind = \"generator\"\n\
         source = \"https://peps.python.org/pep-0255/\"\ntimeout = {value}\n\
         code = '''\ndef gen():\n    yield 1\n'''\nsubject = \"gen()\"\n\n\
         [[case.step]]\ndo = \"create\"\n"
    );
    std::fs::write(dir.join("t.toml"), case).unwrap();
    let corpus = Corpus::load(&dir, &spec);
    let _ = std::fs::remove_dir_all(&dir);
    corpus
}

#[test]
fn timeouts_no_clock_can_honour_are_located_errors() {
    for bad in ["nan", "-1.0", "0.0", "1e-9", "inf", "1e400"] {
        let c = load_with_timeout(bad);
        let text: Vec<String> = c.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|d| d.contains("t.toml:") && d.contains("timeout")),
            "{bad}: {text:?}"
        );
        assert!(c.cases.is_empty(), "{bad}: the case was kept");
    }
    let ok = load_with_timeout("2.5");
    assert!(
        ok.diagnostics.is_empty(),
        "{:?}",
        ok.diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(ok.cases[0].timeout_ms, Some(2500));
}

fn load_deviation(body: &str) -> Corpus {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let spec = Spec::load(&root.join("spec")).expect("the spec loads");
    // one directory per call: the tests of this file run at once
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("deviation-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(dir.join("deviations"));
    std::fs::create_dir_all(dir.join("deviations")).unwrap();
    std::fs::write(
        dir.join("deviations/d.toml"),
        format!(
            "[[deviation]]\ncases = \"t.*\"\nwhen = {{ compiler = \"mypyc\" }}\n{body}\n\
             reason = \"hangs\"\nlink = \"https://example.org/hang\"\n"
        ),
    )
    .unwrap();
    let corpus = Corpus::load(&dir, &spec);
    let _ = std::fs::remove_dir_all(&dir);
    corpus
}

/// `hangs_after` is the time that confirms a known hang: only for a deviation that says the
/// case cannot be observed (`observable = "error"`), and a number of seconds a clock honours.
#[test]
fn hangs_after_is_validated_where_it_is_written() {
    let ok = load_deviation("observable = \"error\"\nhangs_after = 1.0");
    assert!(ok.diagnostics.is_empty(), "{:?}", ok.diagnostics);
    assert_eq!(ok.deviations[0].hang_confirmed_ms, Some(1000));
    for bad in [
        "observable = \"state\"\nhangs_after = 1.0",
        "hangs_after = 1.0",
        "observable = \"error\"\nhangs_after = -1.0",
        "observable = \"error\"\nhangs_after = nan",
    ] {
        let c = load_deviation(bad);
        let text: Vec<String> = c.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|d| d.contains("d.toml:") && d.contains("hangs_after")),
            "{bad}: {text:?}"
        );
        assert!(c.deviations.is_empty(), "{bad}: the deviation was kept");
    }
}

/// `varies = true` marks the reads of one observable (or an operation's outcome) as differing
/// from run to run: a record without `observable`, or for a case that cannot run at all, is a
/// located error, since it would hide every check of the trial or nothing.
#[test]
fn varies_needs_the_observable_that_varies() {
    let ok = load_deviation("observable = \"frame_back\"\nvaries = true");
    assert!(ok.diagnostics.is_empty(), "{:?}", ok.diagnostics);
    assert!(ok.deviations[0].varies);
    let plain = load_deviation("observable = \"frame_back\"");
    assert!(!plain.deviations[0].varies);
    for bad in [
        "varies = true",
        "observable = \"error\"\nvaries = true",
        "observable = \"observe-calls\"\nvaries = true",
    ] {
        let c = load_deviation(bad);
        let text: Vec<String> = c.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|d| d.contains("d.toml:") && d.contains("varies")),
            "{bad}: {text:?}"
        );
        assert!(c.deviations.is_empty(), "{bad}: the deviation was kept");
    }
}
