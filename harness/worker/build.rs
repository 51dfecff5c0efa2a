//! Builds the two PyO3 extension modules (the observer and the reference implementation of
//! the proposal) with the same cargo, in their own target directory, and hands their paths
//! to the crate, which embeds them: the `introspec` binary carries everything it starts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let harness = manifest.parent().unwrap().to_path_buf();
    let root = harness.parent().unwrap().to_path_buf();
    let target = std::env::var_os("INTROSPEC_PYEXT_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/pyext"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    for (dir, lib, env) in [
        (
            "observer-pyo3",
            "libintrospec_pyo3.so",
            "INTROSPEC_PYO3_OBSERVER_SO",
        ),
        (
            "reference",
            "libasync_introspection.so",
            "INTROSPEC_REFERENCE_SO",
        ),
    ] {
        let crate_dir = harness.join(dir);
        rerun_for(&crate_dir);
        let mut cmd = Command::new(&cargo);
        cmd.args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(crate_dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target);
        if dir == "reference" {
            // the observer's release profile (thin LTO), so that the two builds, which share
            // one target directory, share one compiled PyO3 instead of building it twice
            cmd.args(["--config", "profile.release.lto=\"thin\""]);
        }
        // A nested cargo must not inherit the outer build's view of itself.
        for (k, _) in std::env::vars() {
            if (k.starts_with("CARGO_")
                && k != "CARGO_HOME"
                && !k.starts_with("CARGO_NET")
                && !k.starts_with("CARGO_REGISTR")
                && !k.starts_with("CARGO_HTTP"))
                || matches!(
                    k.as_str(),
                    "RUSTC"
                        | "RUSTC_WRAPPER"
                        | "RUSTC_WORKSPACE_WRAPPER"
                        | "RUSTDOC"
                        | "TARGET"
                        | "HOST"
                        | "OUT_DIR"
                        | "OPT_LEVEL"
                        | "PROFILE"
                        | "DEBUG"
                        | "NUM_JOBS"
                        | "MAKEFLAGS"
                        | "MFLAGS"
                )
            {
                cmd.env_remove(&k);
            }
        }
        // PyO3 0.30: what the `extension-module` feature used to say (do not link libpython)
        cmd.env("PYO3_BUILD_EXTENSION_MODULE", "1");
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cargo} to build harness/{dir}: {e}"));
        if !status.success() {
            panic!("building harness/{dir} (a PyO3 extension module) failed: run `cargo build --release --manifest-path harness/{dir}/Cargo.toml` to see why");
        }
        let so = target.join("release").join(lib);
        assert!(
            so.exists(),
            "harness/{dir} built, but {} is missing",
            so.display()
        );
        println!("cargo:rustc-env={env}={}", so.display());
    }
    rerun_for(&harness.join("protocol"));
    println!(
        "cargo:rerun-if-changed={}",
        harness
            .join("observer-portable/introspec_portable.py")
            .display()
    );
    println!("cargo:rerun-if-env-changed=INTROSPEC_PYEXT_TARGET_DIR");
}

fn rerun_for(dir: &Path) {
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("Cargo.lock").display()
    );
    println!("cargo:rerun-if-changed={}", dir.join("src").display());
}
