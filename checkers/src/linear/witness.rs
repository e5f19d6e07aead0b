//! What an invalid verdict shows a person: the operation that could not be linearized, how far
//! the history did linearize, what was running at that moment, and why each way on fails.

use serde::Serialize;

use super::prepare::Part;
use super::search::Frontier;
use crate::model::{Model, Step};

/// One operation of the history as a witness names it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OpSummary {
    /// Index in the history of the invoke.
    pub index: usize,
    /// Index of the ok completion, or `None` when the outcome is unknown.
    pub completion: Option<usize>,
    pub process: String,
    /// The operation in the model's words, e.g. `read 3`.
    pub op: String,
}

/// The evidence that a part is not linearizable.
#[derive(Debug, Clone, Serialize)]
pub struct Witness {
    /// The operation that completed before any linearization could include it.
    pub op: OpSummary,
    /// Every operation up to (not including) this history index has a linearization; the
    /// failure shows at the completion of `op`.
    pub linearizable_until: usize,
    /// The calls linearized, in order, on the first path that reached that point.
    pub linearized: Vec<OpSummary>,
    /// The calls pending at that point (invoked, not linearized), `op` among them.
    pub concurrent: Vec<OpSummary>,
    /// The model states in which the search reached the completion of `op`.
    pub states: Vec<String>,
    /// Why no step leads on, state by state, in words.
    pub explanations: Vec<String>,
    /// When the part was decided without a search (a key whose values are each written once,
    /// see `unique`): the clusters of calls and the real-time facts that no order satisfies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contradiction: Option<Contradiction>,
}

/// Why no order of a unique-value key's calls linearizes, as the polynomial path proves it:
/// groups of calls that every linearization keeps together in a fixed order (clusters: a value's
/// write and the reads that returned it, chained by the compare-and-sets that replaced it), and
/// the real-time facts (this call completed before that one was invoked) that no order of the
/// groups can keep at once.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Contradiction {
    /// The argument, in words and without history positions (the clusters and edges have them).
    pub summary: String,
    /// The clusters the argument names, `A`, `B`, ...
    pub clusters: Vec<ClusterSummary>,
    /// The real-time facts it rests on.
    pub edges: Vec<RealTimeEdge>,
}

/// A group of calls that every linearization keeps together, in this order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClusterSummary {
    /// How the summary and the edges call it: `A`, `B`.
    pub name: String,
    /// What it holds, e.g. `write 3 and its 2 reads, then cas 3 -> 4 and its read`.
    pub description: String,
    /// Its first calls, in its order (the initial value, which has no call, is not among them).
    pub ops: Vec<OpSummary>,
    /// How many calls it holds in all.
    pub calls: usize,
}

/// A fact of real time and what it forces: `completed` finished before `invoked` began.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RealTimeEdge {
    /// `None` for the initial value, which holds before any call is invoked.
    pub completed: Option<OpSummary>,
    pub invoked: OpSummary,
    /// What it forces, e.g. `A before B`.
    pub forces: String,
}

impl OpSummary {
    /// Call `c` of `part`, described by its model.
    pub(super) fn of<M: Model>(part: &Part<M>, c: usize) -> OpSummary {
        let call = &part.calls[c];
        OpSummary {
            index: call.invoke as usize,
            completion: call.complete.map(|c| c as usize),
            process: call.process.to_string(),
            op: part.model.describe_op(&call.op),
        }
    }
}

impl Witness {
    pub(super) fn build<M: Model>(
        part: &mut Part<M>,
        frontier: &Frontier<M::State>,
        events: usize,
    ) -> Witness {
        let summary = |part: &Part<M>, c: usize| OpSummary::of(part, c);
        let failing = &part.calls[frontier.call];
        let until = failing.complete.map_or(events, |c| c as usize);
        let mut on_path = vec![false; part.calls.len()];
        for &c in &frontier.path {
            on_path[c] = true;
        }
        let pending: Vec<usize> = (0..part.calls.len())
            .filter(|&c| !on_path[c] && (part.calls[c].invoke as usize) < until)
            .collect();
        let mut explanations = Vec::new();
        for state in &frontier.states {
            let s = part.model.describe_state(state);
            let op = part.calls[frontier.call].op.clone();
            explanations.push(format!("from {s}: {}", part.model.explain(state, &op)));
            for &c in &pending {
                if c == frontier.call {
                    continue;
                }
                let op = part.calls[c].op.clone();
                let what = part.model.describe_op(&op);
                let line = match part.model.step(state, &op) {
                    Step::Impossible => format!("from {s}: {}", part.model.explain(state, &op)),
                    Step::One(next) => format!(
                        "from {s}: {what} would give {}, from which no order of the pending operations completes {}",
                        part.model.describe_state(&next),
                        part.model.describe_op(&part.calls[frontier.call].op)
                    ),
                    Step::Many(_) => format!("from {s}: every outcome of {what} leads to a dead end as well"),
                };
                explanations.push(line);
            }
        }
        Witness {
            op: summary(part, frontier.call),
            linearizable_until: until,
            linearized: frontier.path.iter().map(|&c| summary(part, c)).collect(),
            concurrent: pending.iter().map(|&c| summary(part, c)).collect(),
            states: frontier
                .states
                .iter()
                .map(|s| part.model.describe_state(s))
                .collect(),
            explanations,
            contradiction: None,
        }
    }
}
