//! `results/index.html`: every run of the store, newest first, coloured by verdict.
//!
//! A run is a directory `<store>/<test>/<timestamp>/`; the `latest` links are skipped, so each
//! run appears once. A run without `results.json` ended before its check: it is listed as
//! crashed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::html::{escape, json_text, page, verdict_class};
use super::{read_json_if_present, write_file, ReportError, Result};

/// One stored run, as the index lists it.
struct StoredRun {
    test: String,
    stamp: String,
    test_json: Option<Json>,
    results: Option<Json>,
    has_index: bool,
}

/// Fields of `test.json` that say nothing about how the test was run.
const NOT_OPTIONS: [&str; 5] = ["name", "nodes", "ssh", "faultline_version", "db_version"];

/// Writes `<store>/index.html`; returns its path.
pub fn write(store: &Path) -> Result<PathBuf> {
    let mut runs = Vec::new();
    for test in subdirs(store)? {
        for run in subdirs(&test)? {
            // A run directory whose JSON cannot be read is still listed (as crashed/unknown)
            // rather than hiding every other run.
            let test_json = read_json_if_present(&run.join("test.json")).ok().flatten();
            let results = read_json_if_present(&run.join("results.json"))
                .ok()
                .flatten();
            if test_json.is_none() && results.is_none() && !run.join("history.jsonl").exists() {
                continue;
            }
            runs.push(StoredRun {
                test: name_of(&test),
                stamp: name_of(&run),
                has_index: run.join("index.html").exists(),
                test_json,
                results,
            });
        }
    }
    runs.sort_by(|a, b| b.stamp.cmp(&a.stamp).then_with(|| a.test.cmp(&b.test)));
    let path = store.join("index.html");
    write_file(&path, &render(&runs))?;
    Ok(path)
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The real subdirectories of `dir` (symbolic links such as `latest` left out), sorted.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| ReportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
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
        "<h1>faultline runs</h1>\n<p>{} run(s), newest first.</p>\n<table>\n<tr><th>verdict</th><th>test</th><th>time</th><th>duration</th><th>ops</th><th>options</th></tr>",
        runs.len()
    );
    for run in runs {
        let class = verdict_class(run.results.as_ref().and_then(|r| r.get("valid")));
        let summary = run.results.as_ref().and_then(|r| r.get("summary"));
        let href = if run.has_index {
            format!("{}/{}/index.html", run.test, run.stamp)
        } else {
            format!("{}/{}/", run.test, run.stamp)
        };
        let duration = summary
            .and_then(|s| s.get("run_seconds"))
            .and_then(Json::as_f64)
            .map_or("-".to_owned(), |s| format!("{s:.1} s"));
        let ops = summary
            .and_then(|s| s.get("ops"))
            .map_or("-".to_owned(), json_text);
        let options = run
            .test_json
            .as_ref()
            .and_then(Json::as_object)
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !NOT_OPTIONS.contains(&k.as_str()))
                    .map(|(k, v)| format!("{k}={}", json_text(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let _ = writeln!(
            body,
            "<tr class=\"{class}\"><td><span class=\"verdict {class}\">{class}</span></td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{duration}</td><td>{}</td><td class=\"mono\">{}</td></tr>",
            escape(&href),
            escape(&run.test),
            escape(&readable_stamp(&run.stamp)),
            escape(&ops),
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
