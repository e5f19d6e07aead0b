//! The Elle checker's own data in a verdict's `detail`, for the pages that draw its findings and
//! for tools: everything needed to draw each anomaly (a cycle as a graph of transactions with
//! their micro-ops and labelled edges) without the history.
//!
//! ```json
//! {
//!   "workload": "list-append",
//!   "consistency_models": ["strict-serializable"],
//!   "inferences": [],
//!   "anomaly_types": ["G-single", "G1a"],
//!   "prohibited_types": ["G-single", "G1a"],
//!   "not": ["consistent-view", "read-committed"],
//!   "also_not": ["serializable", "..."],
//!   "anomalies": {
//!     "G-single": [{
//!       "kind": "G-single", "prohibited": true, "shortest": true,
//!       "txns": [{"name": "T1", "index": 4, "complete": 9, "process": 1, "status": "ok",
//!                 "mops": [{"f": "append", "key": "5", "value": 3}]}, ...],
//!       "edges": [{"from": 0, "to": 1, "kind": "rw", "key": "5",
//!                  "explanation": "T2 appended 3 to key 5; T1 read key 5 as [1 2], ..."}, ...],
//!       "explanation": ["...", "..."]
//!     }]
//!   },
//!   "components": 1, "largest_component": 2, "unfinished": []
//! }
//! ```
//!
//! In a cycle, `edges[i]` goes from `txns[edges[i].from]` to `txns[edges[i].to]`, going round
//! in order: `txns` lists the cycle's transactions in cycle order, and the last edge returns to
//! the first. A non-cycle anomaly has no edges. Keys are written as the history wrote them (EDN).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ElleDetail {
    /// `list-append` or `rw-register`.
    pub workload: String,
    /// The models checked (canonical names).
    pub consistency_models: Vec<String>,
    /// The version-order inferences used beyond the workload's own (rw-register): `wfr-keys`,
    /// `sequential-keys`, `linearizable-keys`.
    pub inferences: Vec<String>,
    /// Every anomaly kind found, sorted.
    pub anomaly_types: Vec<String>,
    /// The kinds found that the models checked prohibit: why the verdict is invalid.
    pub prohibited_types: Vec<String>,
    /// The weakest models the anomalies found rule out.
    pub not: Vec<String>,
    /// Every stronger model they rule out too.
    pub also_not: Vec<String>,
    /// The anomalies kept with their explanation, by kind (the counts are in the verdict).
    pub anomalies: BTreeMap<String, Vec<AnomalyCase>>,
    /// Strongly connected components of two or more transactions, and the largest's size.
    pub components: usize,
    pub largest_component: usize,
    /// Cycle kinds whose search did not finish (budget, time or memory).
    pub unfinished: Vec<String>,
}

/// One anomaly, drawable on its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyCase {
    pub kind: String,
    /// Whether the models checked prohibit it.
    pub prohibited: bool,
    /// The key, for anomalies of one key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// For a cycle: whether no shorter cycle of its kind exists in its component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortest: Option<bool>,
    pub txns: Vec<TxnView>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<EdgeView>,
    pub explanation: Vec<String>,
}

/// A transaction as an anomaly shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnView {
    /// `T1`, `T2`, ... as the explanation names it.
    pub name: String,
    /// History index of the invoke, and of the completion if there was one.
    pub index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<u64>,
    pub process: u64,
    /// `ok`, `info` or `fail`.
    pub status: String,
    pub mops: Vec<MopView>,
}

/// A micro-op: `f` is `append`, `w` or `r`; `value` the element, the written value, or what
/// the read saw (a list, an integer, `null` for nil; absent when unknown).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MopView {
    pub f: String,
    pub key: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// One edge of a cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeView {
    /// Positions in the case's `txns`.
    pub from: usize,
    pub to: usize,
    /// `ww`, `wr`, `rw`, `process` or `realtime`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Why `from` must precede `to`, in words.
    pub explanation: String,
}
