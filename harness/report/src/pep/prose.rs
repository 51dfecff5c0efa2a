//! The fixed prose of the PEP material (`prose.toml`, compiled in): explanations, the
//! questions and options of each decision, and which cases measure each. What a runtime did
//! is never in it; the documents compute that from the results.

use serde::Deserialize;

/// The whole of `prose.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prose {
    pub title: String,
    #[serde(rename = "abstract")]
    pub abstract_text: String,
    pub motivation: Motivation,
    pub decision: Vec<Decision>,
    pub bugs: Intro,
    pub reference: Reference,
    pub compatibility: Compatibility,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Motivation {
    pub intro: String,
    pub snippet_intro: String,
    pub snippet: String,
    pub pitfalls_intro: String,
    pub pitfall: Vec<Pitfall>,
}

/// One thing the snippet of today's code gets wrong, and what measures it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pitfall {
    pub claim: String,
    #[serde(default)]
    pub cases: Vec<String>,
    /// Measured by the compiled columns' rows of `observables` instead of cases.
    #[serde(default)]
    pub compiled: bool,
    #[serde(default)]
    pub observables: Vec<String>,
}

/// A semantic decision the PEP must make.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub title: String,
    pub question: String,
    /// Case-id globs of the cases that measure it.
    #[serde(default)]
    pub cases: Vec<String>,
    /// Measured by the compiled columns' rows of `observables` (in `layers`).
    #[serde(default)]
    pub compiled: bool,
    #[serde(default)]
    pub observables: Vec<String>,
    #[serde(default)]
    pub layers: Vec<String>,
    /// A spec feature whose spellings the decision is about (`generator_state_attributes`).
    pub feature: Option<String>,
    /// A spec layer whose checks bare and with the reference are summed per runtime.
    pub layer: Option<String>,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intro {
    pub intro: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub intro: String,
    pub adaptations_intro: String,
    pub adaptations: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compatibility {
    pub intro: String,
    /// The usage patterns whose answer changes if the kinds grow `__code__`.
    pub probes: Vec<String>,
    pub probes_note: String,
    /// Said when no test-suites report was given to the rendering.
    pub testsuite_missing: String,
    /// Before the test-suites table: how the suites were run.
    pub testsuite_intro: String,
    /// Before the list of the installed runs' processes (or interpreters) where the
    /// proposal was not in effect.
    pub testsuite_not_in_effect: String,
    /// After the table when no difference reproduced.
    pub testsuite_no_difference: String,
    /// What a difference that did not reproduce on its rerun is.
    pub testsuite_unreproduced: String,
    /// Before the table of the standard library's probes.
    pub stdlib_probes_intro: String,
    /// After it: what the table shows.
    pub stdlib_probes_note: String,
    /// Why a reproduced difference happens, by test id (read from the test's source).
    #[serde(default)]
    pub testsuite_explained: Vec<Explained>,
}

/// Why one test's outcome changes with the proposal installed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explained {
    /// The test id (`test.test_inspect.TestX.test_y`).
    pub test: String,
    pub why: String,
}

/// The prose, parsed.
pub fn prose() -> Prose {
    // compiled in, and parsed by a unit test: it cannot be missing or malformed at run time
    toml::from_str(include_str!("prose.toml"))
        .unwrap_or_else(|e| panic!("harness/report/src/pep/prose.toml does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prose_parses_and_every_decision_says_how_it_is_measured() {
        let p = prose();
        assert!(!p.decision.is_empty());
        for d in &p.decision {
            assert!(
                !d.cases.is_empty() || d.compiled || d.feature.is_some() || d.layer.is_some(),
                "decision {:?} names nothing that measures it",
                d.title
            );
            assert!(
                d.options.len() >= 2,
                "decision {:?} has no options",
                d.title
            );
        }
        for f in &p.motivation.pitfall {
            assert!(!f.cases.is_empty() || f.compiled, "pitfall {:?}", f.claim);
        }
    }
}
