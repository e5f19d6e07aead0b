//! The witness of a unique-value key that does not linearize, in the shape the search gives
//! (the failing call, how far the history linearizes, what was pending there) plus the
//! polynomial path's own evidence: the clusters and the real-time facts that no order keeps.

use super::clusters::{Calls, Chain, Conflict, Member, ORIGIN};
use super::ShortestFailure;
use crate::linear::prepare::Part;
use crate::linear::{ClusterSummary, Contradiction, OpSummary, RealTimeEdge, Witness};
use crate::model::{Model, Step};

/// How many calls of a cluster a witness lists.
const LISTED: usize = 16;

/// The witness of `failure`, whose linearization of the prefix ends in `end_state`; `note`
/// (if any) comes before the argument.
pub(super) fn witness<M: Model>(
    part: &mut Part<M>,
    calls: &Calls,
    failure: &ShortestFailure,
    end_state: &M::State,
    events: usize,
    note: Option<&str>,
) -> Witness {
    let (until, conflict, order) = (failure.until, &failure.conflict, &failure.order[..]);
    let failing = (0..calls.len())
        .find(|&c| calls.complete[c] == Some(until))
        .unwrap_or(0);
    let mut placed = vec![false; calls.len()];
    for &m in order {
        placed[m as usize] = true;
    }
    let mut contradiction = contradiction(part, conflict);
    if let Some(note) = note {
        contradiction.summary = format!("{note}, {}", contradiction.summary);
    }
    // Pending: invoked before `until` and not linearized, the calls the argument names first.
    let named = named_calls(conflict);
    let mut pending: Vec<usize> = (0..calls.len())
        .filter(|&c| !placed[c] && calls.invoke[c] < until)
        .collect();
    pending.sort_by_key(|&c| (!named.contains(&(c as Member)), calls.invoke[c]));
    // What the model says of the failing call in the state the prefix ends in, when it refuses
    // it there: one state of those a linearization of the prefix can reach, the argument below
    // rules out all of them.
    let mut explanations = Vec::new();
    let state = part.model.describe_state(end_state);
    if matches!(
        part.model.step(end_state, &part.calls[failing].op),
        Step::Impossible
    ) {
        let why = part.model.explain(end_state, &part.calls[failing].op);
        explanations.push(format!("from {state}: {why}"));
    }
    explanations.push(contradiction.summary.clone());
    for edge in &contradiction.edges {
        explanations.push(edge_in_words(edge));
    }
    Witness {
        op: OpSummary::of(part, failing),
        linearizable_until: (until as usize).min(events),
        linearized: order
            .iter()
            .map(|&m| OpSummary::of(part, m as usize))
            .collect(),
        concurrent: pending.iter().map(|&c| OpSummary::of(part, c)).collect(),
        states: vec![state],
        explanations,
        contradiction: Some(contradiction),
    }
}

/// An edge as a sentence with history indexes, for the explanations.
fn edge_in_words(edge: &RealTimeEdge) -> String {
    let op = |o: &OpSummary| format!("process {} {} (index {})", o.process, o.op, o.index);
    match &edge.completed {
        Some(done) => format!(
            "{} completed (index {}) before {} was invoked: {}",
            op(done),
            done.completion.map_or("-".into(), |c| c.to_string()),
            op(&edge.invoked),
            edge.forces
        ),
        None => format!(
            "the initial value holds before {} was invoked: {}",
            op(&edge.invoked),
            edge.forces
        ),
    }
}

/// The calls a conflict names, to list them first among the pending ones.
fn named_calls(conflict: &Conflict) -> Vec<Member> {
    match conflict {
        Conflict::Unwritten { reader, .. } => vec![*reader],
        Conflict::SharedCas { first, second } => vec![*first, *second],
        Conflict::CasCycle { calls } => calls.clone(),
        Conflict::Backwards { first, then, .. } => vec![*first, *then],
        Conflict::Crossing {
            s_done,
            t_invoked,
            t_done,
            s_invoked,
            ..
        } => vec![*s_done, *t_invoked, *t_done, *s_invoked],
    }
}

/// The call in the model's words (`write 3`), or the initial value.
fn what<M: Model>(part: &Part<M>, m: Member) -> String {
    if m == ORIGIN {
        "the initial value".into()
    } else {
        part.model.describe_op(&part.calls[m as usize].op)
    }
}

