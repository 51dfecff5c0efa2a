//! The known deviations as the Markdown shows them: one entry per distinct reason and
//! source, however many places record it. The matrix's own ids (`D1`, `D2`, … as in
//! matrix.html and matrix.json) all keep an anchor; an entry is named by its first id.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::groups::Family;
use crate::matrix::Matrix;
use crate::text::md;

/// One distinct deviation: every note of the matrix with this reason and link.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The matrix ids of its notes, in the matrix's order; the first names the entry.
    pub ids: Vec<String>,
    pub reason: String,
    pub link: String,
    /// `(id, where recorded)`, in the matrix's order.
    pub origins: Vec<(String, String)>,
}

/// The deviation entries of a matrix and, for each matrix id, its entry.
#[derive(Debug, Clone)]
pub struct Notes {
    pub entries: Vec<Entry>,
    entry_of: BTreeMap<String, usize>,
}

impl Notes {
    pub fn new(m: &Matrix) -> Notes {
        let mut entries: Vec<Entry> = Vec::new();
        let mut entry_of = BTreeMap::new();
        for d in &m.deviations {
            let i = match entries
                .iter()
                .position(|e| e.reason == d.reason && e.link == d.link)
            {
                Some(i) => i,
                None => {
                    entries.push(Entry {
                        ids: Vec::new(),
                        reason: d.reason.clone(),
                        link: d.link.clone(),
                        origins: Vec::new(),
                    });
                    entries.len() - 1
                }
            };
            entries[i].ids.push(d.id.clone());
            entries[i].origins.push((d.id.clone(), d.origin.clone()));
            entry_of.insert(d.id.clone(), i);
        }
        Notes { entries, entry_of }
    }

    /// The name of the entry holding matrix id `id` (the id itself if it is unknown).
    pub fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.entry_of
            .get(id)
            .map_or(id, |i| self.entries[*i].ids[0].as_str())
    }
}

/// The anchor of a deviation id.
pub fn anchor(id: &str) -> String {
    id.to_lowercase()
}

/// `` `cases/deviations/cython.toml` lines 80 (D1), 88 (D2)``: origins folded by file.
fn recorded_in(origins: &[(String, String)]) -> String {
    let mut by_file: Vec<(&str, Vec<String>, bool)> = Vec::new();
    for (id, origin) in origins {
        let (file, line, numbered) = match origin.rsplit_once(':') {
            Some((f, l)) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
                (f, format!("{l} ({id})"), true)
            }
            _ => (origin.as_str(), format!("({id})"), false),
        };
        match by_file.iter_mut().find(|(f, _, _)| *f == file) {
            Some((_, v, n)) => {
                v.push(line);
                *n |= numbered;
            }
            None => by_file.push((file, vec![line], numbered)),
        }
    }
    by_file
        .into_iter()
        .map(|(f, lines, numbered)| {
            let word = match (numbered, lines.len()) {
                (false, _) => "",
                (true, 1) => "line ",
                (true, _) => "lines ",
            };
            format!("`{f}` {word}{}", lines.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The file of every deviation entry; `back` links to the index.
pub fn render(m: &Matrix, notes: &Notes, families: &[Family], back: &str) -> String {
    // the columns each matrix id applies in, from one pass over the cells
    let mut cols_of: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for r in m.rows() {
        for (i, c) in r.cells.iter().enumerate() {
            for d in &c.deviations {
                cols_of.entry(d.as_str()).or_default().insert(i);
            }
        }
    }
    let mut s = String::new();
    let _ = writeln!(s, "# Known deviations\n");
    let _ = writeln!(
        s,
        "[← the matrix]({back}) · {} distinct deviations behind {} notes of matrix.html and matrix.json \
         (commit `{}`, spec digest `{}`). Each is listed once, with every place that records it; the ids \
         of all its notes link here.\n",
        notes.entries.len(),
        m.deviations.len(),
        m.harness.commit,
        m.harness.spec_digest
    );
    for e in &notes.entries {
        let anchors: String = e
            .ids
            .iter()
            .map(|id| format!("<a id=\"{}\"></a>", anchor(id)))
            .collect();
        let cols: BTreeSet<usize> = e
            .ids
            .iter()
            .filter_map(|id| cols_of.get(id.as_str()))
            .flatten()
            .copied()
            .collect();
        let applies: Vec<String> = families
            .iter()
            .filter_map(|f| {
                let r = f.ranges_where(|c| cols.contains(&c));
                (!r.is_empty()).then(|| format!("{} {r}", f.name))
            })
            .collect();
        let _ = writeln!(
            s,
            "- {anchors}**{}** {} — [source]({}) · recorded in {} · applies in: {}",
            e.ids[0],
            md(&e.reason),
            e.link,
            recorded_in(&e.origins),
            if applies.is_empty() {
                "no cell".to_string()
            } else {
                applies.join("; ")
            }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_fold_by_file() {
        let o = |id: &str, origin: &str| (id.to_string(), origin.to_string());
        assert_eq!(
            recorded_in(&[
                o("D1", "cases/deviations/cython.toml:80"),
                o("D2", "cases/deviations/cython.toml:88"),
                o("D7", "cases/generator/x.toml:3"),
                o("D9", "elsewhere"),
            ]),
            "`cases/deviations/cython.toml` lines 80 (D1), 88 (D2); \
             `cases/generator/x.toml` line 3 (D7); `elsewhere` (D9)"
        );
    }
}
