//! The transaction checker's page: every anomaly Elle-style checking kept, each cycle drawn as a
//! graph of its transactions.
//!
//! A cycle is what a reader has to understand to believe an isolation anomaly, and it is small
//! (the checker keeps the shortest of each kind), so it is drawn whole: the transactions on a
//! circle in cycle order, each a box with its process, outcome and micro-ops, and each edge an
//! arrow labelled with its kind and key (`rw 5`), then the same cycle in words, edge by edge.
//! Non-cycle anomalies (G1a, G1b, incompatible orders, ...) show their transactions and the
//! explanation. Everything comes from the verdict's `detail` ([`ElleDetail`]); the page needs
//! neither the history nor the checker, and draws inline SVG (no outside fetch).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use faultline_checkers::elle::{self, AnomalyCase, ElleDetail, TxnView};
use faultline_checkers::Verdict;

use super::html::{escape, page};
use super::{write_file, ReportError, Result};

/// The checker whose verdict this page draws.
pub const CHECKER: &str = elle::CHECKER;

/// Cases drawn per anomaly kind; the rest are counted (the verdict keeps their explanations).
const CASES_PER_KIND: usize = 10;

const BOX_WIDTH: f64 = 230.0;
const LINE_HEIGHT: f64 = 15.0;

/// Writes `anomalies/elle.html` when the verdict holds anomalies; returns (name, page) pairs.
pub fn write(run_dir: &Path, verdict: &Verdict) -> Result<Vec<(String, PathBuf)>> {
    let Ok(detail) = serde_json::from_value::<ElleDetail>(verdict.detail.clone()) else {
        return Ok(Vec::new());
    };
    if detail.anomalies.is_empty() {
        return Ok(Vec::new());
    }
    let dir = run_dir.join("anomalies");
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::Io {
        path: dir.clone(),
        source,
    })?;
    let path = dir.join("elle.html");
    write_file(&path, &render(verdict, &detail, "../index.html"))?;
    Ok(vec![(CHECKER.to_string(), path)])
}

/// The page's HTML; `back` is the link to the run summary (none when empty).
pub fn render(verdict: &Verdict, detail: &ElleDetail, back: &str) -> String {
    let mut body = String::new();
    if !back.is_empty() {
        let _ = writeln!(
            body,
            "<p class=\"nav\"><a href=\"{}\">run summary</a></p>",
            escape(back)
        );
    }
    let _ = writeln!(
        body,
        "<h1>Transactions ({}): {}</h1>",
        escape(&detail.workload),
        verdict.valid
    );
    let _ = writeln!(
        body,
        "<p>Checked against {}. {}</p>",
        escape(&detail.consistency_models.join(", ")),
        escape(&verdict.summary)
    );
    if !detail.not.is_empty() {
        let _ = writeln!(
            body,
            "<p>Ruled out: <b>{}</b>{}.</p>",
            escape(&detail.not.join(", ")),
            if detail.also_not.is_empty() {
                String::new()
            } else {
                format!(", and so also {}", escape(&detail.also_not.join(", ")))
            }
        );
    }
    if !detail.unfinished.is_empty() {
        let _ = writeln!(
            body,
            "<p>The search for {} did not finish: more anomalies may exist.</p>",
            escape(&detail.unfinished.join(", "))
        );
    }
    body.push_str("<table>\n<tr><th>anomaly</th><th>found</th><th>prohibited</th></tr>\n");
    for (kind, cases) in &detail.anomalies {
        let count = verdict
            .counts
            .get(kind)
            .copied()
            .unwrap_or(cases.len() as u64);
        let prohibited = detail.prohibited_types.contains(kind);
        let _ = writeln!(
            body,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{count}</td><td>{}</td></tr>",
            escape(kind),
            escape(kind),
            if prohibited { "yes" } else { "no" }
        );
    }
    body.push_str("</table>\n");
    for (kind, cases) in &detail.anomalies {
        let _ = writeln!(body, "<h2 id=\"{}\">{}</h2>", escape(kind), escape(kind));
        for (i, case) in cases.iter().take(CASES_PER_KIND).enumerate() {
            let _ = writeln!(
                body,
                "<h3>{} {}{}</h3>",
                escape(kind),
                i + 1,
                case.key
                    .as_ref()
                    .map(|k| format!(" on key {}", escape(k)))
                    .unwrap_or_default()
            );
            if case.edges.is_empty() {
                body.push_str(&txn_table(&case.txns));
            } else {
                body.push_str(&cycle_svg(case));
            }
            body.push_str("<ol>\n");
            for line in &case.explanation {
                let _ = writeln!(body, "<li>{}</li>", escape(line));
            }
            body.push_str("</ol>\n");
        }
        if cases.len() > CASES_PER_KIND {
            let _ = writeln!(
                body,
                "<p>... and {} more kept in results.json.</p>",
                cases.len() - CASES_PER_KIND
            );
        }
    }
    page(
        &format!("faultline: transactions ({})", detail.workload),
        &body,
    )
}

