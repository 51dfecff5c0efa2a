//! What the judge's tests share: a case of the real corpus, compiled, and the trial of it on
//! a column.

use std::path::{Path, PathBuf};

use introspec_cases::{compile::compile, Case, ColumnFacts, Corpus, Deviation, Plan};
use introspec_judge::Trial;
use introspec_spec::{Availability, Spec, Version};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A case of the real corpus, compiled, judged as on a column of `language`.
pub struct Fixture {
    pub spec: Spec,
    pub case: Case,
    pub plan: Plan,
    pub availability: Availability,
}

impl Fixture {
    /// The case `id` of the real corpus (the first case when `None`).
    pub fn load(id: Option<&str>, language: &str) -> Fixture {
        let spec = Spec::load(&root().join("spec")).unwrap();
        let mut cases = Corpus::load(&root().join("cases"), &spec).cases;
        let case = match id {
            Some(id) => {
                let at = cases
                    .iter()
                    .position(|c| c.id == id)
                    .unwrap_or_else(|| panic!("{id} is in the corpus"));
                cases.swap_remove(at)
            }
            None => cases.remove(0),
        };
        let (_, plan) = compile(&case, &spec);
        Fixture {
            spec,
            case,
            plan,
            availability: Availability {
                language: Version::parse(language).unwrap(),
                provides: vec![],
            },
        }
    }

    pub fn trial<'a>(
        &'a self,
        column: &'a ColumnFacts,
        deviations: Vec<&'a Deviation>,
    ) -> Trial<'a> {
        Trial {
            spec: &self.spec,
            case: &self.case,
            plan: &self.plan,
            column,
            availability: &self.availability,
            deviations,
        }
    }
}
