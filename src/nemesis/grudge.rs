//! Grudges: who must not hear from whom during a network partition.
//!
//! A [`Grudge`] maps each node to the set of nodes whose packets it drops, exactly as Jepsen's
//! `jepsen.nemesis` grudges do. The shapes here are Jepsen's: random halves, one isolated node,
//! a bridge, and the majorities ring. They are pure functions of the node list and a seeded
//! [`Rng`], so a run's partitions are reproduced by its seed.
//!
//! Dropping on INPUT on one side is enough to cut a TCP connection both ways (the SYN or the
//! SYN-ACK is lost), so [`Grudge::blocks`] treats a pair as cut if either side holds the grudge.

use std::collections::{BTreeMap, BTreeSet};

use faultline_workloads::generator::Rng;
use serde::Serialize;

/// Node -> the nodes it must not hear from. Every node of the partition is a key (possibly with
/// an empty set), so the map also records which nodes took part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Grudge(BTreeMap<String, BTreeSet<String>>);

impl Grudge {
    /// A grudge from an explicit map (nodes missing as keys simply drop nothing).
    pub fn from_map(map: BTreeMap<String, BTreeSet<String>>) -> Grudge {
        Grudge(map)
    }

    /// Jepsen's `complete-grudge`: each node drops every node outside its own component.
    pub fn complete(components: &[Vec<String>]) -> Grudge {
        let all: BTreeSet<String> = components.iter().flatten().cloned().collect();
        let mut map = BTreeMap::new();
        for component in components {
            let mine: BTreeSet<String> = component.iter().cloned().collect();
            for node in component {
                map.insert(node.clone(), all.difference(&mine).cloned().collect());
            }
        }
        Grudge(map)
    }

    /// Two random halves that cannot hear each other (Jepsen's `partition-random-halves`). The
    /// first half is the smaller one when the count is odd, so a majority side always exists.
    pub fn random_halves(nodes: &[String], rng: &mut Rng) -> Grudge {
        let shuffled = shuffle(nodes, rng);
        let (a, b) = shuffled.split_at(nodes.len() / 2);
        Grudge::complete(&[a.to_vec(), b.to_vec()])
    }

    /// One random node cut off from all others (Jepsen's `partition-random-node`).
    pub fn isolate_one(nodes: &[String], rng: &mut Rng) -> Grudge {
        if nodes.is_empty() {
            return Grudge::default();
        }
        let i = rng.below(nodes.len() as u64) as usize;
        let rest: Vec<String> = nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| n.clone())
            .collect();
        Grudge::complete(&[vec![nodes[i].clone()], rest])
    }

    /// `isolated` cut off from every other node of `nodes` (the two sides cannot hear each
    /// other). Nodes of `isolated` that are not in `nodes` are ignored.
    pub fn isolate(nodes: &[String], isolated: &[String]) -> Grudge {
        let (inside, outside): (Vec<String>, Vec<String>) =
            nodes.iter().cloned().partition(|n| isolated.contains(n));
        if inside.is_empty() || outside.is_empty() {
            return Grudge::default();
        }
        Grudge::complete(&[inside, outside])
    }

    /// Two random halves joined by one node of the larger half that sees both and that both see
    /// (Jepsen's `bridge`). The bridge keeps a key with an empty set.
    pub fn bridge(nodes: &[String], rng: &mut Rng) -> Grudge {
        let shuffled = shuffle(nodes, rng);
        let (a, b) = shuffled.split_at(nodes.len() / 2);
        let mut grudge = Grudge::complete(&[a.to_vec(), b.to_vec()]);
        if let Some(bridge) = b.first() {
            for (node, drops) in grudge.0.iter_mut() {
                if node == bridge {
                    drops.clear();
                } else {
                    drops.remove(bridge);
                }
            }
        }
        grudge
    }

    /// Jepsen's `majorities-ring`: nodes on a random ring, each sees the window of a majority of
    /// consecutive nodes centred on itself, so every node sees a majority and no two see the same
    /// one. The grudge is symmetric when the majority size is odd (as Jepsen's is); with an even
    /// majority the window leans one way and some grudges are one-sided.
    pub fn majorities_ring(nodes: &[String], rng: &mut Rng) -> Grudge {
        let n = nodes.len();
        if n == 0 {
            return Grudge::default();
        }
        let ring = shuffle(nodes, rng);
        let m = majority(n);
        let all: BTreeSet<String> = nodes.iter().cloned().collect();
        let mut map = BTreeMap::new();
        for start in 0..n {
            let window: BTreeSet<String> = (0..m).map(|k| ring[(start + k) % n].clone()).collect();
            let centre = ring[(start + m / 2) % n].clone();
            map.insert(centre, all.difference(&window).cloned().collect());
        }
        Grudge(map)
    }

    /// The nodes with a grudge entry, in order.
    pub fn nodes(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    /// The nodes `node` drops (empty if it holds no grudge).
    pub fn drops(&self, node: &str) -> impl Iterator<Item = &String> {
        self.0.get(node).into_iter().flatten()
    }

    /// Whether `node` drops packets from `from`.
    pub fn drops_from(&self, node: &str, from: &str) -> bool {
        self.0.get(node).is_some_and(|s| s.contains(from))
    }

    /// Whether traffic between `a` and `b` is cut (either side holds the grudge).
    pub fn blocks(&self, a: &str, b: &str) -> bool {
        self.drops_from(a, b) || self.drops_from(b, a)
    }

    /// The grudge as a map node -> [nodes], the `value` of a `start-partition` history event.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a map of strings serialises")
    }

    /// The underlying map.
    pub fn as_map(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.0
    }
}

