//! Elle-style checking of transactional isolation (after Kingsbury and Alvaro, "Elle: Inferring
//! Isolation Anomalies from Experimental Observations", VLDB 2020).
//!
//! A history of transactions whose micro-ops are list appends and reads (`list-append`) or
//! register writes and reads (`rw-register`) says, through what each read saw, which
//! transaction must have come before which: Adya's write-write, write-read and read-write
//! (anti-)dependencies, plus, for the session and strong models, each process's order and the
//! real-time order. A cycle of such edges means no order of the transactions explains the
//! history; the kinds of its edges say which isolation levels it rules out (`G0` ... `G2-item`).
//! Some anomalies need no cycle: aborted and intermediate reads (`G1a`, `G1b`), reads that
//! contradict their own transaction (`internal`), and the workload's own (`incompatible-order`,
//! `duplicate-elements`, `garbage-read`, `dirty-update`, `lost-update`, `future-read`).
//!
//! How it is built, one idea a file:
//! - [`txn`], [`mop`], [`build`]: transactions, compacted, from ops in any history format;
//! - [`list_append`], [`rw_register`]: per key, the version order, the anomalies of reads, and
//!   the dependency edges; per transaction, `internal` and `future-read`;
//! - [`graph`], [`scc`]: the dependency graph and its strongly connected components (Tarjan);
//! - [`cycles`]: the shortest cycle of each kind in each component;
//! - [`models`]: the consistency models, what they prohibit and what anomalies rule out;
//! - [`analysis`], [`verdict`], [`detail`]: one check, and its neutral [`Verdict`].
//!
//! Entry points: [`check`] for a history in memory, [`check_file`] for a file, read as it is
//! checked (ops are compacted as they come and never held).
//!
//! Soundness: every anomaly reported rules out serializability of the committed transactions
//! (except the `-process` and `-realtime` cycles, which rule out only the session and strong
//! models); property tests check this against a search of every serial order (`brute.rs`). For
//! list-append the converse holds too, on the histories those tests generate: a history with no
//! serial order is always caught. For rw-register it does not: the version order is only
//! partly inferred, and a cycle that needs an order no read reveals stays unseen (Elle has the
//! same limit; `--wfr-keys`, `--sequential-keys` and `--linearizable-keys` narrow it).

mod analysis;
pub mod build;
pub mod cycles;
pub mod detail;
pub mod finding;
pub mod graph;
pub mod list_append;
pub mod models;
pub mod mop;
mod read;
pub mod rw_register;
mod scan;
pub mod scc;
pub mod txn;
mod verdict;

#[cfg(test)]
mod brute;
#[cfg(test)]
mod cycles_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use detail::{AnomalyCase, EdgeView, ElleDetail, MopView, TxnView};
pub use rw_register::Inference;
pub use txn::{Txns, Workload};

use crate::history::{detect_file_format, read_ops, Format, History, ReadError, ReadOptions};
use crate::verdict::Verdict;

/// The name of this checker in verdicts.
pub const CHECKER: &str = "elle";

/// The models checked when none are given: Elle's default.
pub const DEFAULT_MODELS: &[&str] = &["strict-serializable"];

/// How to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElleOptions {
    pub workload: Workload,
    /// Models the history must satisfy, as Elle names them (aliases such as `PL-3` allowed).
    pub consistency_models: Vec<String>,
    /// rw-register only: the inferences of version order to add.
    pub inference: Inference,
    /// Give up after this long: the verdict is then `unknown` (or `invalid` if something
    /// prohibited was already found), with what was found so far.
    pub time_limit: Option<Duration>,
    /// Give up when the analysis would hold more than this many bytes.
    pub memory_limit: Option<usize>,
}

impl ElleOptions {
    pub fn new(workload: Workload) -> ElleOptions {
        ElleOptions {
            workload,
            consistency_models: DEFAULT_MODELS.iter().map(|m| m.to_string()).collect(),
            inference: Inference::default(),
            time_limit: None,
            memory_limit: None,
        }
    }
}

/// Why a history could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum ElleError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A transaction that is not one of the workload's: the file, the line of its op, what.
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("unknown consistency model `{0}`; known models: {known}", known = models::known_models().join(", "))]
    UnknownModel(String),
}

/// The canonical names of the models to check.
fn checked_models(options: &ElleOptions) -> Result<Vec<&'static str>, ElleError> {
    let mut out = Vec::new();
    for m in &options.consistency_models {
        let c = models::canonical(m).ok_or_else(|| ElleError::UnknownModel(m.clone()))?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.extend(DEFAULT_MODELS.iter().filter_map(|m| models::canonical(m)));
    }
    Ok(out)
}

/// Checks a history held in memory; errors name the source lines as `history:LINE`.
pub fn check(history: &History, options: &ElleOptions) -> Result<Verdict, ElleError> {
    let started = Instant::now();
    let checked = checked_models(options)?;
    let ops = history
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| (op, history.line(i)));
    let txns =
        build::from_ops(ops, options.workload).map_err(|(line, message)| ElleError::Malformed {
            path: PathBuf::from("history"),
            line,
            message,
        })?;
    Ok(check_txns(&txns, &checked, options, started))
}

/// Checks transactions already compacted.
pub fn check_txns(
    txns: &Txns,
    models: &[&'static str],
    options: &ElleOptions,
    started: Instant,
) -> Verdict {
    analysis::check(txns, models, options, started)
}

/// Reads and checks the history at `path` without holding its ops: each is compacted into its
/// transaction as it is read (faultline's JSONL on every core, see `read.rs`). The time limit
/// counts from the start of reading.
pub fn check_file(
    path: &Path,
    read: &ReadOptions,
    options: &ElleOptions,
) -> Result<Verdict, ElleError> {
    let started = Instant::now();
    let checked = checked_models(options)?;
    let format = match read.format {
        Some(f) => f,
        None => detect_file_format(path)?,
    };
    if format == Format::Jsonl {
        if let Some(txns) = read::read_jsonl(path, options.workload) {
            return Ok(check_txns(&txns, &checked, options, started));
        }
    }
    let mut builder = build::Builder::new(options.workload);
    let mut first_error: Option<(usize, String)> = None;
    read_ops(path, read, |op, line| {
        if first_error.is_none() {
            if let Err(e) = builder.push(op, line) {
                first_error = Some(e);
            }
        }
    })?;
    if let Some((line, message)) = first_error {
        return Err(ElleError::Malformed {
            path: path.to_owned(),
            line,
            message,
        });
    }
    let txns = builder.finish();
    Ok(check_txns(&txns, &checked, options, started))
}