fn contradiction<M: Model>(part: &Part<M>, conflict: &Conflict) -> Contradiction {
    let edge = |completed: Member, invoked: Member, forces: String| RealTimeEdge {
        completed: (completed != ORIGIN).then(|| OpSummary::of(part, completed as usize)),
        invoked: OpSummary::of(part, invoked as usize),
        forces,
    };
    match conflict {
        Conflict::Unwritten { reader, .. } => Contradiction {
            summary: format!(
                "{} needs a value that no operation writes and that is not the initial value",
                what(part, *reader)
            ),
            clusters: Vec::new(),
            edges: Vec::new(),
        },
        Conflict::SharedCas { first, second } => Contradiction {
            summary: format!(
                "{} and {} both expect the same value, which is written once: after one of them \
                 succeeds the value never comes back, so the other cannot succeed",
                what(part, *first),
                what(part, *second)
            ),
            clusters: Vec::new(),
            edges: Vec::new(),
        },
        Conflict::CasCycle { calls } => {
            // Each call of the cycle expects the value that the next one writes.
            let steps: Vec<String> = calls
                .iter()
                .zip(calls.iter().cycle().skip(1))
                .map(|(&c, &next)| format!("{} needs {} first", what(part, c), what(part, next)))
                .collect();
            Contradiction {
                summary: format!(
                    "each of these compare-and-sets expects the value only the next one writes, \
                     round a cycle, so none can be first: {}",
                    steps.join(", ")
                ),
                clusters: Vec::new(),
                edges: Vec::new(),
            }
        }
        Conflict::Backwards { chain, first, then } => {
            let a = cluster(part, "A", chain);
            Contradiction {
                summary: format!(
                    "in every linearization {} comes before {} ({}), but it was invoked only \
                     after {} had completed",
                    what(part, *first),
                    what(part, *then),
                    why_before(part, chain, *first, *then),
                    what(part, *then),
                ),
                clusters: vec![a],
                edges: vec![edge(
                    *then,
                    *first,
                    format!(
                        "{} before {}, against the order of cluster A",
                        what(part, *then),
                        what(part, *first)
                    ),
                )],
            }
        }
        Conflict::Crossing {
            s,
            t,
            s_done,
            t_invoked,
            t_done,
            s_invoked,
        } if first_invoked(t) < first_invoked(s) => contradiction(
            part,
            &Conflict::Crossing {
                s: t.clone(),
                t: s.clone(),
                s_done: *t_done,
                t_invoked: *s_invoked,
                t_done: *s_done,
                s_invoked: *t_invoked,
            },
        ),
        Conflict::Crossing {
            s,
            t,
            s_done,
            t_invoked,
            t_done,
            s_invoked,
        } => Contradiction {
            summary: "every linearization keeps each cluster in one block (a value is written \
                      once, so its write and the reads that returned it stay together, and a \
                      compare-and-set follows the value it replaced at once); A must come before \
                      B, and B before A"
                .into(),
            clusters: vec![cluster(part, "A", s), cluster(part, "B", t)],
            edges: vec![
                edge(*s_done, *t_invoked, "A before B".into()),
                edge(*t_done, *s_invoked, "B before A".into()),
            ],
        },
    }
}

/// Where the chain's first call was invoked (the origin's chain first): the witness names the
/// chain that began first `A`.
fn first_invoked(chain: &Chain) -> u32 {
    chain
        .members()
        .map(|m| if m == ORIGIN { 0 } else { m + 1 })
        .min()
        .unwrap_or(0)
}

/// Why `first` comes before `then` in every linearization, both being in `chain`.
fn why_before<M: Model>(part: &Part<M>, chain: &Chain, first: Member, then: Member) -> String {
    let (Some((ci, gi)), Some((cj, gj))) = (chain.group_of(first), chain.group_of(then)) else {
        return "the order of cluster A is fixed".into();
    };
    let (f, t) = (what(part, first), what(part, then));
    match (cj as isize - ci as isize, gi, gj) {
        (0, 0, 1) => format!("{t} returns the value that only {f} writes"),
        (1, 1, 0) => format!("{t} replaces the value {f} returned, and that value is written once"),
        (1, 0, 0) => format!("{t} expects the value that only {f} writes"),
        _ => "a chain of compare-and-sets fixes the order of their values (cluster A)".into(),
    }
}

/// A chain as the witness names it.
fn cluster<M: Model>(part: &Part<M>, name: &str, chain: &Chain) -> ClusterSummary {
    let words: Vec<String> = chain
        .clusters
        .iter()
        .map(|c| {
            let reads = match c.reads.len() {
                0 => String::new(),
                1 => " and its read".into(),
                n => format!(" and its {n} reads"),
            };
            format!("{}{reads}", what(part, c.writer))
        })
        .collect();
    let description = if words.len() > 6 {
        format!(
            "{}, ... ({} values in all) ..., {}",
            words[..3].join(", then "),
            words.len(),
            words[words.len() - 2..].join(", then ")
        )
    } else {
        words.join(", then ")
    };
    let members: Vec<Member> = chain.members().filter(|&m| m != ORIGIN).collect();
    ClusterSummary {
        name: name.into(),
        description,
        ops: members
            .iter()
            .take(LISTED)
            .map(|&m| OpSummary::of(part, m as usize))
            .collect(),
        calls: members.len(),
    }
}
