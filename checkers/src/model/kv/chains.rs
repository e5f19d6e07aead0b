//! A key's appends as a register's compare-and-sets, when the appended strings are distinct:
//! the kv model's [`register_view`](crate::model::Model::register_view), which lets the
//! polynomial path decide long append chains that the search cannot.
//!
//! A key's string is always its *base* (the initial string, or the value of the latest put)
//! followed by the appends since, in order. So a get's result is a base followed by appended
//! strings; when exactly one base and one sequence of appends spell it (its *parse* is unique),
//! that sequence is what happened before the get, in that order, in every linearization. The
//! parses of all gets form a tree per base (a *sequence tree*): a node is a base followed by
//! a sequence of appends, an edge one append. The view maps
//! - the initial string and each put's value to the root of its base,
//! - a get to the node of its parse (`Read`),
//! - an append on an edge of the tree (a *seen* append) to `Cas(parent, child)`,
//! - an append on no edge (*unseen*) to a `Write` of a value of its own that nobody reads,
//! - a get whose result no base and appends spell to a `Read` of a value nobody writes.
//!
//! It gives up (`None`, and the engine searches) when a key has several slots (`--no-partition`),
//! two appends append the same string or one the empty string, a get's result has two parses,
//! or one append lies on two edges (before two different strings).
//!
//! **Why the contract holds** (see [`RegisterView`]). Call a kv state *live* when it is a node of
//! the trees, and *dead* otherwise. (1) A dead state stays dead under appends and no get accepts
//! it: a get accepts only its own result, a node, and if s + a were a node or a prefix of a get's
//! result at a parse boundary then so would s be (parses of prefixes at boundaries are unique too:
//! a prefix with two parses would give the whole result two). (2) An unseen append u turns any
//! state dead: s + u live would put u on an edge. (3) A seen append a on edge p -> c, applied to a
//! state s, gives c if s = p, and a dead state otherwise (s + a live would be an edge for a from
//! s, and a lies on one edge). Now take an order of the calls. *Register accepts => kv accepts*:
//! by induction the kv state equals the register's value while that value is a node, and is dead
//! while the register holds an unseen append's value; each `Read` and `Cas` the register accepts
//! finds its node, so the kv get and append are accepted with the same result, and a `Write` of
//! a put is a put. *Kv accepts => register accepts*: in a kv order, a seen append is applied to
//! its parent (an ok get's result contains it, and that result's unique parse says after what),
//! an unseen append makes the state dead, and from a dead state only puts and unseen appends can
//! follow until a put (no get accepts a dead state, and a seen append must find its parent,
//! which is live): exactly what the register allows after a `Write` of a value nobody reads. So
//! the two accept the same orders of calls, with the same calls left out; a fortiori the same
//! histories linearize.

use rustc_hash::FxHashMap;

use super::{Kv, KvOp};
use crate::model::{Access, RegisterView};

/// The appended strings, for matching against a get's result.
struct Suffixes {
    /// Trie nodes: children by byte, and the append (op index) that ends at the node.
    children: Vec<FxHashMap<u8, u32>>,
    ends: Vec<Option<u32>>,
}

impl Suffixes {
    fn new() -> Self {
        Suffixes {
            children: vec![FxHashMap::default()],
            ends: vec![None],
        }
    }

    /// Adds `text`, appended by op `op`; false when another append already appends it.
    fn insert(&mut self, text: &[u8], op: u32) -> bool {
        let mut node = 0usize;
        for &b in text {
            node = match self.children[node].get(&b) {
                Some(&n) => n as usize,
                None => {
                    let n = self.children.len();
                    self.children.push(FxHashMap::default());
                    self.ends.push(None);
                    self.children[node].insert(b, n as u32);
                    n
                }
            };
        }
        self.ends[node].replace(op).is_none()
    }

    /// Every (end, op) such that `text[from..end]` is an appended string.
    fn matches(&self, text: &[u8], from: usize, mut each: impl FnMut(usize, u32)) {
        let mut node = 0usize;
        for (i, b) in text[from..].iter().enumerate() {
            match self.children[node].get(b) {
                Some(&n) => node = n as usize,
                None => return,
            }
            if let Some(op) = self.ends[node] {
                each(from + i + 1, op);
            }
        }
    }

