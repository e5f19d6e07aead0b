//! The judge: from a part's calls as register accesses to either a linearization or the
//! contradiction that rules every linearization out, in O(n log n). The proofs are in the
//! module documentation of [`unique`](super); the steps here are numbered as there.

use rustc_hash::FxHashMap;

use crate::model::{Access, RegisterView};

/// A completion that never comes (an `info` call, or one still open when the prefix ends).
pub(crate) const NEVER: i64 = i64::MAX / 4;

/// A member of a cluster: a call's index, or [`ORIGIN`].
pub(crate) type Member = u32;

/// The initial value's virtual write: invoked and completed before every event.
pub(crate) const ORIGIN: Member = u32::MAX;

/// Whether no two accesses set the same value and none sets the initial value: what the judge
/// needs (else see `repeated`).
pub(crate) fn unique_values(view: &RegisterView) -> bool {
    let mut seen = rustc_hash::FxHashSet::default();
    view.accesses
        .iter()
        .filter_map(|a| a.sets())
        .all(|v| v != view.initial && seen.insert(v))
}

/// A part's calls as the judge sees them, the same for every prefix it is asked about.
pub(crate) struct Calls {
    pub access: Vec<Access>,
    pub invoke: Vec<u32>,
    pub complete: Vec<Option<u32>>,
    pub initial: u32,
    /// The one call that sets each value.
    writer: FxHashMap<u32, Member>,
}

impl Calls {
    /// `None` when some value is set by two calls, or the initial value is set by one: the path
    /// does not apply, and the engine searches.
    pub fn new(view: RegisterView, invoke: Vec<u32>, complete: Vec<Option<u32>>) -> Option<Calls> {
        if view.accesses.len() != invoke.len() || invoke.len() != complete.len() {
            return None;
        }
        let mut writer = FxHashMap::default();
        writer.reserve(view.accesses.len());
        for (c, a) in view.accesses.iter().enumerate() {
            if let Some(v) = a.sets() {
                if v == view.initial || writer.insert(v, c as Member).is_some() {
                    return None;
                }
            }
        }
        Some(Calls {
            access: view.accesses,
            invoke,
            complete,
            initial: view.initial,
            writer,
        })
    }

    pub fn len(&self) -> usize {
        self.access.len()
    }

    /// The call that sets `value`, when one does (never for the initial value).
    pub fn writer_of(&self, value: u32) -> Option<Member> {
        self.writer.get(&value).copied()
    }

    /// Where the member was invoked; the origin before everything.
    pub fn invoked(&self, m: Member) -> i64 {
        if m == ORIGIN {
            -1
        } else {
            i64::from(self.invoke[m as usize])
        }
    }

    /// Where the member completed in the prefix ending at event `cut`: [`NEVER`] when its
    /// outcome is unknown there (an `info`, or an ok that comes after `cut`).
    pub fn done(&self, m: Member, cut: u32) -> i64 {
        if m == ORIGIN {
            return -1;
        }
        match self.complete[m as usize] {
            Some(at) if at <= cut => i64::from(at),
            _ => NEVER,
        }
    }

    /// Whether call `c` is ok (completed) in the prefix ending at `cut`.
    pub fn ok(&self, c: Member, cut: u32) -> bool {
        c != ORIGIN && self.complete[c as usize].is_some_and(|at| at <= cut)
    }
}

/// A value with the call that set it and the reads that returned it: in every linearization,
/// the writer and then the reads, with no other call in between that sets or expects a value
/// (step 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cluster {
    pub writer: Member,
    /// Ok reads, in call order.
    pub reads: Vec<Member>,
}

/// Clusters that compare-and-sets link: each after the first is set by a cas from the value
/// of the one before it. A chain is one unbroken block of every linearization (step 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    pub clusters: Vec<Cluster>,
}

impl Chain {
    /// Every member, in the chain's order (reads of one cluster in call order).
    pub fn members(&self) -> impl Iterator<Item = Member> + '_ {
        self.clusters
            .iter()
            .flat_map(|c| std::iter::once(c.writer).chain(c.reads.iter().copied()))
    }

    /// The position of `m` in the chain's groups: (cluster, 0 for its writer or 1 for a read).
    pub fn group_of(&self, m: Member) -> Option<(usize, usize)> {
        self.clusters.iter().enumerate().find_map(|(i, c)| {
            if c.writer == m {
                Some((i, 0))
            } else if c.reads.contains(&m) {
                Some((i, 1))
            } else {
                None
            }
        })
    }
}

