//! Finding the shortest cycle of each of Elle's kinds inside one strongly connected component.
//!
//! A cycle's kind follows from the kinds of its steps (Elle's rules): exactly one rw step is
//! `G-single`; two or more, none adjacent (going round), `G-nonadjacent`; two or more with an
//! adjacent pair, `G2-item`; no rw but a wr, `G1c`; only ww, `G0`. A step of the real-time order
//! makes it `-realtime`, else a step of the process order `-process`.
//!
//! Each kind is searched for as a breadth-first search over (transaction, automaton state),
//! starting from every edge that such a cycle must contain (ww for G0, wr for G1c, rw for the
//! rest) and ending when the search comes back to the edge's source in an accepting state. The
//! automaton counts rw steps (0, 1, 2+), remembers whether the last step was rw and whether two
//! were adjacent, and whether a step of the variant's order was taken: five bits. Breadth-first,
//! the first cycle found from a start edge is the shortest through it; the shortest over all
//! start edges is kept, later searches cut off at its length. Searches run within the
//! component of the edges the kind may use, which is usually far smaller.
//!
//! The search walks states, not simple paths, so a closed walk it finds may pass a transaction
//! twice; such a walk is split into simple cycles, and one of the wanted kind is kept if any.
//! Each (component, kind) search has a budget of states; a kind whose budget ran out before any
//! cycle was found is reported as not searched to the end, which makes the verdict unknown
//! unless something else already made it invalid.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rustc_hash::FxHashSet;

use super::graph::{kind_name, Graph, Kinds, DATA, PROCESS, REALTIME, RW, WR, WW};
use super::models::implied_anomalies;
use super::scc::components;
use super::txn::TxnId;

/// The data-dependency shape of a cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    G0,
    G1c,
    GSingle,
    GNonadjacent,
    G2Item,
}

/// Which order, beyond the data dependencies, a cycle uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Data,
    Process,
    Realtime,
}

/// A kind of cycle to search for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub shape: Shape,
    pub variant: Variant,
}

impl Spec {
    /// Elle's name: `G0`, `G-single-process`, `G2-item-realtime`, ...
    pub fn name(self) -> &'static str {
        use Shape::*;
        use Variant::*;
        match (self.shape, self.variant) {
            (G0, Data) => "G0",
            (G1c, Data) => "G1c",
            (GSingle, Data) => "G-single",
            (GNonadjacent, Data) => "G-nonadjacent",
            (G2Item, Data) => "G2-item",
            (G0, Process) => "G0-process",
            (G1c, Process) => "G1c-process",
            (GSingle, Process) => "G-single-process",
            (GNonadjacent, Process) => "G-nonadjacent-process",
            (G2Item, Process) => "G2-item-process",
            (G0, Realtime) => "G0-realtime",
            (G1c, Realtime) => "G1c-realtime",
            (GSingle, Realtime) => "G-single-realtime",
            (GNonadjacent, Realtime) => "G-nonadjacent-realtime",
            (G2Item, Realtime) => "G2-item-realtime",
        }
    }

    /// The edge kinds such a cycle may use.
    fn allowed(self) -> Kinds {
        let data = match self.shape {
            Shape::G0 => WW,
            Shape::G1c => WW | WR,
            _ => DATA,
        };
        data | match self.variant {
            Variant::Data => 0,
            Variant::Process => PROCESS,
            Variant::Realtime => PROCESS | REALTIME,
        }
    }

    /// A kind of edge every such cycle contains, to start from.
    fn start(self) -> Kinds {
        match self.shape {
            Shape::G0 => WW,
            Shape::G1c => WR,
            _ => RW,
        }
    }

    /// Every kind, most severe first (the order Elle searches in).
    pub fn all() -> Vec<Spec> {
        let shapes = [
            Shape::G0,
            Shape::G1c,
            Shape::GSingle,
            Shape::GNonadjacent,
            Shape::G2Item,
        ];
        [Variant::Data, Variant::Process, Variant::Realtime]
            .into_iter()
            .flat_map(|variant| shapes.map(|shape| Spec { shape, variant }))
            .collect()
    }
}

