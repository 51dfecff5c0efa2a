//! What the tests that run the real corpus on the runtimes found share.

use introspec_runner::Project;

/// The checkout's project (spec, cases, cache), with the settings of the environment, as
/// `introspec run` loads it.
pub fn project() -> Project {
    let root = introspec::project_root(None);
    Project::load(
        &root,
        &introspec_runner::Settings::from_env().expect("the settings are valid"),
    )
    .expect("the spec loads")
}
