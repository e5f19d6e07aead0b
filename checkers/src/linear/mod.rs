//! The linearizability engine: is there a total order of the history's operations, consistent
//! with real time, that the model accepts?
//!
//! [`check`] prepares the history ([`prepare`]: pairing, reductions, one part per key), then runs
//! one resumable Wing-Gong-Lowe search per part ([`search`]) on rayon's pool. Parts are scheduled
//! in rounds of growing step budgets (2 000, 8 000, 32 000, ... steps), so that a part that fails
//! in a few milliseconds is found even when other parts would search for minutes: rayon does not
//! preempt, and without rounds two threads can sit on hopeless parts while the quick failure
//! waits. Once a part is invalid the others are cancelled (unless every key is wanted), since the
//! verdict can no longer change.
//!
//! Before any search, a part whose values are each written once is decided in O(n log n) by the
//! polynomial path (`unique`); a part with a few repeated values is searched, and between its
//! rounds the same path is tried once per way of matching the readers of those values to their
//! writers, with a budget that grows with the search's steps (`beside`). A search that reaches
//! the time or memory limit ends `unknown`, saying how far it got.

mod file;
mod memo;
pub mod prepare;
pub mod search;
mod status;
mod unique;
pub mod verdict;
pub mod witness;

#[cfg(test)]
mod keyed_tests;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use crate::history::History;
use crate::model::{with_model, Model, WithModel};
/// Re-exported: the linearizability reports use the neutral verdict's validity.
pub use crate::verdict::Validity;
pub use file::{check_file, FileCheck, FileCheckError};
use prepare::Part;
pub use prepare::PrepareError;
use search::{Limits, MemoryBudget, Progress, Search};
pub use status::{Status, StatusReport};
pub use witness::{ClusterSummary, Contradiction, OpSummary, RealTimeEdge, Witness};

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Split by key (P-compositionality); off checks the whole history as one object.
    pub partition: bool,
    pub time_limit: Option<Duration>,
    /// Bound on the search memos of all parts together, in bytes: a memo that would grow past
    /// it stops its search with an unknown verdict.
    pub memory_limit: usize,
    /// Check every key even after one is found invalid (for reports listing every bad key).
    pub all_keys: bool,
    /// Decide a key whose values are each written once without a search, in O(n log n) (see
    /// `unique`). On by default; off only to measure or test the search itself.
    pub polynomial: bool,
    /// Where to tell what the check is doing while it runs (see [`Status`]); `None` for no one.
    pub status: Option<Arc<Status>>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            partition: true,
            time_limit: None,
            memory_limit: 4 << 30,
            all_keys: false,
            polynomial: true,
            status: None,
        }
    }
}

/// The verdict on one part (one key, or the whole history).
#[derive(Debug, Clone, Serialize)]
pub struct PartReport {
    /// The key, in EDN; absent for a single-object history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub valid: Validity,
    /// Why the verdict is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Calls in the part (fails excluded), and how many were left to consider after the
    /// preparer's reductions (by the search, or by the polynomial path).
    pub calls: usize,
    pub searched_calls: usize,
    pub steps: u64,
    pub memo_entries: usize,
    /// Decided without a search: every value of the key is written once (see `unique`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub polynomial: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
}

/// The result of checking a history.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub valid: Validity,
    /// Calls checked (invokes whose outcome was not `fail`).
    pub calls: usize,
    pub parts: Vec<PartReport>,
}

impl Analysis {
    /// Parts that are not valid, for reports.
    pub fn failures(&self) -> impl Iterator<Item = &PartReport> {
        self.parts.iter().filter(|p| p.valid != Validity::Valid)
    }
}

const FIRST_BUDGET: u64 = 2_000;

/// The cause given for parts whose search was stopped because another part is invalid.
pub const CANCELLED: &str = "not checked to the end: another part is already invalid";

