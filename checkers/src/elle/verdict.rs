//! The Elle checker's findings as a neutral [`Verdict`]: one [`Anomaly`] per anomaly kept (the
//! prohibited ones; the others only in `detail`), explained in words, transaction by transaction
//! and edge by edge; counts per kind; and [`ElleDetail`] for the pages that draw cycles.

use serde_json::json;

use super::cycles::{step_names, Cycle};
use super::detail::{AnomalyCase, EdgeView, ElleDetail, MopView, TxnView};
use super::finding::{self, name, Finding, Found};
use super::graph::{kind_name, Kinds, PROCESS, REALTIME};
use super::rw_register::{self, VersionEdges};
use super::txn::{Key, Mop, Status, TxnId, Txns, Workload};
use super::{list_append, models, ElleOptions, CHECKER};
use crate::verdict::{Anomaly, Validity, Verdict};

/// What the analysis found, before it is turned into a verdict.
pub struct Outcome {
    pub found: Found,
    /// Why the verdict cannot be valid even if nothing prohibited was found.
    pub unknown: Vec<String>,
    pub components: usize,
    pub largest_component: usize,
    pub unfinished: Vec<&'static str>,
    pub edges: usize,
}

/// A cycle explained: its transactions in cycle order, and a sentence per edge.
pub fn cycle_finding(
    txns: &Txns,
    cycle: &Cycle,
    workload: Workload,
    entries_of: &dyn Fn(Key) -> Vec<(TxnId, u32)>,
    versions_of: &dyn Fn(Key) -> VersionEdges,
) -> Finding {
    let order: Vec<TxnId> = cycle.steps.iter().map(|s| s.from).collect();
    let n = order.len();
    let mut lines = vec![format!(
        "a cycle of {n} transactions ({}): each must come before the next, so no order of them \
         all exists",
        step_names(&cycle.steps)
    )];
    let mut step_keys = Vec::with_capacity(n);
    for (i, s) in cycle.steps.iter().enumerate() {
        let (an, bn) = (name(i), name((i + 1) % n));
        let text = explain_step(
            txns,
            workload,
            (s.from, &an),
            (s.to, &bn),
            s.kind,
            entries_of,
            versions_of,
        );
        step_keys.push(text.as_ref().and_then(|(k, _)| *k));
        lines.push(text.map_or_else(
            || format!("{an} precedes {bn}: {}", kind_name(s.kind)),
            |(_, t)| t,
        ));
    }
    Finding {
        kind: cycle.kind,
        key: None,
        txns: order,
        lines,
        steps: cycle.steps.clone(),
        step_keys,
        shortest: cycle.shortest,
    }
}

/// Why `a` precedes `b`, in words, with the key for data edges.
fn explain_step(
    txns: &Txns,
    workload: Workload,
    a: (TxnId, &str),
    b: (TxnId, &str),
    kind: Kinds,
    entries_of: &dyn Fn(Key) -> Vec<(TxnId, u32)>,
    versions_of: &dyn Fn(Key) -> VersionEdges,
) -> Option<(Option<Key>, String)> {
    let (ta, tb) = (txns.txn(a.0), txns.txn(b.0));
    match kind {
        PROCESS => Some((
            None,
            format!(
                "{} and {} ran on process {}, {} first: process",
                a.1, b.1, ta.process, a.1
            ),
        )),
        REALTIME => Some((
            None,
            format!(
                "{} completed (index {}) before {} began (index {}): realtime",
                a.1,
                ta.complete.unwrap_or(ta.invoke),
                b.1,
                tb.invoke
            ),
        )),
        _ => match workload {
            Workload::ListAppend => list_append::explain(txns, entries_of, a, b, kind),
            Workload::RwRegister => rw_register::explain(txns, versions_of, a, b, kind),
        }
        .map(|(k, t)| (Some(k), t)),
    }
}

/// The line that says which transaction `Tn` is.
fn legend(txns: &Txns, i: usize, t: TxnId) -> String {
    let txn = txns.txn(t);
    let done = match txn.complete {
        Some(c) => format!("{} at {c}", txn.status.name()),
        None => "never completed".to_string(),
    };
    format!(
        "{}: process {}, index {} ({done}): {}",
        name(i),
        txn.process,
        txn.invoke,
        finding::mops(txns, t)
    )
}