/// A transaction's micro-ops, one per line as Elle writes them: `append 5 3`, `r 5 [1 2]`.
fn mop_lines(t: &TxnView) -> Vec<String> {
    t.mops
        .iter()
        .map(|m| {
            let value = match &m.value {
                serde_json::Value::Null if m.f == "r" => "nil".to_string(),
                serde_json::Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                v => v.to_string(),
            };
            format!("{} {} {}", m.f, m.key, value)
        })
        .collect()
}

fn heading(t: &TxnView) -> String {
    format!("{}  p{}  {}", t.name, t.process, t.status)
}

fn txn_table(txns: &[TxnView]) -> String {
    let mut out = String::from(
        "<table>\n<tr><th>txn</th><th>process</th><th>outcome</th><th>history index</th><th>micro-ops</th></tr>\n",
    );
    for t in txns {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td><code>{}</code></td></tr>",
            escape(&t.name),
            t.process,
            escape(&t.status),
            t.index,
            t.complete.map(|c| format!("-{c}")).unwrap_or_default(),
            escape(&mop_lines(t).join("; "))
        );
    }
    out.push_str("</table>\n");
    out
}

/// The cycle as a graph: the transactions on a circle in cycle order (so every edge of the
/// cycle joins neighbours and no two cross), each edge an arrow from box edge to box edge.
fn cycle_svg(case: &AnomalyCase) -> String {
    let n = case.txns.len().max(1);
    let lines: Vec<Vec<String>> = case.txns.iter().map(mop_lines).collect();
    let box_height = |i: usize| LINE_HEIGHT * (lines[i].len() as f64 + 1.0) + 10.0;
    let tallest = (0..case.txns.len()).map(box_height).fold(0.0, f64::max);
    // A circle large enough that neighbouring boxes do not overlap.
    let radius = if n <= 1 {
        0.0
    } else {
        let chord = BOX_WIDTH.max(tallest) + 90.0;
        (chord / (2.0 * (std::f64::consts::PI / n as f64).sin())).max(120.0)
    };
    let width = 2.0 * radius + BOX_WIDTH + 40.0;
    let height = 2.0 * radius + tallest + 40.0;
    let (cx, cy) = (width / 2.0, height / 2.0);
    // Box centres, the first at the top, going clockwise.
    let centre = |i: usize| {
        let a = -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * i as f64 / n as f64;
        (cx + radius * a.cos(), cy + radius * a.sin())
    };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" font-family=\"monospace\" font-size=\"12\">"
    );
    svg.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#333\" /></marker></defs>\n");
    for e in &case.edges {
        if e.from >= case.txns.len() || e.to >= case.txns.len() {
            continue;
        }
        let (a, b) = (centre(e.from), centre(e.to));
        let start = box_exit(a, b, BOX_WIDTH, box_height(e.from));
        let end = box_exit(b, a, BOX_WIDTH, box_height(e.to));
        // Bend each arrow outwards a little so that the two arrows of a 2-cycle do not overlap.
        let (mx, my) = ((start.0 + end.0) / 2.0, (start.1 + end.1) / 2.0);
        let (dx, dy) = (end.0 - start.0, end.1 - start.1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let bend = 30.0;
        let (qx, qy) = (mx + dy / len * bend, my - dx / len * bend);
        let colour = edge_colour(&e.kind);
        let label = match &e.key {
            Some(k) => format!("{} {k}", e.kind),
            None => e.kind.clone(),
        };
        let _ = writeln!(
            svg,
            "<path d=\"M {:.1} {:.1} Q {qx:.1} {qy:.1} {:.1} {:.1}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" marker-end=\"url(#arrow)\"><title>{}</title></path>",
            start.0,
            start.1,
            end.0,
            end.1,
            escape(&e.explanation)
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{colour}\" font-weight=\"bold\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">{}<title>{}</title></text>",
            (mx + qx) / 2.0,
            (my + qy) / 2.0 + 4.0,
            escape(&label),
            escape(&e.explanation)
        );
    }
    for (i, t) in case.txns.iter().enumerate() {
        let (x, y) = centre(i);
        let h = box_height(i);
        let (left, top) = (x - BOX_WIDTH / 2.0, y - h / 2.0);
        let fill = match t.status.as_str() {
            "ok" => "#f1f8e9",
            "info" => "#fff8e1",
            _ => "#ffebee",
        };
        let _ = writeln!(
            svg,
            "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{BOX_WIDTH}\" height=\"{h:.1}\" rx=\"6\" fill=\"{fill}\" stroke=\"#555\" />"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"bold\">{}</text>",
            left + 8.0,
            top + 5.0 + LINE_HEIGHT,
            escape(&heading(t))
        );
        for (j, line) in lines[i].iter().enumerate() {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                left + 8.0,
                top + 5.0 + LINE_HEIGHT * (j as f64 + 2.0),
                escape(line)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// Where the segment from the centre `from` towards `to` leaves a box of `w` x `h` centred on
/// `from`.
fn box_exit(from: (f64, f64), to: (f64, f64), w: f64, h: f64) -> (f64, f64) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    if dx == 0.0 && dy == 0.0 {
        return from;
    }
    let sx = if dx == 0.0 {
        f64::INFINITY
    } else {
        (w / 2.0 + 4.0) / dx.abs()
    };
    let sy = if dy == 0.0 {
        f64::INFINITY
    } else {
        (h / 2.0 + 4.0) / dy.abs()
    };
    let s = sx.min(sy);
    (from.0 + dx * s, from.1 + dy * s)
}

fn edge_colour(kind: &str) -> &'static str {
    match kind {
        "ww" => "#1565c0",
        "wr" => "#2e7d32",
        "rw" => "#c62828",
        "process" => "#6a1b9a",
        _ => "#555555",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::elle::{ElleOptions, Workload};
    use faultline_checkers::history::{read_history, ReadOptions};

    fn check(text: &str) -> Verdict {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.edn");
        std::fs::write(&path, text).unwrap();
        let history = read_history(&path, &ReadOptions::default())
            .unwrap()
            .history;
        elle::check(&history, &ElleOptions::new(Workload::ListAppend)).unwrap()
    }

    /// Write skew: two transactions each read what the other appends to, before it does.
    const G2_ITEM: &str = "\
{:type :invoke, :f :txn, :value [[:r 1 nil] [:append 2 1]], :process 0, :index 0}
{:type :invoke, :f :txn, :value [[:r 2 nil] [:append 1 1]], :process 1, :index 1}
{:type :ok, :f :txn, :value [[:r 1 []] [:append 2 1]], :process 0, :index 2}
{:type :ok, :f :txn, :value [[:r 2 []] [:append 1 1]], :process 1, :index 3}
{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil]], :process 2, :index 4}
{:type :ok, :f :txn, :value [[:r 1 [1]] [:r 2 [1]]], :process 2, :index 5}
";

    #[test]
    fn a_g2_item_cycle_is_drawn_with_both_transactions_and_labelled_rw_edges() {
        let verdict = check(G2_ITEM);
        let detail: ElleDetail = serde_json::from_value(verdict.detail.clone()).unwrap();
        assert!(
            detail.anomalies.contains_key("G2-item"),
            "{:?}",
            detail.anomaly_types
        );
        let html = render(&verdict, &detail, "../index.html");
        assert!(html.contains("<svg"), "a cycle is drawn");
        assert!(html.contains(">rw 1<") && html.contains(">rw 2<"), "{html}");
        assert!(html.contains("append 2 1") && html.contains("r 1 []"));
        assert!(html.contains("G2-item 1"));
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    }

    #[test]
    fn a_valid_history_writes_no_page() {
        let verdict = check(
            "{:type :invoke, :f :txn, :value [[:append 1 1]], :process 0, :index 0}\n\
             {:type :ok, :f :txn, :value [[:append 1 1]], :process 0, :index 1}\n",
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(write(dir.path(), &verdict).unwrap().is_empty());
    }

    #[test]
    fn arrows_leave_a_box_on_its_border() {
        let (x, y) = box_exit((0.0, 0.0), (100.0, 0.0), 40.0, 20.0);
        assert_eq!((x, y), (24.0, 0.0));
        let (x, y) = box_exit((0.0, 0.0), (0.0, -100.0), 40.0, 20.0);
        assert_eq!(x, 0.0);
        assert!((y + 14.0).abs() < 1e-9, "{y}");
    }
}