/// One step of a cycle: `from` must precede `to`, for the reason `kind` (a single kind bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub from: TxnId,
    pub to: TxnId,
    pub kind: Kinds,
}

/// A cycle found, in whole-history transaction ids; the last step ends where the first begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    pub kind: &'static str,
    pub steps: Vec<Step>,
    /// Whether the search proved no shorter cycle of this kind exists in the component.
    pub shortest: bool,
}

/// Elle's name for a cycle with steps of these kinds.
pub fn classify(kinds: &[Kinds]) -> &'static str {
    let count = |k: Kinds| kinds.iter().filter(|&&x| x == k).count();
    let rw = count(RW);
    let adjacent = (0..kinds.len()).any(|i| kinds[i] == RW && kinds[(i + 1) % kinds.len()] == RW);
    let shape = match rw {
        1 => Shape::GSingle,
        0 if count(WR) > 0 => Shape::G1c,
        0 => Shape::G0,
        _ if adjacent => Shape::G2Item,
        _ => Shape::GNonadjacent,
    };
    let variant = if count(REALTIME) > 0 {
        Variant::Realtime
    } else if count(PROCESS) > 0 {
        Variant::Process
    } else {
        Variant::Data
    };
    Spec { shape, variant }.name()
}

/// Limits shared by every search of one check.
pub struct Limits {
    pub deadline: Option<Instant>,
    /// States one (component, kind) search may visit before giving up.
    pub states_per_search: usize,
    /// Set when the deadline passed: every search stops.
    pub stopped: AtomicBool,
}

impl Limits {
    fn out_of_time(&self) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return true;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.stopped.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// What the search of one component found.
#[derive(Debug, Default)]
pub struct ComponentCycles {
    pub cycles: Vec<Cycle>,
    /// Kinds whose search ran out of budget or time before finding a cycle.
    pub unfinished: Vec<&'static str>,
}

/// Searches the component `vertices` of `g` for a shortest cycle of each kind in `wanted`
/// (in that order), skipping kinds implied by those already found, as Elle does.
pub fn search_component(
    g: &Graph,
    vertices: &[TxnId],
    wanted: &[Spec],
    limits: &Limits,
    local: &mut [u32],
) -> ComponentCycles {
    let sub = g.induced(vertices, local);
    let mut result = ComponentCycles::default();
    let mut found: Vec<&'static str> = Vec::new();
    for &spec in wanted {
        if implied_anomalies(found.iter().copied()).contains(spec.name()) {
            continue;
        }
        if limits.out_of_time() {
            result.unfinished.push(spec.name());
            continue;
        }
        let mut best: Option<Cycle> = None;
        let mut finished = true;
        for part in components(&sub, spec.allowed()) {
            let mut local2 = vec![u32::MAX; sub.vertices()];
            let part_graph = sub.induced(&part, &mut local2);
            let mut search = Search::new(&part_graph, spec, limits);
            let limit = best.as_ref().map_or(usize::MAX, |c| c.steps.len());
            if let Some(steps) = search.shortest(limit) {
                let map = |l: u32| vertices[part[l as usize] as usize];
                let steps = steps
                    .into_iter()
                    .map(|s| Step {
                        from: map(s.from),
                        to: map(s.to),
                        kind: s.kind,
                    })
                    .collect();
                best = Some(Cycle {
                    kind: spec.name(),
                    steps,
                    shortest: true,
                });
            }
            if search.exhausted {
                finished = false;
            }
        }
        match best {
            Some(mut c) => {
                c.shortest = finished;
                found.push(c.kind);
                result.cycles.push(c);
            }
            None if !finished => result.unfinished.push(spec.name()),
            None => {}
        }
    }
    result
}

// Automaton state bits.
const RW1: u8 = 1;
const RW2: u8 = 2;
const LAST_RW: u8 = 4;
const ADJ: u8 = 8;
const VAR: u8 = 16;
const STATES: usize = 32;

/// One entry of the breadth-first queue, which is also the tree of paths taken.
#[derive(Clone, Copy)]
struct Entry {
    node: u32,
    state: u8,
    kind: Kinds,
    depth: u32,
    parent: u32,
}

/// The states visited by one breadth-first search: a stamped array when the component is small
/// enough, else a hash set.
enum Visited {
    Dense { stamps: Vec<u32>, stamp: u32 },
    Sparse(FxHashSet<u64>),
}

impl Visited {
    fn new(n: usize) -> Visited {
        if n * STATES <= 1 << 24 {
            Visited::Dense {
                stamps: vec![0; n * STATES],
                stamp: 0,
            }
        } else {
            Visited::Sparse(FxHashSet::default())
        }
    }

