//! One page per invalid key: the checker's witness drawn the way Knossos and Porcupine draw
//! theirs, one lane per process, each operation a bar from invoke to completion.
//!
//! The window runs from a little before the earliest of the pending operations and the last
//! linearized ones to the failing operation's completion. A vertical line marks how far the
//! history linearizes; below the drawing, the model states reached there and, in words, why
//! every candidate next step fails. Each bar is `<g id="op-<invoke index>">` with a `<title>`
//! that shows its details on hover.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use faultline_checkers::history::History;
use serde::Deserialize;

use faultline_checkers::linear::verdict::CHECKER;

use super::html::{escape, page, seconds};
use super::situation::Situations;
use super::{write_file, Call, ReportError, Result};
use crate::store::file_safe;
use crate::store::ResultsRecord;

/// One key's entry in `results.json`'s `linearizability.failures`.
#[derive(Debug, Clone, Deserialize)]
pub struct Failure {
    /// The key as the checker printed it (EDN, so strings keep their quotes).
    pub key: String,
    /// `false`, or `"unknown"` when a budget ran out.
    #[serde(default)]
    pub valid: serde_json::Value,
    #[serde(default)]
    pub cause: Option<String>,
    #[serde(default)]
    pub calls: Option<u64>,
    #[serde(default)]
    pub steps: Option<u64>,
    #[serde(default)]
    pub witness: Option<Witness>,
}

/// Why a key does not linearize (see `checkers/src/linear`).
#[derive(Debug, Clone, Deserialize)]
pub struct Witness {
    /// The operation that could not be linearized.
    pub op: WitnessOp,
    /// The history index up to which everything linearizes.
    #[serde(default)]
    pub linearizable_until: Option<u64>,
    /// The operations linearized on the way (the last ones).
    #[serde(default)]
    pub linearized: Vec<WitnessOp>,
    /// The operations pending at that point.
    #[serde(default)]
    pub concurrent: Vec<WitnessOp>,
    /// The model states reached there.
    #[serde(default)]
    pub states: Vec<String>,
    /// Why each candidate next step fails, in words.
    #[serde(default)]
    pub explanations: Vec<String>,
}

/// An operation as a witness names it: history indexes of its invoke and completion.
#[derive(Debug, Clone, Deserialize)]
pub struct WitnessOp {
    pub index: u64,
    #[serde(default)]
    pub completion: Option<u64>,
    #[serde(default)]
    pub process: String,
    #[serde(default)]
    pub op: String,
}

/// What the linearizability checker keeps in its verdict's `detail`
/// (`checkers/src/linear/verdict.rs`): the model and the reports of the keys that are not valid.
#[derive(Debug, Clone, Deserialize)]
pub struct LinearizabilityDetail {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub failures: Vec<Failure>,
}

/// The per-key failures of the run's linearizability verdict, if it has one.
pub fn failures_of(results: &ResultsRecord) -> Vec<Failure> {
    results
        .check(CHECKER)
        .and_then(|v| serde_json::from_value::<LinearizabilityDetail>(v.detail.clone()).ok())
        .map(|d| d.failures)
        .unwrap_or_default()
}

/// Writes `anomalies/<key>.html` for every failure with a witness; returns (key, page) pairs.
pub fn write_pages(
    run_dir: &Path,
    history: &History,
    calls: &[Call<'_>],
    failures: &[Failure],
) -> Result<Vec<(String, PathBuf)>> {
    let with_witness: Vec<(&Failure, &Witness)> = failures
        .iter()
        .filter_map(|f| f.witness.as_ref().map(|w| (f, w)))
        .collect();
    if with_witness.is_empty() {
        return Ok(Vec::new());
    }
    let dir = run_dir.join("anomalies");
    std::fs::create_dir_all(&dir).map_err(|source| ReportError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut by_key: HashMap<String, Vec<Call<'_>>> = HashMap::new();
    for call in calls {
        if let Some(key) = &call.invoke.key {
            by_key.entry(key.to_string()).or_default().push(*call);
        }
    }
    let mut taken = HashSet::new();
    let mut pages = Vec::new();
    for (failure, witness) in with_witness {
        let mut name = file_safe(&failure.key);
        let base = name.clone();
        let mut n = 1;
        while !taken.insert(name.clone()) {
            n += 1;
            name = format!("{base}-{n}");
        }
        let path = dir.join(format!("{name}.html"));
        let key_calls = by_key.get(&failure.key).map_or(&[][..], |c| &c[..]);
        write_file(&path, &render(failure, witness, history, key_calls))?;
        pages.push((failure.key.clone(), path));
    }
    Ok(pages)
}

/// How a bar is drawn, by the operation's part in the witness.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Failing,
    Pending,
    Linearized,
    Failed,
    Other,
}

impl Role {
    fn colour(self) -> &'static str {
        match self {
            Role::Failing => "#d32f2f",
            Role::Pending => "#f59f00",
            Role::Linearized => "#43a047",
            Role::Failed => "#cfcfcf",
            Role::Other => "#90a4ae",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Role::Failing => "cannot be linearized",
            Role::Pending => "pending at that point",
            Role::Linearized => "linearized",
            Role::Failed => "failed (did not happen)",
            Role::Other => "other operation",
        }
    }
}

