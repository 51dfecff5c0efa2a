//! `matrix.html`: one self-contained page (no external assets) with the matrix, filters by
//! kind, observable, layer and runtime (also read from the URL at load:
//! `matrix.html#kind=coroutine&layer=proposal&runtime=cpython-3.12.1&ref=yes`), deviation
//! notes on hover and click, and totals that follow the filters.

use std::fmt::Write as _;

use crate::matrix::{note, Cell, CellState, Matrix, Row};
use crate::text::html as esc;

const STYLE: &str = r#"
:root { --pass:#d9f2dc; --pass-ink:#14532d; --partial:#fdf0c4; --partial-ink:#713f12; --fail:#fbd5d5; --fail-ink:#7f1d1d;
        --absent:#eef0f3; --absent-ink:#4b5563; --na:#fafafa; --na-ink:#9ca3af; --line:#d6dae0; --head:#f4f6f8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color:#111827; margin: 0; padding: 20px 24px 40px; background:#fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
p.meta { color:#4b5563; margin: 0 0 12px; }
code { font: 12.5px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
a { color:#1d4ed8; text-decoration: none; } a:hover { text-decoration: underline; }
form#filters { display:flex; flex-wrap:wrap; gap: 10px 18px; align-items:end; padding: 10px 12px; background: var(--head); border:1px solid var(--line); border-radius: 8px; margin: 10px 0 8px; }
form#filters label { display:flex; flex-direction:column; font-size:12px; color:#374151; gap:3px; }
form#filters select { font: inherit; padding: 3px 6px; min-width: 150px; border:1px solid #c3c9d1; border-radius: 5px; background:#fff; }
form#filters button { font: inherit; padding: 4px 12px; border:1px solid #c3c9d1; border-radius:5px; background:#fff; cursor:pointer; }
#shown { font-size: 12px; color:#4b5563; margin: 0 0 8px; }
.legend { display:flex; flex-wrap:wrap; gap: 6px 14px; font-size:12px; color:#374151; margin: 6px 0 10px; }
.legend span.c { display:inline-block; padding: 0 6px; border-radius:4px; margin-right:4px; }
.wrap { overflow:auto; max-height: 78vh; border:1px solid var(--line); border-radius: 8px; }
table#matrix { border-collapse: separate; border-spacing: 0; width: max-content; min-width: 100%; }
#matrix th, #matrix td { border-bottom:1px solid var(--line); border-right:1px solid var(--line); padding: 3px 7px; white-space: nowrap; }
#matrix thead th { position: sticky; top: 0; z-index: 2; background: var(--head); font-weight: 600; vertical-align: bottom; text-align:left; }
#matrix thead th.col { text-align:center; font-size: 12.5px; min-width: 62px; }
#matrix thead th.col .impl { display:block; font-weight: 400; font-size: 11px; color:#4b5563; }
#matrix thead th.col small { display:block; font-weight: 400; color:#6b7280; }
#matrix thead th.col.ref { background:#eaf1fb; }
#matrix tr.section th { background:#fff; text-align:left; font-size: 13px; padding-top: 12px; color:#111827; border-right: none; }
#matrix tr.section th span { color:#6b7280; font-weight:400; margin-left:8px; }
#matrix td.obs { font-weight: 600; }
#matrix td.kind, #matrix td.layer { color:#374151; }
#matrix td.layer.optional { font-style: italic; }
#matrix td.cell { text-align:center; cursor:pointer; font-size: 12.5px; padding: 3px 4px; }
.since { color:#6b7280; font-size: 12px; margin-left: 4px; }
#matrix td.cell.pass { background: var(--pass); color: var(--pass-ink); }
#matrix td.cell.partial { background: var(--partial); color: var(--partial-ink); font-weight:600; }
#matrix td.cell.fail { background: var(--fail); color: var(--fail-ink); font-weight:700; }
#matrix td.cell.absent { background: var(--absent); color: var(--absent-ink); }
#matrix td.cell.na { background: var(--na); color: var(--na-ink); }
#matrix td.cell sup { font-size: 10px; margin-left: 2px; }
#matrix td.cell:hover, #matrix td.cell.selected { outline: 2px solid #1d4ed8; outline-offset: -2px; }
#matrix tfoot th, #matrix tfoot td { background: var(--head); font-size: 12px; }
#matrix tfoot th { text-align:right; font-weight:600; }
#matrix tfoot tr:first-child th, #matrix tfoot tr:first-child td { border-top: 2px solid #9ca3af; }
#matrix tfoot td { text-align:center; }
#matrix tfoot tr.t-pass td { color: var(--pass-ink); } #matrix tfoot tr.t-fail td { color: var(--fail-ink); } #matrix tfoot tr.t-partial td { color: var(--partial-ink); }
#note { position: fixed; right: 18px; bottom: 18px; width: 440px; max-height: 60vh; overflow:auto; background:#fff; border:1px solid #9ca3af; border-radius:10px; box-shadow: 0 8px 28px rgba(0,0,0,.18); padding: 12px 14px; z-index: 5; }
#note h3 { margin: 0 0 6px; font-size: 14px; }
#note button { float:right; border:none; background:none; font-size: 18px; cursor:pointer; line-height:1; }
#note ul { padding-left: 18px; margin: 6px 0; }
ul.plain { padding-left: 20px; }
[hidden] { display: none !important; }
"#;

const SCRIPT: &str = r#"
(function () {
  var table = document.getElementById('matrix');
  var CASES = JSON.parse(document.getElementById('cases').textContent);
  var form = document.getElementById('filters');
  var keys = ['section', 'kind', 'observable', 'layer', 'runtime', 'ref'];
  function params() {
    var raw = location.hash.length > 1 ? location.hash.slice(1) : location.search.slice(1);
    var p = new URLSearchParams(raw), out = {};
    keys.forEach(function (k) { out[k] = p.get(k) || ''; });
    return out;
  }
  function colShown(th, f) {
    if (f.runtime && th.dataset.runtime !== f.runtime && th.dataset.col !== f.runtime) return false;
    if (f.ref === 'yes' && th.dataset.ref !== 'yes') return false;
    if (f.ref === 'no' && th.dataset.ref !== 'no') return false;
    return true;
  }
  function apply(f) {
    keys.forEach(function (k) { var el = form.elements[k]; if (el) el.value = f[k]; });
    var heads = Array.prototype.slice.call(table.querySelectorAll('thead th.col'));
    var showCol = {};
    heads.forEach(function (th) { var s = colShown(th, f); showCol[th.dataset.col] = s; if (s) th.removeAttribute('hidden'); else th.setAttribute('hidden', ''); });
    table.querySelectorAll('[data-col]').forEach(function (el) {
      if (el.tagName === 'TH') return;
      if (showCol[el.dataset.col]) el.removeAttribute('hidden'); else el.setAttribute('hidden', '');
    });
    var rows = table.querySelectorAll('tbody tr.row'), shown = 0, perSection = {};
    var totals = {};
    rows.forEach(function (tr) {
      var ok = ['section', 'kind', 'observable', 'layer'].every(function (k) { return !f[k] || tr.dataset[k] === f[k]; });
      if (ok) { tr.removeAttribute('hidden'); shown++; perSection[tr.dataset.section] = true;
        tr.querySelectorAll('td.cell').forEach(function (td) {
          var t = totals[td.dataset.col] || (totals[td.dataset.col] = {});
          t[td.dataset.state] = (t[td.dataset.state] || 0) + 1;
        });
      } else tr.setAttribute('hidden', '');
    });
    table.querySelectorAll('tbody tr.section').forEach(function (tr) {
      if (perSection[tr.dataset.section]) tr.removeAttribute('hidden'); else tr.setAttribute('hidden', '');
    });
    table.querySelectorAll('tfoot tr[data-state] td[data-col]').forEach(function (td) {
      var t = totals[td.dataset.col] || {};
      td.textContent = String(t[td.parentNode.dataset.state] || 0);
    });
    var cols = heads.filter(function (th) { return showCol[th.dataset.col]; }).length;
    document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' rows, ' + cols + ' of ' + heads.length + ' columns shown';
    document.body.dataset.filtered = keys.some(function (k) { return f[k]; }) ? 'yes' : 'no';
  }
  function fromForm() {
    var f = {};
    keys.forEach(function (k) { var el = form.elements[k]; f[k] = el ? el.value : ''; });
    return f;
  }
  function remember(f) {
    var p = new URLSearchParams();
    keys.forEach(function (k) { if (f[k]) p.set(k, f[k]); });
    try { history.replaceState(null, '', '#' + p.toString()); } catch (e) {}
  }
  form.addEventListener('change', function () { var f = fromForm(); apply(f); remember(f); });
  form.addEventListener('reset', function () { setTimeout(function () { var f = fromForm(); apply(f); remember(f); }, 0); });
  window.addEventListener('hashchange', function () { apply(params()); });
  var note = document.getElementById('note'), selected = null;
  function show(td) {
    if (selected) selected.classList.remove('selected');
    selected = td; td.classList.add('selected');
    var tr = td.parentNode, h = [];
    h.push('<button type="button" aria-label="close">\u00d7</button>');
    h.push('<h3></h3><p class="n"></p>');
    note.innerHTML = h.join('');
    note.querySelector('h3').textContent = tr.dataset.observable + ' \u00b7 ' + tr.dataset.kind + ' \u00b7 ' + tr.dataset.layer + ' \u2014 ' + td.dataset.col;
    note.querySelector('p.n').textContent = (td.getAttribute('title') || '').split('\n')[0];
    var devs = (td.dataset.dev || '').split(' ').filter(Boolean);
    if (devs.length) {
      var ul = document.createElement('ul');
      devs.forEach(function (id) { var src = document.getElementById(id.toLowerCase()); var li = document.createElement('li'); li.innerHTML = src ? src.innerHTML : id; ul.appendChild(li); });
      note.appendChild(ul);
    }
    if (td.dataset.cases) {
      var p = document.createElement('p');
      p.textContent = 'cases: ' + td.dataset.cases.split(' ').map(function (i) { return CASES[+i] || i; }).join(', ');
      note.appendChild(p);
    }
    note.removeAttribute('hidden');
    note.querySelector('button').addEventListener('click', function () { note.setAttribute('hidden', ''); td.classList.remove('selected'); });
  }
  table.addEventListener('click', function (e) { var td = e.target.closest('td.cell'); if (td) show(td); });
  apply(params());
})();
"#;

/// Render the page.
pub fn render(m: &Matrix) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    s.push_str("<title>introspec: compatibility matrix</title>\n<style>");
    s.push_str(STYLE);
    s.push_str("</style>\n</head>\n<body data-filtered=\"no\">\n");
    let _ = writeln!(
        s,
        "<h1>Compatibility matrix: generator, coroutine and async generator introspection</h1>"
    );
    let _ = writeln!(
        s,
        "<p class=\"meta\">Each observable of the <a href=\"https://bugs.python.org/issue31230\">bpo-31230</a> protocol, per naming layer and object kind, on every column. \
         Results {}<code>{}</code> of harness {} at commit <code>{}</code>, spec digest <code>{}</code>.{}</p>",
        m.results_file
            .as_deref()
            .map(|f| format!("<code>{}</code>, ", esc(f)))
            .unwrap_or_default(),
        esc(&m.results_schema),
        esc(&m.harness.version),
        esc(&m.harness.commit),
        esc(&m.harness.spec_digest),
        if m.interrupted { " <strong>The run was interrupted: only the trials finished before are counted.</strong>" } else { "" }
    );
    filters(&mut s, m);
    s.push_str("<div class=\"legend\"><span><span class=\"c\" style=\"background:var(--pass)\">pass</span>every check passed</span>\
<span><span class=\"c\" style=\"background:var(--partial)\">3/5</span>partial: checks passed of all</span>\
<span><span class=\"c\" style=\"background:var(--fail)\">0/4</span>fail: no check passed</span>\
<span><span class=\"c\" style=\"background:var(--absent)\">absent</span>the spelling does not exist there, or nothing observed</span>\
<span><span class=\"c\" style=\"background:var(--na)\">n/a</span>the kind does not exist there</span>\
<span><span class=\"since\">3.11+</span> the spec's first version of the spelling</span>\
<span><sup>D1</sup> a known deviation: hover or click a cell</span></div>\n");
    s.push_str("<p id=\"shown\"></p>\n<div class=\"wrap\">\n<table id=\"matrix\">\n<thead><tr><th>observable</th><th>kind</th><th>layer</th><th>spelling</th>");
    for c in &m.columns {
        let _ = write!(
            s,
            "<th class=\"col{}\" data-col=\"{}\" data-runtime=\"{}\" data-ref=\"{}\" title=\"{} {} ({}), Python {}, read by the {} observer{}{}\">{}<small>{}</small></th>",
            if c.reference { " ref" } else { "" },
            esc(&c.name),
            esc(&c.runtime),
            if c.reference { "yes" } else { "no" },
            esc(&c.implementation),
            esc(&c.implementation_version),
            esc(&c.build),
            esc(&c.version),
            esc(c.observer.name()),
            c.compiler.map_or(String::new(), |compiler| format!(", cases compiled with {compiler}")),
            if c.reference { ", reference implementation loaded" } else { "" },
            header_name(&c.name),
            esc(&c.subtitle()),
        );
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    let width = 4 + m.columns.len();
    for sec in &m.sections {
        let _ = writeln!(
            s,
            "<tr class=\"section\" data-section=\"{}\"><th colspan=\"{width}\">{}<span>{} rows</span></th></tr>",
            esc(&sec.name),
            esc(&sec.name),
            sec.rows.len()
        );
        for r in &sec.rows {
            row(&mut s, m, r);
        }
    }
    s.push_str("</tbody>\n<tfoot>\n");
    for st in CellState::ALL {
        let _ = write!(
            s,
            "<tr class=\"t-{}\" data-state=\"{}\"><th colspan=\"4\">rows {}</th>",
            st.class(),
            st.name(),
            st.name()
        );
        for (i, c) in m.columns.iter().enumerate() {
            let _ = write!(
                s,
                "<td data-col=\"{}\">{}</td>",
                esc(&c.name),
                m.totals[i].rows.get(st.name()).copied().unwrap_or(0)
            );
        }
        s.push_str("</tr>\n");
    }
    let _ = write!(
        s,
        "<tr class=\"t-checks\"><th colspan=\"4\">checks passed / failed / known (all rows)</th>"
    );
    for (i, c) in m.columns.iter().enumerate() {
        let t = &m.totals[i];
        let _ = write!(
            s,
            "<td data-col=\"{}\" class=\"static\">{} / {} / {}</td>",
            esc(&c.name),
            t.checks_pass,
            t.checks_fail,
            t.checks_xfail
        );
    }
    s.push_str("</tr>\n</tfoot>\n</table>\n</div>\n");
    s.push_str("<aside id=\"note\" hidden></aside>\n");
    deviations(&mut s, m);
    not_run(&mut s, m);
    // the case ids cells refer to by index; `<` is escaped so no id can end the script
    let cases = serde_json::to_string(&m.cases)
        .expect("strings serialise")
        .replace('<', "\\u003c");
    let _ = writeln!(
        s,
        "<script type=\"application/json\" id=\"cases\">{cases}</script>"
    );
    s.push_str("<script>");
    s.push_str(SCRIPT);
    s.push_str("</script>\n</body>\n</html>\n");
    s
}

/// A column name in two lines: `cpython` small above `3.12.1+ref`.
fn header_name(name: &str) -> String {
    match name.split_once('-') {
        Some((imp, rest)) => format!("<span class=\"impl\">{}</span>{}", esc(imp), esc(rest)),
        None => esc(name),
    }
}

fn filters(s: &mut String, m: &Matrix) {
    let uniq = |f: &dyn Fn(&Row) -> String| -> Vec<String> {
        let mut seen = Vec::new();
        for r in m.rows() {
            let v = f(r);
            if !seen.contains(&v) {
                seen.push(v);
            }
        }
        seen
    };
    s.push_str("<form id=\"filters\" onsubmit=\"return false\">\n");
    let lists: [(&str, &str, Vec<String>); 4] = [
        (
            "section",
            "section",
            m.sections.iter().map(|x| x.name.clone()).collect(),
        ),
        ("kind", "kind", uniq(&|r| r.kind.clone())),
        ("observable", "observable", uniq(&|r| r.observable.clone())),
        ("layer", "layer", uniq(&|r| r.layer.clone())),
    ];
    for (name, label, values) in lists {
        select(s, name, label, &values);
    }
    let mut runtimes_ordered: Vec<String> = Vec::new();
    for c in &m.columns {
        if !runtimes_ordered.contains(&c.runtime) {
            runtimes_ordered.push(c.runtime.clone());
        }
    }
    select(s, "runtime", "runtime", &runtimes_ordered);
    s.push_str("<label>reference<select name=\"ref\"><option value=\"\">bare and loaded</option><option value=\"no\">bare runtimes only</option><option value=\"yes\">with the reference loaded</option></select></label>\n");
    s.push_str("<button type=\"reset\">clear filters</button>\n</form>\n");
}

fn select(s: &mut String, name: &str, label: &str, values: &[String]) {
    let _ = write!(
        s,
        "<label>{label}<select name=\"{name}\"><option value=\"\">all</option>"
    );
    for v in values {
        let _ = write!(s, "<option value=\"{}\">{}</option>", esc(v), esc(v));
    }
    s.push_str("</select></label>\n");
}

fn row(s: &mut String, m: &Matrix, r: &Row) {
    let _ = write!(
        s,
        "<tr class=\"row\" id=\"{}\" data-section=\"{}\" data-observable=\"{}\" data-kind=\"{}\" data-layer=\"{}\">",
        esc(&r.id),
        esc(&r.section),
        esc(&r.observable),
        esc(&r.kind),
        esc(&r.layer)
    );
    let _ = write!(
        s,
        "<td class=\"obs\" title=\"{}\"><code>{}</code></td>",
        esc(&r.summary),
        esc(&r.observable)
    );
    let _ = write!(s, "<td class=\"kind\">{}</td>", esc(&r.kind));
    let _ = write!(
        s,
        "<td class=\"layer{}\"{}>{}</td>",
        if r.optional { " optional" } else { "" },
        if r.optional {
            " title=\"optional layer: the contested part of the proposal, reported apart\""
        } else {
            ""
        },
        esc(&r.layer)
    );
    let since = match (r.since.as_deref(), r.until.as_deref()) {
        (Some("reference"), _) => "ref only".to_string(),
        (Some(v), Some(u)) => format!("{v}–{u}"),
        (Some(v), None) => format!("{v}+"),
        _ => String::new(),
    };
    let since = if since.is_empty() {
        since
    } else {
        format!(
            "<span class=\"since\" title=\"the spec's first version of this spelling\">{}</span>",
            esc(&since)
        )
    };
    match (&r.spelling, r.source.is_empty()) {
        (Some(sp), false) => {
            let _ = write!(s, "<td class=\"sp\"><a href=\"{}\" title=\"the source of this spelling\"><code>{}</code></a>{}</td>", esc(&r.source), esc(sp), since);
        }
        (Some(sp), true) => {
            let _ = write!(s, "<td class=\"sp\"><code>{}</code>{}</td>", esc(sp), since);
        }
        (None, false) => {
            let _ = write!(
                s,
                "<td class=\"sp\"><a href=\"{}\">source</a></td>",
                esc(&r.source)
            );
        }
        (None, true) => s.push_str("<td class=\"sp\"></td>"),
    }
    for (i, c) in r.cells.iter().enumerate() {
        cell(s, m, r, &m.columns[i].name, c);
    }
    s.push_str("</tr>\n");
}

fn cell(s: &mut String, m: &Matrix, r: &Row, col: &str, c: &Cell) {
    let total = c.pass + c.fail + c.xfail;
    let label = match c.state {
        CellState::Pass => "pass".to_string(),
        CellState::Partial | CellState::Fail => format!("{}/{}", c.pass, total),
        CellState::Absent => "absent".to_string(),
        CellState::NotApplicable => "n/a".to_string(),
    };
    let mut title = format!("{}: {}", c.state.name(), note(r, c));
    for d in c.deviations.iter().take(crate::matrix::SHOWN_DEVIATIONS) {
        if let Some(n) = m.deviation(d) {
            let _ = write!(title, "\n{}: {} ({})", n.id, n.reason, n.link);
        }
    }
    if c.deviations.len() > crate::matrix::SHOWN_DEVIATIONS {
        let more = c.deviations.len() - crate::matrix::SHOWN_DEVIATIONS;
        let _ = write!(
            title,
            "\n… and {more} more known deviations (click the cell)"
        );
    }
    let _ = write!(
        s,
        "<td class=\"cell {}\" data-col=\"{}\" data-state=\"{}\" data-cases=\"{}\"",
        c.state.class(),
        esc(col),
        c.state.name(),
        c.cases
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    if !c.deviations.is_empty() {
        let _ = write!(s, " data-dev=\"{}\"", esc(&c.deviations.join(" ")));
    }
    let _ = write!(s, " title=\"{}\">{}", esc(&title), esc(&label));
    for d in c.deviations.iter().take(crate::matrix::SHOWN_DEVIATIONS) {
        let _ = write!(s, "<sup>{}</sup>", esc(d));
    }
    if c.deviations.len() > crate::matrix::SHOWN_DEVIATIONS {
        let _ = write!(
            s,
            "<sup>+{}</sup>",
            c.deviations.len() - crate::matrix::SHOWN_DEVIATIONS
        );
    }
    s.push_str("</td>");
}

fn deviations(s: &mut String, m: &Matrix) {
    if m.deviations.is_empty() {
        return;
    }
    s.push_str("<h2>Known deviations</h2>\n<ul class=\"plain\" id=\"deviations\">\n");
    for d in &m.deviations {
        let _ = writeln!(
            s,
            "<li id=\"{}\"><strong>{}</strong> {} — <a href=\"{}\">source</a> <small>(recorded in <code>{}</code>)</small></li>",
            esc(&d.id.to_lowercase()),
            esc(&d.id),
            esc(&d.reason),
            esc(&d.link),
            esc(&d.origin)
        );
    }
    s.push_str("</ul>\n");
}

fn not_run(s: &mut String, m: &Matrix) {
    let n = &m.not_run;
    s.push_str("<h2>Runtimes not in the matrix</h2>\n<ul class=\"plain\" id=\"not-run\">\n");
    if n.absent.is_empty() && n.unusable.is_empty() && n.broken.is_empty() {
        s.push_str("<li>None: every runtime the project looks for was found and ran.</li>\n");
    }
    for a in &n.absent {
        let _ = writeln!(
            s,
            "<li><strong>absent</strong> <code>{}</code>: install it with <code>{}</code></li>",
            esc(&a.name),
            esc(&a.install)
        );
    }
    for u in &n.unusable {
        let _ = writeln!(
            s,
            "<li><strong>unusable</strong> <code>{}</code> (found by {}): {}</li>",
            esc(&u.path),
            esc(&u.found_by),
            esc(&u.why)
        );
    }
    for b in &n.broken {
        let _ = writeln!(
            s,
            "<li><strong>broken</strong> <code>{}</code>: its worker could not start: {}</li>",
            esc(&b.column),
            esc(&b.why)
        );
    }
    s.push_str("</ul>\n");
}
