//! The set checker's page: every element's story over time, with the fault windows shaded.
//!
//! One row per element: a bar from its add's invoke to the moment it was known, coloured by the
//! element's outcome; a dot for the last read that began after the element was known and missed
//! it (a stale read, or the last reads of a lost element). Rows are grouped by outcome, the
//! anomalies first (lost, unexpected, duplicated, stale, then the rest), each group in order of
//! addition and labelled at the left: the first screen shows what went wrong and when, and where
//! the faults were. Large sets are drawn in full in a drawing of bounded height: with thousands
//! of elements a row is a fraction of a pixel, and each group still shows as a band. The
//! anomalous elements are also listed below with their stories in words.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use faultline_checkers::history::History;
use faultline_checkers::set::{self, Outcome, SetOptions};
use faultline_checkers::Verdict;

use super::html::{escape, page};
use super::nemesis_windows::fault_windows;
use super::{write_file, ReportError, Result};

/// The checker whose verdict this page draws.
pub const CHECKER: &str = set::CHECKER;

const LEFT: f64 = 130.0;
/// The drawing's height for large sets, in pixels; small sets get up to 12 px per element.
const PLOT_HEIGHT: f64 = 640.0;
const WIDTH: f64 = 1000.0;

fn outcome_colour(o: Outcome) -> &'static str {
    match o {
        Outcome::Lost => "#c62828",
        Outcome::Unexpected | Outcome::Duplicated => "#6a1b9a",
        Outcome::Stale => "#ef8f00",
        Outcome::Recovered => "#1e88e5",
        Outcome::NeverRead => "#757575",
        Outcome::Ok => "#43a047",
        Outcome::Absent | Outcome::Failed => "#cfcfcf",
    }
}

/// Writes `anomalies/set.html` (one page per set, `set-<key>.html` when the history has keys);
/// returns (name, page) pairs, named `set` or the key.
pub fn write(
    run_dir: &Path,
    history: &History,
    verdict: &Verdict,
) -> Result<Vec<(String, PathBuf)>> {
    let options = SetOptions {
        linearizable: verdict.against.contains("linearizable"),
    };
    let analysis = set::check(history, &options);
    if analysis.sets.iter().all(|s| s.elements.is_empty()) {
        return Ok(Vec::new());
    }
    let dir = run_dir.join("anomalies");
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut pages = Vec::new();
    for result in &analysis.sets {
        let (name, file) = match &result.key {
            Some(k) => (
                k.clone(),
                format!("set-{}.html", crate::store::file_safe(k)),
            ),
            None => (CHECKER.to_string(), "set.html".to_string()),
        };
        let path = dir.join(file);
        write_file(&path, &render(history, result))?;
        pages.push((name, path));
    }
    Ok(pages)
}

