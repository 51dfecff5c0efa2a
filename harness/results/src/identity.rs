//! What a column is made of, as types: the observer that reads it and the compiler (if any)
//! its cases were compiled with. Their names are the spellings of the results file and of
//! the column names (`RUNTIME+cython`).

use serde::{Deserialize, Serialize};

/// Which observer a worker runs (harness/worker starts it; README, "two observers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Observer {
    /// `harness/observer-pyo3`: Rust through PyO3, one abi3 build for CPython 3.9+.
    Pyo3,
    /// `harness/observer-portable`: one Python file for every interpreter.
    Portable,
}

impl Observer {
    /// Both observers.
    pub const ALL: [Observer; 2] = [Observer::Pyo3, Observer::Portable];

    /// `pyo3` or `portable`, as the results file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Observer::Pyo3 => "pyo3",
            Observer::Portable => "portable",
        }
    }

    /// The observer named `s`, if any.
    pub fn parse(s: &str) -> Option<Observer> {
        Observer::ALL.into_iter().find(|o| o.name() == s)
    }
}

impl std::fmt::Display for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// A compiler of Python to C extension modules (harness/compilers builds with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compiler {
    /// Cython (<https://cython.org>), pure-Python mode.
    Cython,
    /// mypyc (<https://mypyc.readthedocs.io>), from the mypy package.
    Mypyc,
    /// Nuitka (<https://nuitka.net>), with compiled generator, coroutine and async generator
    /// types of its own.
    Nuitka,
}

impl Compiler {
    /// Every compiler, in column order.
    pub const ALL: [Compiler; 3] = [Compiler::Cython, Compiler::Mypyc, Compiler::Nuitka];

    /// The compilers whose columns are made when none is asked for: Nuitka's cold build
    /// costs more than the fresh-machine target leaves (README, Runtimes), so it is opt-in.
    pub const DEFAULT: [Compiler; 2] = [Compiler::Cython, Compiler::Mypyc];

    /// `cython`, `mypyc` or `nuitka`: the column suffix and the `compiler` of deviation
    /// selectors.
    pub fn name(self) -> &'static str {
        match self {
            Compiler::Cython => "cython",
            Compiler::Mypyc => "mypyc",
            Compiler::Nuitka => "nuitka",
        }
    }

    /// The compiler named `s`, if any.
    pub fn parse(s: &str) -> Option<Compiler> {
        Compiler::ALL.into_iter().find(|c| c.name() == s)
    }

    /// The exception type a case this compiler rejected is recorded with (`cythonError`):
    /// the case stops in its `compile` phase with the compiler's message.
    pub fn rejection_type(self) -> &'static str {
        match self {
            Compiler::Cython => "cythonError",
            Compiler::Mypyc => "mypycError",
            Compiler::Nuitka => "nuitkaError",
        }
    }

    /// What a deviation selector's `compiler` calls the compiler of a column:
    /// `cpython` for the runtime's own objects (cases/README.md), else the compiler's name.
    pub fn selector_name(compiler: Option<Compiler>) -> &'static str {
        compiler.map_or(NOT_COMPILED, Compiler::name)
    }
}

impl std::fmt::Display for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// How the results file (`introspec-results/1`) and deviation selectors spell a column
/// whose cases are not compiled: the runtime's own objects.
pub const NOT_COMPILED: &str = "cpython";

/// serde for a column's `compiler`: `cpython` in the results file is `None`.
pub mod compiled_with {
    use super::{Compiler, NOT_COMPILED};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(c: &Option<Compiler>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(Compiler::selector_name(*c))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Compiler>, D::Error> {
        let name = String::deserialize(d)?;
        if name == NOT_COMPILED {
            return Ok(None);
        }
        Compiler::parse(&name).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown compiler `{name}`: expected `{NOT_COMPILED}` (not compiled), `cython` or `mypyc`"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Col {
        observer: Observer,
        #[serde(with = "compiled_with")]
        compiler: Option<Compiler>,
    }

    #[test]
    fn identities_keep_the_spellings_of_the_results_file() {
        for (col, text) in [
            (
                Col {
                    observer: Observer::Pyo3,
                    compiler: None,
                },
                r#"{"observer":"pyo3","compiler":"cpython"}"#,
            ),
            (
                Col {
                    observer: Observer::Portable,
                    compiler: Some(Compiler::Cython),
                },
                r#"{"observer":"portable","compiler":"cython"}"#,
            ),
            (
                Col {
                    observer: Observer::Pyo3,
                    compiler: Some(Compiler::Mypyc),
                },
                r#"{"observer":"pyo3","compiler":"mypyc"}"#,
            ),
            (
                Col {
                    observer: Observer::Portable,
                    compiler: Some(Compiler::Nuitka),
                },
                r#"{"observer":"portable","compiler":"nuitka"}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&col).unwrap(), text);
            assert_eq!(serde_json::from_str::<Col>(text).unwrap(), col);
        }
        let e = serde_json::from_str::<Col>(r#"{"observer":"pyo3","compiler":"numba"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown compiler `numba`"), "{e}");
        assert!(
            serde_json::from_str::<Col>(r#"{"observer":"rust","compiler":"cpython"}"#).is_err()
        );
        assert_eq!(Compiler::Cython.rejection_type(), "cythonError");
        assert_eq!(Compiler::Nuitka.rejection_type(), "nuitkaError");
        assert_eq!(format!("{:<9}|", Observer::Pyo3), "pyo3     |");
    }
}
