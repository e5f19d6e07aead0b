//! The polynomial path: a key whose values are each written once is decided without a search.
//!
//! When no two calls of a part set the same value (and none sets the initial value), a read
//! names the one call whose value it returned, and a compare-and-set names the one call whose
//! value it replaced: the read-mapping is known, and linearizability of a register is decidable
//! in O(n log n) (Gibbons & Korach, "Testing shared memories", SIAM J. Computing 26(4), 1997).
//! This module applies that to registers with compare-and-set and with calls of unknown outcome,
//! through a model's [`RegisterView`](crate::model::RegisterView); the engine uses it for every
//! part whose view has unique values, searches the others, and beside the search of a part
//! with a few repeated values tries this path once per way of matching their readers to their
//! writers ([`repeated`]).
//!
//! Terms: a call *observes* the value it needs to find (a read's result, a cas's expected value)
//! and *sets* the value it writes (a write's, a cas's new value). The *origin* is a virtual write
//! of the initial value, before every event. `a -> b` (a precedes b in real time) when a
//! completed before b was invoked; a call of unknown outcome never completes. A linearization
//! is a total order of some calls, with every ok call among them, that the register accepts and
//! that keeps every `->`. Calls that accept any state and change nothing (a nil read under
//! Knossos' reading) are left out, by the argument the preparer gives for removing them.
//!
//! **Step 1: the calls that must happen.** Call a call *needed* if it is ok, or it sets the
//! value that a needed call observes (a value other than the initial one). Claim: the history is
//! linearizable iff there is an order of exactly the needed calls that the register accepts and
//! that keeps `->`. If: such an order is a linearization (every ok call is needed). Only if: let
//! L be a linearization. (a) Every needed call is in L: ok calls are; if a needed call c in L
//! observes v, the state before c is v, which only the one call setting v can have made, so that
//! call is in L (and the origin is always first). (b) Removing the calls that are not needed
//! keeps L accepted: such a call x sets some value v (reads that are not needed are not ok, and
//! the preparer already removed reads of unknown outcome), and a call that observes v in L cannot
//! be needed (x would be); so between x and the next call that sets a value there are only calls
//! that are not needed, and every needed call still finds the same state once they are gone. An
//! observed value with no call setting it (step 1 finds one) rules out every order:
//! [`Conflict::Unwritten`].
//!
//! **Step 2: clusters.** The *cluster* of a value v is the call that sets it (or the origin) and
//! the needed reads of v. In every order of the needed calls the register accepts, a cluster is
//! contiguous and its setter comes first: after the setter the state is v until the next call
//! that sets a value, reads of v can only sit there (v is set once), and a cas from v must be that
//! next call, since after it the state is never v again. Hence also: two needed cas from the
//! same value cannot both happen ([`Conflict::SharedCas`]).
//!
//! **Step 3: chains.** Start from the origin and each needed plain write; from a cluster, the
//! needed cas from its value (at most one, step 2) sets the next cluster's value. The clusters
//! so linked form a *chain*, which every accepted order holds as one unbroken block in that
//! order: each cas immediately follows the cluster it replaces (step 2), and a chain's last
//! cluster is followed by a call that sets a value but expects none (no needed cas is left to
//! follow it), i.e. a plain write, which starts another chain. A needed cas that no chain reaches
//! expects a value set by another cas, and so on without ever reaching a write or the origin: the
//! calls form a cycle, each needing another to come first ([`Conflict::CasCycle`]). So the
//! accepted orders of the needed calls are exactly: the origin's chain, then the other chains in
//! some order; within a chain its clusters in chain order; within a cluster its setter, then its
//! reads in any order.
//!
//! **Step 4: a chain against real time.** Split a chain into *groups*: each cluster's setter,
//! then its reads, in chain order. An order of the chain's calls keeps `->` only if no call
//! completed before a call of an earlier group was invoked ([`Conflict::Backwards`]);
//! conversely, when none did, the groups in order with each group's reads sorted by completion
//! keep every `->` among the chain's calls: across groups no `->` points backwards, and within a
//! group sorting by completion keeps `->` (if a -> b, a completed before b was invoked, so before
//! b completed). Checked in one pass, keeping the latest invoke of the earlier groups.
//!
//! **Step 5: chains against each other.** For a chain S let done(S) be the earliest completion
//! of its calls and invoked(S) the latest invoke. Some call of S precedes some call of T exactly
//! when done(S) < invoked(T); S must then come before T. Claim: the chains can be ordered
//! keeping all these constraints iff no two chains S and T have both done(S) < invoked(T) and
//! done(T) < invoked(S) ([`Conflict::Crossing`]). Only if: obvious. If: suppose a cycle,
//! and take a shortest one, S1 -> S2 -> ... -> Sk -> S1, with k >= 3 since there is no 2-cycle.
//! A shortest cycle has no chord, so S(i) -/-> S(i-1): invoked(S(i-1)) <= done(S(i)). Then
//! done(S(i)) < invoked(S(i+1)) <= done(S(i+2)): done grows strictly every two steps round the
//! cycle, which must come back to where it started, a contradiction. An order is found without
//! building the graph: if S -> T then done(S) < invoked(T) and (no crossing) invoked(S) <=
//! done(T), so done + invoked is strictly smaller for S; sorting the chains by it orders every
//! edge. Finding a crossing pair takes a sort and binary searches (see `clusters::crossing`):
//! two chains whose spans both run backwards (invoked <= done) never cross.
//!
//! Steps 1 to 5 together: the history is linearizable iff the five checks pass, and then the
//! origin's chain first, the chains sorted, the groups in order and the reads by completion is a
//! linearization. Every order this module reports is stepped through the model and checked
//! against real time before the engine trusts it ([`certify`]); a refusal (a bug in a view, say)
//! sends the part to the search instead.
//!
//! **Prefixes, for the witness.** The prefix of a history that ends at an event keeps the calls
//! invoked by then; those completed after it have unknown outcome there. If a prefix is
//! linearizable so is every shorter one (a linearization of the longer one, restricted to the
//! calls needed in the shorter, is accepted by step 1's argument, and no needed call of the
//! shorter prefix was invoked after it ends: it precedes an ok call that completed before).
//! Calls invoked after the prefix ends can be kept as calls of unknown outcome without changing
//! its verdict: one that is needed must come before an ok call that completed before it was
//! invoked, which step 4 or 5 finds, and one that is not needed changes nothing. So a binary
//! search over the completions finds the shortest prefix that does not linearize; it ends at the
//! completion of the call that cannot be linearized, as the search's witness does.