    /// How many ways `text[from..]` splits into appended strings, counting up to 2; and, when
    /// exactly one, the appends in order.
    fn parse(&self, text: &[u8], from: usize) -> (u8, Vec<u32>) {
        let n = text.len();
        let mut ways = vec![0u8; n + 1];
        ways[n] = 1;
        for i in (from..n).rev() {
            let mut w = 0u8;
            self.matches(text, i, |end, _| w = w.saturating_add(ways[end]).min(2));
            ways[i] = w;
        }
        if ways[from] != 1 {
            return (ways[from], Vec::new());
        }
        let mut seq = Vec::new();
        let mut i = from;
        while i < n {
            let mut next = None;
            self.matches(text, i, |end, op| {
                if ways[end] == 1 {
                    next = Some((end, op));
                }
            });
            let Some((end, op)) = next else {
                return (0, Vec::new());
            };
            seq.push(op);
            i = end;
        }
        (1, seq)
    }
}

impl Kv {
    /// See the module documentation.
    pub(super) fn chains_view(&mut self, ops: &[&KvOp], known: &[bool]) -> Option<RegisterView> {
        let initial = self.initial();
        let mut suffixes = Suffixes::new();
        let mut bases: Vec<u32> = vec![initial];
        for (i, op) in ops.iter().enumerate() {
            match **op {
                KvOp::Append(0, s) => {
                    let text = self.text(s).as_bytes();
                    if text.is_empty() || !suffixes.insert(text, i as u32) {
                        return None;
                    }
                }
                KvOp::Put(0, v) => bases.push(v),
                KvOp::Get(0, _) | KvOp::GetAny(0) => {}
                _ => return None,
            }
        }
        bases.sort_unstable();
        bases.dedup();
        // Node ids: one root per base, then the sequence-tree nodes; then unread values.
        let root: FxHashMap<u32, u32> = bases
            .iter()
            .enumerate()
            .map(|(i, &b)| (b, i as u32))
            .collect();
        let mut next_id = bases.len() as u32;
        let mut child: FxHashMap<(u32, u32), u32> = FxHashMap::default();
        // The edge each seen append lies on: (parent, child).
        let mut edge: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
        let mut accesses = vec![Access::Any; ops.len()];
        for (i, op) in ops.iter().enumerate() {
            let KvOp::Get(0, got) = **op else {
                continue;
            };
            if !known[i] {
                continue;
            }
            let text = self.text(got).as_bytes();
            let mut parses = 0u8;
            let mut found = None;
            for &b in &bases {
                let base = self.text(b).as_bytes();
                if !text.starts_with(base) {
                    continue;
                }
                let (ways, seq) = suffixes.parse(text, base.len());
                parses = parses.saturating_add(ways);
                if ways == 1 {
                    found = Some((b, seq));
                }
            }
            accesses[i] = match (parses, found) {
                (0, _) => {
                    // Nothing spells it: a value no call writes.
                    next_id += 1;
                    Access::Read(next_id - 1)
                }
                (1, Some((b, seq))) => {
                    let mut node = root[&b];
                    for a in seq {
                        let c = *child.entry((node, a)).or_insert_with(|| {
                            next_id += 1;
                            next_id - 1
                        });
                        if *edge.entry(a).or_insert((node, c)) != (node, c) {
                            return None;
                        }
                        node = c;
                    }
                    Access::Read(node)
                }
                _ => return None,
            };
        }
        for (i, op) in ops.iter().enumerate() {
            accesses[i] = match **op {
                KvOp::Get(..) => continue,
                KvOp::GetAny(_) => Access::Any,
                KvOp::Put(_, v) => Access::Write(root[&v]),
                KvOp::Append(..) => match edge.get(&(i as u32)) {
                    Some(&(parent, c)) => Access::Cas(parent, c),
                    None => {
                        next_id += 1;
                        Access::Write(next_id - 1)
                    }
                },
            };
        }
        Some(RegisterView {
            initial: root[&initial],
            accesses,
        })
    }
}