fn txn_view(txns: &Txns, i: usize, t: TxnId) -> TxnView {
    let txn = txns.txn(t);
    TxnView {
        name: name(i),
        index: txn.invoke,
        complete: txn.complete,
        process: txn.process,
        status: txn.status.name().to_string(),
        mops: txns
            .mops(t)
            .iter()
            .map(|m| {
                let (f, value) = match *m {
                    Mop::Append { element, .. } => ("append", json!(element)),
                    Mop::Write { value, .. } => ("w", json!(value)),
                    Mop::ReadList { start, len, .. } => ("r", json!(txns.list(start, len))),
                    Mop::ReadRegister { value, .. } => ("r", json!(value)),
                    Mop::ReadUnknown { .. } => ("r", serde_json::Value::Null),
                };
                MopView {
                    f: f.to_string(),
                    key: finding::key(txns, m.key()),
                    value,
                }
            })
            .collect(),
    }
}

fn case(txns: &Txns, f: &Finding, prohibited: bool, workload: Workload) -> AnomalyCase {
    let n = f.txns.len();
    let edges = f
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| EdgeView {
            from: i,
            to: (i + 1) % n,
            kind: kind_name(s.kind).to_string(),
            key: key_of_step(txns, f, i, workload),
            explanation: f.lines.get(i + 1).cloned().unwrap_or_default(),
        })
        .collect();
    AnomalyCase {
        kind: f.kind.to_string(),
        prohibited,
        key: f.key.map(|k| finding::key(txns, k)),
        shortest: (!f.steps.is_empty()).then_some(f.shortest),
        txns: f
            .txns
            .iter()
            .enumerate()
            .map(|(i, &t)| txn_view(txns, i, t))
            .collect(),
        edges,
        explanation: explanation(txns, f),
    }
}

/// The key a cycle's step is about: the one key both transactions touch, if only one.
fn key_of_step(txns: &Txns, f: &Finding, i: usize, _w: Workload) -> Option<String> {
    let s = f.steps[i];
    if s.kind == PROCESS || s.kind == REALTIME {
        return None;
    }
    if let Some(Some(k)) = f.step_keys.get(i) {
        return Some(finding::key(txns, *k));
    }
    let keys = |t: TxnId| txns.mops(t).iter().map(Mop::key).collect::<Vec<_>>();
    let (ka, kb) = (keys(s.from), keys(s.to));
    let mut shared: Vec<Key> = ka.into_iter().filter(|k| kb.contains(k)).collect();
    shared.sort_unstable();
    shared.dedup();
    (shared.len() == 1).then(|| finding::key(txns, shared[0]))
}

/// A finding's explanation lines followed by the legend of its transactions.
fn explanation(txns: &Txns, f: &Finding) -> Vec<String> {
    let mut lines = f.lines.clone();
    lines.extend(f.txns.iter().enumerate().map(|(i, &t)| legend(txns, i, t)));
    lines
}

