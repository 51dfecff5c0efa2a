//! From a case and the spec to what a worker runs (a protocol `Case`) and what the judge
//! needs to read its answer (a `Plan`: which observable, layer and spelling each read is).

use std::collections::BTreeMap;

use introspec_protocol as proto;
use introspec_spec::{Availability, Spec};

use crate::model::Case;

/// What each read of each target means.
#[derive(Debug, Clone)]
pub struct Plan {
    pub targets: Vec<PlanTarget>,
    pub refs: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PlanTarget {
    pub name: String,
    pub kind: String,
    pub reads: Vec<PlannedRead>,
}

#[derive(Debug, Clone)]
pub struct PlannedRead {
    pub observable: String,
    pub layer: String,
    pub read_text: String,
    pub feature: String,
    pub values: BTreeMap<String, String>,
}

/// Compile a case. Reads cover every observable that has a spelling for each target's kind,
/// in every layer: the snapshot is the runtime's full record, expectations or not. The events
/// observables (`trace_events`, `monitoring_events`) are the exception: reading them makes the
/// observer trace every step, so they are read only in a case that expects one of them
/// somewhere ([`asks_for_events`]), and then all of them.
pub fn compile(case: &Case, spec: &Spec) -> (proto::Case, Plan) {
    let mut targets = Vec::new();
    let mut plan_targets = Vec::new();
    let events = asks_for_events(case, spec);
    let all = std::iter::once(("subject".to_string(), case.kind.clone()))
        .chain(case.objects.iter().cloned());
    for (name, kind) in all {
        let mut reads = Vec::new();
        let mut planned = Vec::new();
        for obs in spec.observables.iter().filter(|o| events || !o.is_events()) {
            for layer in &spec.layers {
                if let Some(sp) = spec.spelling(obs, &layer.name, &kind) {
                    reads.push(sp.read.clone());
                    planned.push(PlannedRead {
                        observable: obs.name.clone(),
                        layer: layer.name.clone(),
                        read_text: sp.read_text.clone(),
                        feature: sp.feature.clone(),
                        values: sp.values.clone(),
                    });
                }
            }
        }
        targets.push(proto::Target {
            name: name.clone(),
            reads,
        });
        plan_targets.push(PlanTarget {
            name,
            kind,
            reads: planned,
        });
    }
    let mut refs: Vec<String> = Vec::new();
    let mut add = |p: &introspec_spec::Pattern| {
        let mut found = Vec::new();
        p.refs(&mut found);
        for r in found {
            if !refs.iter().any(|x| x == r) {
                refs.push(r.to_string());
            }
        }
    };
    for step in &case.steps {
        for e in step.after.iter().chain(step.inside.iter().flatten()) {
            add(&e.pattern);
        }
        match &step.outcome {
            crate::OutcomeExpect::Returns(p) => add(p),
            crate::OutcomeExpect::Raises { value: Some(p), .. } => add(p),
            _ => {}
        }
    }
    let request = proto::Case {
        id: case.id.clone(),
        origin: format!("{}:{}", case.file.display(), case.line),
        source: case.code.clone(),
        module: None,
        refs: refs.clone(),
        targets,
        steps: case.steps.iter().map(|s| s.op.clone()).collect(),
    };
    (
        request,
        Plan {
            targets: plan_targets,
            refs,
        },
    )
}

/// Whether some expectation of the case (after a step or inside it) names an events observable.
pub fn asks_for_events(case: &Case, spec: &Spec) -> bool {
    case.steps
        .iter()
        .flat_map(|s| s.after.iter().chain(s.inside.iter().flatten()))
        .any(|e| {
            spec.observable(&e.observable)
                .is_some_and(|o| o.is_events())
        })
}

/// Why a case does not apply to a column, or `None` when it does.
pub fn skip_reason(case: &Case, spec: &Spec, column: &Availability) -> Option<String> {
    if let Some(p) = &case.python {
        if !p.contains(&column.language) {
            return Some(format!(
                "needs Python {}, the column is {}",
                p.as_str(),
                column.language.language()
            ));
        }
    }
    let kinds = std::iter::once(&case.kind).chain(case.objects.iter().map(|(_, k)| k));
    for kind in kinds {
        if let Some(k) = spec.kinds.get(kind) {
            if !spec.has_feature(&k.feature, column) {
                return Some(format!(
                    "kind `{kind}` needs feature `{}`, which Python {} lacks",
                    k.feature,
                    column.language.language()
                ));
            }
        }
    }
    for f in &case.features {
        if !spec.has_feature(f, column) {
            return Some(format!("needs feature `{f}`, absent from this column"));
        }
    }
    None
}