fn render(history: &History, result: &set::SetResult) -> String {
    let end = history
        .ops
        .iter()
        .filter_map(|o| o.time)
        .max()
        .unwrap_or(1)
        .max(1);
    let x = |t: i64| LEFT + (t as f64 / end as f64 * WIDTH).clamp(0.0, WIDTH);
    let n = result.elements.len().max(1);
    let row = (PLOT_HEIGHT / n as f64).min(12.0);
    // Anomalies first, each outcome's elements in order of addition.
    let rank = |o: Outcome| {
        Outcome::ALL
            .iter()
            .position(|a| *a == o)
            .unwrap_or(usize::MAX)
    };
    let mut order: Vec<&set::Element> = result.elements.iter().collect();
    order.sort_by_key(|e| (rank(e.outcome), e.add_time.unwrap_or(i64::MAX)));
    let top = 24.0;
    let height = top + row * n as f64 + 20.0;
    // Reads by invoke index, for the dots of reads that missed a known element.
    let reads: HashMap<u64, i64> = history
        .ops
        .iter()
        .filter(|o| &*o.f == "read" && o.kind == faultline_checkers::history::OpType::Invoke)
        .filter_map(|o| Some((o.index, o.time?)))
        .collect();
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\">",
        LEFT + WIDTH + 20.0
    );
    for w in fault_windows(history) {
        let (x0, x1) = (x((w.start_s * 1e9) as i64), x((w.end_s * 1e9) as i64));
        let _ = writeln!(
            svg,
            "<rect x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#ffcdd2\" opacity=\"0.5\"><title>{}</title></rect>",
            (x1 - x0).max(1.0),
            height - top - 20.0,
            escape(&w.label)
        );
    }
    for k in 0..=5 {
        let t = end * k / 5;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"14\" text-anchor=\"middle\">{:.1} s</text>",
            x(t),
            t as f64 / 1e9
        );
    }
    let mut group_start = 0;
    for (i, e) in order.iter().enumerate() {
        let y = top + row * i as f64;
        let colour = outcome_colour(e.outcome);
        if order.get(i + 1).map(|next| next.outcome) != Some(e.outcome) {
            // The group's label, centred on its band (at least one text line tall).
            let y0 = top + row * group_start as f64;
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{colour}\">{} {}</text>",
                LEFT - 6.0,
                (y0 + (y + row - y0) / 2.0 + 4.0).max(y0 + 10.0),
                e.outcome.name(),
                i + 1 - group_start
            );
            let _ = writeln!(
                svg,
                "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#999\" stroke-width=\"0.5\" />",
                LEFT + WIDTH,
                y + row,
                y + row
            );
            group_start = i + 1;
        }
        if let Some(t0) = e.add_time {
            let t1 = e.known_time.unwrap_or(end);
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{}</title></rect>",
                x(t0),
                (x(t1) - x(t0)).max(1.0),
                row,
                escape(&set::explain(e))
            );
        }
        if let Some(t) = e.last_absent_index.and_then(|i| reads.get(&i)) {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{:.1}\" fill=\"#000\"><title>element {} missing from the read begun at {:.3} s</title></circle>",
                x(*t),
                y + row / 2.0,
                (row / 2.0).max(0.8),
                escape(&e.element),
                *t as f64 / 1e9
            );
        }
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"8\" height=\"{:.1}\" fill=\"{colour}\" />",
            LEFT + WIDTH + 6.0,
            row
        );
    }
    svg.push_str("</svg>\n");

    let title = match &result.key {
        Some(k) => format!("Set {}", k.trim_matches('"')),
        None => "The set".to_string(),
    };
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p class=\"nav\"><a href=\"../index.html\">run summary</a><a href=\"../timeline.html\">timeline</a></p>\n<h1>{}: {}</h1>",
        escape(&title),
        result.valid
    );
    body.push_str("<table>\n<tr>");
    for o in Outcome::ALL {
        let _ = write!(body, "<th>{}</th>", o.name());
    }
    body.push_str("</tr>\n<tr>");
    for o in Outcome::ALL {
        let _ = write!(body, "<td>{}</td>", result.count(o));
    }
    body.push_str("</tr>\n</table>\n");
    if let Some(ms) = result.worst_stale_ms() {
        let _ = writeln!(body, "<p>Worst stale window: {ms:.0} ms.</p>");
    }
    body.push_str("<p class=\"legend\">");
    for o in Outcome::ALL {
        let _ = write!(
            body,
            "<span><span class=\"swatch\" style=\"background:{}\"></span>{}</span>",
            outcome_colour(o),
            o.name()
        );
    }
    body.push_str("<span>one row per element, grouped by outcome; bar: from the add's invoke until the element was known; black dot: the last read that missed it; shaded: faults</span></p>\n");
    body.push_str(&svg);
    for o in [
        Outcome::Lost,
        Outcome::Unexpected,
        Outcome::Duplicated,
        Outcome::Stale,
    ] {
        let of: Vec<&set::Element> = result.elements.iter().filter(|e| e.outcome == o).collect();
        if of.is_empty() {
            continue;
        }
        let _ = writeln!(body, "<h2>{} ({})</h2>\n<ul>", o.name(), of.len());
        for e in of.iter().take(200) {
            let _ = writeln!(body, "<li>{}</li>", escape(&set::explain(e)));
        }
        if of.len() > 200 {
            let _ = writeln!(body, "<li>... and {} more</li>", of.len() - 200);
        }
        body.push_str("</ul>\n");
    }
    page(&format!("faultline: {title}"), &body)
}
