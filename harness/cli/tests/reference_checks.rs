//! `harness/reference/check_reference.py` on every runtime the reference implementation
//! loads on (CPython 3.9+, free-threaded builds with their own build of it), with the module
//! the harness built for that interpreter: its own checks of every accessor, state and
//! wrapper, and of `install()`.

use std::process::Command;

mod common;

use introspec_runner::columns;

#[test]
fn the_reference_implementation_passes_its_own_checks_on_every_runtime_it_loads_on() {
    let project = common::project();
    let root = project.root.clone();
    let script = root.join("harness/reference/check_reference.py");
    let mut ran = Vec::new();
    let mut failures = Vec::new();
    for rt in &project.discover().runtimes {
        let Some(col) = columns::with_reference(rt, &project.cache) else {
            continue;
        };
        let dir = col.loads[0]
            .path
            .clone()
            .expect("the reference's directory");
        let out = Command::new(&rt.path)
            .arg(&script)
            .arg(&dir)
            .env_remove("PYTHONPATH")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap_or_else(|e| panic!("{}: cannot run {}: {e}", rt.name, rt.path.display()));
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let summary = text.lines().last().unwrap_or("").to_string();
        if !out.status.success() || !summary.ends_with(" 0 failed") {
            failures.push(format!("{} ({}):\n{text}", rt.name, out.status));
        }
        ran.push(format!("{} ({summary})", rt.name));
    }
    eprintln!("ran on {}", ran.join(", "));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
