//! Pairing a history's invokes with their completions into [`Txns`], one op at a time, so that
//! a file can be checked as it is read without holding its ops.
//!
//! Every client op is a transaction (Elle checks `(h/client-ops history)` the same way); nemesis
//! ops are skipped. The readers have already checked that each process invokes, then completes,
//! and never invokes again after an `info`, so pairing needs only the pending invoke per process.

use rustc_hash::FxHashMap;

use super::mop::decode;
use super::txn::{txn, Status, Txns, Workload};
use crate::history::{Op, OpType, Process, Value};

/// An invoke waiting for its completion.
struct Pending {
    index: u64,
    line: u32,
    /// The invoke's value: the writes of a transaction whose completion does not repeat them.
    value: Value,
}

/// Builds [`Txns`] from ops; see the module documentation.
pub struct Builder {
    workload: Workload,
    txns: Txns,
    pending: FxHashMap<u64, Pending>,
    /// The invoke index of each pending transaction is kept, to sort completed and pending
    /// transactions back into invoke order at the end.
    order: Vec<u64>,
    /// Where invokes are decoded to be checked; reused to spare an allocation per invoke.
    scratch: Txns,
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
            scratch: Txns::default(),
        }
    }

    /// Takes the next op, found at source `line`.
    pub fn push(&mut self, op: Op, line: usize) -> Result<(), Malformed> {
        let Process::Client(p) = op.process else {
            return Ok(());
        };
        let line32 = u32::try_from(line).unwrap_or(u32::MAX);
        if op.kind == OpType::Invoke {
            // Checked now so that a bad invoke is named at its own line.
            self.scratch.mops.clear();
            decode(&op.value, self.workload, false, &mut self.scratch).map_err(|m| (line, m))?;
            let value = op.value;
            self.pending.insert(
                p,
                Pending {
                    index: op.index,
                    line: line32,
                    value,
                },
            );
            return Ok(());
        }
        let Some(invoke) = self.pending.remove(&p) else {
            // A completion without an invoke: the readers refuse these; nothing to pair.
            return Ok(());
        };
        let status = match op.kind {
            OpType::Ok => Status::Ok,
            OpType::Fail => Status::Fail,
            _ => Status::Info,
        };
        // An ok completion carries the reads; the others may carry nothing useful.
        let value = match (&op.value, status) {
            (v, Status::Ok) => v,
            (v @ Value::Vector(_), _) => v,
            (_, _) => &invoke.value,
        };
        let first = self.txns.mops.len();
        decode(value, self.workload, status == Status::Ok, &mut self.txns)
            .map_err(|m| (line, m))?;
        let t = txn(invoke.index, Some(op.index), p, status, invoke.line);
        self.txns.push(t, first);
        self.order.push(invoke.index);
        Ok(())
    }

    /// The transactions, in invoke order; invokes never completed end as `info`.
    pub fn finish(mut self) -> Txns {
        let mut pending: Vec<(u64, Pending)> = self.pending.drain().collect();
        pending.sort_by_key(|(_, p)| p.index);
        for (p, invoke) in pending {
            let first = self.txns.mops.len();
            // Checked when it was read.
            if decode(&invoke.value, self.workload, false, &mut self.txns).is_ok() {
                let t = txn(invoke.index, None, p, Status::Info, invoke.line);
                self.txns.push(t, first);
                self.order.push(invoke.index);
            }
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

    pub fn bytes(&self) -> usize {
        self.txns.bytes() + self.order.capacity() * 8
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
