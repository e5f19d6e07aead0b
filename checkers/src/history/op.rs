//! Operations and histories, with the field names Jepsen uses.

use std::fmt;
use std::sync::Arc;

use super::Value;

/// What an event of the history says about its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpType {
    /// The client is about to perform the operation.
    Invoke,
    /// The operation happened, with this result.
    Ok,
    /// The operation certainly did not happen.
    Fail,
    /// The outcome is unknown: the operation may take effect at any time after its invoke, or never.
    Info,
}

impl OpType {
    pub fn name(self) -> &'static str {
        match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<OpType> {
        Some(match s {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            _ => return None,
        })
    }

    pub fn is_completion(self) -> bool {
        self != OpType::Invoke
    }
}

/// Who performed an operation: a client process, or the nemesis injecting faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl Process {
    pub fn is_nemesis(self) -> bool {
        self == Process::Nemesis
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// Details that few operations carry, boxed so that every other operation stays small.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpExtra {
    /// The node the client talked to.
    pub node: Option<Box<str>>,
    /// Why a `fail` or `info` happened.
    pub error: Option<Value>,
    /// The workload this operation belongs to, in a run of several workloads at once (each on
    /// keys of its own): what splits the history back into one history per workload.
    pub workload: Option<Box<str>>,
}

/// One event of a history: an invoke or a completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// Position in the history (0-based); readers number events as they read them.
    pub index: u64,
    /// Nanoseconds since the test started; `None` where the source did not record it.
    pub time: Option<i64>,
    pub process: Process,
    pub kind: OpType,
    /// The function: `read`, `write`, `cas`, `start-partition`, ...
    pub f: Arc<str>,
    /// The independent key this operation acts on, for multi-key workloads.
    pub key: Option<Value>,
    /// The argument on invoke, the result on ok.
    pub value: Value,
    pub extra: Option<Box<OpExtra>>,
}

impl Op {
    /// An op with no index, time, key, node or error: what hand-built histories start from
    /// (set the rest with struct update syntax, `Op { index, ..Op::new(..) }`).
    pub fn new(process: Process, kind: OpType, f: &str, value: Value) -> Op {
        Op {
            index: 0,
            time: None,
            process,
            kind,
            f: f.into(),
            key: None,
            value,
            extra: None,
        }
    }

    pub fn node(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.node.as_deref())
    }

    pub fn error(&self) -> Option<&Value> {
        self.extra.as_ref().and_then(|e| e.error.as_ref())
    }

    /// The workload this operation belongs to, in a history of several workloads.
    pub fn workload(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.workload.as_deref())
    }
}

/// A whole history, in the order it was recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub ops: Vec<Op>,
    /// The 1-based source line where each op starts, parallel to `ops`, so that checks running
    /// long after reading can still point at the file. Empty for a history built in memory
    /// (`History::default()`, [`History::from_ops`]); [`History::line`] then falls back to the
    /// op's position + 1.
    pub lines: Vec<u32>,
}

impl History {
    /// A history built in memory, with no source lines.
    pub fn from_ops(ops: Vec<Op>) -> Self {
        History {
            ops,
            lines: Vec::new(),
        }
    }

    /// The source line of the op at position `i`, or `i + 1` when the history has no lines.
    pub fn line(&self, i: usize) -> usize {
        match self.lines.get(i) {
            Some(&l) => l as usize,
            None => i + 1,
        }
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The fault events: operations of the `nemesis` process.
    pub fn nemesis_ops(&self) -> impl Iterator<Item = &Op> {
        self.ops.iter().filter(|o| o.process.is_nemesis())
    }
}

/// Shares the storage of the few distinct function names (`read`, `write`, ...) among all operations.
#[derive(Default)]
pub struct FnNames {
    names: Vec<Arc<str>>,
}

impl FnNames {
    pub fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.names.iter().find(|n| &***n == name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        if self.names.len() < 64 {
            self.names.push(n.clone());
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_op_stays_compact() {
        // Tens of millions of events must fit in memory.
        assert!(
            std::mem::size_of::<Op>() <= 120,
            "{}",
            std::mem::size_of::<Op>()
        );
    }
}
