//! The page of a test matrix (`matrices/<stamp>/index.html`): a row per datastore/workload, a
//! column per nemesis, each cell coloured by the worst outcome of its runs and linking to them,
//! with what changed since the same cell of the matrix before: a regression (valid yesterday,
//! invalid today; p99 twice as slow; a new kind of anomaly) is marked in the cell and listed at
//! the top. Also `matrices/index.html`, every matrix of the store, newest first.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::html::{escape, page};
use super::{write_file, Result};
use crate::store::matrix::{compare_file, COMPARE};
use crate::store::matrix::{matrices, CellRecord, MatrixDir, MatrixRecord, Outcome, MATRICES};
use crate::store::INDEX;

/// Extra CSS of the matrix pages.
const STYLE: &str = "<style>
table.matrix td { min-width: 12em; }
td.cell { color: #fff; }
td.cell a { color: #fff; }
td.cell.valid { background: #2e7d32; } td.cell.invalid { background: #c62828; }
td.cell.unknown { background: #ef8f00; } td.cell.error { background: #555; }
td.cell.skipped { background: #eee; color: #666; }
.outcome { font-weight: bold; font-size: 1.1em; }
.regression { display: inline-block; background: #fff; color: #c62828; font-weight: bold;
  border-radius: 0.3em; padding: 0 0.4em; margin-top: 0.3em; }
.improvement { display: inline-block; background: #fff; color: #2e7d32; border-radius: 0.3em;
  padding: 0 0.4em; margin-top: 0.3em; }
.small { font-size: 0.85em; }
ul.regressions li { color: #c62828; font-weight: bold; }
</style>
";

/// Writes the matrix's page and the list of matrices; returns the matrix page's path.
pub fn write(store: &Path, dir: &MatrixDir, record: &MatrixRecord) -> Result<PathBuf> {
    let path = dir.file(INDEX);
    write_file(&path, &render(store, record))?;
    write_list(store)?;
    Ok(path)
}

/// Rewrites every matrix's page (after `gc`, whose pruned runs they then show as pruned).
pub fn rewrite_all(store: &Path) -> Result<()> {
    for (dir, record) in matrices(store) {
        write_file(&dir.file(INDEX), &render(store, &record))?;
    }
    write_list(store)
}

fn render(store: &Path, m: &MatrixRecord) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p class=\"nav\"><a href=\"../../index.html\">all runs</a><a href=\"../index.html\">all matrices</a></p>"
    );
    let worst = Outcome::worst(m.cells.iter().filter_map(CellRecord::outcome));
    let class = worst.map_or("error", Outcome::word);
    let _ = writeln!(
        body,
        "<h1>faultline matrix {}</h1>\n<p><span class=\"verdict {class}\">{}</span> exit code {}; {} cell(s) x {} run(s) in {:.0} s; seed {}{}</p>",
        escape(&readable(&m.stamp)),
        escape(worst.map_or("no run", Outcome::word)),
        m.exit_code,
        m.cells.iter().filter(|c| c.skipped.is_none()).count(),
        m.runs_per_cell,
        m.seconds,
        m.seed,
        if m.interrupted { "; <b>interrupted</b>" } else { "" }
    );
    let previous: Vec<&str> = m
        .cells
        .iter()
        .filter_map(|c| c.previous.as_ref().map(|p| p.matrix.as_str()))
        .collect();
    let regressions = m.regressions();
    if previous.is_empty() {
        body.push_str("<p>No earlier matrix ran these cells: nothing to compare with.</p>\n");
    } else if regressions.is_empty() {
        let _ = writeln!(
            body,
            "<p>No regression against the previous matrix (<a href=\"../{0}/index.html\">{0}</a>).</p>",
            escape(previous[0])
        );
    } else {
        let _ = writeln!(
            body,
            "<h2>Regressions against the previous matrix</h2>\n<ul class=\"regressions\">"
        );
        for r in &regressions {
            let _ = writeln!(body, "<li>{}</li>", escape(r));
        }
        body.push_str("</ul>\n");
    }
    body.push_str("<table class=\"matrix\">\n<tr><th>db / workload</th>");
    for n in &m.nemeses {
        let _ = write!(body, "<th>{}</th>", escape(n));
    }
    body.push_str("</tr>\n");
    for db in &m.dbs {
        for w in &m.workloads {
            let _ = write!(body, "<tr><th>{} / {}</th>", escape(db), escape(w));
            for n in &m.nemeses {
                match m.cell(db, w, n) {
                    Some(cell) => cell_html(&mut body, store, cell, m),
                    None => body.push_str("<td class=\"cell skipped\">not run</td>"),
                }
            }
            body.push_str("</tr>\n");
        }
    }
    body.push_str("</table>\n");
    body.push_str(
        "<p class=\"legend small\"><span><span class=\"swatch valid\"></span>valid</span>\
         <span><span class=\"swatch unknown\"></span>unknown</span>\
         <span><span class=\"swatch invalid\"></span>invalid</span>\
         <span><span class=\"swatch crashed\"></span>error: no verdict, or faults left unhealed</span>\
         A cell shows the worst of its runs.</p>\n",
    );
    let _ = writeln!(
        body,
        "<p class=\"small mono\">options of every cell: {}</p>\n<p class=\"small\"><a href=\"matrix.json\">matrix.json</a> <a href=\"junit.xml\">junit.xml</a></p>",
        escape(&m.test_options.join(" "))
    );
    page(
        &format!("faultline matrix {}", m.stamp),
        &format!("{STYLE}{body}"),
    )
}

fn cell_html(body: &mut String, store: &Path, cell: &CellRecord, m: &MatrixRecord) {
    if let Some(why) = &cell.skipped {
        let _ = write!(
            body,
            "<td class=\"cell skipped small\">{}</td>",
            escape(why)
        );
        return;
    }
    let Some(outcome) = cell.outcome() else {
        body.push_str("<td class=\"cell skipped\">not run</td>");
        return;
    };
    let _ = write!(
        body,
        "<td class=\"cell {0}\"><span class=\"outcome\">{0}</span>",
        outcome.word()
    );
    if let Some(p99) = cell.p99_ms() {
        let _ = write!(body, " <span class=\"small\">p99 {p99:.1} ms</span>");
    }
    body.push_str("<br/><span class=\"small\">");
    for (i, run) in cell.runs.iter().enumerate() {
        let label = format!("run {} {}", i + 1, run.outcome().word());
        match &run.run {
            Some(r) if store.join(r).is_dir() => {
                let _ = write!(
                    body,
                    "<a href=\"../../{}/index.html\">{}</a> ",
                    escape(r),
                    escape(&label)
                );
            }
            Some(_) => {
                let _ = write!(body, "{} (pruned) ", escape(&label));
            }
            None => {
                let _ = write!(body, "{} (exit {}) ", escape(&label), run.exit_code);
            }
        }
    }
    body.push_str("</span>");
    if let Some(p) = &cell.previous {
        let link = if store
            .join(MATRICES)
            .join(&m.stamp)
            .join(COMPARE)
            .join(compare_file(cell))
            .exists()
        {
            format!(
                " <a class=\"small\" href=\"{COMPARE}/{}\">compare</a>",
                escape(&compare_file(cell))
            )
        } else {
            String::new()
        };
        for r in &p.regressions {
            let _ = write!(
                body,
                "<br/><span class=\"regression\">&#9660; {}</span>",
                escape(r)
            );
        }
        for r in &p.improvements {
            let _ = write!(
                body,
                "<br/><span class=\"improvement\">&#9650; {}</span>",
                escape(r)
            );
        }
        let _ = write!(
            body,
            "<br/><span class=\"small\">before: {}{link}</span>",
            escape(p.outcome.map_or("-", Outcome::word))
        );
    }
    body.push_str("</td>");
}

/// `matrices/index.html`: every matrix, newest first.
fn write_list(store: &Path) -> Result<()> {
    let mut all = matrices(store);
    all.reverse();
    let mut body = String::from(
        "<p class=\"nav\"><a href=\"../index.html\">all runs</a></p>\n<h1>faultline matrices</h1>\n<table>\n<tr><th>outcome</th><th>matrix</th><th>cells</th><th>regressions</th><th>duration</th></tr>\n",
    );
    for (dir, m) in &all {
        let worst = Outcome::worst(m.cells.iter().filter_map(CellRecord::outcome));
        let class = match worst {
            Some(Outcome::Error) | None => "crashed",
            Some(o) => o.word(),
        };
        let _ = writeln!(
            body,
            "<tr class=\"{class}\"><td><span class=\"verdict {class}\">{}</span></td><td><a href=\"{}/index.html\">{}</a></td><td>{}</td><td>{}</td><td>{:.0} s</td></tr>",
            escape(worst.map_or("no run", Outcome::word)),
            escape(&dir.stamp),
            escape(&readable(&dir.stamp)),
            m.cells.len(),
            m.regressions().len(),
            m.seconds
        );
    }
    body.push_str("</table>\n");
    let folder = store.join(MATRICES);
    std::fs::create_dir_all(&folder).map_err(|source| super::ReportError::Io {
        path: folder.clone(),
        source,
    })?;
    write_file(&folder.join(INDEX), &page("faultline matrices", &body))
}

fn readable(stamp: &str) -> String {
    super::store_index::readable_stamp(stamp)
}
