//! The HTML report of a stored run, and the index of every run in a store.
//!
//! A run directory (DESIGN.md, "The store") holds `test.json`, `history.jsonl` and, once the
//! check has finished, `results.json`. From these this module writes, next to them:
//! `index.html` (the summary a person opens first), `timeline.html` (every client operation per
//! process, nemesis faults shaded, paged so that huge histories open quickly) and
//! `anomalies/<key>.html` (one page per invalid key, drawing the checker's witness).
//! `results/index.html` lists every run of a store, newest first, coloured by verdict.
//!
//! Pages are static and self-contained: inline CSS and SVG, no scripts, no external fetches.
//! All text from the history and the results is escaped ([`html::escape`]).

pub mod anomaly;
pub mod clock_plot;
pub mod elle_page;
pub mod html;
pub mod matrix_page;
pub mod nemesis_windows;
pub mod plots;
pub mod run_index;
pub mod set_page;
pub mod situation;
pub mod store_index;
pub mod timeline;
pub mod totals_page;
pub mod value_plot;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use faultline_checkers::history::{read_history, Process, ReadOptions};

use crate::store::RunDir;

/// What went wrong while writing a report; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `test.json` or `results.json` exists but cannot be read (the message names it).
    #[error("{0}")]
    Record(String),
    #[error(transparent)]
    History(#[from] faultline_checkers::history::ReadError),
    #[error(transparent)]
    Plot(#[from] plots::PlotError),
}

pub type Result<T> = std::result::Result<T, ReportError>;

/// The pages written for one run.
#[derive(Debug)]
pub struct ReportFiles {
    /// `index.html`.
    pub index: PathBuf,
    /// `timeline.html`, then `timeline-1.html`, ... (one page per chunk of operations).
    pub timeline: Vec<PathBuf>,
    /// `anomalies/<key>.html`, one per invalid key with a witness.
    pub anomalies: Vec<PathBuf>,
}

/// Writes `index.html`, the timeline pages and the anomaly pages of the run in `run_dir`.
/// `results.json` may be missing (the run crashed before its check): the index then says so.
pub fn write_run_report(run_dir: &Path) -> Result<ReportFiles> {
    let run = RunDir::open(run_dir);
    let history = read_history(&run.history(), &ReadOptions::default())?.history;
    let records = run.records();
    if let Some(e) = records.errors.first() {
        return Err(ReportError::Record(e.clone()));
    }
    let calls = pair_calls(&history);

    let failures = records
        .results
        .as_ref()
        .map(anomaly::failures_of)
        .unwrap_or_default();
    let mut anomalies = anomaly::write_pages(run_dir, &history, &calls, &failures)?;
    if let Some(set) = records
        .results
        .as_ref()
        .and_then(|r| r.check(set_page::CHECKER))
    {
        anomalies.extend(set_page::write(run_dir, &history, set)?);
    }
    for checker in totals_page::CHECKERS {
        if let Some(v) = records.results.as_ref().and_then(|r| r.check(checker)) {
            anomalies.extend(totals_page::write(run_dir, &history, v)?);
        }
    }
    if let Some(txns) = records
        .results
        .as_ref()
        .and_then(|r| r.check(elle_page::CHECKER))
    {
        anomalies.extend(elle_page::write(run_dir, txns)?);
    }
    let timeline = timeline::write_pages(run_dir, &history, &calls)?;
    plots::write_plots(&history, run_dir)?;
    clock_plot::write(&history, run_dir)?;
    let index = run_index::write(
        run_dir,
        &run_index::RunFacts {
            records: &records,
            failures: &failures,
            anomalies: &anomalies,
            timeline: &timeline,
            calls: calls.len(),
        },
    )?;
    Ok(ReportFiles {
        index,
        timeline,
        anomalies: anomalies.into_iter().map(|(_, path)| path).collect(),
    })
}

/// Writes `<store>/index.html` listing every run of the store; returns its path.
pub fn write_store_index(store: &Path) -> Result<PathBuf> {
    store_index::write(store)
}

/// Every page drawn from the store as a whole (the run index, the matrix pages), written
/// again after the store changed under them (`faultline gc`).
pub fn rewrite_store_pages(store: &Path) -> Result<()> {
    matrix_page::rewrite_all(store)?;
    write_store_index(store).map(drop)
}

/// `faultline report`: regenerates a run's pages, or with `index` the store's index.
/// Returns the exit code.
pub fn run(path: &Path, index: bool) -> i32 {
    let outcome = if index {
        write_store_index(path).map(|p| println!("{}", p.display()))
    } else {
        write_run_report(path).map(|files| {
            println!("{}", files.index.display());
            println!(
                "{} timeline page(s), {} anomaly page(s)",
                files.timeline.len(),
                files.anomalies.len()
            );
        })
    };
    match outcome {
        Ok(()) => crate::exit::VALID,
        Err(e) => {
            eprintln!("faultline: report: {e}");
            match e {
                ReportError::Io { .. } => crate::exit::INTERNAL,
                _ => crate::exit::BAD_INPUT,
            }
        }
    }
}

pub use faultline_checkers::history::{pair_calls, Call};

/// A one-line description of a call for a tooltip: process, function, argument, result, node,
/// error.
pub fn describe_call(call: &Call<'_>) -> String {
    let op = call.invoke;
    let mut text = format!("#{} process {} {} {}", op.index, op.process, op.f, op.value);
    if let Some(key) = &op.key {
        text.push_str(&format!(" (key {key})"));
    }
    text.push_str(&format!("\ninvoke {}", html::seconds(call.start())));
    match call.completion {
        Some(c) => {
            text.push_str(&format!(
                ", {} {} at {}",
                c.kind.name(),
                c.value,
                c.time.map(html::seconds).unwrap_or_default()
            ));
            if let (Some(t0), Some(t1)) = (op.time, c.time) {
                text.push_str(&format!(" ({:.3} ms)", (t1 - t0) as f64 / 1e6));
            }
            if let Some(error) = c.error() {
                text.push_str(&format!("\nerror: {error}"));
            }
        }
        None => text.push_str(", never completed"),
    }
    if let Some(node) = op.node() {
        text.push_str(&format!("\nnode {node}"));
    }
    text
}

/// One lane per process for drawing calls: the processes in order, and each one's lane.
fn lanes(processes: impl Iterator<Item = Process>) -> (Vec<Process>, HashMap<Process, usize>) {
    let lanes: Vec<Process> = processes
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let lane_of = lanes.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    (lanes, lane_of)
}

/// Writes a page, naming the file on failure.
fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}
