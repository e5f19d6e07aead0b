//! `results/index.html`: every run of the store, newest first, coloured by verdict, in pages
//! of [`PAGE_SIZE`] runs (`index.html`, `index-2.html`, ...), so that a store that grows every
//! night still opens at once: the first page of a store of 10 000 runs is as small as that of
//! one of 200. The first page also links to the newest test matrices.
//!
//! A run is a directory `<store>/<test>/<timestamp>/`; the `latest` links are skipped, so each
//! run appears once. A run without `results.json` ended before its check: it is listed as
//! crashed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::html::{escape, verdict_class};
use super::{write_file, ReportError, Result};
use crate::store::matrix::{matrices, CellRecord, Outcome, MATRICES};
use crate::store::{self, RunRecords};

/// Runs per page of the index.
pub const PAGE_SIZE: usize = 200;

/// Matrices listed on the first page.
const MATRICES_SHOWN: usize = 5;

/// One stored run, as the index lists it.
struct StoredRun {
    test: String,
    stamp: String,
    records: RunRecords,
    has_index: bool,
}

/// Writes `<store>/index.html` and its further pages; returns the first page's path.
pub fn write(store: &Path) -> Result<PathBuf> {
    let mut runs = Vec::new();
    let dirs = store::run_dirs(store).map_err(|source| ReportError::Io {
        path: store.to_owned(),
        source,
    })?;
    for run in dirs {
        // A run directory whose records cannot be read is still listed (as crashed) rather
        // than hiding every other run.
        let records = run.records();
        if records.test.is_none() && records.results.is_none() && !run.history().exists() {
            continue;
        }
        runs.push(StoredRun {
            test: name_of(run.path.parent().unwrap_or(&run.path)),
            stamp: name_of(&run.path),
            has_index: run.file(store::INDEX).exists(),
            records,
        });
    }
    runs.sort_by(|a, b| b.stamp.cmp(&a.stamp).then_with(|| a.test.cmp(&b.test)));
    let pages = runs.len().div_ceil(PAGE_SIZE).max(1);
    let counts = Counts::of(&runs);
    let matrices = matrices_html(store);
    for page in 1..=pages {
        let chunk =
            &runs[((page - 1) * PAGE_SIZE).min(runs.len())..(page * PAGE_SIZE).min(runs.len())];
        let extra = if page == 1 { matrices.as_str() } else { "" };
        write_file(
            &store.join(page_name(page)),
            &render(chunk, page, pages, runs.len(), &counts, extra),
        )?;
    }
    remove_stale_pages(store, pages);
    Ok(store.join(store::INDEX))
}

/// `index.html` for the first page, `index-N.html` for the others.
pub fn page_name(page: usize) -> String {
    if page <= 1 {
        store::INDEX.to_string()
    } else {
        format!("index-{page}.html")
    }
}

