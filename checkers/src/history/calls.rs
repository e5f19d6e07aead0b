//! Calls: each client invoke paired with its completion, in history order. The one pairing that
//! the checkers which work on whole calls (sets, summaries) and the report's drawings share.

use std::collections::HashMap;

use super::{History, Op, OpType, Process};

/// One client operation: its invoke and, when the history has it, its completion.
#[derive(Debug, Clone, Copy)]
pub struct Call<'h> {
    pub invoke: &'h Op,
    /// `None`: the history ended before the process completed the operation.
    pub completion: Option<&'h Op>,
}

impl Call<'_> {
    /// When the operation was invoked, in ns since the test started (0 when unrecorded).
    pub fn start(&self) -> i64 {
        self.invoke.time.unwrap_or(0)
    }

    /// When the operation completed; `None` for an `info` op or a missing completion, which
    /// may take effect until the end of time.
    pub fn end(&self) -> Option<i64> {
        match self.completion {
            Some(c) if c.kind != OpType::Info => c.time.or(self.invoke.time),
            _ => None,
        }
    }

    /// How it ended: `Ok`, `Fail`, `Info`; `None` without a completion (which reads as `info`).
    pub fn kind(&self) -> Option<OpType> {
        self.completion.map(|c| c.kind)
    }

    /// Whether it completed `ok`.
    pub fn is_ok(&self) -> bool {
        self.kind() == Some(OpType::Ok)
    }

    /// `ok`, `fail`, `info`, or `pending` without a completion.
    pub fn outcome(&self) -> &'static str {
        self.completion.map_or("pending", |c| c.kind.name())
    }
}

/// Pairs each client invoke with the next event of its process, in history order. Nemesis
/// events are left out. A well-formed history (see [`super::check_well_formed`]) pairs exactly.
pub fn pair_calls(history: &History) -> Vec<Call<'_>> {
    let mut open: HashMap<Process, usize> = HashMap::new();
    let mut calls: Vec<Call<'_>> = Vec::new();
    for op in history.ops.iter().filter(|o| !o.process.is_nemesis()) {
        if op.kind == OpType::Invoke {
            open.insert(op.process, calls.len());
            calls.push(Call {
                invoke: op,
                completion: None,
            });
        } else if let Some(i) = open.remove(&op.process) {
            calls[i].completion = Some(op);
        }
    }
    calls
}
