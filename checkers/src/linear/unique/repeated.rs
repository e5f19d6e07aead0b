//! Keys where a few values are written more than once: the polynomial path, once for each way
//! of matching the calls that observe such a value to one of its writers.
//!
//! **Why it is exact.** Give each call that sets a repeated value a fresh value of its own (the
//! initial value keeps its id, for the origin), and each call that observes a repeated value
//! (an ok read, a cas) one of the fresh values of its writers (or the initial value, when that
//! is what it names): a *matching*. The history linearizes iff the history renamed by some
//! matching does. If: a renamed linearization is one of the original, since every renamed value
//! stands for the original one (a read of `v#i` after the write of `v#i`, with only reads
//! between, finds `v`). Only if: in a linearization L, match each observer with the last call
//! that set its value before it in L (the origin if none); L renamed so is accepted. The renamed
//! histories have unique values, so each is decided by [`judge`] in O(n log n).
//!
//! Matchings that cannot be right are not tried, by two facts of real time that hold in every
//! linearization L: an observer that completed before a writer was invoked never observes it;
//! and if `w -> x -> r`, with `x` an ok call that sets a value (so `x` is in L), then `x` sits
//! between `w` and `r` in L and `w` is not `r`'s last setter (see [`Overwritten`]; likewise the
//! origin, once an ok setter precedes `r`). The matching the "only if" above builds from L never
//! uses a pruned candidate, so the argument stands; an observer left with no candidate cannot
//! be in any L, so L renamed is accepted whichever value it is given. Both
//! facts hold in every prefix in which the observer was invoked (an `x -> r` completed before
//! `r` was invoked, so inside the prefix), which the witness below needs.
//!
//! **Trying them.** The observers are taken in invoke order, the matchings as an odometer whose
//! most significant digit is the first observer, each observer's candidates latest writer
//! first: that is where the matching of a valid history usually lies, so a valid key is often
//! decided by the first matching. When a matching fails, a binary search over the completions
//! finds the shortest prefix where it fails (prefixes are monotone, see [`super`]), ending at E.
//! A prefix's verdict depends only on the calls invoked before it ends (the judge keeps the later
//! ones as calls of unknown outcome, which changes nothing), so every matching that gives the
//! observers invoked before E the same writers fails at E too and goes no further than this
//! one: the odometer skips them all. An invalid key is so decided by trying the choices of the
//! few observers before its contradiction, not all of them.
//!
//! That can still take exponentially many matchings (linearizability of a register with
//! repeated values is NP-complete, Gibbons & Korach; no matching scheme escapes that): the
//! backtracking is chronological, so a wrong early choice that shows only later costs every
//! combination of the choices in between. So the path is bounded, and runs beside the search
//! rather than before it: it is tried only when at most [`AMBIGUOUS`] observers have more than
//! one candidate, with a budget of calls judged that the engine grows with the search's own
//! steps (see `linear::search_parts`), so that a key the search decides quickly (Jepsen's
//! registers of five values) costs little more than its search. What that buys and where it
//! stops is measured in the README ("How the checker is fast").
//!
//! **The witness**, when no matching linearizes: the shortest prefix that does not linearize is
//! the shortest for which no matching linearizes, so its end is the largest of the matchings'
//! own ends (prefixes are monotone for each, and a skipped matching ends no later than the one
//! that skipped it); the witness shows the contradiction of a matching that reaches it, and
//! says that every other matching fails as well, at or before that point.

use std::cell::Cell;
use std::time::Instant;

use rustc_hash::{FxHashMap, FxHashSet};

use super::clusters::{judge, Calls, Judgement};
use super::{certify, explain, shortest_invalid_prefix, Decision};
use crate::linear::prepare::Part;
use crate::model::{Access, Model, RegisterView};

/// The most observers with more than one candidate for which matchings are tried. Beyond it
/// values are not "a few repeated" but repeated throughout (Jepsen's registers write 0 to 4),
/// where the matchings are hopeless and the search is fast: trying them would only delay it.
const AMBIGUOUS: usize = 64;

/// A call that observes a repeated value, and the fresh values it may be matched with, the
/// likeliest first.
struct Observer {
    call: usize,
    candidates: Vec<u32>,
}

/// What trying the matchings came to.
pub(crate) enum Outcome {
    Decided(Decision),
    /// The budget or the deadline ran out first: a larger budget may decide it.
    OutOfBudget,
    /// Matchings cannot decide this part (too many ambiguous observers, or no register view
    /// with repeated values): the search alone must.
    Never,
}

