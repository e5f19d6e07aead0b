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
//! - A call of unknown outcome whose effect no other call could observe (a register's crashed
//!   write of a value nobody read) is removed, as the model decides ([`Model::unobservable`]).
//! - Keys are independent objects (P-compositionality, Herlihy & Wing): a history is
//!   linearizable iff each key's sub-history is. Each key becomes its own part.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::history::{History, Op, OpType, Process, Value};
use crate::model::{Call, Model, ModelError, Outcome};

/// One call of a part: the compiled operation and where it sits in the history.
#[derive(Clone, Debug)]
pub struct PreparedCall<O> {
    pub op: O,
    /// Position in the history of the invoke.
    pub invoke: u32,
    /// Position of the ok completion; `None` when the outcome is unknown (never returns).
    pub complete: Option<u32>,
    /// The client process that made the call.
    pub process: u64,
}

/// One independent object of the history, ready to search.
pub struct Part<M: Model> {
    /// The key of the part; `None` for a single-object history (or with partitioning off).
    pub key: Option<Value>,
    pub model: M,
    /// In the order of their invokes.
    pub calls: Vec<PreparedCall<M::Op>>,
    /// Calls of the history's part before reductions (ok + info + unknown, fails excluded).
    pub calls_before_reduction: usize,
}

/// Why a history cannot be searched.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A call the model could not take.
    #[error("operation at index {index} (process {process}, {f}): {source}")]
    Refused {
        /// Position in the history of the invoke.
        index: usize,
        process: String,
        f: String,
        #[source]
        source: ModelError,
    },
    /// Positions are kept in 32 bits, to keep calls small.
    #[error(
        "the history has more than {} events, more than faultline can check",
        u32::MAX
    )]
    TooLong,
}

/// An invoke waiting for its completion.
struct Open {
    invoke: u32,
    part: u32,
    f: Arc<str>,
    /// The key, kept only when parts are not split by key (the model then sees it).
    key: Option<Value>,
    input: Value,
}

/// Turns a history into parts one op at a time, so that a history can be prepared as it is read
/// without ever being held whole. Each call is compiled as soon as its outcome is known; what is
/// kept per call is its compiled op and positions, not its values.
pub struct Preparer<M: Model> {
    proto: M,
    partition: bool,
    parts: Vec<Part<M>>,
    /// The part of each key, and of ops without a key (or of all ops, when not partitioning).
    part_of: FxHashMap<Value, u32>,
    part_of_keyless: Option<u32>,
    /// Per client process, its invoke without a completion yet.
    open: FxHashMap<u64, Open>,
    events: usize,
    error: Option<PrepareError>,
}

impl<M: Model> Preparer<M> {
    /// Parts get a clone of `proto` each; `partition` splits by key.
    pub fn new(proto: &M, partition: bool) -> Self {
        Preparer {
            proto: proto.clone(),
            partition,
            parts: Vec::new(),
            part_of: FxHashMap::default(),
            part_of_keyless: None,
            open: FxHashMap::default(),
            events: 0,
            error: None,
        }
    }

    /// Takes the next op of the history. Readers have validated the pairing already; whatever
    /// slips through is read leniently: a stray completion is ignored, and an invoke left open by
    /// a second invoke of its process has an unknown outcome.
    pub fn push(&mut self, op: &Op) {
        let position = self.events;
        self.events += 1;
        if self.error.is_some() {
            return;
        }
        let Ok(position) = u32::try_from(position) else {
            self.error = Some(PrepareError::TooLong);
            return;
        };
        let Process::Client(process) = op.process else {
            return;
        };
        if op.kind == OpType::Invoke {
            let key = op.key.as_ref().filter(|_| self.partition);
            let known = match key {
                Some(k) => self.part_of.get(k).copied(),
                None => self.part_of_keyless,
            };
            let part = match known {
                Some(part) => part,
                None => {
                    self.parts.push(Part {
                        key: key.cloned(),
                        model: self.proto.clone(),
                        calls: Vec::new(),
                        calls_before_reduction: 0,
                    });
                    let part = self.parts.len() as u32 - 1;
                    match key {
                        Some(k) => {
                            self.part_of.insert(k.clone(), part);
                        }
                        None => self.part_of_keyless = Some(part),
                    }
                    part
                }
            };
            let open = Open {
                invoke: position,
                part,
                f: op.f.clone(),
                key: if self.partition { None } else { op.key.clone() },
                input: op.value.clone(),
            };
            if let Some(earlier) = self.open.insert(process, open) {
                self.complete(process, earlier, Outcome::Unknown, None);
            }
            return;
        }
        let Some(open) = self.open.remove(&process) else {
            return;
        };
        match op.kind {
            OpType::Ok => self.complete(process, open, Outcome::Ok(&op.value), Some(position)),
            OpType::Fail => {}
            _ => self.complete(process, open, Outcome::Unknown, None),
        }
    }

