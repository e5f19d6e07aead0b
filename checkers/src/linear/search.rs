//! The Wing-Gong-Lowe search for one part, resumable so that a scheduler can interleave parts.
//!
//! The history is a doubly linked list of call and return events in history order. The search
//! walks it from the head: at a call it tries to linearize that operation now (step the model,
//! remove the call and its return from the list, start again from the head); at a return it has
//! found an operation that completed before anything could linearize it, so it backtracks.
//! Success is reached when every `ok` call is linearized: calls of unknown outcome have no return
//! event (they may take effect at any time, or never) and need not be linearized at all.
//!
//! The candidates of a configuration (the calls before the first return still in the list) may
//! be tried in any order without changing the verdict, so long as all are tried before the
//! configuration is given up. The search tries the ok calls first, and the calls of unknown
//! outcome only once the ok ones have led nowhere: crashed calls are rarely needed, yet one
//! invoked early stays a candidate at every later configuration, and trying it first would
//! drag every step of a long history through a detour.
//!
//! Two things keep the search small:
//! - A memo of every (set of linearized calls, model state) configuration already explored
//!   (Lowe's improvement; see [`memo`](super::memo)). Its key hashes *both* the set
//!   (incrementally, by XOR of a random 64-bit code per call) and the state; entries keep the
//!   whole set (compactly) and state, so a hash collision can never prune a configuration that
//!   was not explored.
//! - Symmetry of crashed calls: two unknown-outcome calls with the same compiled operation that
//!   are both invoked are interchangeable (neither ever returns, so both may be placed anywhere
//!   after the later invoke). The search only ever linearizes the earliest pending one of such a
//!   group. Soundness: in any linearization that places the later twin B at a point where the
//!   earlier twin A is still pending, A's invoke precedes B's, so swapping A and B gives a
//!   linearization with the same states. Without this, k identical crashed writes cost 2^k memo
//!   entries; with it, k+1. Jepsen's register tests crash many writes of the same few values.

use std::time::Instant;

use rustc_hash::FxHashMap;

pub use super::memo::MemoryBudget;
use super::memo::{CallSet, Memo, Visit};
use super::prepare::Part;
use crate::model::{Model, Step};

const NONE: u32 = u32::MAX;
const HEAD: u32 = 0;

/// How a run of the search ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Valid,
    Invalid,
    /// The step budget of this round is spent; call `run` again.
    Pending,
    /// Stopped for good: the reason (time limit, memory limit, cancelled).
    Stopped(String),
}

/// Limits shared by all searches: time and cancellation are checked every few hundred steps,
/// memory whenever a memo grows.
pub struct Limits<'a> {
    pub deadline: Option<Instant>,
    pub memory: MemoryBudget<'a>,
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
    /// Told the steps taken, for a caller showing progress.
    pub status: Option<&'a super::Status>,
}

/// The furthest point the search reached: the call whose return it could not pass.
#[derive(Debug, Clone)]
pub struct Frontier<S> {
    /// The call that could not be linearized before its completion.
    pub call: usize,
    /// The distinct model states in which the search reached that completion (at most a few).
    pub states: Vec<S>,
    /// The calls linearized on the first path that got there, in order.
    pub path: Vec<usize>,
}

const MAX_FRONTIER_STATES: usize = 8;

/// How many of the history's last ok reads every step is checked against (see `viable`).
const LAST_READS: usize = 4;

enum ReadFirst {
    Entered,
    Doomed,
    Nothing,
}

struct Frame<S> {
    call: u32,
    prev_state: S,
    /// Successor states of a nondeterministic step not tried yet.
    alternatives: Vec<S>,
    /// Entered by the read-first rule: if this fails, so does the configuration below it.
    forced: bool,
}

/// The search of one part. See the module documentation.
pub struct Search<M: Model> {
    pub part: Part<M>,
    /// For each call: does it have a return event (an ok call)?
    returns: Vec<bool>,
    /// For each call: can it never change the state?
    read_only: Vec<bool>,
    /// The ok read-only calls invoked last, latest first (see [`Search::viable`]).
    last_reads: Vec<u32>,
    /// True right after a call was linearized: the read-first rule has not been applied yet.
    fresh: bool,
    /// For each unknown-outcome call: the previous one with the same operation (see module docs).
    twin_prev: Vec<u32>,
    next: Vec<u32>,
    prev: Vec<u32>,
    linearized: CallSet,
    state: M::State,
    stack: Vec<Frame<M::State>>,
    memo: Memo<M::State>,
    /// A memo could not grow within the memory budget: the search must stop, and no dead end
    /// met since may be taken for a proof of invalidity.
    out_of_memory: bool,
    cursor: u32,
    /// Which candidates the cursor is trying: ok calls (first), or calls of unknown outcome.
    trying_unknown: bool,
    /// Whether the part has calls of unknown outcome at all.
    has_unknown: bool,
    remaining_ok: usize,
    pub steps: u64,
    /// The most calls linearized at once, in one order: how far the search got.
    pub deepest: usize,
    pub frontier: Option<Frontier<M::State>>,
    frontier_pos: u32,
    finished: Option<Progress>,
}