/// Pages left from a time the store had more runs (before `faultline gc`).
fn remove_stale_pages(store: &Path, pages: usize) {
    let Ok(entries) = std::fs::read_dir(store) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let number = name
            .strip_prefix("index-")
            .and_then(|n| n.strip_suffix(".html"))
            .and_then(|n| n.parse::<usize>().ok());
        if number.is_some_and(|n| n > pages) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// How many runs of each verdict the whole store holds.
#[derive(Default)]
struct Counts {
    valid: usize,
    invalid: usize,
    unknown: usize,
    crashed: usize,
}

impl Counts {
    fn of(runs: &[StoredRun]) -> Counts {
        let mut c = Counts::default();
        for run in runs {
            match verdict_class(run.records.results.as_ref().map(|r| r.valid)) {
                "valid" => c.valid += 1,
                "invalid" => c.invalid += 1,
                "unknown" => c.unknown += 1,
                _ => c.crashed += 1,
            }
        }
        c
    }
}

/// The newest matrices, for the first page.
fn matrices_html(store: &Path) -> String {
    let mut all = matrices(store);
    if all.is_empty() {
        return String::new();
    }
    all.reverse();
    let mut out = String::from("<h2>Test matrices</h2>\n<p>");
    for (dir, m) in all.iter().take(MATRICES_SHOWN) {
        let class = match Outcome::worst(m.cells.iter().filter_map(CellRecord::outcome)) {
            Some(Outcome::Error) | None => "crashed",
            Some(o) => o.word(),
        };
        let regressions = m.regressions().len();
        let _ = write!(
            out,
            "<a href=\"{MATRICES}/{0}/index.html\"><span class=\"verdict {class}\">{1}</span></a>{2} ",
            escape(&dir.stamp),
            escape(&readable_stamp(&dir.stamp)),
            if regressions > 0 {
                format!(" <b>{regressions} regression(s)</b>")
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(
        out,
        "</p>\n<p><a href=\"{MATRICES}/index.html\">all {} matrices</a></p>",
        all.len()
    );
    out
}

/// Links to the other pages: first, previous, a window of numbers, next, last.
fn pager(page: usize, pages: usize) -> String {
    if pages <= 1 {
        return String::new();
    }
    let mut out = String::from("<p class=\"nav pager\">");
    let link = |out: &mut String, p: usize, text: &str| {
        if p == page {
            let _ = write!(out, "<b>{text}</b> ");
        } else {
            let _ = write!(out, "<a href=\"{}\">{text}</a> ", page_name(p));
        }
    };
    link(&mut out, 1, "first");
    if page > 1 {
        link(&mut out, page - 1, "previous");
    }
    let from = page.saturating_sub(5).max(1);
    let to = (page + 5).min(pages);
    for p in from..=to {
        link(&mut out, p, &p.to_string());
    }
    if page < pages {
        link(&mut out, page + 1, "next");
    }
    link(&mut out, pages, "last");
    out.push_str("</p>\n");
    out
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `20261126T014826.040Z` as `2026-11-26 01:48:26.040Z`; anything else as it is.
pub fn readable_stamp(stamp: &str) -> String {
    let b = stamp.as_bytes();
    if stamp.len() >= 15 && stamp.is_ascii() && b[8] == b'T' {
        format!(
            "{}-{}-{} {}:{}:{}{}",
            &stamp[0..4],
            &stamp[4..6],
            &stamp[6..8],
            &stamp[9..11],
            &stamp[11..13],
            &stamp[13..15],
            &stamp[15..]
        )
    } else {
        stamp.to_owned()
    }
}

fn render(
    runs: &[StoredRun],
    page: usize,
    pages: usize,
    total: usize,
    counts: &Counts,
    extra: &str,
) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1>faultline runs</h1>\n<p>{total} run(s), newest first: {} valid, {} invalid, {} unknown, {} crashed. Page {page} of {pages}.</p>",
        counts.valid, counts.invalid, counts.unknown, counts.crashed
    );
    body.push_str(extra);
    let nav = pager(page, pages);
    body.push_str(&nav);
    body.push_str("<table>\n<tr><th>verdict</th><th>test</th><th>time</th><th>duration</th><th>ops</th><th>anomalies</th><th>options</th></tr>\n");
    for run in runs {
        let results = run.records.results.as_ref();
        let class = verdict_class(results.map(|r| r.valid));
        let href = if run.has_index {
            format!("{}/{}/index.html", run.test, run.stamp)
        } else {
            format!("{}/{}/", run.test, run.stamp)
        };
        let duration = results.map_or("-".to_owned(), |r| {
            format!("{:.1} s", r.summary.run_seconds)
        });
        let ops = results.map_or("-".to_owned(), |r| r.summary.ops.to_string());
        let anomalies = results
            .map(|r| {
                let mut kinds: Vec<&str> =
                    r.checks.iter().flat_map(|c| c.anomaly_kinds()).collect();
                kinds.dedup();
                kinds.join(", ")
            })
            .unwrap_or_default();
        let options = run
            .records
            .test
            .as_ref()
            .map(|t| {
                format!(
                    "nemesis={} targets={} interval={}s time={}s concurrency={} rate={} seed={}",
                    t.nemesis.join(","),
                    t.nemesis_targets,
                    t.nemesis_interval_s,
                    t.time_limit_s,
                    t.concurrency,
                    t.rate,
                    t.seed
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            body,
            "<tr class=\"{class}\"><td><span class=\"verdict {class}\">{class}</span></td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{duration}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            escape(&href),
            escape(&run.test),
            escape(&readable_stamp(&run.stamp)),
            escape(&ops),
            escape(&anomalies),
            escape(&options)
        );
    }
    body.push_str("</table>\n");
    body.push_str(&nav);
    let title = if page == 1 {
        "faultline runs".to_string()
    } else {
        format!("faultline runs, page {page}")
    };
    super::html::page(&title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_stamps_read_as_dates() {
        assert_eq!(
            readable_stamp("20261126T014826.040Z"),
            "2026-11-26 01:48:26.040Z"
        );
        assert_eq!(readable_stamp("odd"), "odd");
    }
}
