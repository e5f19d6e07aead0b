//! Pairing a history's invokes with their completions into [`Txns`], one op at a time, so that
//! a file can be checked as it is read without holding its ops.
//!
//! Every client op is a transaction (Elle checks `(h/client-ops history)` the same way); nemesis
//! ops are skipped. The readers have already checked that each process invokes, then completes,
//! and never invokes again after an `info`, so pairing needs only the pending invoke per process.
//!
//! Ops arrive decoded: their micro-ops in a [`Txns`] used as a batch (its own keys, elements and
//! micro-ops, no transactions), either one op at a time ([`Builder::push`]) or a whole chunk of
//! a file decoded on another thread ([`Builder::push_decoded`], see `read.rs`).

use rustc_hash::FxHashMap;

use super::mop::decode;
use super::txn::{txn, Key, Mop, Status, Txns, Workload};
use crate::history::{Op, OpType, Process, Value};

/// An op whose micro-ops were decoded into a batch.
#[derive(Clone, Debug)]
pub struct DecodedOp {
    pub index: u64,
    pub process: Process,
    pub kind: OpType,
    pub line: usize,
    /// Its micro-ops in the batch, `None` when a `fail` or `info` completion carries none.
    pub mops: Option<(u32, u32)>,
}

/// Decodes `op` into `batch`; what is wrong with it otherwise.
pub fn decode_op(
    op: &Op,
    line: usize,
    workload: Workload,
    batch: &mut Txns,
) -> Result<DecodedOp, String> {
    let mops = if op.process.is_nemesis()
        || (matches!(op.kind, OpType::Fail | OpType::Info) && !matches!(op.value, Value::Vector(_)))
    {
        None
    } else {
        let first = batch.mops.len();
        decode(&op.value, workload, op.kind == OpType::Ok, batch)?;
        Some((first as u32, (batch.mops.len() - first) as u32))
    };
    Ok(DecodedOp {
        index: op.index,
        process: op.process,
        kind: op.kind,
        line,
        mops,
    })
}

/// An invoke waiting for its completion, with its micro-ops (global keys; reads unknown).
struct Pending {
    index: u64,
    line: u32,
    mops: Vec<Mop>,
}

/// Builds [`Txns`] from ops; see the module documentation.
pub struct Builder {
    workload: Workload,
    txns: Txns,
    pending: FxHashMap<u64, Pending>,
    /// The invoke index of each transaction, to sort them back into invoke order at the end.
    order: Vec<u64>,
    /// The batch of [`Builder::push`], and its keys' global ids.
    batch: Txns,
    keys: Vec<Key>,
}

/// A malformed transaction: the source line of its op, and what is wrong.
pub type Malformed = (usize, String);

impl Builder {
    pub fn new(workload: Workload) -> Builder {
        Builder {
            workload,
            txns: Txns::default(),
            pending: FxHashMap::default(),
            order: Vec::new(),
            batch: Txns::default(),
            keys: Vec::new(),
        }
    }

    /// Takes the next op, found at source `line`.
    pub fn push(&mut self, op: Op, line: usize) -> Result<(), Malformed> {
        self.batch.mops.clear();
        self.batch.elements.clear();
        let d = decode_op(&op, line, self.workload, &mut self.batch).map_err(|m| (line, m))?;
        let mut batch = std::mem::take(&mut self.batch);
        let mut keys = std::mem::take(&mut self.keys);
        self.push_decoded(&d, &batch, &mut keys);
        std::mem::swap(&mut self.batch, &mut batch);
        self.keys = keys;
        Ok(())
    }