/// Decides a part whose view has repeated values (see the module documentation), judging at
/// most `budget` calls in all (a judgement of n calls counts n) and stopping at `deadline`.
pub(super) fn decide<M: Model>(
    part: &mut Part<M>,
    view: RegisterView,
    invoke: Vec<u32>,
    complete: Vec<Option<u32>>,
    events: usize,
    budget: usize,
    deadline: Option<Instant>,
) -> Outcome {
    let over = Cell::new(false);
    match matchings(
        part, view, invoke, complete, events, budget, deadline, &over,
    ) {
        Some(decision) => Outcome::Decided(decision),
        None if over.get() => Outcome::OutOfBudget,
        None => Outcome::Never,
    }
}

/// [`decide`], `None` when it cannot decide; `over` tells whether the budget or the deadline
/// was why.
#[allow(clippy::too_many_arguments)]
fn matchings<M: Model>(
    part: &mut Part<M>,
    view: RegisterView,
    invoke: Vec<u32>,
    complete: Vec<Option<u32>>,
    events: usize,
    budget: usize,
    deadline: Option<Instant>,
    over: &Cell<bool>,
) -> Option<Decision> {
    let n = view.accesses.len();
    let mut writers: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
    for (c, a) in view.accesses.iter().enumerate() {
        if let Some(v) = a.sets() {
            writers.entry(v).or_default().push(c);
        }
    }
    let repeated: FxHashSet<u32> = writers
        .iter()
        .filter(|(&v, w)| w.len() > 1 || v == view.initial)
        .map(|(&v, _)| v)
        .collect();
    let mut next = view
        .accesses
        .iter()
        .flat_map(|a| [a.observes(), a.sets()])
        .flatten()
        .chain([view.initial])
        .max()
        .unwrap_or(0)
        .checked_add(1)?;
    let mut renamed = view.accesses.clone();
    let mut fresh = vec![0u32; n];
    for v in &repeated {
        for &w in &writers[v] {
            fresh[w] = next;
            renamed[w] = match renamed[w] {
                Access::Cas(from, _) => Access::Cas(from, next),
                _ => Access::Write(next),
            };
            next = next.checked_add(1)?;
        }
    }
    let overwritten = Overwritten::new(&view.accesses, &invoke, &complete);
    let mut observers = Vec::new();
    let mut matchings: u128 = 1;
    let mut ambiguous = 0;
    for (c, a) in view.accesses.iter().enumerate() {
        let Some(v) = a.observes().filter(|v| repeated.contains(v)) else {
            continue;
        };
        let done = complete[c].unwrap_or(u32::MAX);
        // Set before `c` completed by a call that may also be `c`'s last setter.
        let mut possible: Vec<usize> = writers[&v]
            .iter()
            .copied()
            .filter(|&w| w != c && invoke[w] < done)
            .filter(|&w| !overwritten.before(complete[w], invoke[c]))
            .collect();
        possible.sort_by_key(|&w| std::cmp::Reverse(invoke[w]));
        let mut candidates: Vec<u32> = possible.iter().map(|&w| fresh[w]).collect();
        if v == view.initial && !overwritten.origin_before(invoke[c]) {
            candidates.push(view.initial);
        }
        if candidates.is_empty() {
            // Nothing it could observe: it is left out of every linearization (or there is
            // none), so any choice decides the same; one that is not `c` itself.
            let other = writers[&v].iter().find(|&&w| w != c);
            candidates.push(other.map_or(view.initial, |&w| fresh[w]));
        }
        matchings = matchings.saturating_mul(candidates.len() as u128);
        ambiguous += usize::from(candidates.len() > 1);
        if ambiguous > AMBIGUOUS {
            return None;
        }
        observers.push(Observer {
            call: c,
            candidates,
        });
    }
    // In invoke order: a prefix's verdict depends on the choices of the first few only.
    observers.sort_by_key(|o| invoke[o.call]);
    let mut ends: Vec<u32> = complete.iter().flatten().copied().collect();
    ends.sort_unstable();
    let mut choice = vec![0usize; observers.len()];
    // The matching whose shortest failing prefix is the longest: (index in `ends`, accesses).
    let mut furthest: Option<(usize, Vec<Access>)> = None;
    let work = Cell::new(0usize);
    // The judge, while its work stays within the budget and the deadline is not passed.
    let judged = |calls: &Calls, cut: u32| {
        work.set(work.get().saturating_add(n.max(1)));
        if work.get() > budget || deadline.is_some_and(|d| Instant::now() >= d) {
            over.set(true);
            return None;
        }
        Some(judge(calls, cut))
    };
    loop {
        let mut accesses = renamed.clone();
        for (o, &k) in observers.iter().zip(&choice) {
            accesses[o.call] = match accesses[o.call] {
                Access::Cas(_, to) => Access::Cas(o.candidates[k], to),
                _ => Access::Read(o.candidates[k]),
            };
        }
        let calls = Calls::new(
            RegisterView {
                initial: view.initial,
                accesses,
            },
            invoke.clone(),
            complete.clone(),
        )?;
        if let Judgement::Order(order) = judged(&calls, u32::MAX)? {
            certify(part, &calls, &order, u32::MAX)?;
            return Some(Decision::Valid);
        }
        // The shortest prefix this matching fails, by binary search (prefixes are monotone).
        let (mut lo, mut hi) = (0, ends.len().checked_sub(1)?);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if let Judgement::Order(_) = judged(&calls, ends[mid])? {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let failed_at = ends[lo];
        // Every matching that chooses as this one for the observers invoked before
        // `failed_at` fails there too: skip them all.
        let decided = observers.partition_point(|o| invoke[o.call] < failed_at);
        if furthest.as_ref().is_none_or(|f| f.0 < lo) {
            furthest = Some((lo, calls.access));
        }
        if !advance(&mut choice, &observers, decided) {
            break;
        }
    }
    let (_, accesses) = furthest?;
    let calls = Calls::new(
        RegisterView {
            initial: view.initial,
            accesses,
        },
        invoke,
        complete,
    )?;
    let failure = shortest_invalid_prefix(&calls)?;
    let end_state = certify(part, &calls, &failure.order, failure.until - 1)?;
    let note = format!(
        "{} call(s) observe a value written more than once; of the {} way(s) of matching each \
         to one of its writes, none linearizes, and this one goes furthest: with it",
        observers.len(),
        count(matchings)
    );
    let witness = explain::witness(part, &calls, &failure, &end_state, events, Some(&note));
    Some(Decision::Invalid(Box::new(witness)))
}

/// A number of matchings in words: exact up to a trillion, then its order of magnitude.
fn count(matchings: u128) -> String {
    if matchings <= 1_000_000_000_000 {
        matchings.to_string()
    } else {
        format!("more than 10^{}", matchings.ilog10())
    }
}

/// Which writes are certainly overwritten before a call is invoked: for every ok call `x` that
/// sets a value, `x` must be linearized, before every call invoked after it completed and after
/// every call that completed before it was invoked. So if `w -> x -> r` (in real time), `x`
/// sets a value between `w` and `r` in every linearization, and `w` is not the last call to
/// set a value before `r`: `r` is never matched with `w` (nor with the origin if some ok setter
/// `x -> r`).
struct Overwritten {
    /// The ok calls that set a value, by completion: (completion, latest invoke among them and
    /// the ones before).
    by_completion: Vec<(u32, u32)>,
}

impl Overwritten {
    fn new(accesses: &[Access], invoke: &[u32], complete: &[Option<u32>]) -> Overwritten {
        let mut by_completion: Vec<(u32, u32)> = accesses
            .iter()
            .zip(invoke.iter().zip(complete))
            .filter(|(a, _)| a.sets().is_some())
            .filter_map(|(_, (&i, &c))| Some((c?, i)))
            .collect();
        by_completion.sort_unstable();
        let mut latest = 0;
        for (_, i) in &mut by_completion {
            latest = latest.max(*i);
            *i = latest;
        }
        Overwritten { by_completion }
    }

    /// The latest invoke of an ok setter that completed before `at`.
    fn latest_invoke_before(&self, at: u32) -> Option<u32> {
        let k = self.by_completion.partition_point(|&(c, _)| c < at);
        k.checked_sub(1).map(|k| self.by_completion[k].1)
    }

    /// Whether a write that completed at `written` (never, when `None`) is overwritten by an
    /// ok setter that completes before `at`.
    fn before(&self, written: Option<u32>, at: u32) -> bool {
        match (written, self.latest_invoke_before(at)) {
            (Some(w), Some(x)) => x > w,
            _ => false,
        }
    }

    /// Whether the initial value is overwritten before `at`.
    fn origin_before(&self, at: u32) -> bool {
        self.latest_invoke_before(at).is_some()
    }
}

/// The next matching that differs from `choice` among the first `decided` observers (the
/// later ones start over), as an odometer whose last digit is the `decided`-th; false when
/// there is none.
fn advance(choice: &mut [usize], observers: &[Observer], decided: usize) -> bool {
    for k in choice[decided..].iter_mut() {
        *k = 0;
    }
    for (k, o) in choice[..decided].iter_mut().zip(observers).rev() {
        *k += 1;
        if *k < o.candidates.len() {
            return true;
        }
        *k = 0;
    }
    false
}
