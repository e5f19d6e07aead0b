//! The dependency graph over transactions: Adya's ww, wr and rw edges, plus the process order
//! and real-time order that the session and strong models add.
//!
//! Edges are gathered as a list from the per-key analyses (in parallel), then sorted into
//! compressed rows: one `u32` target and one byte of kinds per distinct (from, to) pair. Two
//! transactions related on several keys, or in several ways, share one edge whose kinds are the
//! union; the cycle search picks which kind each step of a cycle uses.

use rayon::prelude::*;

use super::txn::{Status, TxnId, Txns};

/// The kinds of one edge, as bits.
pub type Kinds = u8;
pub const WW: Kinds = 1;
pub const WR: Kinds = 2;
pub const RW: Kinds = 4;
pub const PROCESS: Kinds = 8;
pub const REALTIME: Kinds = 16;
pub const DATA: Kinds = WW | WR | RW;

/// The name of a single kind bit, as Elle writes it.
pub fn kind_name(kind: Kinds) -> &'static str {
    match kind {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        REALTIME => "realtime",
        _ => "?",
    }
}

/// An edge before it is placed: `from` must precede `to` for the reason `kinds`.
pub type Edge = (TxnId, TxnId, Kinds);

/// A directed graph over transactions `0..n` in compressed rows.
#[derive(Debug, Default)]
pub struct Graph {
    starts: Vec<u32>,
    targets: Vec<TxnId>,
    kinds: Vec<Kinds>,
}

impl Graph {
    /// Places `edges` (self-edges dropped, duplicates merged) into a graph of `n` vertices.
    pub fn from_edges(n: usize, edges: Vec<Edge>) -> Graph {
        Graph::from_parts(n, &[&edges])
    }

