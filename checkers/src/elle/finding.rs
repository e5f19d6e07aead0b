//! What the analyses find: anomalies with the transactions involved and their explanation in
//! words, and the edges each key contributes to the dependency graph.
//!
//! Explanations name transactions `T1`, `T2`, ... in the order of [`Finding::txns`]; the verdict
//! adds a line per transaction saying which one that is (process, history index, micro-ops).

use super::cycles::Step;
use super::graph::Edge;
use super::txn::{Key, Mop, TxnId, Txns};

/// One anomaly found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Elle's name: `G1a`, `incompatible-order`, `G2-item`, ...
    pub kind: &'static str,
    pub key: Option<Key>,
    /// The transactions involved: `T1` is `txns[0]`, and so on.
    pub txns: Vec<TxnId>,
    /// What happened, one sentence a line.
    pub lines: Vec<String>,
    /// For a cycle, its steps (`txns` in cycle order); empty otherwise.
    pub steps: Vec<Step>,
    /// For a cycle, the key each step's dependency is on (none for process and real-time
    /// steps), as the explanation found it: two transactions may share several keys.
    pub step_keys: Vec<Option<Key>>,
    /// For a cycle, whether no shorter one of its kind exists in its component.
    pub shortest: bool,
}

impl Finding {
    pub fn new(
        kind: &'static str,
        key: Option<Key>,
        txns: Vec<TxnId>,
        lines: Vec<String>,
    ) -> Finding {
        Finding {
            kind,
            key,
            txns,
            lines,
            steps: Vec::new(),
            step_keys: Vec::new(),
            shortest: false,
        }
    }
}

/// What the analysis of one key gives: its edges, its anomalies, and why it could not be
/// judged, if it could not (a precondition of the workload broken, such as unique writes).
#[derive(Debug, Default)]
pub struct KeyAnalysis {
    pub edges: Vec<Edge>,
    pub found: Found,
    pub unknown: Vec<String>,
}

/// How many anomalies of one kind are kept with their explanation, per key or transaction; the
/// rest are only counted (a broken datastore can give a million aborted reads).
pub const KEPT_PER_KIND: usize = 8;

/// Anomalies as they are found: every one counted, the first few of each kind kept.
#[derive(Debug, Default)]
pub struct Found {
    pub findings: Vec<Finding>,
    pub counts: std::collections::BTreeMap<&'static str, u64>,
}

impl Found {
    /// Counts an anomaly of `kind`, and keeps it (built by `make`) while few of its kind are.
    pub fn add(&mut self, kind: &'static str, make: impl FnOnce() -> Finding) {
        let n = self.counts.entry(kind).or_insert(0);
        *n += 1;
        if *n as usize <= KEPT_PER_KIND {
            self.findings.push(make());
        }
    }

    pub fn merge(&mut self, other: Found) {
        self.findings.extend(other.findings);
        for (k, n) in other.counts {
            *self.counts.entry(k).or_insert(0) += n;
        }
    }
}

/// A list as Elle prints it: `[1 2 3]`.
pub fn list(elements: &[i64]) -> String {
    let items: Vec<String> = elements.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(" "))
}

/// A key as the history wrote it (EDN).
pub fn key(txns: &Txns, k: Key) -> String {
    txns.keys[k as usize].to_string()
}

/// A micro-op as Elle prints it: `[append 5 3]`, `[r 5 [1 2]]`, `[w x 1]`, `[r x nil]`.
pub fn mop(txns: &Txns, m: &Mop) -> String {
    let k = key(txns, m.key());
    match *m {
        Mop::Append { element, .. } => format!("[append {k} {element}]"),
        Mop::Write { value, .. } => format!("[w {k} {value}]"),
        Mop::ReadList { start, len, .. } => format!("[r {k} {}]", list(txns.list(start, len))),
        Mop::ReadRegister { value, .. } => match value {
            Some(v) => format!("[r {k} {v}]"),
            None => format!("[r {k} nil]"),
        },
        Mop::ReadUnknown { .. } => format!("[r {k} ?]"),
    }
}

/// The micro-ops of a transaction, one after another.
pub fn mops(txns: &Txns, t: TxnId) -> String {
    txns.mops(t)
        .iter()
        .map(|m| mop(txns, m))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `T1`, `T2`, ...: the name of the `i`th transaction of a finding.
pub fn name(i: usize) -> String {
    format!("T{}", i + 1)
}