fn call_entry(c: u32) -> u32 {
    1 + 2 * c
}

fn return_entry(c: u32) -> u32 {
    2 + 2 * c
}

impl<M: Model> Search<M> {
    pub fn new(mut part: Part<M>) -> Self {
        // Ok calls first, then calls of unknown outcome, each in invoke order: the layout the
        // memo stores small (see memo.rs).
        part.calls.sort_by_key(|c| (c.complete.is_none(), c.invoke));
        let n = part.calls.len();
        let returns: Vec<bool> = part.calls.iter().map(|c| c.complete.is_some()).collect();
        let mut twin_prev = vec![NONE; n];
        let mut last_twin: FxHashMap<&M::Op, u32> = FxHashMap::default();
        for (i, c) in part.calls.iter().enumerate() {
            if c.complete.is_none() {
                if let Some(p) = last_twin.insert(&c.op, i as u32) {
                    twin_prev[i] = p;
                }
            }
        }
        // Events in history order: a call at its invoke, a return at its completion.
        let mut events: Vec<(u32, u32)> = Vec::with_capacity(2 * n);
        for (i, c) in part.calls.iter().enumerate() {
            events.push((c.invoke, call_entry(i as u32)));
            if let Some(done) = c.complete {
                events.push((done, return_entry(i as u32)));
            }
        }
        events.sort_unstable();
        // Within a run of calls with no return between them the order is free (each becomes a
        // candidate at the same moment): try first the call that must return first, which is
        // where a valid history's linearization usually goes.
        let returns_at = |e: u32| {
            part.calls[((e - 1) / 2) as usize]
                .complete
                .unwrap_or(u32::MAX)
        };
        let mut run_start = 0;
        for i in 0..=events.len() {
            let is_call = i < events.len() && events[i].1 == call_entry((events[i].1 - 1) / 2);
            if !is_call {
                events[run_start..i].sort_by_key(|&(pos, e)| (returns_at(e), pos));
                run_start = i + 1;
            }
        }
        let size = 1 + 2 * n;
        let mut next = vec![NONE; size];
        let mut prev = vec![NONE; size];
        let mut last = HEAD;
        for &(_, e) in &events {
            next[last as usize] = e;
            prev[e as usize] = last;
            last = e;
        }
        let remaining_ok = returns.iter().filter(|&&r| r).count();
        let read_only = part
            .calls
            .iter()
            .map(|c| part.model.is_read_only(&c.op))
            .collect();
        let mut last_reads: Vec<u32> = (0..n as u32)
            .filter(|&c| returns[c as usize] && part.model.is_read_only(&part.calls[c as usize].op))
            .collect();
        last_reads.sort_by_key(|&c| std::cmp::Reverse(part.calls[c as usize].invoke));
        last_reads.truncate(LAST_READS);
        let state = part.model.init();
        Search {
            last_reads,
            linearized: CallSet::new(n, remaining_ok),
            state,
            stack: Vec::new(),
            memo: Memo::new(),
            out_of_memory: false,
            cursor: next[HEAD as usize],
            remaining_ok,
            trying_unknown: false,
            has_unknown: remaining_ok < n,
            steps: 0,
            deepest: 0,
            frontier: None,
            frontier_pos: 0,
            finished: None,
            part,
            returns,
            read_only,
            fresh: true,
            twin_prev,
            next,
            prev,
        }
    }

    /// Bytes held by the memo.
    pub fn memo_bytes(&self) -> usize {
        self.memo.bytes()
    }

    /// The bytes this search counts in the memory budget's `used`: to be given back when it ends.
    pub fn memory_reported(&self) -> usize {
        self.memo.reported()
    }

    /// Configurations explored.
    pub fn memo_entries(&self) -> usize {
        self.memo.len()
    }

    fn is_linearized(&self, c: u32) -> bool {
        self.linearized.contains(c)
    }

    fn flip(&mut self, c: u32) {
        self.linearized.flip(c);
    }

