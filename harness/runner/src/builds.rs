//! A compiled column's build, prepared on its first use: the runtime that builds it, the
//! build itself (harness/compilers), each case's request naming its compiled module.

use super::*;

impl<'p> Session<'p> {
    /// A compiled column's build: made (or found in the cache) on first use, with every case
    /// that applies to the column. A column that cannot be built is broken, with the reason.
    pub(crate) fn prepare(
        &self,
        slot: &mut Slot,
        column: usize,
    ) -> Result<Option<Arc<ColumnBuild>>, Verdict> {
        let col = &self.columns[column];
        let Some(compiler) = col.compiler else {
            return Ok(None);
        };
        if let Some(why) = &slot.broken {
            return Err(cannot_run(&col.name, why));
        }
        if let Some(b) = &slot.build {
            return Ok(Some(b.clone()));
        }
        let cases: Vec<usize> = (0..self.compiled.len())
            .filter(|c| self.skip_reason(*c, column).is_none())
            .collect();
        let sources: Vec<introspec_compilers::Source> = cases
            .iter()
            .map(|c| introspec_compilers::Source {
                id: self.compiled[*c].request.id.clone(),
                code: self.compiled[*c].request.source.clone(),
            })
            .collect();
        match introspec_compilers::build(
            &self.project.settings.build,
            &self.project.cache,
            self.builder_of(column),
            compiler,
            &sources,
            &*self.on_build,
        ) {
            Ok(build) => {
                let lines = cases
                    .iter()
                    .map(|c| {
                        let request = &self.compiled[*c].request;
                        let line = build.module(&request.id).map(|m| {
                            let mut r = request.clone();
                            r.module = Some(m.to_string());
                            proto::encode(&proto::Request::Run(r))
                        });
                        (*c, line)
                    })
                    .collect();
                let b = Arc::new(ColumnBuild {
                    load: LoadRequest {
                        module: introspec_compilers::FINDER_MODULE.into(),
                        path: Some(build.dir.display().to_string()),
                        call: Some("install".into()),
                    },
                    lines,
                    build,
                });
                slot.build = Some(b.clone());
                Ok(Some(b))
            }
            Err(e) => {
                let why = format!("the cases cannot be compiled with {}: {e}", compiler.name());
                slot.broken = Some(why.clone());
                Err(cannot_run(&col.name, &why))
            }
        }
    }

    /// The runtime that builds a compiled column's modules: one build per feature release
    /// serves each of its patch releases found, for the compilers whose modules keep to the
    /// stable ABI ([`introspec_compilers::builder`]).
    pub(crate) fn builder_of(&self, column: usize) -> &introspec_runtimes::Runtime {
        let col = &self.columns[column];
        match col.compiler {
            Some(compiler) => introspec_compilers::builder(
                compiler,
                &col.runtime,
                self.columns.iter().map(|c| &c.runtime),
            ),
            None => &col.runtime,
        }
    }

    /// A compiled column's build, if it was made (for reports: the compiler release, the
    /// directory, each case's module or compile error).
    pub fn build_of(&self, column: usize) -> Option<Arc<ColumnBuild>> {
        self.slots[column].lock().unwrap().build.clone()
    }

    /// The request line of a case on a column: the shared one, or for a compiled column the
    /// one naming the case's compiled module; `Err` with the compiler's message when the case
    /// could not be compiled.
    pub(crate) fn line_for<'a>(
        &'a self,
        case: usize,
        build: Option<&'a ColumnBuild>,
    ) -> Result<&'a str, (Compiler, String)> {
        match build {
            None => Ok(&self.compiled[case].line),
            Some(b) => match b.lines.get(&case) {
                Some(Ok(line)) => Ok(line),
                Some(Err(e)) => Err((b.build.compiler, e.clone())),
                None => Err((
                    b.build.compiler,
                    format!(
                        "case `{}` was not part of the column's build",
                        self.compiled[case].request.id
                    ),
                )),
            },
        }
    }

    /// The trial of a case its column's compiler rejected: judged as a case that stopped in
    /// its compile phase, so a known deviation (`observable = "error"`) makes it XFAIL.
    pub(crate) fn not_compiled(
        &self,
        case: usize,
        column: usize,
        (compiler, why): (Compiler, String),
        start: Instant,
    ) -> TrialOutput {
        let result = CaseResult {
            id: self.compiled[case].request.id.clone(),
            error: Some(proto::CaseError {
                phase: "compile".into(),
                type_name: compiler.rejection_type().into(),
                msg: why,
                line: None,
            }),
            steps: vec![],
            left: vec![],
            pid: None,
        };
        self.judge_outcome(case, column, RunOutcome::Done(result), start.elapsed())
    }
}
