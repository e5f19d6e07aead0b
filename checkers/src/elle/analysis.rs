//! One check, start to end: anomalies per key and per transaction (in parallel), the dependency
//! graph, its strongly connected components, and the cycle search in each (in parallel), within
//! the time and memory limits. A limit reached ends the check `unknown`, keeping what was found.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rayon::prelude::*;

use super::cycles::{search_component, Limits, Spec, Variant};
use super::finding::{Found, KeyAnalysis};
use super::graph::{self, Graph, PROCESS, REALTIME};
use super::models;
use super::rw_register::{self, OrderEdges};
use super::scc::components;
use super::txn::{Key, Txns, Workload};
use super::verdict::Outcome;
use super::{list_append, verdict, ElleOptions};
use crate::verdict::Verdict;

/// Checks `txns` (see the module documentation).
pub fn check(
    txns: &Txns,
    models: &[&'static str],
    options: &ElleOptions,
    started: Instant,
) -> Verdict {
    let outcome = analyze(txns, models, options, started);
    verdict::assemble(txns, models, options, outcome)
}

fn analyze(
    txns: &Txns,
    models: &[&'static str],
    options: &ElleOptions,
    started: Instant,
) -> Outcome {
    let mut out = Outcome {
        found: Found::default(),
        unknown: Vec::new(),
        components: 0,
        largest_component: 0,
        unfinished: Vec::new(),
        edges: 0,
    };
    let deadline = options.time_limit.map(|d| started + d);
    let over_time = || deadline.is_some_and(|d| Instant::now() >= d);
    let memory = options.memory_limit.unwrap_or(usize::MAX);
    let mut used = txns.bytes();
    if used > memory {
        out.unknown.push(format!(
            "the transactions alone take {} MiB, over the memory limit",
            used >> 20
        ));
        return out;
    }
    let by_key = txns.by_key();
    used += by_key.bytes();
    let (sequential, linearizable) = match options.workload {
        Workload::RwRegister => (
            options
                .inference
                .sequential_keys
                .then(|| rw_register::sequential_edges(txns)),
            options
                .inference
                .linearizable_keys
                .then(|| rw_register::linearizable_edges(txns)),
        ),
        Workload::ListAppend => (None, None),
    };
    let ordered = |k: Key| -> Vec<_> {
        let of = |m: &Option<OrderEdges>| {
            m.as_ref()
                .and_then(|m| m.get(&k).cloned())
                .unwrap_or_default()
        };
        let mut v = of(&sequential);
        v.extend(of(&linearizable));
        v
    };
    let prohibited = models::prohibited(models);
    let wants = |suffix: &str| prohibited.iter().any(|a| a.ends_with(suffix));
    let (process, realtime) = (wants("-process"), wants("-realtime"));
    // The per-key and per-transaction analyses on every core; beside them, on whichever core is
    // free, the process and real-time orders, which are serial walks of the history.
    let ((per_key, per_txn), (process_edges, realtime_edges)) = rayon::join(
        || {
            let per_key: Vec<KeyAnalysis> = (0..txns.keys.len() as Key)
                .into_par_iter()
                .map(|k| match options.workload {
                    Workload::ListAppend => list_append::analyze_key(txns, by_key.of(k), k),
                    Workload::RwRegister => rw_register::analyze_key(
                        txns,
                        by_key.of(k),
                        k,
                        options.inference,
                        &ordered(k),
                    ),
                })
                .collect();
            let per_txn = (0..txns.len() as u32)
                .into_par_iter()
                .fold(Found::default, |mut found, t| {
                    match options.workload {
                        Workload::ListAppend => list_append::txn_findings(txns, t, &mut found),
                        Workload::RwRegister => rw_register::txn_findings(txns, t, &mut found),
                    }
                    found
                })
                .reduce(Found::default, |mut a, b| {
                    a.merge(b);
                    a
                });
            (per_key, per_txn)
        },
        || {
            let order = |wanted: bool, edges: fn(&Txns) -> Vec<graph::Edge>| {
                if wanted {
                    edges(txns)
                } else {
                    Vec::new()
                }
            };
            rayon::join(
                || order(process, graph::process_edges),
                || order(realtime, graph::realtime_edges),
            )
        },
    );
    let mut per_key_edges = Vec::with_capacity(per_key.len());
    for ka in per_key {
        out.found.merge(ka.found);
        out.unknown.extend(ka.unknown);
        per_key_edges.push(ka.edges);
    }
    out.found.merge(per_txn);
    let parts: Vec<&[graph::Edge]> = per_key_edges
        .iter()
        .map(Vec::as_slice)
        .chain([process_edges.as_slice(), realtime_edges.as_slice()])
        .collect();
    used += parts.iter().map(|p| p.len()).sum::<usize>() * std::mem::size_of::<graph::Edge>();
    if used > memory || over_time() {
        out.unknown
            .push(limit_reason(used > memory, "building the dependency graph"));
        return out;
    }
    let g = Graph::from_parts(txns.len(), &parts);
    drop(parts);
    drop((per_key_edges, process_edges, realtime_edges));
    out.edges = g.edges();
    used += g.bytes();
    let mut sccs = components(&g, graph::DATA | PROCESS | REALTIME);
    sccs.sort_by_key(|c| std::cmp::Reverse(c.len()));
    out.components = sccs.len();
    out.largest_component = sccs.first().map_or(0, Vec::len);
    if sccs.is_empty() {
        return out;
    }
    if used > memory || over_time() {
        out.unknown
            .push(limit_reason(used > memory, "searching for cycles"));
        return out;
    }
    let wanted: Vec<Spec> = Spec::all()
        .into_iter()
        .filter(|s| match s.variant {
            Variant::Data => true,
            Variant::Process => process,
            Variant::Realtime => realtime,
        })
        .collect();
    // What a search may hold: its queue and visited states, 24 bytes a state, two at a time.
    let states = ((memory.saturating_sub(used)) / 48).clamp(10_000, 4_000_000);
    let limits = Limits {
        deadline,
        states_per_search: states,
        stopped: AtomicBool::new(false),
    };
    let results: Vec<_> = sccs
        .par_iter()
        .map_init(
            || vec![u32::MAX; txns.len()],
            |local, c| search_component(&g, c, &wanted, &limits, local),
        )
        .collect();
    let entries_of = |k: Key| by_key.of(k).to_vec();
    let versions_of =
        |k: Key| rw_register::version_edges(txns, by_key.of(k), k, options.inference, &ordered(k));
    for r in results {
        out.unfinished.extend(r.unfinished);
        for c in r.cycles {
            let finding =
                verdict::cycle_finding(txns, &c, options.workload, &entries_of, &versions_of);
            out.found.add(c.kind, || finding);
        }
    }
    if limits.stopped.load(std::sync::atomic::Ordering::Relaxed) {
        out.unknown
            .push("the time limit ran out during the cycle search".into());
    }
    out.unfinished.sort_unstable();
    out.unfinished.dedup();
    out
}

fn limit_reason(memory: bool, during: &str) -> String {
    if memory {
        format!("the memory limit was reached before {during}")
    } else {
        format!("the time limit ran out before {during}")
    }
}