mod clusters;
mod explain;
mod repeated;
#[cfg(test)]
mod repeated_tests;
#[cfg(test)]
mod tests;

use clusters::{judge, Calls, Conflict, Judgement, Member, ORIGIN};
pub(crate) use repeated::Outcome;

use super::prepare::Part;
use super::Witness;
use crate::model::{Model, Step};

/// How the polynomial path decided a part.
pub(crate) enum Decision {
    Valid,
    Invalid(Box<Witness>),
}

/// Decides `part` without a search when its model has a register view whose values are
/// unique; `None` when the path does not apply (the engine then searches, and tries
/// [`decide_repeated`] beside). `events` is the length of the history (witnesses name positions
/// in it).
pub(crate) fn decide<M: Model>(part: &mut Part<M>, events: usize) -> Option<Decision> {
    let ops: Vec<&M::Op> = part.calls.iter().map(|c| &c.op).collect();
    let known: Vec<bool> = part.calls.iter().map(|c| c.complete.is_some()).collect();
    let view = part.model.register_view(&ops, &known)?;
    if !clusters::unique_values(&view) {
        return None;
    }
    let invoke = part.calls.iter().map(|c| c.invoke).collect();
    let complete = part.calls.iter().map(|c| c.complete).collect();
    let calls = Calls::new(view, invoke, complete)?;
    match judge(&calls, u32::MAX) {
        Judgement::Order(order) => {
            certify(part, &calls, &order, u32::MAX)?;
            Some(Decision::Valid)
        }
        Judgement::Conflict(_) => {
            let failure = shortest_invalid_prefix(&calls)?;
            let end_state = certify(part, &calls, &failure.order, failure.until - 1)?;
            let witness = explain::witness(part, &calls, &failure, &end_state, events, None);
            Some(Decision::Invalid(Box::new(witness)))
        }
    }
}