/// Why no order of the calls linearizes: each is a proof in itself (see the module
/// documentation of [`unique`](super) for why each rules out every order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// `reader` (a call that must happen) expects `value`, which no call sets and which is not
    /// the initial value.
    Unwritten { reader: Member, value: u32 },
    /// Two compare-and-sets that must happen expect the same value, which is set once: after
    /// the first succeeds, it never comes back.
    SharedCas { first: Member, second: Member },
    /// Compare-and-sets that must happen, each expecting the value the next one sets, round a
    /// cycle: none can be first.
    CasCycle { calls: Vec<Member> },
    /// In `chain`, `first` comes before `then` in every linearization, but `then` completed
    /// before `first` was invoked.
    Backwards {
        chain: Chain,
        first: Member,
        then: Member,
    },
    /// Two chains, each of which must come before the other: `s_done` (of `s`) completed
    /// before `t_invoked` (of `t`) was invoked, and `t_done` (of `t`) completed before
    /// `s_invoked` (of `s`) was invoked.
    Crossing {
        s: Chain,
        t: Chain,
        s_done: Member,
        t_invoked: Member,
        t_done: Member,
        s_invoked: Member,
    },
}

/// The judge's finding on one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Judgement {
    /// A linearization of the calls that must happen, in order (the origin left out).
    Order(Vec<Member>),
    Conflict(Conflict),
}

/// Judges the prefix of the history that ends at event `cut` (all of it for `u32::MAX`):
/// calls completed after `cut` count as of unknown outcome there.
pub(crate) fn judge(calls: &Calls, cut: u32) -> Judgement {
    match chains(calls, cut).and_then(|chains| order(calls, cut, chains)) {
        Ok(order) => Judgement::Order(order),
        Err(c) => Judgement::Conflict(c),
    }
}

/// Steps 1 to 3: the calls that must happen, their clusters, and the chains of clusters.
fn chains(calls: &Calls, cut: u32) -> Result<Vec<Chain>, Conflict> {
    let n = calls.len();
    // Step 1: ok calls must happen, and so must the writer of whatever a call that must happen
    // observes.
    let mut needed = vec![false; n];
    let mut stack: Vec<Member> = Vec::new();
    for c in 0..n as Member {
        if calls.ok(c, cut) && calls.access[c as usize] != Access::Any {
            needed[c as usize] = true;
            stack.push(c);
        }
    }
    while let Some(c) = stack.pop() {
        let Some(v) = calls.access[c as usize].observes() else {
            continue;
        };
        if v == calls.initial {
            continue;
        }
        match calls.writer_of(v) {
            None => {
                return Err(Conflict::Unwritten {
                    reader: c,
                    value: v,
                })
            }
            Some(w) if !needed[w as usize] => {
                needed[w as usize] = true;
                stack.push(w);
            }
            Some(_) => {}
        }
    }
    // Step 2: the cluster of each value; step 3: the cas that follows it, if any.
    let mut reads_of: FxHashMap<u32, Vec<Member>> = FxHashMap::default();
    let mut cas_from: FxHashMap<u32, Member> = FxHashMap::default();
    let mut roots: Vec<Member> = vec![ORIGIN];
    let mut needed_cas = 0usize;
    for c in 0..n as Member {
        if !needed[c as usize] {
            continue;
        }
        match calls.access[c as usize] {
            Access::Read(v) => reads_of.entry(v).or_default().push(c),
            Access::Write(_) => roots.push(c),
            Access::Cas(from, _) => {
                needed_cas += 1;
                if let Some(first) = cas_from.insert(from, c) {
                    return Err(Conflict::SharedCas { first, second: c });
                }
            }
            Access::Any => {}
        }
    }
    let mut chains = Vec::with_capacity(roots.len());
    let mut chained_cas = 0usize;
    for root in roots {
        let mut clusters = Vec::new();
        let mut writer = root;
        loop {
            let value = match writer {
                ORIGIN => calls.initial,
                w => calls.access[w as usize]
                    .sets()
                    .expect("chain members set values"),
            };
            let reads = reads_of.remove(&value).unwrap_or_default();
            clusters.push(Cluster { writer, reads });
            match cas_from.get(&value) {
                Some(&next) => {
                    chained_cas += 1;
                    writer = next;
                }
                None => break,
            }
        }
        chains.push(Chain { clusters });
    }
    if chained_cas < needed_cas {
        return Err(cas_cycle(calls, &needed, &chains));
    }
    Ok(chains)
}

/// A needed cas that no chain reached: following the writers of the values such calls expect
/// never reaches a write or the origin (else the chain from there would have reached it), so
/// it comes back round; the calls on that round.
fn cas_cycle(calls: &Calls, needed: &[bool], chains: &[Chain]) -> Conflict {
    let mut chained = vec![false; calls.len()];
    for m in chains.iter().flat_map(|c| c.members()) {
        if m != ORIGIN {
            chained[m as usize] = true;
        }
    }
    let start = (0..calls.len())
        .find(|&c| needed[c] && !chained[c] && matches!(calls.access[c], Access::Cas(..)))
        .expect("an unchained needed cas exists") as Member;
    let mut seen: FxHashMap<Member, usize> = FxHashMap::default();
    let mut path = Vec::new();
    let mut c = start;
    loop {
        if let Some(&at) = seen.get(&c) {
            return Conflict::CasCycle {
                calls: path[at..].to_vec(),
            };
        }
        seen.insert(c, path.len());
        path.push(c);
        let from = calls.access[c as usize].observes().expect("a cas observes");
        c = calls
            .writer_of(from)
            .expect("a needed cas's value has a writer");
    }
}

