//! A value over time as inline SVG, with the fault windows shaded: the bank's total and the
//! counter's reads with their bounds. One picture answers the question these checkers ask
//! ("did the number ever leave where it must be, and when"), beside the faults that explain it.

use std::fmt::Write as _;

use super::html::escape;
use super::nemesis_windows::FaultWindow;

const LEFT: f64 = 70.0;
const WIDTH: f64 = 1000.0;
const TOP: f64 = 20.0;
const HEIGHT: f64 = 320.0;

/// One observation: when (ns since the test started), what, and whether it was allowed.
pub struct Point {
    pub time: i64,
    pub value: i64,
    /// The allowed range at the time, drawn as a band (the counter's bounds).
    pub range: Option<(i64, i64)>,
    pub valid: bool,
    pub title: String,
}

/// The plot; `expected` draws a horizontal line (the bank's total).
pub fn svg(
    points: &[Point],
    expected: Option<i64>,
    faults: &[FaultWindow],
    y_label: &str,
) -> String {
    let end = points.iter().map(|p| p.time).max().unwrap_or(1).max(1);
    let end = faults
        .iter()
        .map(|w| (w.end_s * 1e9) as i64)
        .fold(end, i64::max);
    let values = points
        .iter()
        .flat_map(|p| {
            let (lo, hi) = p.range.unwrap_or((p.value, p.value));
            [p.value, lo, hi]
        })
        .chain(expected);
    let (mut lo, mut hi) = values.fold((i64::MAX, i64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        (lo, hi) = (0, 1);
    }
    if lo == hi {
        (lo, hi) = (lo - 1, hi + 1);
    }
    let x = |t: i64| LEFT + (t as f64 / end as f64 * WIDTH).clamp(0.0, WIDTH);
    let y = |v: i64| TOP + HEIGHT - (v - lo) as f64 / (hi - lo) as f64 * HEIGHT;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\">",
        LEFT + WIDTH + 20.0,
        TOP + HEIGHT + 40.0
    );
    for w in faults {
        let (x0, x1) = (x((w.start_s * 1e9) as i64), x((w.end_s * 1e9) as i64));
        let _ = writeln!(
            out,
            "<rect x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{HEIGHT}\" fill=\"#ffcdd2\" opacity=\"0.5\"><title>{}</title></rect>",
            (x1 - x0).max(1.0),
            escape(&w.label)
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"#999\" />\
         <line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#999\" />",
        TOP + HEIGHT,
        TOP + HEIGHT,
        LEFT + WIDTH,
        TOP + HEIGHT
    );
    for k in 0..=5 {
        let t = end * k / 5;
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.1} s</text>",
            x(t),
            TOP + HEIGHT + 16.0,
            t as f64 / 1e9
        );
        let v = lo + (hi - lo) * k / 5;
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
            LEFT - 6.0,
            y(v) + 4.0
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{LEFT}\" y=\"12\">{}</text>",
        escape(y_label)
    );
    if let Some(e) = expected {
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#2e7d32\" stroke-dasharray=\"4 3\"><title>expected {e}</title></line>",
            y(e),
            LEFT + WIDTH
        );
    }
    for p in points {
        if let Some((a, b)) = p.range {
            let _ = writeln!(
                out,
                "<line x1=\"{0:.1}\" y1=\"{1:.1}\" x2=\"{0:.1}\" y2=\"{2:.1}\" stroke=\"#90caf9\" stroke-width=\"2\" />",
                x(p.time),
                y(a),
                y(b)
            );
        }
    }
    for p in points {
        let (colour, r) = if p.valid {
            ("#1565c0", 1.6)
        } else {
            ("#c62828", 3.0)
        };
        let _ = writeln!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r}\" fill=\"{colour}\"><title>{}</title></circle>",
            x(p.time),
            y(p.value),
            escape(&p.title)
        );
    }
    out.push_str("</svg>\n");
    out
}