/// Decides `part` by trying each way of matching the readers of its repeated values to their
/// writers (see [`repeated`]), judging at most `budget` calls and stopping at `deadline`.
/// [`Outcome::Never`] when its view has unique values ([`decide`] is for those) or none.
pub(crate) fn decide_repeated<M: Model>(
    part: &mut Part<M>,
    events: usize,
    budget: usize,
    deadline: Option<std::time::Instant>,
) -> Outcome {
    let ops: Vec<&M::Op> = part.calls.iter().map(|c| &c.op).collect();
    let known: Vec<bool> = part.calls.iter().map(|c| c.complete.is_some()).collect();
    let Some(view) = part.model.register_view(&ops, &known) else {
        return Outcome::Never;
    };
    if clusters::unique_values(&view) {
        return Outcome::Never;
    }
    let invoke = part.calls.iter().map(|c| c.invoke).collect();
    let complete = part.calls.iter().map(|c| c.complete).collect();
    repeated::decide(part, view, invoke, complete, events, budget, deadline)
}

/// Where a history stops linearizing (see the module documentation).
pub(crate) struct ShortestFailure {
    /// The completion that ends the shortest prefix that does not linearize.
    pub until: u32,
    /// Why that prefix does not.
    pub conflict: Conflict,
    /// A linearization of the prefix just before it.
    pub order: Vec<Member>,
}

/// The shortest prefix that does not linearize; `None` only if prefixes were not monotone,
/// which would be a bug.
fn shortest_invalid_prefix(calls: &Calls) -> Option<ShortestFailure> {
    let mut ends: Vec<u32> = calls.complete.iter().flatten().copied().collect();
    ends.sort_unstable();
    let first_bad = ends.partition_point(|&end| matches!(judge(calls, end), Judgement::Order(_)));
    let end = *ends.get(first_bad)?;
    let Judgement::Conflict(conflict) = judge(calls, end) else {
        return None;
    };
    let order = match first_bad.checked_sub(1) {
        None => Vec::new(),
        Some(before) => match judge(calls, ends[before]) {
            Judgement::Order(o) => o,
            Judgement::Conflict(_) => return None,
        },
    };
    Some(ShortestFailure {
        until: end,
        conflict,
        order,
    })
}

/// Checks that `order` is a linearization of the prefix ending at `cut`: every ok call there
/// (but those that accept anything) exactly once, the model accepting each step, no call placed
/// after one that it precedes in real time. Returns the state it ends in; `None` (and a failed
/// debug assertion: it would be a bug) when it is not one.
fn certify<M: Model>(
    part: &mut Part<M>,
    calls: &Calls,
    order: &[Member],
    cut: u32,
) -> Option<M::State> {
    let mut placed = vec![false; calls.len()];
    let mut state = part.model.init();
    let mut latest_invoke = -1i64;
    for &m in order {
        let c = m as usize;
        if m == ORIGIN || placed[c] {
            debug_assert!(false, "call {m} placed twice");
            return None;
        }
        placed[c] = true;
        if calls.done(m, cut) < latest_invoke {
            debug_assert!(false, "call {m} placed after a call it precedes");
            return None;
        }
        latest_invoke = latest_invoke.max(calls.invoked(m));
        state = match part.model.step(&state, &part.calls[c].op) {
            Step::One(s) => s,
            _ => {
                debug_assert!(false, "the model refuses call {m} of a unique-value order");
                return None;
            }
        };
    }
    let complete = (0..calls.len() as Member).all(|c| {
        placed[c as usize]
            || !calls.ok(c, cut)
            || calls.access[c as usize] == crate::model::Access::Any
    });
    debug_assert!(complete, "an ok call is missing from a unique-value order");
    complete.then_some(state)
}
