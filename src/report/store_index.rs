//! `results/index.html`: every run of the store, newest first, coloured by verdict.
//!
//! A run is a directory `<store>/<test>/<timestamp>/`; the `latest` links are skipped, so each
//! run appears once. A run without `results.json` ended before its check: it is listed as
//! crashed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::html::{escape, page, verdict_class};
use super::{write_file, ReportError, Result};
use crate::store::{self, RunRecords};

/// One stored run, as the index lists it.
struct StoredRun {
    test: String,
    stamp: String,
    records: RunRecords,
    has_index: bool,
}

/// Writes `<store>/index.html`; returns its path.
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
    let path = store.join(store::INDEX);
    write_file(&path, &render(&runs))?;
    Ok(path)
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `20261126T014826.040Z` as `2026-11-26 01:48:26.040Z`; anything else as it is.
fn readable_stamp(stamp: &str) -> String {
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

fn render(runs: &[StoredRun]) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<h1>faultline runs</h1>\n<p>{} run(s), newest first.</p>\n<table>\n<tr><th>verdict</th><th>test</th><th>time</th><th>duration</th><th>ops</th><th>anomalies</th><th>options</th></tr>",
        runs.len()
    );
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
    page("faultline runs", &body)
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
