//! matrix.html in a real headless browser (Debian's chromium): the table is there with its
//! rows and columns once the page's script has run, and filters read from the URL at load
//! hide rows and columns. Without chromium the tests say why and pass, except on CI (the
//! `CI` variable set), where .ci/run installs it and its absence is a failure.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use introspec_report::matrix::Matrix;

/// The browser, if installed (`INTROSPEC_CHROMIUM` names another binary).
fn chromium() -> Option<PathBuf> {
    introspec_report::screenshot::find_chromium(
        std::env::var_os("INTROSPEC_CHROMIUM").map(PathBuf::from),
        std::env::var_os("PATH"),
    )
}

/// The browser, or `None` after saying why the test does not run; on CI its absence fails.
fn browser_or_skip() -> Option<PathBuf> {
    match chromium() {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("chromium is not installed, and CI must check matrix.html in a browser: install it with `apt-get install -y chromium` (.ci/run does)")
        }
        None => {
            eprintln!("skipped: chromium is not installed (apt-get install -y chromium); this test fails on CI without it");
            None
        }
    }
}

/// Run chromium headless on `url` with `extra` arguments; its standard output.
fn run(browser: &Path, extra: &[String], url: &str, scratch: &Path) -> String {
    let profile = scratch.join("profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not finish within 120 s on {url}", browser.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

/// Write the fixture's page into a scratch directory; (page, scratch, matrix).
fn page(name: &str) -> (PathBuf, PathBuf, Matrix) {
    let dir = common::scratch(name);
    let (results, spec) = (common::fixture(), common::spec());
    introspec_report::write_reports(&results, &spec, &dir).unwrap();
    (
        dir.join("matrix.html"),
        dir.clone(),
        Matrix::build(&results, &spec),
    )
}

/// The opening tags `<tag …>` in the DOM whose text contains `marker`.
fn tags<'a>(dom: &'a str, tag: &str, marker: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find(&open) {
        let end = rest[i..].find('>').map_or(rest.len(), |e| i + e + 1);
        let t = &rest[i..end];
        if t.contains(marker) {
            out.push(t);
        }
        rest = &rest[end..];
    }
    out
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    Some(&tag[i..i + tag[i..].find('"')?])
}

fn hidden(tag: &str) -> bool {
    tag.contains(" hidden=\"\"") || tag.contains(" hidden>") || tag.ends_with(" hidden>")
}

fn url(page: &Path, fragment: &str) -> String {
    format!("file://{}{fragment}", page.display())
}

#[test]
fn the_browser_shows_the_matrix_with_its_rows_and_columns() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let (page, dir, m) = page("browser-all");
    let dom = run(&browser, &["--dump-dom".into()], &url(&page, ""), &dir);
    assert!(
        dom.contains("<table id=\"matrix\">"),
        "no matrix table in the DOM chromium dumped:\n{}",
        &dom[..dom.len().min(2000)]
    );
    let rows = tags(&dom, "tr", "class=\"row\"");
    assert_eq!(
        rows.len(),
        m.rows().count(),
        "one row per (section, observable, kind, layer)"
    );
    assert!(
        rows.iter().all(|r| !hidden(r)),
        "no filter: every row shown"
    );
    let cols = tags(&dom, "th", "class=\"col");
    assert_eq!(cols.len(), m.columns.len(), "one header per column");
    let cells = tags(&dom, "td", "class=\"cell ");
    assert_eq!(cells.len(), m.rows().count() * m.columns.len());
    // the script ran: it wrote how many rows it shows
    let shown = format!(
        "{n} of {n} rows, {c} of {c} columns shown",
        n = m.rows().count(),
        c = m.columns.len()
    );
    assert!(
        dom.contains(&shown),
        "the page's script did not run (no {shown:?})"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_filter_in_the_url_hides_rows_and_columns() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let (page, dir, m) = page("browser-filter");
    let dom = run(
        &browser,
        &["--dump-dom".into()],
        &url(&page, "#kind=coroutine&runtime=cpython-3.12.1"),
        &dir,
    );
    let rows = tags(&dom, "tr", "class=\"row\"");
    assert_eq!(rows.len(), m.rows().count());
    let mut shown = 0;
    for r in &rows {
        let kind = attr(r, "data-kind").unwrap();
        assert_eq!(hidden(r), kind != "coroutine", "row {r}");
        shown += usize::from(!hidden(r));
    }
    let expected = m.rows().filter(|r| r.kind == "coroutine").count();
    assert!(
        expected > 0 && shown == expected,
        "{shown} rows shown, {expected} coroutine rows"
    );
    for th in tags(&dom, "th", "class=\"col") {
        let runtime = attr(th, "data-runtime").unwrap();
        assert_eq!(hidden(th), runtime != "cpython-3.12.1", "column {th}");
    }
    // the filter's select shows the value it took from the URL
    assert!(dom.contains(&format!(
        "{shown} of {} rows, 2 of {} columns shown",
        m.rows().count(),
        m.columns.len()
    )));
    let _ = std::fs::remove_dir_all(dir);
}
