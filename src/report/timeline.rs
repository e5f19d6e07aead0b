//! `timeline.html`: every client operation, one lane per process, nemesis faults as shaded bands.
//!
//! A history of 100k operations would make one page too heavy to open, so the operations are
//! cut into chunks of [`OPS_PER_PAGE`] in invoke order, each a static page (`timeline.html`,
//! `timeline-1.html`, ...) with links to its neighbours. Each page scales time to its own chunk.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use faultline_checkers::history::History;

use super::html::{escape, page, seconds};
use super::nemesis_windows::FaultWindow;
use super::{write_file, Call, Result};

/// Operations drawn on one page.
pub const OPS_PER_PAGE: usize = 2000;

const LABEL_WIDTH: f64 = 100.0;
const PLOT_WIDTH: f64 = 1400.0;
const LANE: f64 = 16.0;
const BAR: f64 = 10.0;

/// The file name of timeline page `n` (0-based).
pub fn page_name(n: usize) -> String {
    if n == 0 {
        "timeline.html".to_owned()
    } else {
        format!("timeline-{n}.html")
    }
}

/// Writes the timeline pages; returns them in order (always at least `timeline.html`).
pub fn write_pages(run_dir: &Path, history: &History, calls: &[Call<'_>]) -> Result<Vec<PathBuf>> {
    let faults = super::nemesis_windows::fault_windows(history);
    let chunks: Vec<&[Call<'_>]> = if calls.is_empty() {
        vec![&[]]
    } else {
        calls.chunks(OPS_PER_PAGE).collect()
    };
    let mut paths = Vec::with_capacity(chunks.len());
    for (n, chunk) in chunks.iter().enumerate() {
        let path = run_dir.join(page_name(n));
        write_file(&path, &render(n, chunks.len(), chunk, &faults))?;
        paths.push(path);
    }
    Ok(paths)
}

fn outcome_colour(outcome: &str) -> &'static str {
    match outcome {
        "ok" => "#43a047",
        "fail" => "#bdbdbd",
        _ => "#f59f00",
    }
}

fn render(n: usize, pages: usize, calls: &[Call<'_>], faults: &[FaultWindow]) -> String {
    let lo = calls.iter().map(|c| c.start()).min().unwrap_or(0);
    let hi = calls
        .iter()
        .map(|c| c.completion.and_then(|o| o.time).unwrap_or(c.start()))
        .max()
        .unwrap_or(lo)
        .max(lo + 1_000_000);
    let x = |t: i64| {
        LABEL_WIDTH + ((t - lo) as f64 / (hi - lo) as f64 * PLOT_WIDTH).clamp(0.0, PLOT_WIDTH)
    };
    let (lanes, lane_of) = super::lanes(calls.iter().map(|c| c.invoke.process));
    let top = 22.0;
    let height = top + LANE * lanes.len() as f64 + 6.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + 10.0;

    let mut svg = String::with_capacity(calls.len() * 300 + 4096);
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\">"
    );
    for (i, p) in lanes.iter().enumerate() {
        let y = top + LANE * i as f64;
        let _ = writeln!(
            svg,
            "<text x=\"4\" y=\"{:.1}\">process {}</text>",
            y + LANE - 4.0,
            escape(&p.to_string())
        );
    }
    let nanos = |s: f64| (s * 1e9) as i64;
    for f in faults
        .iter()
        .filter(|f| nanos(f.start_s) <= hi && nanos(f.end_s) >= lo)
    {
        let (start, end) = (nanos(f.start_s), nanos(f.end_s));
        let x0 = x(start);
        let x1 = x(end).max(x0 + 1.5);
        let _ = writeln!(
            svg,
            "<rect x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#e53935\" fill-opacity=\"0.13\"><title>{}</title></rect>",
            x1 - x0,
            height - top,
            escape(&format!(
                "fault {} from {} to {}",
                f.label,
                seconds(start),
                seconds(end)
            ))
        );
    }
    for k in 0..=8 {
        let t = lo + (hi - lo) * k / 8;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"14\" text-anchor=\"middle\">{}</text>",
            x(t),
            seconds(t)
        );
    }
    for call in calls {
        let y = top + LANE * lane_of[&call.invoke.process] as f64 + (LANE - BAR) / 2.0;
        let x0 = x(call.start());
        let x1 = call.end().map_or(LABEL_WIDTH + PLOT_WIDTH, x).max(x0 + 1.5);
        let _ = writeln!(
            svg,
            "<rect id=\"op-{}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR}\" fill=\"{}\"><title>{}</title></rect>",
            call.invoke.index,
            x1 - x0,
            outcome_colour(call.outcome()),
            escape(&super::describe_call(call))
        );
    }
    svg.push_str("</svg>\n");

    let mut nav = String::from("<p class=\"nav\"><a href=\"index.html\">run summary</a>");
    if n > 0 {
        let _ = write!(nav, "<a href=\"{}\">&larr; previous</a>", page_name(n - 1));
    }
    if n + 1 < pages {
        let _ = write!(nav, "<a href=\"{}\">next &rarr;</a>", page_name(n + 1));
    }
    if pages > 1 {
        nav.push_str(" pages:");
        for i in 0..pages {
            if i == n {
                let _ = write!(nav, " <b>{}</b>", i + 1);
            } else {
                let _ = write!(nav, " <a href=\"{}\">{}</a>", page_name(i), i + 1);
            }
        }
    }
    nav.push_str("</p>\n");

    let mut body = nav.clone();
    let _ = writeln!(
        body,
        "<h1>Timeline, page {} of {}</h1>\n<p>{} operations from {} to {}. Hover over a bar for its details.</p>",
        n + 1,
        pages,
        calls.len(),
        seconds(lo),
        seconds(hi)
    );
    body.push_str("<p class=\"legend\">");
    for (word, colour) in [
        ("ok", "#43a047"),
        ("fail", "#bdbdbd"),
        ("info / pending (open to the right)", "#f59f00"),
        ("fault active", "rgba(229,57,53,0.3)"),
    ] {
        let _ = write!(
            body,
            "<span><span class=\"swatch\" style=\"background:{colour}\"></span>{word}</span>"
        );
    }
    body.push_str("</p>\n");
    body.push_str(&svg);
    body.push_str(&nav);
    page(&format!("faultline: timeline {}/{}", n + 1, pages), &body)
}