/// The verdict of a check.
pub fn assemble(
    txns: &Txns,
    checked: &[&'static str],
    options: &ElleOptions,
    out: Outcome,
) -> Verdict {
    let mut v = Verdict::new(CHECKER, &checked.join(", "));
    let prohibited = models::prohibited(checked);
    let kinds: Vec<&'static str> = out.found.counts.keys().copied().collect();
    let bad: Vec<&'static str> = kinds
        .iter()
        .copied()
        .filter(|k| prohibited.contains(k))
        .collect();
    let (not, also_not) = models::boundary(kinds.iter().copied());
    let count = |s: Status| txns.txns.iter().filter(|t| t.status == s).count() as u64;
    v.counts.insert("transactions".into(), txns.len() as u64);
    v.counts.insert("ok".into(), count(Status::Ok));
    v.counts.insert("info".into(), count(Status::Info));
    v.counts.insert("fail".into(), count(Status::Fail));
    v.counts.insert("keys".into(), txns.keys.len() as u64);
    v.counts.insert("edges".into(), out.edges as u64);
    v.counts.insert("components".into(), out.components as u64);
    for (k, n) in &out.found.counts {
        v.counts.insert((*k).to_string(), *n);
    }
    let mut findings = out.found.findings.clone();
    findings.sort_by_key(|f| (!prohibited.contains(f.kind), severity(f.kind)));
    for f in findings.iter().filter(|f| prohibited.contains(f.kind)) {
        v.anomalies.push(Anomaly {
            kind: f.kind.to_string(),
            key: f.key.map(|k| finding::key(txns, k)),
            explanation: explanation(txns, f),
            ops: f.txns.iter().map(|&t| txns.txn(t).invoke).collect(),
        });
    }
    v.unknown_because = out.unknown.clone();
    if !out.unfinished.is_empty() {
        v.unknown_because.push(format!(
            "the cycle search did not finish for {} (a component of {} transactions)",
            out.unfinished.join(", "),
            out.largest_component
        ));
    }
    if count(Status::Ok) == 0 {
        v.unknown_because
            .push("no transaction committed: nothing to judge".into());
    }
    v.valid = if !bad.is_empty() {
        Validity::Invalid
    } else if !v.unknown_because.is_empty() {
        Validity::Unknown
    } else {
        Validity::Valid
    };
    let against = checked.join(", ");
    v.summary = match v.valid {
        Validity::Invalid => {
            let shown: Vec<String> = bad
                .iter()
                .map(|k| format!("{} {k}", out.found.counts[k]))
                .collect();
            format!(
                "{} in {} transactions: not {}{}",
                shown.join(", "),
                txns.len(),
                not.join(" nor "),
                if also_not.is_empty() {
                    String::new()
                } else {
                    format!(" (nor {})", also_not.join(", "))
                }
            )
        }
        Validity::Unknown => format!(
            "{} transactions: could not decide {against}: {}",
            txns.len(),
            v.unknown_because.first().cloned().unwrap_or_default()
        ),
        Validity::Valid => format!(
            "{} transactions, {} keys: no anomaly {against} prohibits",
            txns.len(),
            txns.keys.len()
        ),
    };
    let mut anomalies = std::collections::BTreeMap::new();
    for f in &findings {
        anomalies
            .entry(f.kind.to_string())
            .or_insert_with(Vec::new)
            .push(case(txns, f, prohibited.contains(f.kind), options.workload));
    }
    let detail = ElleDetail {
        workload: options.workload.name().to_string(),
        consistency_models: checked.iter().map(|m| m.to_string()).collect(),
        inferences: inferences(options),
        anomaly_types: kinds.iter().map(|k| k.to_string()).collect(),
        prohibited_types: bad.iter().map(|k| k.to_string()).collect(),
        not: not.iter().map(|m| m.to_string()).collect(),
        also_not: also_not.iter().map(|m| m.to_string()).collect(),
        anomalies,
        components: out.components,
        largest_component: out.largest_component,
        unfinished: out.unfinished.iter().map(|k| k.to_string()).collect(),
    };
    v.detail = serde_json::to_value(&detail).unwrap_or_default();
    v
}

fn inferences(options: &ElleOptions) -> Vec<String> {
    if options.workload != Workload::RwRegister {
        return Vec::new();
    }
    let i = options.inference;
    [
        (i.wfr_keys, "wfr-keys"),
        (i.sequential_keys, "sequential-keys"),
        (i.linearizable_keys, "linearizable-keys"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| n.to_string())
    .collect()
}

/// Worst first: cycles by Elle's order, then the anomalies of reads.
fn severity(kind: &str) -> usize {
    const ORDER: &[&str] = &[
        "G0",
        "G1c",
        "G-single",
        "G-nonadjacent",
        "G2-item",
        "G1a",
        "G1b",
        "dirty-update",
        "incompatible-order",
        "garbage-read",
        "duplicate-elements",
        "cyclic-versions",
        "internal",
        "future-read",
        "lost-update",
    ];
    ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_else(|| ORDER.len() + kind.len())
}