    /// Takes the next op, decoded into `batch`; `keys` maps the batch's keys to this builder's
    /// (grown as needed, and kept between calls for the same batch).
    pub fn push_decoded(&mut self, d: &DecodedOp, batch: &Txns, keys: &mut Vec<Key>) {
        let Process::Client(p) = d.process else {
            return;
        };
        let local = |(start, len): (u32, u32)| &batch.mops[start as usize..(start + len) as usize];
        if d.kind == OpType::Invoke {
            let mops = d
                .mops
                .map(|m| {
                    local(m)
                        .iter()
                        .map(|m| self.global(m, batch, keys))
                        .collect()
                })
                .unwrap_or_default();
            let line = u32::try_from(d.line).unwrap_or(u32::MAX);
            self.pending.insert(
                p,
                Pending {
                    index: d.index,
                    line,
                    mops,
                },
            );
            return;
        }
        let Some(invoke) = self.pending.remove(&p) else {
            // A completion without an invoke: the readers refuse these; nothing to pair.
            return;
        };
        let status = match d.kind {
            OpType::Ok => Status::Ok,
            OpType::Fail => Status::Fail,
            _ => Status::Info,
        };
        let first = self.txns.mops.len();
        match d.mops {
            Some(m) => {
                for mop in local(m) {
                    let g = self.global(mop, batch, keys);
                    self.txns.mops.push(g);
                }
            }
            None => self.txns.mops.extend(invoke.mops),
        }
        let t = txn(invoke.index, Some(d.index), p, status, invoke.line);
        self.txns.push(t, first);
        self.order.push(invoke.index);
    }

    /// A batch's micro-op with its key made global and its read elements copied over.
    fn global(&mut self, m: &Mop, batch: &Txns, keys: &mut Vec<Key>) -> Mop {
        let l = m.key() as usize;
        if keys.len() <= l {
            keys.resize(l + 1, Key::MAX);
        }
        if keys[l] == Key::MAX {
            keys[l] = self.txns.key_id(&batch.keys[l]);
        }
        let key = keys[l];
        match *m {
            Mop::Append { element, .. } => Mop::Append { key, element },
            Mop::Write { value, .. } => Mop::Write { key, value },
            Mop::ReadRegister { value, .. } => Mop::ReadRegister { key, value },
            Mop::ReadUnknown { .. } => Mop::ReadUnknown { key },
            Mop::ReadList { start, len, .. } => {
                let at = self.txns.elements.len() as u32;
                self.txns.elements.extend_from_slice(batch.list(start, len));
                Mop::ReadList {
                    key,
                    start: at,
                    len,
                }
            }
        }
    }

    /// Makes room for `factor` times what was taken so far (`factor` above 1: the part of the
    /// history still to come, guessed from the part read), so that the arrays of a large history
    /// are not copied each time they outgrow their room.
    pub fn expect(&mut self, factor: f64) {
        let more = |n: usize| ((n as f64) * (factor - 1.0).max(0.0) * 1.05) as usize;
        let t = &mut self.txns;
        t.txns.reserve(more(t.txns.len()));
        t.mops.reserve(more(t.mops.len()));
        t.elements.reserve(more(t.elements.len()));
        self.order.reserve(more(self.order.len()));
    }

    /// The transactions, in invoke order; invokes never completed end as `info`.
    pub fn finish(mut self) -> Txns {
        let mut pending: Vec<(u64, Pending)> = self.pending.drain().collect();
        pending.sort_by_key(|(_, p)| p.index);
        for (p, invoke) in pending {
            let first = self.txns.mops.len();
            self.txns.mops.extend(invoke.mops);
            let t = txn(invoke.index, None, p, Status::Info, invoke.line);
            self.txns.push(t, first);
            self.order.push(invoke.index);
        }
        // Completions arrive in completion order; the analyses want invoke order.
        if !self.order.windows(2).all(|w| w[0] < w[1]) {
            let mut perm: Vec<usize> = (0..self.txns.txns.len()).collect();
            perm.sort_by_key(|&i| self.order[i]);
            let old = std::mem::take(&mut self.txns.txns);
            self.txns.txns = perm.into_iter().map(|i| old[i].clone()).collect();
        }
        self.txns
    }
}

/// Builds the transactions of a whole history held in memory.
pub fn from_ops<'a>(
    ops: impl IntoIterator<Item = (&'a Op, usize)>,
    workload: Workload,
) -> Result<Txns, Malformed> {
    let mut b = Builder::new(workload);
    for (op, line) in ops {
        b.push(op.clone(), line)?;
    }
    Ok(b.finish())
}