    /// Compiles a call whose outcome is known (or known to be unknown) into its part, unless it
    /// cannot matter (see the module documentation).
    fn complete(&mut self, process: u64, open: Open, outcome: Outcome, complete: Option<u32>) {
        let part = &mut self.parts[open.part as usize];
        part.calls_before_reduction += 1;
        let call = Call {
            f: &open.f,
            key: open.key.as_ref(),
            input: &open.input,
            outcome,
        };
        let op = match part.model.compile(&call) {
            Ok(op) => op,
            Err(source) => {
                self.error = Some(PrepareError::Refused {
                    index: open.invoke as usize,
                    process: process.to_string(),
                    f: open.f.to_string(),
                    source,
                });
                return;
            }
        };
        let removable = match complete {
            None => part.model.is_read_only(&op),
            Some(_) => part.model.always_accepts(&op),
        };
        if !removable {
            part.calls.push(PreparedCall {
                op,
                invoke: open.invoke,
                complete,
                process,
            });
        }
    }

    /// The number of ops taken so far (every event, nemesis ones too).
    pub fn events(&self) -> usize {
        self.events
    }

    /// The parts, once every op has been taken: invokes still open have unknown outcomes.
    pub fn finish(mut self) -> Result<Vec<Part<M>>, PrepareError> {
        let mut open: Vec<(u64, Open)> = self.open.drain().collect();
        open.sort_unstable_by_key(|(_, o)| o.invoke);
        for (process, o) in open {
            if self.error.is_some() {
                break;
            }
            self.complete(process, o, Outcome::Unknown, None);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        // Calls were compiled as they completed; the search wants them in invoke order.
        let mut parts = self.parts;
        parts.retain(|p| p.calls_before_reduction > 0);
        for part in &mut parts {
            if !part.calls.is_sorted_by_key(|c| c.invoke) {
                part.calls.sort_unstable_by_key(|c| c.invoke);
            }
            drop_unobservable(part);
            part.calls.shrink_to_fit();
        }
        Ok(parts)
    }
}

/// Splits and compiles a whole history for `proto` (cloned once per part).
pub fn prepare<M: Model>(
    history: &History,
    proto: &M,
    partition: bool,
) -> Result<Vec<Part<M>>, PrepareError> {
    let mut preparer = Preparer::new(proto, partition);
    for op in &history.ops {
        preparer.push(op);
    }
    preparer.finish()
}

/// Leaves out the calls of unknown outcome whose effect nobody could observe (see
/// [`Model::unobservable`]).
fn drop_unobservable<M: Model>(part: &mut Part<M>) {
    if part.calls.iter().all(|c| c.complete.is_some()) {
        return;
    }
    let ops: Vec<&M::Op> = part.calls.iter().map(|c| &c.op).collect();
    let known: Vec<bool> = part.calls.iter().map(|c| c.complete.is_some()).collect();
    let drop = part.model.unobservable(&ops, &known);
    if !drop.iter().any(|&d| d) {
        return;
    }
    let mut i = 0;
    part.calls.retain(|c| {
        let keep = c.complete.is_some() || !drop.get(i).copied().unwrap_or(false);
        i += 1;
        keep
    });
}
