//! Column families and version groups: how the Markdown summary folds the matrix's columns.
//!
//! A family is every column of one implementation with one compiler and the reference
//! implementation loaded or not (`cpython`, `cpython+ref`, `cpython+cython`, …), its
//! columns in version order. A family's cell for a row is the run-length folding of its
//! columns' cells: adjacent versions that show the same text make one group (`3.9–3.13`).

use crate::matrix::MatrixColumn;
use crate::text::natural_key;

/// One family of columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// `cpython`, `cpython+ref`, `cpython+cython`, `cpython+mypyc`, …
    pub name: String,
    /// Indices into the matrix's columns, in version order.
    pub columns: Vec<usize>,
    /// The version label of each of `columns` (`3.12`, or `3.11.2` where two columns share
    /// a minor version).
    pub labels: Vec<String>,
}

impl Family {
    /// The label of the versions `a..=b` of this family (`3.9–3.13`, or `3.12` alone).
    pub fn range(&self, a: usize, b: usize) -> String {
        if a == b {
            self.labels[a].clone()
        } else {
            format!("{}–{}", self.labels[a], self.labels[b])
        }
    }

    /// Every version of the family, as a range of runs of columns present in `member`
    /// (`2.7, 3.9–3.13`); empty when none is.
    pub fn ranges_where(&self, member: impl Fn(usize) -> bool) -> String {
        let marks: Vec<bool> = self.columns.iter().map(|c| member(*c)).collect();
        runs(&marks)
            .into_iter()
            .filter(|(a, _)| marks[*a])
            .map(|(a, b)| self.range(a, b))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The family's cell for one row: `texts[i]` is the cell text of `columns[i]`. One text
    /// when every version shows the same, else `version group: text` lines.
    pub fn cell(&self, texts: &[String]) -> String {
        let groups = runs(texts);
        if groups.len() == 1 {
            return texts[0].clone();
        }
        groups
            .into_iter()
            .map(|(a, b)| format!("{}: {}", self.range(a, b), texts[a]))
            .collect::<Vec<_>>()
            .join("<br>")
    }
}

/// The key that puts columns in one family.
fn family_name(c: &MatrixColumn) -> String {
    let mut name = c.implementation.clone();
    if let Some(compiler) = c.compiler {
        name.push('+');
        name.push_str(compiler.name());
    }
    if c.reference {
        name.push_str("+ref");
    }
    if c.free_threaded {
        name.push_str(" free-threaded");
    }
    if c.debug {
        name.push_str(" debug");
    }
    name
}

/// The families of `columns`: implementations in order of first appearance, then the
/// runtime's own objects before compiled ones, bare before the reference loaded.
pub fn families(columns: &[MatrixColumn]) -> Vec<Family> {
    let mut impls: Vec<&str> = Vec::new();
    for c in columns {
        if !impls.contains(&c.implementation.as_str()) {
            impls.push(&c.implementation);
        }
    }
    let rank = |c: &MatrixColumn| {
        (
            impls.iter().position(|i| *i == c.implementation),
            c.compiler.is_some(),
            c.compiler,
            c.reference,
            c.free_threaded,
            c.debug,
        )
    };
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by(|a, b| {
        (rank(&columns[*a]), natural_key(&columns[*a].version))
            .cmp(&(rank(&columns[*b]), natural_key(&columns[*b].version)))
    });
    let mut out: Vec<Family> = Vec::new();
    for i in order {
        let name = family_name(&columns[i]);
        match out.last_mut() {
            Some(f) if f.name == name => f.columns.push(i),
            _ => out.push(Family {
                name,
                columns: vec![i],
                labels: Vec::new(),
            }),
        }
    }
    for f in &mut out {
        f.labels = labels(columns, &f.columns);
    }
    out
}

/// `3.12` for each column, the full version where two share a minor version, and the
/// observer too where two share the full version.
fn labels(columns: &[MatrixColumn], members: &[usize]) -> Vec<String> {
    let minor = |v: &str| v.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    let count = |f: &dyn Fn(&MatrixColumn) -> String, x: &str| {
        members.iter().filter(|j| f(&columns[**j]) == x).count()
    };
    members
        .iter()
        .map(|i| {
            let c = &columns[*i];
            let short = minor(&c.version);
            if count(&|c| minor(&c.version), &short) == 1 {
                short
            } else if count(&|c| c.version.clone(), &c.version) == 1 {
                c.version.clone()
            } else {
                format!("{} ({})", c.version, c.observer)
            }
        })
        .collect()
}

/// The maximal runs of adjacent equal items, as inclusive index ranges.
pub fn runs<T: PartialEq>(items: &[T]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, x) in items.iter().enumerate() {
        match out.last_mut() {
            Some((a, b)) if items[*a] == *x => *b = i,
            _ => out.push((i, i)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use introspec_results::{Compiler, Observer};

    fn column(
        name: &str,
        version: &str,
        compiler: Option<Compiler>,
        reference: bool,
    ) -> MatrixColumn {
        MatrixColumn {
            name: name.into(),
            runtime: name.split('+').next().unwrap().into(),
            implementation: "cpython".into(),
            implementation_version: version.into(),
            version: version.into(),
            build: String::new(),
            free_threaded: false,
            debug: false,
            observer: Observer::Pyo3,
            compiler,
            compiler_version: None,
            reference,
        }
    }

    #[test]
    fn runs_fold_adjacent_equal_items_only() {
        assert_eq!(runs(&["a", "a", "b", "a"]), [(0, 1), (2, 2), (3, 3)]);
        assert_eq!(runs::<&str>(&[]), []);
    }

    #[test]
    fn families_split_by_compiler_and_reference_in_version_order() {
        let cols = [
            column("cpython-3.10.13", "3.10.13", None, false),
            column("cpython-3.9.18", "3.9.18", None, false),
            column(
                "cpython-3.9.18+cython",
                "3.9.18",
                Some(Compiler::Cython),
                false,
            ),
            column("cpython-3.9.18+ref", "3.9.18", None, true),
            column("cpython-3.11.2", "3.11.2", None, false),
            column("cpython-3.11.7", "3.11.7", None, false),
        ];
        let f = families(&cols);
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["cpython", "cpython+ref", "cpython+cython"]);
        assert_eq!(f[0].columns, [1, 0, 4, 5]);
        assert_eq!(f[0].labels, ["3.9", "3.10", "3.11.2", "3.11.7"]);
        let texts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(f[0].cell(&texts(&["pass"; 4])), "pass");
        assert_eq!(
            f[0].cell(&texts(&["absent", "pass", "pass", "absent"])),
            "3.9: absent<br>3.10–3.11.2: pass<br>3.11.7: absent"
        );
        assert_eq!(f[0].ranges_where(|c| c != 4), "3.9–3.10, 3.11.7");
    }
}
