//! The pages of the checkers that judge a number over time: the bank's total (`bank.html`,
//! Jepsen's bank plot: every read's total, the expected total dashed) and the counter's reads
//! within their bounds (`counter.html`). Drawn from the verdict's `detail`, with the faults
//! from the history; a page is written whenever the checker ran, valid or not, since a flat
//! line through every fault is the evidence a valid run gives.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use faultline_checkers::history::History;
use faultline_checkers::{bank, counter, Verdict};

use super::html::{escape, page};
use super::nemesis_windows::fault_windows;
use super::value_plot::{self, Point};
use super::{write_file, ReportError, Result};

/// The checkers drawn here.
pub const CHECKERS: &[&str] = &[bank::CHECKER, counter::CHECKER];

/// Writes the page of `verdict` (bank or counter) into `anomalies/`; returns (name, page).
pub fn write(
    run_dir: &Path,
    history: &History,
    verdict: &Verdict,
) -> Result<Vec<(String, PathBuf)>> {
    let (points, expected, y_label) = match verdict.checker.as_str() {
        c if c == bank::CHECKER => bank_points(verdict),
        c if c == counter::CHECKER => counter_points(verdict),
        _ => return Ok(Vec::new()),
    };
    if points.is_empty() {
        return Ok(Vec::new());
    }
    let dir = run_dir.join("anomalies");
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p class=\"nav\"><a href=\"../index.html\">run summary</a><a href=\"../timeline.html\">timeline</a></p>\n<h1>The {}: {}</h1>\n<p>{}</p>",
        escape(&verdict.checker),
        verdict.valid,
        escape(&verdict.summary)
    );
    let _ = writeln!(
        body,
        "<p class=\"legend\"><span>dot: a read (red: not allowed)</span>{}<span>shaded: faults</span></p>",
        if verdict.checker == bank::CHECKER {
            "<span>dashed: the bank's total</span>"
        } else {
            "<span>blue bar: the values the counter could hold while the read ran</span>"
        }
    );
    body.push_str(&value_plot::svg(
        &points,
        expected,
        &fault_windows(history),
        y_label,
    ));
    if !verdict.anomalies.is_empty() {
        let _ = writeln!(
            body,
            "<h2>Anomalies ({})</h2>\n<ul>",
            verdict.anomalies.len()
        );
        for a in &verdict.anomalies {
            let _ = writeln!(
                body,
                "<li>{}: {}</li>",
                escape(&a.kind),
                escape(&a.explanation.join(" "))
            );
        }
        body.push_str("</ul>\n");
    }
    let path = dir.join(format!("{}.html", verdict.checker));
    write_file(
        &path,
        &page(&format!("faultline: {}", verdict.checker), &body),
    )?;
    Ok(vec![(verdict.checker.clone(), path)])
}

fn bank_points(v: &Verdict) -> (Vec<Point>, Option<i64>, &'static str) {
    let points: Vec<bank::TotalPoint> =
        serde_json::from_value(v.detail["points"].clone()).unwrap_or_default();
    let total = v.detail["total"].as_i64();
    let points = points
        .into_iter()
        .map(|p| Point {
            time: p.time,
            value: p.total,
            range: None,
            valid: p.valid,
            title: format!("read at {:.3} s: total {}", p.time as f64 / 1e9, p.total),
        })
        .collect();
    (points, total, "total of all balances")
}

fn counter_points(v: &Verdict) -> (Vec<Point>, Option<i64>, &'static str) {
    let points: Vec<counter::ReadPoint> =
        serde_json::from_value(v.detail["points"].clone()).unwrap_or_default();
    let points = points
        .into_iter()
        .map(|p| Point {
            time: p.time,
            value: p.value,
            range: Some((p.lower, p.upper)),
            valid: (p.lower..=p.upper).contains(&p.value),
            title: format!(
                "read at {:.3} s: {} (allowed {}..{})",
                p.time as f64 / 1e9,
                p.value,
                p.lower,
                p.upper
            ),
        })
        .collect();
    (points, None, "counter value read")
}