/// The smallest majority of `n` nodes.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// A Fisher-Yates shuffle driven by the seeded generator.
pub fn shuffle(nodes: &[String], rng: &mut Rng) -> Vec<String> {
    let mut v = nodes.to_vec();
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn is_symmetric(g: &Grudge) -> bool {
        g.as_map()
            .iter()
            .all(|(a, drops)| drops.iter().all(|b| g.drops_from(b, a)))
    }

    /// The nodes `node` can hear from, itself included.
    fn sees(g: &Grudge, all: &[String], node: &str) -> BTreeSet<String> {
        all.iter()
            .filter(|o| !g.drops_from(node, o))
            .cloned()
            .collect()
    }

    fn never_drops_itself(g: &Grudge) -> bool {
        g.as_map().iter().all(|(a, d)| !d.contains(a))
    }

    #[test]
    fn random_halves_is_symmetric_with_a_majority_side_and_covers_every_node() {
        for n in 1..=9 {
            for seed in 0..50 {
                let all = nodes(n);
                let g = Grudge::random_halves(&all, &mut Rng::new(seed));
                assert!(is_symmetric(&g), "{g:?}");
                assert!(never_drops_itself(&g));
                assert_eq!(g.nodes().count(), n);
                let biggest = all.iter().map(|x| sees(&g, &all, x).len()).max().unwrap();
                assert_eq!(biggest, n - n / 2, "{g:?}");
                if n % 2 == 1 {
                    assert_eq!(biggest, majority(n));
                }
                // Exactly two components that cannot hear each other (for n >= 2).
                if n >= 2 {
                    let small = all.iter().map(|x| sees(&g, &all, x).len()).min().unwrap();
                    assert_eq!(small, n / 2);
                }
            }
        }
    }

    #[test]
    fn isolate_one_cuts_exactly_one_node_from_all_others() {
        for n in 3..=7 {
            for seed in 0..30 {
                let all = nodes(n);
                let g = Grudge::isolate_one(&all, &mut Rng::new(seed));
                assert!(is_symmetric(&g));
                let alone: Vec<&String> = all
                    .iter()
                    .filter(|x| sees(&g, &all, x).len() == 1)
                    .collect();
                assert_eq!(alone.len(), 1, "{g:?}");
                for x in all.iter().filter(|x| *x != alone[0]) {
                    assert_eq!(sees(&g, &all, x).len(), n - 1);
                }
            }
        }
    }

    #[test]
    fn bridge_node_sees_everyone_and_each_half_sees_only_itself_and_the_bridge() {
        for n in 3..=9 {
            for seed in 0..30 {
                let all = nodes(n);
                let g = Grudge::bridge(&all, &mut Rng::new(seed));
                assert!(is_symmetric(&g));
                assert!(never_drops_itself(&g));
                let bridges: Vec<&String> = all
                    .iter()
                    .filter(|x| sees(&g, &all, x).len() == n)
                    .collect();
                assert_eq!(bridges.len(), 1, "{g:?}");
                let bridge = bridges[0];
                for x in &all {
                    assert!(!g.blocks(x, bridge));
                }
                // The bridge's half, itself included, is a majority; the other half is not.
                let sizes: BTreeSet<usize> = all
                    .iter()
                    .filter(|x| *x != bridge)
                    .map(|x| sees(&g, &all, x).len())
                    .collect();
                assert!(sizes.contains(&majority(n)) || n % 2 == 1, "{g:?}");
                assert!(sizes.iter().all(|s| *s <= majority(n)), "{g:?}");
            }
        }
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        for n in 3..=9 {
            for seed in 0..30 {
                let all = nodes(n);
                let g = Grudge::majorities_ring(&all, &mut Rng::new(seed));
                assert_eq!(g.nodes().count(), n, "{g:?}");
                assert!(never_drops_itself(&g), "{g:?}");
                let views: BTreeSet<BTreeSet<String>> =
                    all.iter().map(|x| sees(&g, &all, x)).collect();
                assert_eq!(views.len(), n, "views must differ: {g:?}");
                assert!(views.iter().all(|v| v.len() == majority(n)), "{g:?}");
                if majority(n) % 2 == 1 {
                    assert!(is_symmetric(&g), "{g:?}");
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_grudge() {
        let all = nodes(5);
        assert_eq!(
            Grudge::majorities_ring(&all, &mut Rng::new(7)),
            Grudge::majorities_ring(&all, &mut Rng::new(7))
        );
        let differs = (0..20).any(|s| {
            Grudge::random_halves(&all, &mut Rng::new(s))
                != Grudge::random_halves(&all, &mut Rng::new(s + 100))
        });
        assert!(differs, "seeds must matter");
    }

    #[test]
    fn grudge_serialises_as_a_map_of_node_lists() {
        let g = Grudge::complete(&[vec!["n1".into()], vec!["n2".into(), "n3".into()]]);
        assert_eq!(
            g.to_json().to_string(),
            r#"{"n1":["n2","n3"],"n2":["n1"],"n3":["n1"]}"#
        );
    }
}
