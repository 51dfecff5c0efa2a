//! Refuse to produce an extension module that links libpython.
//!
//! PyO3 0.30 replaced the `extension-module` feature with the `PYO3_BUILD_EXTENSION_MODULE`
//! environment variable. Without it the cdylib would carry a DT_NEEDED entry for the
//! libpython3.X of whichever interpreter was found at build time, and loading it into any
//! other CPython would load two interpreters into one process.
fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_BUILD_EXTENSION_MODULE");
    if std::env::var_os("PYO3_BUILD_EXTENSION_MODULE").is_none() {
        panic!(
            "introspec-pyo3: set PYO3_BUILD_EXTENSION_MODULE=1 (PyO3 0.30's replacement for the \
             `extension-module` feature); .cargo/config.toml does it for cargo commands started \
             in harness/observer-pyo3/"
        );
    }
}
