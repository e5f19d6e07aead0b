//! Strongly connected components (Tarjan), iteratively: a cycle lies inside one component, so the
//! cycle search looks only inside the components of two or more transactions, each on its own.

use super::graph::{Graph, Kinds};
use super::txn::TxnId;

const UNSEEN: u32 = u32::MAX;

/// The components of two or more vertices of `g`, using only edges with a kind in `mask`. Each
/// component's vertices are sorted; components come in no particular order.
pub fn components(g: &Graph, mask: Kinds) -> Vec<Vec<TxnId>> {
    let n = g.vertices();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<TxnId> = Vec::new();
    // The depth-first path: a vertex and how many of its out-edges were looked at.
    let mut path: Vec<(TxnId, usize)> = Vec::new();
    let mut next = 0u32;
    let mut found = Vec::new();
    for root in 0..n as TxnId {
        if index[root as usize] != UNSEEN {
            continue;
        }
        path.push((root, 0));
        while let Some(&mut (v, ref mut done)) = path.last_mut() {
            let vi = v as usize;
            if *done == 0 && index[vi] == UNSEEN {
                index[vi] = next;
                low[vi] = next;
                next += 1;
                stack.push(v);
                on_stack[vi] = true;
            }
            // The next out-edge of v within the mask, if any.
            let mut descend = None;
            for (t, k) in g.out(v).skip(*done) {
                *done += 1;
                if k & mask == 0 {
                    continue;
                }
                let ti = t as usize;
                if index[ti] == UNSEEN {
                    descend = Some(t);
                    break;
                } else if on_stack[ti] {
                    low[vi] = low[vi].min(index[ti]);
                }
            }
            if let Some(t) = descend {
                path.push((t, 0));
                continue;
            }
            path.pop();
            if let Some(&(parent, _)) = path.last() {
                low[parent as usize] = low[parent as usize].min(low[vi]);
            }
            if low[vi] == index[vi] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w as usize] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort_unstable();
                    found.push(component);
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elle::graph::{RW, WR, WW};

    #[test]
    fn finds_each_cycle_once_and_ignores_masked_edges() {
        // 0 -> 1 -> 2 -> 0 (ww), 3 <-> 4 only through an rw edge back, 5 alone.
        let g = Graph::from_edges(
            6,
            vec![
                (0, 1, WW),
                (1, 2, WW),
                (2, 0, WW),
                (3, 4, WR),
                (4, 3, RW),
                (2, 3, WW),
            ],
        );
        let mut all = components(&g, WW | WR | RW);
        all.sort();
        assert_eq!(all, vec![vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(components(&g, WW | WR), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 200_000u32;
        let mut edges: Vec<_> = (0..n - 1).map(|i| (i, i + 1, WW)).collect();
        edges.push((n - 1, 0, WW));
        let g = Graph::from_edges(n as usize, edges);
        let c = components(&g, WW);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].len(), n as usize);
    }
}