    /// Places the edges of every part into one graph, as [`Graph::from_edges`] would their
    /// concatenation, without making it (the parts are the per-key analyses' lists, millions
    /// of edges in all): a counting sort by source, then each (short) row sorted by target and
    /// merged, the rows on every core.
    pub fn from_parts(n: usize, parts: &[&[Edge]]) -> Graph {
        let edges = || {
            parts
                .iter()
                .flat_map(|p| p.iter())
                .filter(|(a, b, _)| a != b)
        };
        let mut starts = vec![0u32; n + 1];
        for &(a, _, _) in edges() {
            starts[a as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut fill = starts.clone();
        let mut rows: Vec<(TxnId, Kinds)> = vec![(0, 0); starts[n] as usize];
        for &(a, b, k) in edges() {
            rows[fill[a as usize] as usize] = (b, k);
            fill[a as usize] += 1;
        }
        drop(fill);
        // Sort and merge each row in place, the rows on every core.
        let mut each_row = Vec::with_capacity(n);
        let mut rest = rows.as_mut_slice();
        for v in 0..n {
            let (row, tail) =
                std::mem::take(&mut rest).split_at_mut((starts[v + 1] - starts[v]) as usize);
            each_row.push(row);
            rest = tail;
        }
        let lengths: Vec<u32> = each_row
            .into_par_iter()
            .map(|row| merge_row(row) as u32)
            .collect();
        let mut new_starts = Vec::with_capacity(n + 1);
        new_starts.push(0u32);
        let mut total = 0u32;
        for &l in &lengths {
            total += l;
            new_starts.push(total);
        }
        let mut targets = Vec::with_capacity(total as usize);
        let mut kinds: Vec<Kinds> = Vec::with_capacity(total as usize);
        for v in 0..n {
            let row = &rows[starts[v] as usize..][..lengths[v] as usize];
            targets.extend(row.iter().map(|&(b, _)| b));
            kinds.extend(row.iter().map(|&(_, k)| k));
        }
        Graph {
            starts: new_starts,
            targets,
            kinds,
        }
    }

    pub fn vertices(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    pub fn edges(&self) -> usize {
        self.targets.len()
    }

    /// The (target, kinds) of every edge out of `v`.
    pub fn out(&self, v: TxnId) -> impl Iterator<Item = (TxnId, Kinds)> + '_ {
        let r = self.starts[v as usize] as usize..self.starts[v as usize + 1] as usize;
        self.targets[r.clone()]
            .iter()
            .copied()
            .zip(self.kinds[r].iter().copied())
    }

    /// The kinds of the edge `a -> b`, 0 if there is none.
    pub fn kinds_between(&self, a: TxnId, b: TxnId) -> Kinds {
        self.out(a).find(|&(t, _)| t == b).map_or(0, |(_, k)| k)
    }

    pub fn bytes(&self) -> usize {
        self.starts.capacity() * 4 + self.targets.capacity() * 4 + self.kinds.capacity()
    }

    /// The graph induced on `vertices` (edges with both ends among them), with vertex `i` of
    /// the result standing for `vertices[i]`. `local` must map every vertex of the whole graph
    /// to its position in `vertices`, or `u32::MAX` for those outside; it is left as found.
    pub fn induced(&self, vertices: &[TxnId], local: &mut [u32]) -> Graph {
        for (i, &v) in vertices.iter().enumerate() {
            local[v as usize] = i as u32;
        }
        let mut starts = Vec::with_capacity(vertices.len() + 1);
        starts.push(0u32);
        let (mut targets, mut kinds) = (Vec::new(), Vec::new());
        for &v in vertices {
            for (t, k) in self.out(v) {
                let l = local[t as usize];
                if l != u32::MAX {
                    targets.push(l);
                    kinds.push(k);
                }
            }
            starts.push(targets.len() as u32);
        }
        for &v in vertices {
            local[v as usize] = u32::MAX;
        }
        Graph {
            starts,
            targets,
            kinds,
        }
    }
}

/// Sorts `row` by target and merges the kinds of equal targets into its first entries; how
/// many entries remain.
fn merge_row(row: &mut [(TxnId, Kinds)]) -> usize {
    row.sort_unstable_by_key(|&(b, _)| b);
    let mut kept = 0;
    for i in 0..row.len() {
        if kept > 0 && row[kept - 1].0 == row[i].0 {
            row[kept - 1].1 |= row[i].1;
        } else {
            row[kept] = row[i];
            kept += 1;
        }
    }
    kept
}

/// Process order: each transaction that may have committed, to the next one of its process.
/// (A process that crashed never invokes again, so an `info` transaction is last.)
pub fn process_edges(txns: &Txns) -> Vec<Edge> {
    let mut last: rustc_hash::FxHashMap<u64, TxnId> = Default::default();
    let mut edges = Vec::new();
    for (t, txn) in txns.txns.iter().enumerate() {
        if !txn.status.possible() {
            continue;
        }
        if let Some(prev) = last.insert(txn.process, t as TxnId) {
            edges.push((prev, t as TxnId, PROCESS));
        }
    }
    edges
}

/// Real-time order: `a -> b` when `a` committed (`ok`) before `b` was invoked. Only the edges
/// not implied by others through a completed transaction are kept: walking the history in
/// order, the frontier holds the committed transactions that no later-invoked transaction has
/// yet been seen to follow and complete; an invoke links from the whole frontier, and a
/// completion replaces, in the frontier, what its own invoke linked from. The frontier stays
/// about as large as the concurrency, so the edges are a few per transaction.
pub fn realtime_edges(txns: &Txns) -> Vec<Edge> {
    #[derive(Clone, Copy)]
    enum Event {
        Invoke(TxnId),
        Complete(TxnId),
    }
    let mut events: Vec<(u64, Event)> = Vec::with_capacity(txns.len() * 2);
    for (t, txn) in txns.txns.iter().enumerate() {
        if !txn.status.possible() {
            continue;
        }
        events.push((txn.invoke, Event::Invoke(t as TxnId)));
        if let (Status::Ok, Some(c)) = (txn.status, txn.complete) {
            events.push((c, Event::Complete(t as TxnId)));
        }
    }
    events.par_sort_unstable_by_key(|&(i, _)| i);
    // The frontier, each with the count of completions before it joined: what an invoke saw is
    // exactly what had joined by then, so a completion need only remember that count.
    let mut frontier: Vec<(TxnId, u64)> = Vec::new();
    let mut joined_by_invoke = vec![0u64; txns.len()];
    let mut completions = 0u64;
    let mut edges = Vec::new();
    for (_, e) in events {
        match e {
            Event::Invoke(t) => {
                edges.extend(frontier.iter().map(|&(f, _)| (f, t, REALTIME)));
                joined_by_invoke[t as usize] = completions;
            }
            Event::Complete(t) => {
                let seen = joined_by_invoke[t as usize];
                frontier.retain(|&(_, joined)| joined > seen);
                completions += 1;
                frontier.push((t, completions));
            }
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Transactions (invoke, complete) on one process each; all ok.
    fn timed(spans: &[(u64, u64)]) -> Txns {
        let mut t = Txns::default();
        for (p, &(i, c)) in spans.iter().enumerate() {
            let first = t.mops.len();
            t.push(
                crate::elle::txn::txn(i, Some(c), p as u64, Status::Ok, 1),
                first,
            );
        }
        t
    }

    #[test]
    fn realtime_edges_skip_what_a_completed_transaction_implies() {
        // 0 then 1 then 2, in sequence; 3 overlaps 1 and 2.
        let t = timed(&[(0, 1), (2, 4), (5, 6), (3, 7)]);
        let mut e = realtime_edges(&t);
        e.sort();
        assert_eq!(
            e,
            vec![(0, 1, REALTIME), (0, 3, REALTIME), (1, 2, REALTIME)]
        );
        // Every pair in real-time order is still connected through the edges.
        let g = Graph::from_edges(4, e);
        let reach = |a: u32, b: u32| {
            let mut stack = vec![a];
            let mut seen = [false; 4];
            while let Some(v) = stack.pop() {
                if v == b {
                    return true;
                }
                for (w, _) in g.out(v) {
                    if !seen[w as usize] {
                        seen[w as usize] = true;
                        stack.push(w);
                    }
                }
            }
            false
        };
        assert!(reach(0, 2) && reach(1, 2) && reach(0, 3));
        assert!(!reach(3, 2) && !reach(1, 3));
    }

    #[test]
    fn duplicate_edges_merge_their_kinds_and_self_edges_vanish() {
        let g = Graph::from_edges(3, vec![(0, 1, WW), (2, 2, RW), (0, 1, RW), (1, 2, WR)]);
        assert_eq!(g.edges(), 2);
        assert_eq!(g.kinds_between(0, 1), WW | RW);
        assert_eq!(g.kinds_between(1, 2), WR);
        assert_eq!(g.kinds_between(2, 2), 0);
        assert_eq!(g.out(2).count(), 0);
    }

    #[test]
    fn a_graph_from_parts_is_the_graph_of_their_concatenation() {
        // Enough vertices for several blocks of rows, each row with repeated targets.
        let n = 5000u32;
        let edges: Vec<Edge> = (0..40_000u32)
            .map(|i| ((i * 7919) % n, (i * 104_729 + 3) % n, 1 << (i % 5)))
            .collect();
        let whole = Graph::from_edges(n as usize, edges.clone());
        let (a, b) = edges.split_at(12_345);
        let parted = Graph::from_parts(n as usize, &[b, &[], a]);
        assert_eq!(whole.edges(), parted.edges());
        for v in 0..n {
            let mut expected: Vec<(TxnId, Kinds)> = Vec::new();
            for &(_, y, k) in edges.iter().filter(|e| e.0 == v && e.0 != e.1) {
                match expected.iter_mut().find(|(t, _)| *t == y) {
                    Some(e) => e.1 |= k,
                    None => expected.push((y, k)),
                }
            }
            expected.sort();
            assert_eq!(whole.out(v).collect::<Vec<_>>(), expected, "row {v}");
            assert_eq!(parted.out(v).collect::<Vec<_>>(), expected, "row {v}");
        }
    }
}