/// The span of a chain: its earliest completion and latest invoke, with the members there.
#[derive(Clone, Copy)]
struct Span {
    done: (i64, Member),
    invoked: (i64, Member),
}

/// Steps 4 and 5: each chain's fixed order against real time, then the chains against each
/// other; on success, a linearization.
fn order(calls: &Calls, cut: u32, chains: Vec<Chain>) -> Result<Vec<Member>, Conflict> {
    let mut spans = Vec::with_capacity(chains.len());
    for chain in &chains {
        spans.push(span_of_checked(calls, cut, chain)?);
    }
    if let Some((s, t)) = crossing(&spans) {
        let (ss, ts) = (spans[s], spans[t]);
        return Err(Conflict::Crossing {
            s: chains[s].clone(),
            t: chains[t].clone(),
            s_done: ss.done.1,
            t_invoked: ts.invoked.1,
            t_done: ts.done.1,
            s_invoked: ss.invoked.1,
        });
    }
    // An edge S -> T means done(S) < invoked(T) and, with no crossing, invoked(S) <= done(T):
    // summed, done + invoked is smaller for S. Sorting by it orders every edge.
    let mut by_key: Vec<usize> = (0..chains.len()).collect();
    by_key.sort_by_key(|&i| (spans[i].done.0 + spans[i].invoked.0, i));
    let mut order = Vec::with_capacity(calls.len());
    for i in by_key {
        for cluster in &chains[i].clusters {
            if cluster.writer != ORIGIN {
                order.push(cluster.writer);
            }
            let mut reads = cluster.reads.clone();
            reads.sort_by_key(|&r| calls.done(r, cut));
            order.extend(reads);
        }
    }
    Ok(order)
}

/// Step 4: within a chain the groups (each cluster's writer, then its reads) come in a fixed
/// order, reads free among themselves; no member may complete before a member of an earlier
/// group was invoked. Returns the chain's span.
fn span_of_checked(calls: &Calls, cut: u32, chain: &Chain) -> Result<Span, Conflict> {
    let mut span = Span {
        done: (NEVER + 1, ORIGIN),
        invoked: (-2, ORIGIN),
    };
    for cluster in &chain.clusters {
        for group in [std::slice::from_ref(&cluster.writer), &cluster.reads[..]] {
            // `span.invoked` holds the latest invoke of the earlier groups.
            for &m in group {
                let done = calls.done(m, cut);
                if done < span.invoked.0 {
                    return Err(Conflict::Backwards {
                        chain: chain.clone(),
                        first: span.invoked.1,
                        then: m,
                    });
                }
                if done < span.done.0 {
                    span.done = (done, m);
                }
            }
            for &m in group {
                let invoked = calls.invoked(m);
                if invoked > span.invoked.0 {
                    span.invoked = (invoked, m);
                }
            }
        }
    }
    Ok(span)
}

/// Step 5: two chains S and T with done(S) < invoked(T) and done(T) < invoked(S), if any.
/// One of them has done < invoked (a "forward" span, two backward ones cannot cross), so
/// for each T it is enough to look among forward spans S with done(S) < invoked(T) for the
/// largest invoked(S): sort the forward spans by done, keep running maxima of invoked (the
/// two largest, from distinct chains, in case the largest is T itself), and binary search.
fn crossing(spans: &[Span]) -> Option<(usize, usize)> {
    let mut forward: Vec<usize> = (0..spans.len())
        .filter(|&i| spans[i].done.0 < spans[i].invoked.0)
        .collect();
    if forward.is_empty() {
        return None;
    }
    forward.sort_by_key(|&i| spans[i].done.0);
    // best[k]: the two chains with the largest invoked among forward[..=k].
    let mut best: Vec<[Option<usize>; 2]> = Vec::with_capacity(forward.len());
    let mut top: [Option<usize>; 2] = [None, None];
    for &i in &forward {
        let inv = |x: Option<usize>| x.map_or(i64::MIN, |x| spans[x].invoked.0);
        if spans[i].invoked.0 > inv(top[0]) {
            top = [Some(i), top[0]];
        } else if spans[i].invoked.0 > inv(top[1]) {
            top[1] = Some(i);
        }
        best.push(top);
    }
    for (t, span) in spans.iter().enumerate() {
        let k = forward.partition_point(|&s| spans[s].done.0 < span.invoked.0);
        if k == 0 {
            continue;
        }
        let s = match best[k - 1] {
            [Some(s), _] if s != t => s,
            [_, Some(s)] => s,
            _ => continue,
        };
        if spans[s].invoked.0 > span.done.0 {
            return Some((s, t));
        }
    }
    None
}