/// Checks `history` against `model`. `progress` is told (parts done, parts in all).
pub fn check<M: Model>(
    history: &History,
    model: &M,
    options: &CheckOptions,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Analysis, PrepareError> {
    let started = Instant::now();
    if let Some(status) = &options.status {
        status.read_events(history.len());
        status.reading_over();
    }
    let parts = prepare::prepare(history, model, options.partition)?;
    Ok(search_parts(
        parts,
        history.len(),
        started,
        options,
        progress,
    ))
}

/// Where one part stands. A part's search (its event list, memo and stack) exists only while it
/// runs: created on its first round, dropped as soon as it has a verdict, so that memory holds
/// the searches under way and not one per key.
enum Slot<M: Model> {
    Waiting(Part<M>),
    Running(Search<M>),
    Done(PartReport),
    /// Only while a slot changes state.
    Moving,
}

/// Searches prepared parts, in rounds (see the module documentation). `events` is the length of
/// the history, and `started` when checking began (the time limit counts from there).
pub fn search_parts<M: Model>(
    parts: Vec<Part<M>>,
    events: usize,
    started: Instant,
    options: &CheckOptions,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Analysis {
    let total = parts.len();
    let calls = parts.iter().map(|p| p.calls_before_reduction).sum();
    let mut slots: Vec<Slot<M>> = parts.into_iter().map(Slot::Waiting).collect();
    let invalid_found = AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    let memory_used = AtomicUsize::new(0);
    let all_keys = options.all_keys;
    let cancelled = || !all_keys && invalid_found.load(Ordering::Relaxed);
    let limits = Limits {
        deadline: options.time_limit.map(|t| started + t),
        memory: MemoryBudget {
            limit: options.memory_limit,
            used: &memory_used,
        },
        cancelled: &cancelled,
        status: options.status.as_deref(),
    };
    let progress_and_status = |n: usize, total: usize| {
        if let Some(status) = limits.status {
            status.parts(total, n);
        }
        if let Some(report) = progress {
            report(n, total);
        }
    };
    progress_and_status(0, total);
    let progress: Option<&(dyn Fn(usize, usize) + Sync)> = Some(&progress_and_status);
    let mut budget = FIRST_BUDGET;
    // Per part, the budget its matchings were last tried with (see `beside`).
    let mut matched: Vec<usize> = vec![0; slots.len()];
    while slots.iter().any(|s| !matches!(s, Slot::Done(_))) {
        slots
            .par_iter_mut()
            .zip(matched.par_iter_mut())
            .filter(|(s, _)| !matches!(s, Slot::Done(_)))
            .for_each(|(slot, matched)| {
                let mut search = match std::mem::replace(slot, Slot::Moving) {
                    Slot::Waiting(part) if cancelled() => {
                        *slot = Slot::Done(unsearched(&part, CANCELLED));
                        report_done(&done, total, progress);
                        return;
                    }
                    Slot::Waiting(mut part) => {
                        if options.polynomial {
                            if let Some(decision) = unique::decide(&mut part, events) {
                                if matches!(decision, unique::Decision::Invalid(_)) {
                                    invalid_found.store(true, Ordering::Relaxed);
                                }
                                *slot = Slot::Done(decided(&part, decision, 0));
                                report_done(&done, total, progress);
                                return;
                            }
                        }
                        Search::new(part)
                    }
                    Slot::Running(search) => search,
                    Slot::Done(_) | Slot::Moving => unreachable!("only unfinished slots run"),
                };
                let key = limits.status.map(|status| {
                    let key = search
                        .part
                        .key
                        .as_ref()
                        .map_or(String::new(), |k| k.to_string());
                    status.round_begins(&key, search.steps);
                    (status, key)
                });
                let result = search.run(budget, &limits);
                if let Some((status, key)) = key {
                    status.round_ends(&key);
                }
                if result == Progress::Pending {
                    let decision = options
                        .polynomial
                        .then(|| beside(&mut search, matched, events, limits.deadline))
                        .flatten();
                    if let Some(decision) = decision {
                        if matches!(decision, unique::Decision::Invalid(_)) {
                            invalid_found.store(true, Ordering::Relaxed);
                        }
                        memory_used.fetch_sub(search.memory_reported(), Ordering::Relaxed);
                        *slot = Slot::Done(decided(&search.part, decision, search.steps));
                        report_done(&done, total, progress);
                        return;
                    }
                    *slot = Slot::Running(search);
                    return;
                }
                if result == Progress::Invalid {
                    invalid_found.store(true, Ordering::Relaxed);
                }
                memory_used.fetch_sub(search.memory_reported(), Ordering::Relaxed);
                *slot = Slot::Done(report(search, result, events));
                report_done(&done, total, progress);
            });
        budget = budget.saturating_mul(4);
    }
    let reports: Vec<PartReport> = slots
        .into_iter()
        .map(|s| match s {
            Slot::Done(r) => r,
            _ => unreachable!("every slot is done"),
        })
        .collect();
    let valid = reports.iter().fold(Validity::Valid, |v, r| v.and(r.valid));
    Analysis {
        valid,
        calls,
        parts: reports,
    }
}

/// Tries the matchings of a part with a few repeated values (`unique::repeated`) beside its
/// search, once the search has not decided it in a round. The budget of calls judged grows with
/// the search's steps: a sixteenth of them (a call judged costs about five steps), at least four
/// judgements, tried again only once it is four times the last, so that the matchings never
/// cost much more than the search already has. `matched` is the last budget tried (0: never,
/// `usize::MAX`: the matchings cannot decide this part).
fn beside<M: Model>(
    search: &mut Search<M>,
    matched: &mut usize,
    events: usize,
    deadline: Option<Instant>,
) -> Option<unique::Decision> {
    let budget = usize::try_from(search.steps / 16)
        .unwrap_or(usize::MAX)
        .max(4 * search.part.calls.len());
    if *matched == usize::MAX || (*matched != 0 && budget < matched.saturating_mul(4)) {
        return None;
    }
    *matched = budget;
    match unique::decide_repeated(&mut search.part, events, budget, deadline) {
        unique::Outcome::Decided(decision) => Some(decision),
        unique::Outcome::OutOfBudget => None,
        unique::Outcome::Never => {
            *matched = usize::MAX;
            None
        }
    }
}

fn report_done(done: &AtomicUsize, total: usize, progress: Option<&(dyn Fn(usize, usize) + Sync)>) {
    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(report) = progress {
        report(n, total);
    }
}

/// The report of a part that was never searched.
fn unsearched<M: Model>(part: &Part<M>, cause: &str) -> PartReport {
    PartReport {
        key: part.key.as_ref().map(|k| k.to_string()),
        valid: Validity::Unknown,
        cause: Some(cause.to_string()),
        calls: part.calls_before_reduction,
        searched_calls: part.calls.len(),
        steps: 0,
        memo_entries: 0,
        polynomial: false,
        witness: None,
    }
}

/// The report of a part the polynomial path decided, after `steps` of a search beside it.
fn decided<M: Model>(part: &Part<M>, decision: unique::Decision, steps: u64) -> PartReport {
    let (valid, witness) = match decision {
        unique::Decision::Valid => (Validity::Valid, None),
        unique::Decision::Invalid(w) => (Validity::Invalid, Some(*w)),
    };
    PartReport {
        key: part.key.as_ref().map(|k| k.to_string()),
        valid,
        cause: None,
        calls: part.calls_before_reduction,
        searched_calls: part.calls.len(),
        steps,
        memo_entries: 0,
        polynomial: true,
        witness,
    }
}

/// The report of a finished search, with a witness when it is invalid.
fn report<M: Model>(mut search: Search<M>, outcome: Progress, events: usize) -> PartReport {
    let (valid, cause) = match outcome {
        Progress::Valid => (Validity::Valid, None),
        Progress::Invalid => (Validity::Invalid, None),
        Progress::Stopped(why) if why == "cancelled" => {
            (Validity::Unknown, Some(CANCELLED.to_string()))
        }
        Progress::Stopped(why) => (Validity::Unknown, Some(how_far(&search, &why))),
        Progress::Pending => (Validity::Unknown, Some("search not finished".to_string())),
    };
    let witness = match (valid, search.frontier.take()) {
        (Validity::Invalid, Some(frontier)) => {
            Some(Witness::build(&mut search.part, &frontier, events))
        }
        _ => None,
    };
    PartReport {
        key: search.part.key.as_ref().map(|k| k.to_string()),
        valid,
        cause,
        calls: search.part.calls_before_reduction,
        searched_calls: search.part.calls.len(),
        steps: search.steps,
        memo_entries: search.memo_entries(),
        polynomial: false,
        witness,
    }
}

/// Why a search stopped, and how far it got: its steps, and the most of its calls it had
/// linearized in one order (all of them is a linearization).
fn how_far<M: Model>(search: &Search<M>, why: &str) -> String {
    format!(
        "{why} after {} steps, with at most {} of the {} calls left to order linearized in one \
         order",
        search.steps,
        search.deepest,
        search.part.calls.len()
    )
}

/// Why a history could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("unknown model `{0}` (known: {models})", models = crate::model::MODEL_NAMES.join(", "))]
    UnknownModel(String),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
}

/// [`check`] with the model named as on the command line (`cas-register`, `kv`, ...).
pub fn check_by_name(
    history: &History,
    model: &str,
    config: crate::model::ModelConfig,
    options: &CheckOptions,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Analysis, CheckError> {
    struct Task<'a> {
        history: &'a History,
        options: &'a CheckOptions,
        progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
    }
    impl WithModel for Task<'_> {
        type Output = Result<Analysis, PrepareError>;
        fn with<M: Model>(self, model: M) -> Self::Output {
            check(self.history, &model, self.options, self.progress)
        }
    }
    let task = Task {
        history,
        options,
        progress,
    };
    let analysis = with_model(model, config, task)
        .ok_or_else(|| CheckError::UnknownModel(model.to_string()))??;
    Ok(analysis)
}
