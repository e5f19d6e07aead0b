//! From a history to the calls the search works on: pair each invoke with its completion, drop
//! what cannot matter, split by key, and compile every call for the model.
//!
//! The reductions made here, and why each keeps the verdict:
//! - A `fail` call certainly did not happen: it is removed.
//! - An `info` call (or an invoke never completed) may take effect at any time after its invoke, or
//!   never; it gets no return event. If the model says it is read-only, it has no effect anyone
//!   could observe and no result to check, so it is removed: any linearization of the rest is one
//!   of the whole history with the call left out (or placed anywhere).
//! - An `ok` call that every state accepts without changing (a read of nil under Knossos'
//!   reading) can be linearized at any point of its window in any linearization of the others,
//!   so it is removed too.
//! - Keys are independent objects (P-compositionality, Herlihy & Wing): a history is
//!   linearizable iff each key's sub-history is. Each key becomes its own part.

use rustc_hash::FxHashMap;

use crate::history::{History, OpType, Process, Value};
use crate::model::{Call, Model, ModelError, Outcome};

/// One call of a part: the compiled operation and where it sits in the history.
#[derive(Clone, Debug)]
pub struct PreparedCall<O> {
    pub op: O,
    /// Index in `History::ops` of the invoke.
    pub invoke: usize,
    /// Index of the ok completion; `None` when the outcome is unknown (never returns).
    pub complete: Option<usize>,
}

/// One independent object of the history, ready to search.
pub struct Part<M: Model> {
    /// The key of the part; `None` for a single-object history (or with partitioning off).
    pub key: Option<Value>,
    pub model: M,
    pub calls: Vec<PreparedCall<M::Op>>,
    /// Calls of the history's part before reductions (ok + info + unknown, fails excluded).
    pub calls_before_reduction: usize,
}

/// A call the model could not take.
#[derive(Debug, thiserror::Error)]
#[error("operation at index {index} (process {process}, {f}): {source}")]
pub struct PrepareError {
    /// Index in `History::ops` of the invoke.
    pub index: usize,
    pub process: String,
    pub f: String,
    #[source]
    pub source: ModelError,
}

/// An invoke and how it ended.
struct Pair {
    invoke: usize,
    completion: Option<(usize, OpType)>,
}

/// Pairs invokes with completions per process. Readers have validated pairing already; whatever
/// slips through is read leniently (a stray completion is ignored).
fn pair_calls(history: &History) -> Vec<Pair> {
    let mut pairs: Vec<Pair> = Vec::new();
    let mut pending: FxHashMap<u64, usize> = FxHashMap::default();
    for (i, op) in history.ops.iter().enumerate() {
        let Process::Client(p) = op.process else {
            continue;
        };
        if op.kind == OpType::Invoke {
            pending.insert(p, pairs.len());
            pairs.push(Pair {
                invoke: i,
                completion: None,
            });
        } else if let Some(at) = pending.remove(&p) {
            pairs[at].completion = Some((i, op.kind));
        }
    }
    pairs
}

/// Splits and compiles a history for `proto` (cloned once per part).
pub fn prepare<M: Model>(
    history: &History,
    proto: &M,
    partition: bool,
) -> Result<Vec<Part<M>>, PrepareError> {
    let pairs = pair_calls(history);
    let mut groups: Vec<(Option<Value>, Vec<&Pair>)> = Vec::new();
    let mut group_of: FxHashMap<Option<&Value>, usize> = FxHashMap::default();
    for pair in &pairs {
        if matches!(pair.completion, Some((_, OpType::Fail))) {
            continue;
        }
        let key = if partition {
            history.ops[pair.invoke].key.as_ref()
        } else {
            None
        };
        let g = *group_of.entry(key).or_insert_with(|| {
            groups.push((key.cloned(), Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(pair);
    }
    let mut parts = Vec::with_capacity(groups.len());
    for (key, pairs) in groups {
        let mut model = proto.clone();
        let mut calls = Vec::with_capacity(pairs.len());
        for pair in &pairs {
            let invoke = &history.ops[pair.invoke];
            let (outcome, complete) = match pair.completion {
                Some((c, OpType::Ok)) => (Outcome::Ok(&history.ops[c].value), Some(c)),
                _ => (Outcome::Unknown, None),
            };
            let call = Call {
                f: &invoke.f,
                key: if partition { None } else { invoke.key.as_ref() },
                input: &invoke.value,
                outcome,
            };
            let op = model.compile(&call).map_err(|source| PrepareError {
                index: pair.invoke,
                process: invoke.process.to_string(),
                f: invoke.f.to_string(),
                source,
            })?;
            let removable = match complete {
                None => model.is_read_only(&op),
                Some(_) => model.always_accepts(&op),
            };
            if !removable {
                calls.push(PreparedCall {
                    op,
                    invoke: pair.invoke,
                    complete,
                });
            }
        }
        parts.push(Part {
            key,
            model,
            calls,
            calls_before_reduction: pairs.len(),
        });
    }
    Ok(parts)
}