    fn unlink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        if n != NONE {
            self.prev[n as usize] = p;
        }
    }

    fn relink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if n != NONE {
            self.prev[n as usize] = e;
        }
    }

    fn lift(&mut self, c: u32) {
        self.unlink(call_entry(c));
        if self.returns[c as usize] {
            self.unlink(return_entry(c));
        }
    }

    fn unlift(&mut self, c: u32) {
        if self.returns[c as usize] {
            self.relink(return_entry(c));
        }
        self.relink(call_entry(c));
    }

    /// Linearizes call `c` into `next_state` unless that configuration was explored already.
    /// False when the configuration was explored already, or cannot lead anywhere, or (with
    /// `out_of_memory` set) cannot be recorded.
    fn try_enter(
        &mut self,
        c: u32,
        next_state: M::State,
        alternatives: &mut Vec<M::State>,
        forced: bool,
        limits: &Limits,
    ) -> bool {
        if self.out_of_memory {
            return false;
        }
        if !self.read_only[c as usize] && !self.viable(c, &next_state) {
            return false;
        }
        self.flip(c);
        let heap = self.part.model.state_bytes(&next_state);
        match self
            .memo
            .visit(&self.linearized, &next_state, heap, &limits.memory)
        {
            Visit::New => {}
            Visit::Seen => {
                self.flip(c);
                return false;
            }
            Visit::Full => {
                self.flip(c);
                self.out_of_memory = true;
                return false;
            }
        }
        let prev_state = std::mem::replace(&mut self.state, next_state);
        self.stack.push(Frame {
            call: c,
            prev_state,
            alternatives: std::mem::take(alternatives),
            forced,
        });
        self.deepest = self.deepest.max(self.stack.len());
        self.fresh = true;
        self.trying_unknown = false;
        self.lift(c);
        if self.returns[c as usize] {
            self.remaining_ok -= 1;
        }
        self.cursor = self.next[HEAD as usize];
        true
    }

    /// Undoes the last linearization and moves on; false when there is nothing left to undo.
    fn backtrack(&mut self, limits: &Limits) -> bool {
        while let Some(mut frame) = self.stack.pop() {
            let c = frame.call;
            self.state = frame.prev_state;
            self.flip(c);
            if self.returns[c as usize] {
                self.remaining_ok += 1;
            }
            self.unlift(c);
            if frame.forced {
                continue;
            }
            while let Some(s) = frame.alternatives.pop() {
                if self.try_enter(c, s, &mut frame.alternatives, false, limits) {
                    return true;
                }
            }
            self.cursor = self.next[call_entry(c) as usize];
            self.trying_unknown = !self.returns[c as usize];
            return true;
        }
        false
    }

    /// Whether every pending ok read in the window (invoked, not linearized), and each of the
    /// last few ok reads of the history not linearized yet, could still be satisfied after `c`
    /// takes the state to `next`. Each of them must be linearized later, so if the model says
    /// one can no longer be reached, this step leads nowhere.
    ///
    /// The last reads matter for a kv key of appends: a wrong order of concurrent appends makes
    /// a string that no later get can grow from, but the window holds no get to tell, and
    /// without them the search would try every subset and order of the appends before the next
    /// get is invoked. The last gets of the history are usually the longest, so they refuse the
    /// most. (Checking them is sound whatever their position: every ok call is linearized at
    /// some point after this configuration, and `can_reach` never refuses a reachable read.)
    fn viable(&self, c: u32, next: &M::State) -> bool {
        for &r in &self.last_reads {
            if r != c
                && !self.is_linearized(r)
                && !self
                    .part
                    .model
                    .can_reach(next, &self.part.calls[r as usize].op)
            {
                return false;
            }
        }
        let mut e = self.next[HEAD as usize];
        while e != NONE {
            let r = (e - 1) / 2;
            if e == return_entry(r) {
                break;
            }
            if r != c
                && self.read_only[r as usize]
                && self.returns[r as usize]
                && !self
                    .part
                    .model
                    .can_reach(next, &self.part.calls[r as usize].op)
            {
                return false;
            }
            e = self.next[e as usize];
        }
        true
    }

    /// The read-first rule: a read-only call that the current state accepts is linearized at
    /// once, and its alternatives are never explored.
    ///
    /// Soundness: let C be the configuration and r such a call. r is a candidate, so no pending
    /// call returned before r was invoked. If some linearization completes C as X r Y, then
    /// r X Y completes it too: r leaves the state unchanged, so X and Y see the same states; and
    /// moving r earlier breaks no real-time order, since every call of X was still pending when
    /// r was invoked. Hence C succeeds iff C + r does: when C + r fails (or is already in the
    /// memo, i.e. failed before), C fails, and the search backtracks past C.
    fn read_first(&mut self, limits: &Limits) -> ReadFirst {
        let mut e = self.next[HEAD as usize];
        while e != NONE {
            let c = (e - 1) / 2;
            if e == return_entry(c) {
                break;
            }
            if self.read_only[c as usize] {
                if let Step::One(s) = self
                    .part
                    .model
                    .step(&self.state, &self.part.calls[c as usize].op)
                {
                    return if self.try_enter(c, s, &mut Vec::new(), true, limits) {
                        ReadFirst::Entered
                    } else {
                        ReadFirst::Doomed
                    };
                }
            }
            e = self.next[e as usize];
        }
        ReadFirst::Nothing
    }

    fn record_frontier(&mut self, c: u32) {
        let pos = self.part.calls[c as usize].complete.unwrap_or(u32::MAX);
        match &mut self.frontier {
            Some(_) if pos < self.frontier_pos => {}
            Some(f) if pos == self.frontier_pos => {
                if f.states.len() < MAX_FRONTIER_STATES && !f.states.contains(&self.state) {
                    f.states.push(self.state.clone());
                }
            }
            _ => {
                self.frontier_pos = pos;
                self.frontier = Some(Frontier {
                    call: c as usize,
                    states: vec![self.state.clone()],
                    path: self.stack.iter().map(|f| f.call as usize).collect(),
                });
            }
        }
    }

    /// Runs until a verdict, or until `budget` more steps are spent, or a limit is hit.
    pub fn run(&mut self, budget: u64, limits: &Limits) -> Progress {
        if let Some(done) = &self.finished {
            return done.clone();
        }
        let end = self.steps.saturating_add(budget);
        let verdict = loop {
            if self.out_of_memory {
                break memory_stop(limits);
            }
            if self.remaining_ok == 0 {
                break Progress::Valid;
            }
            if self.steps >= end {
                return Progress::Pending;
            }
            self.steps += 1;
            if self.steps.is_multiple_of(512) {
                if (limits.cancelled)() {
                    break Progress::Stopped("cancelled".into());
                }
                if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                    break Progress::Stopped("time limit reached".into());
                }
                if !self.memo.report(&limits.memory) {
                    break memory_stop(limits);
                }
                if let Some(status) = limits.status {
                    let used = limits
                        .memory
                        .used
                        .load(std::sync::atomic::Ordering::Relaxed);
                    status.stepped(512, used);
                }
            }
            if self.fresh {
                self.fresh = false;
                match self.read_first(limits) {
                    ReadFirst::Entered => continue,
                    ReadFirst::Doomed => {
                        if !self.backtrack(limits) {
                            break self.dead_end(limits);
                        }
                        continue;
                    }
                    ReadFirst::Nothing => {}
                }
            }
            let e = self.cursor;
            let at_return = e == NONE || e == return_entry((e - 1) / 2);
            if at_return && !self.trying_unknown && self.has_unknown {
                // The ok candidates led nowhere: now the calls of unknown outcome.
                self.trying_unknown = true;
                self.cursor = self.next[HEAD as usize];
                continue;
            }
            if e == NONE {
                // Only unknown-outcome calls are left ahead, yet an ok call is not linearized:
                // its return lies behind the cursor, so this branch is dead.
                if !self.backtrack(limits) {
                    break self.dead_end(limits);
                }
                continue;
            }
            let c = (e - 1) / 2;
            if at_return {
                self.record_frontier(c);
                if !self.backtrack(limits) {
                    break self.dead_end(limits);
                }
                continue;
            }
            if self.returns[c as usize] == self.trying_unknown {
                self.cursor = self.next[e as usize];
                continue;
            }
            let twin = self.twin_prev[c as usize];
            if twin != NONE && !self.is_linearized(twin) {
                self.cursor = self.next[e as usize];
                continue;
            }
            let op = &self.part.calls[c as usize].op;
            match self.part.model.step(&self.state, op) {
                Step::Impossible => self.cursor = self.next[e as usize],
                Step::One(s) => {
                    if !self.try_enter(c, s, &mut Vec::new(), false, limits) {
                        self.cursor = self.next[e as usize];
                    }
                }
                Step::Many(mut all) => {
                    let mut entered = false;
                    while let Some(s) = all.pop() {
                        if self.try_enter(c, s, &mut all, false, limits) {
                            entered = true;
                            break;
                        }
                    }
                    if !entered {
                        self.cursor = self.next[e as usize];
                    }
                }
            }
        };
        self.finished = Some(verdict.clone());
        verdict
    }

    /// Nothing is left to undo: the history is invalid, unless a configuration was refused for
    /// want of memory on the way (it might have led somewhere).
    fn dead_end(&self, limits: &Limits) -> Progress {
        if self.out_of_memory {
            memory_stop(limits)
        } else {
            Progress::Invalid
        }
    }
}

fn memory_stop(limits: &Limits) -> Progress {
    let used = limits
        .memory
        .used
        .load(std::sync::atomic::Ordering::Relaxed);
    Progress::Stopped(format!(
        "memory limit reached ({} MB of search memo in all, limit {} MB)",
        used >> 20,
        limits.memory.limit >> 20
    ))
}