    fn reset(&mut self) {
        match self {
            Visited::Dense { stamp, .. } => *stamp += 1,
            Visited::Sparse(set) => set.clear(),
        }
    }

    /// Marks (node, state); false if it was already marked.
    fn insert(&mut self, node: u32, state: u8) -> bool {
        let i = node as usize * STATES + state as usize;
        match self {
            Visited::Dense { stamps, stamp } => {
                let fresh = stamps[i] != *stamp;
                stamps[i] = *stamp;
                fresh
            }
            Visited::Sparse(set) => set.insert(i as u64),
        }
    }
}

struct Search<'g> {
    g: &'g Graph,
    spec: Spec,
    limits: &'g Limits,
    visited: Visited,
    queue: Vec<Entry>,
    states: usize,
    exhausted: bool,
}

impl<'g> Search<'g> {
    fn new(g: &'g Graph, spec: Spec, limits: &'g Limits) -> Search<'g> {
        Search {
            g,
            spec,
            limits,
            visited: Visited::new(g.vertices()),
            queue: Vec::new(),
            states: 0,
            exhausted: false,
        }
    }

    /// The automaton's state after a step of `kind` from `state`, or `None` if the cycle may
    /// not take it.
    fn step(&self, state: u8, kind: Kinds) -> Option<u8> {
        let plain = state & !LAST_RW;
        match kind {
            RW => {
                let shape = self.spec.shape;
                if matches!(shape, Shape::G0 | Shape::G1c)
                    || (shape == Shape::GSingle && state & RW1 != 0)
                    || (shape == Shape::GNonadjacent && state & LAST_RW != 0)
                {
                    return None;
                }
                let count = if state & RW1 != 0 { RW1 | RW2 } else { RW1 };
                let adj = if state & LAST_RW != 0 { ADJ } else { 0 };
                Some(state | count | LAST_RW | adj)
            }
            WW => Some(plain),
            WR if self.spec.shape != Shape::G0 => Some(plain),
            PROCESS if self.spec.variant == Variant::Process => Some(plain | VAR),
            PROCESS if self.spec.variant == Variant::Realtime => Some(plain),
            REALTIME if self.spec.variant == Variant::Realtime => Some(plain | VAR),
            _ => None,
        }
    }

    /// Whether a cycle whose first step was of kind `first` and which ended in `state` is one
    /// of the kind searched for.
    fn accepts(&self, state: u8, first: Kinds) -> bool {
        let wrap_adjacent = state & LAST_RW != 0 && first == RW;
        let adjacent = state & ADJ != 0 || wrap_adjacent;
        let shape_ok = match self.spec.shape {
            Shape::G0 | Shape::G1c => true,
            Shape::GSingle => state & RW1 != 0 && state & RW2 == 0,
            Shape::GNonadjacent => state & RW2 != 0 && !adjacent,
            Shape::G2Item => state & RW2 != 0 && adjacent,
        };
        shape_ok && (self.spec.variant == Variant::Data || state & VAR != 0)
    }

    /// The shortest cycle of the kind through any start edge, if shorter than `limit` steps.
    fn shortest(&mut self, mut limit: usize) -> Option<Vec<Step>> {
        let start = self.spec.start();
        let mut best = None;
        for a in 0..self.g.vertices() as u32 {
            for (b, kinds) in self.g.out(a) {
                if kinds & start == 0 || limit <= 2 {
                    continue;
                }
                let Some(first) = self.step(0, start) else {
                    continue;
                };
                if let Some(steps) = self.through_edge(a, b, first, start, limit) {
                    limit = steps.len();
                    best = Some(steps);
                }
                if self.exhausted {
                    return best;
                }
            }
        }
        best
    }

    /// The shortest wanted cycle starting with the step `a -> b` (of kind `first`, leaving the
    /// automaton in `state`), if shorter than `limit`.
    fn through_edge(
        &mut self,
        a: u32,
        b: u32,
        state: u8,
        first: Kinds,
        limit: usize,
    ) -> Option<Vec<Step>> {
        self.visited.reset();
        self.queue.clear();
        self.visited.insert(b, state);
        self.queue.push(Entry {
            node: b,
            state,
            kind: first,
            depth: 1,
            parent: u32::MAX,
        });
        let allowed = self.spec.allowed();
        let mut head = 0;
        while head < self.queue.len() {
            let e = self.queue[head];
            let here = head as u32;
            head += 1;
            // Every cycle from here has at least depth + 1 steps.
            if e.depth as usize + 1 >= limit {
                break;
            }
            self.states += 1;
            if self.states.is_multiple_of(65_536) && self.limits.out_of_time() {
                self.exhausted = true;
                return None;
            }
            if self.states > self.limits.states_per_search {
                self.exhausted = true;
                return None;
            }
            for (t, kinds) in self.g.out(e.node) {
                let mut bits = kinds & allowed;
                while bits != 0 {
                    let kind = bits & bits.wrapping_neg();
                    bits &= bits - 1;
                    let Some(next) = self.step(e.state, kind) else {
                        continue;
                    };
                    if t == a {
                        if self.accepts(next, first) {
                            if let Some(steps) = self.cycle(a, here, kind) {
                                return Some(steps);
                            }
                        }
                        continue;
                    }
                    if self.visited.insert(t, next) {
                        self.queue.push(Entry {
                            node: t,
                            state: next,
                            kind,
                            depth: e.depth + 1,
                            parent: here,
                        });
                    }
                }
            }
        }
        None
    }

    /// The cycle that closes from queue entry `last` back to `a` with a step of `kind`: the
    /// walk itself when it is simple, else a simple cycle within it of the wanted kind.
    fn cycle(&self, a: u32, last: u32, kind: Kinds) -> Option<Vec<Step>> {
        let mut rev = vec![Step {
            from: self.queue[last as usize].node,
            to: a,
            kind,
        }];
        let mut i = last;
        loop {
            let e = self.queue[i as usize];
            let from = if e.parent == u32::MAX {
                a
            } else {
                self.queue[e.parent as usize].node
            };
            rev.push(Step {
                from,
                to: e.node,
                kind: e.kind,
            });
            if e.parent == u32::MAX {
                break;
            }
            i = e.parent;
        }
        rev.reverse();
        let name = self.spec.name();
        simple_cycles(&rev)
            .into_iter()
            .filter(|c| classify(&c.iter().map(|s| s.kind).collect::<Vec<_>>()) == name)
            .min_by_key(|c| c.len())
    }
}

/// A closed walk split into simple cycles (the walk itself if it is one).
pub fn simple_cycles(walk: &[Step]) -> Vec<Vec<Step>> {
    let mut cycles = Vec::new();
    let mut path: Vec<Step> = Vec::new();
    for &s in walk {
        path.push(s);
        // Does the walk come back to a transaction already on the path?
        if let Some(p) = path.iter().position(|x| x.from == s.to) {
            cycles.push(path.split_off(p));
        }
    }
    cycles
}

/// For messages: the kinds of a cycle's steps, `rw ww wr`.
pub fn step_names(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| kind_name(s.kind))
        .collect::<Vec<_>>()
        .join(" ")
}
