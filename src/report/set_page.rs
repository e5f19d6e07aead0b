//! The set checker's page: every element's story over time, with the fault windows shaded.
//!
//! One row per element (in order of addition): a bar from its add's invoke to its completion,
//! coloured by how the add ended; a dot for each read that began after the element was known and
//! missed it (a stale read, or the last reads of a lost element); and the element's outcome as
//! the row's colour at the right. Lost elements are what a reader looks for first, so they are
//! listed above the drawing with their stories in words. Large sets are drawn in full: an
//! element is one pixel row when there are thousands.

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

const LEFT: f64 = 60.0;
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
            Some(k) => (k.clone(), format!("set-{}.html", super::html::file_safe(k))),
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
    let row = (600.0 / n as f64).clamp(1.0, 12.0);
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
    for (i, e) in result.elements.iter().enumerate() {
        let y = top + row * i as f64;
        let colour = outcome_colour(e.outcome);
        if let Some(t0) = e.add_time {
            let t1 = e.known_time.unwrap_or(end);
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{}</title></rect>",
                x(t0),
                (x(t1) - x(t0)).max(1.0),
                row.max(1.0),
                escape(&set::explain(e))
            );
        }
        if let Some(t) = e.last_absent_index.and_then(|i| reads.get(&i)) {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{:.1}\" fill=\"#000\"><title>element {} missing from the read begun at {:.3} s</title></circle>",
                x(*t),
                y + row / 2.0,
                (row / 2.0).max(1.5),
                escape(&e.element),
                *t as f64 / 1e9
            );
        }
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"8\" height=\"{:.1}\" fill=\"{colour}\" />",
            LEFT + WIDTH + 6.0,
            row.max(1.0)
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
    body.push_str("<span>bar: from the add's invoke until the element was known; black dot: the last read that missed it; shaded: faults</span></p>\n");
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
