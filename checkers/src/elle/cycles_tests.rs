//! The cycle search on small graphs whose shortest cycles are known.

use std::sync::atomic::AtomicBool;

use super::cycles::*;
use super::graph::{Graph, Kinds, PROCESS, REALTIME, RW, WR, WW};

fn limits() -> Limits {
    Limits {
        deadline: None,
        states_per_search: 1 << 20,
        stopped: AtomicBool::new(false),
    }
}

fn search(n: usize, edges: Vec<(u32, u32, Kinds)>, specs: &[Spec]) -> ComponentCycles {
    let g = Graph::from_edges(n, edges);
    let all: Vec<u32> = (0..n as u32).collect();
    let mut local = vec![u32::MAX; n];
    search_component(&g, &all, specs, &limits(), &mut local)
}

fn kinds_of(c: &Cycle) -> Vec<Kinds> {
    c.steps.iter().map(|s| s.kind).collect()
}

#[test]
fn classification_follows_elles_rules() {
    assert_eq!(classify(&[WW, WW]), "G0");
    assert_eq!(classify(&[WW, WR]), "G1c");
    assert_eq!(classify(&[RW, WR]), "G-single");
    assert_eq!(classify(&[RW, WW, RW, WR]), "G-nonadjacent");
    assert_eq!(classify(&[RW, RW]), "G2-item");
    assert_eq!(classify(&[RW, WR, RW]), "G2-item", "adjacent going round");
    assert_eq!(classify(&[RW, PROCESS]), "G-single-process");
    assert_eq!(classify(&[RW, PROCESS, REALTIME, RW]), "G2-item-realtime");
}

#[test]
fn write_skew_is_g2_item_and_not_g_single() {
    let r = search(2, vec![(0, 1, RW), (1, 0, RW)], &Spec::all());
    let kinds: Vec<_> = r.cycles.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec!["G2-item"]);
    assert!(r.unfinished.is_empty());
}

#[test]
fn the_shortest_cycle_of_each_kind_is_found() {
    // A long G-single 0->1->2->3->0 and a short one 4<->0; a G1c 1->5->1.
    let edges = vec![
        (0, 1, RW),
        (1, 2, WW),
        (2, 3, WR),
        (3, 0, WW),
        (0, 4, RW),
        (4, 0, WR),
        (1, 5, WR),
        (5, 1, WW),
        (4, 1, WW),
    ];
    let r = search(6, edges, &Spec::all());
    let single = r.cycles.iter().find(|c| c.kind == "G-single").unwrap();
    assert_eq!(single.steps.len(), 2, "{single:?}");
    assert!(single.shortest);
    let g1c = r.cycles.iter().find(|c| c.kind == "G1c").unwrap();
    assert_eq!(kinds_of(g1c).len(), 2);
}

#[test]
fn an_edge_of_several_kinds_is_used_as_the_kind_the_cycle_needs() {
    // 0 -> 1 is both ww and rw, 1 -> 0 is wr: a G1c through the ww, a G-single through the
    // rw (G1c does not imply G-single, so both are searched for).
    let r = search(2, vec![(0, 1, WW | RW), (1, 0, WR)], &Spec::all());
    let kinds: Vec<_> = r.cycles.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec!["G1c", "G-single"]);
    assert_eq!(kinds_of(&r.cycles[0]), vec![WR, WW]);
    assert_eq!(kinds_of(&r.cycles[1]), vec![RW, WR]);
}

#[test]
fn nonadjacent_rw_edges_are_g_nonadjacent_and_variants_need_their_edge() {
    let edges = vec![(0, 1, RW), (1, 2, WR), (2, 3, RW), (3, 0, PROCESS)];
    let r = search(4, edges.clone(), &Spec::all());
    let kinds: Vec<_> = r.cycles.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec!["G-nonadjacent-process"]);
    let mut with_rt = edges;
    with_rt[3].2 = REALTIME;
    let r = search(4, with_rt, &Spec::all());
    let kinds: Vec<_> = r.cycles.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec!["G-nonadjacent-realtime"]);
}

#[test]
fn a_walk_through_a_transaction_twice_splits_into_simple_cycles() {
    let walk = [
        Step {
            from: 0,
            to: 1,
            kind: RW,
        },
        Step {
            from: 1,
            to: 2,
            kind: WW,
        },
        Step {
            from: 2,
            to: 1,
            kind: WW,
        },
        Step {
            from: 1,
            to: 0,
            kind: WR,
        },
    ];
    let cycles = simple_cycles(&walk);
    assert_eq!(cycles.len(), 2);
    assert_eq!(cycles[0].len(), 2);
    assert_eq!(cycles[1].len(), 2);
}

#[test]
fn a_search_out_of_budget_says_so() {
    let n = 400u32;
    let mut edges: Vec<_> = (0..n).map(|i| (i, (i + 1) % n, WW)).collect();
    edges.push((0, 1, RW));
    let g = Graph::from_edges(n as usize, edges);
    let all: Vec<u32> = (0..n).collect();
    let tight = Limits {
        deadline: None,
        states_per_search: 10,
        stopped: AtomicBool::new(false),
    };
    let mut local = vec![u32::MAX; n as usize];
    let r = search_component(&g, &all, &Spec::all()[..1], &tight, &mut local);
    assert!(r.cycles.is_empty());
    assert_eq!(r.unfinished, vec!["G0"]);
}