/// How many of the last linearized operations set the window's start.
const RECENT_LINEARIZED: usize = 8;
const LABEL_WIDTH: f64 = 330.0;
const PLOT_WIDTH: f64 = 1000.0;
const LANE: f64 = 24.0;
const BAR: f64 = 14.0;

fn render(failure: &Failure, w: &Witness, history: &History, key_calls: &[Call<'_>]) -> String {
    let by_index: HashMap<u64, &Call<'_>> = key_calls.iter().map(|c| (c.invoke.index, c)).collect();
    let event_time = |index: u64| {
        history
            .ops
            .get(index as usize)
            .filter(|o| o.index == index)
            .or_else(|| history.ops.iter().find(|o| o.index == index))
            .and_then(|o| o.time)
    };
    let pending: HashSet<u64> = w.concurrent.iter().map(|o| o.index).collect();
    let linearized: HashSet<u64> = w.linearized.iter().map(|o| o.index).collect();
    let recent = &w.linearized[w.linearized.len().saturating_sub(RECENT_LINEARIZED)..];
    let focus: Vec<&Call<'_>> = std::iter::once(&w.op)
        .chain(&w.concurrent)
        .chain(recent)
        .filter_map(|o| by_index.get(&o.index).copied())
        .collect();

    let until_time = w.linearizable_until.and_then(event_time);
    let lo = focus.iter().map(|c| c.start()).min().unwrap_or(0);
    let hi = focus
        .iter()
        .filter_map(|c| c.end())
        .chain(w.op.completion.and_then(event_time))
        .chain(until_time)
        .max()
        .unwrap_or(lo)
        .max(lo + 1_000_000);
    let margin = (hi - lo) / 12;
    let (w_lo, w_hi) = (lo - margin, hi + margin);

    let shown: Vec<&Call<'_>> = key_calls
        .iter()
        .filter(|c| c.start() <= w_hi && c.end().is_none_or(|e| e >= w_lo))
        .filter(|c| {
            c.completion.is_some() || c.start() >= w_lo || pending.contains(&c.invoke.index)
        })
        .collect();
    let (lanes, lane_of) = super::lanes(shown.iter().map(|c| c.invoke.process));
    // Each lane names its node and what the nemesis was doing to it when the failing
    // operation began: "process 87 (n3, cut off from n1 n2 since 17.2 s)".
    let situations = Situations::of(history);
    let moment = by_index.get(&w.op.index).map_or(lo, |c| c.start());
    let lane_label = |p: &faultline_checkers::history::Process| {
        let node = shown
            .iter()
            .find(|c| c.invoke.process == *p)
            .and_then(|c| c.invoke.node())
            .map(str::to_owned);
        match node {
            Some(node) => match situations.describe(&node, moment) {
                Some(what) => format!("process {p} ({node}, {what})"),
                None => format!("process {p} ({node})"),
            },
            None => format!("process {p}"),
        }
    };
    let x = |t: i64| {
        LABEL_WIDTH + ((t - w_lo) as f64 / (w_hi - w_lo) as f64 * PLOT_WIDTH).clamp(0.0, PLOT_WIDTH)
    };
    let top = 24.0;
    let height = top + LANE * lanes.len() as f64 + 10.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + 10.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\">"
    );
    for (i, p) in lanes.iter().enumerate() {
        let y = top + LANE * i as f64;
        let shade = if i % 2 == 0 { "#fafafa" } else { "#f0f0f0" };
        let _ = writeln!(
            svg,
            "<rect x=\"0\" y=\"{y}\" width=\"{width}\" height=\"{LANE}\" fill=\"{shade}\" />\n<text x=\"4\" y=\"{}\">{}</text>",
            y + LANE / 2.0 + 4.0,
            escape(&lane_label(p))
        );
    }
    for k in 0..=5 {
        let t = w_lo + (w_hi - w_lo) * k / 5;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"14\" text-anchor=\"middle\">{}</text>",
            x(t),
            seconds(t)
        );
    }
    for call in &shown {
        let index = call.invoke.index;
        let role = if index == w.op.index {
            Role::Failing
        } else if pending.contains(&index) {
            Role::Pending
        } else if linearized.contains(&index) {
            Role::Linearized
        } else if call.outcome() == "fail" {
            Role::Failed
        } else {
            Role::Other
        };
        let y = top + LANE * lane_of[&call.invoke.process] as f64 + (LANE - BAR) / 2.0;
        let x0 = x(call.start());
        let open = call.end().is_none();
        let x1 = call.end().map_or(LABEL_WIDTH + PLOT_WIDTH, x).max(x0 + 2.0);
        let stroke = match role {
            Role::Failing => " stroke=\"#000\" stroke-width=\"2\"",
            _ if open => " stroke=\"#555\" stroke-dasharray=\"4 2\"",
            _ => "",
        };
        let tip = format!("{}\n{}", super::describe_call(call), role.word());
        let _ = write!(
            svg,
            "<g id=\"op-{index}\"><title>{}</title><rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR}\" rx=\"2\" fill=\"{}\"{stroke} />",
            escape(&tip),
            x1 - x0,
            role.colour()
        );
        let label = format!("{} {}", call.invoke.f, call.invoke.value);
        if x1 - x0 > 7.0 * label.len() as f64 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x0 + 3.0,
                y + BAR - 3.0,
                escape(&label)
            );
        }
        svg.push_str("</g>\n");
    }
    if let Some(t) = until_time {
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"18\" y2=\"{height}\" stroke=\"#1565c0\" stroke-width=\"2\" stroke-dasharray=\"6 3\"><title>everything up to event #{1} linearizes</title></line>",
            x(t),
            w.linearizable_until.unwrap_or_default()
        );
    }
    svg.push_str("</svg>\n");

    let key = failure.key.trim_matches('"');
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p class=\"nav\"><a href=\"../index.html\">run summary</a><a href=\"../timeline.html\">timeline</a></p>\n<h1>Key {}: not linearizable</h1>",
        escape(key)
    );
    let _ = writeln!(
        body,
        "<p>Process {} <code>{}</code> (<a href=\"#op-{}\">op #{}</a>{}) cannot be linearized. Everything up to event #{} linearizes: {} operation(s) were linearized on the way, {} were pending.</p>",
        escape(&w.op.process),
        escape(&w.op.op),
        w.op.index,
        w.op.index,
        w.op.completion.map(|c| format!(", completed at #{c}")).unwrap_or_default(),
        w.linearizable_until.map_or("?".to_owned(), |u| u.to_string()),
        w.linearized.len(),
        w.concurrent.len()
    );
    body.push_str("<p class=\"legend\">");
    for role in [
        Role::Failing,
        Role::Pending,
        Role::Linearized,
        Role::Other,
        Role::Failed,
    ] {
        let _ = write!(
            body,
            "<span><span class=\"swatch\" style=\"background:{}\"></span>{}</span>",
            role.colour(),
            role.word()
        );
    }
    body.push_str("<span>dashed bar: no completion (info), open to the right</span><span style=\"color:#1565c0\">dashed blue line: linearizable up to here</span></p>\n");
    body.push_str(&svg);
    if shown.is_empty() {
        body.push_str(
            "<p>The history has no operations on this key in the witness's window.</p>\n",
        );
    }

    body.push_str("<h2>Model states at that point</h2>\n<ul>\n");
    for s in &w.states {
        let _ = writeln!(body, "<li><code>{}</code></li>", escape(s));
    }
    body.push_str("</ul>\n<h2>Why no next step works</h2>\n<ul>\n");
    for e in &w.explanations {
        let _ = writeln!(body, "<li>{}</li>", escape(e));
    }
    body.push_str("</ul>\n");
    op_table(&mut body, "Pending at that point", &w.concurrent, &by_index);
    op_table(
        &mut body,
        "Last linearized operations",
        &w.linearized[w.linearized.len().saturating_sub(20)..],
        &by_index,
    );
    let _ = writeln!(
        body,
        "<p>Checked {} calls in {} search steps.</p>",
        failure.calls.map_or("?".to_owned(), |c| c.to_string()),
        failure.steps.map_or("?".to_owned(), |s| s.to_string())
    );
    page(&format!("faultline: key {key} not linearizable"), &body)
}

fn op_table(body: &mut String, title: &str, ops: &[WitnessOp], calls: &HashMap<u64, &Call<'_>>) {
    let _ = writeln!(
        body,
        "<h2>{}</h2>\n<table>\n<tr><th>op</th><th>process</th><th>operation</th><th>invoked</th><th>completed</th></tr>",
        escape(title)
    );
    for o in ops {
        let call = calls.get(&o.index);
        let _ = writeln!(
            body,
            "<tr><td><a href=\"#op-{0}\">#{0}</a></td><td>{1}</td><td><code>{2}</code></td><td>{3}</td><td>{4}</td></tr>",
            o.index,
            escape(&o.process),
            escape(&o.op),
            call.map(|c| seconds(c.start())).unwrap_or_default(),
            match (o.completion, call.and_then(|c| c.completion)) {
                (Some(i), Some(c)) => format!("#{i} {} {}", c.kind.name(), c.time.map(seconds).unwrap_or_default()),
                (Some(i), None) => format!("#{i}"),
                (None, _) => "never (info)".to_owned(),
            }
        );
    }
    body.push_str("</table>\n");
}
