//! The reference the checker is held to: a search of every serial order of the committed
//! transactions (and of every subset of the `info` ones, which may or may not have committed),
//! replaying each from empty lists or nil registers and requiring every `ok` read to see exactly
//! the replayed state. Exponential: for histories of a handful of transactions only.

use rustc_hash::FxHashMap;

use super::txn::{Key, Mop, Status, TxnId, Txns};

/// The state of every key during a replay.
#[derive(Clone, Default)]
struct State {
    lists: FxHashMap<Key, Vec<i64>>,
    registers: FxHashMap<Key, i64>,
}

impl State {
    /// Applies `t`, or `None` if one of its reads cannot see what it saw.
    fn apply(&self, txns: &Txns, t: TxnId) -> Option<State> {
        let mut s = self.clone();
        for m in txns.mops(t) {
            match *m {
                Mop::Append { key, element } => s.lists.entry(key).or_default().push(element),
                Mop::Write { key, value } => {
                    s.registers.insert(key, value);
                }
                Mop::ReadList { key, start, len } => {
                    let now: &[i64] = s.lists.get(&key).map_or(&[], |l| l);
                    if now != txns.list(start, len) {
                        return None;
                    }
                }
                Mop::ReadRegister { key, value } => {
                    if s.registers.get(&key).copied() != value {
                        return None;
                    }
                }
                Mop::ReadUnknown { .. } => {}
            }
        }
        Some(s)
    }
}

/// Whether some serial order explains the history. With `strict`, the order must also keep
/// real time: a transaction that committed before another was invoked comes first.
pub fn serializable(txns: &Txns, strict: bool) -> bool {
    let ok: Vec<TxnId> = (0..txns.len() as TxnId)
        .filter(|&t| txns.txn(t).status == Status::Ok)
        .collect();
    let info: Vec<TxnId> = (0..txns.len() as TxnId)
        .filter(|&t| txns.txn(t).status == Status::Info)
        .collect();
    (0u32..1 << info.len()).any(|mask| {
        let mut chosen = ok.clone();
        chosen.extend(
            info.iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, &t)| t),
        );
        let mut placed = vec![false; chosen.len()];
        search(txns, &chosen, &mut placed, &State::default(), strict)
    })
}

/// Depth-first: place any unplaced transaction whose real-time predecessors are placed and
/// whose reads hold, then the rest.
fn search(txns: &Txns, chosen: &[TxnId], placed: &mut [bool], state: &State, strict: bool) -> bool {
    if placed.iter().all(|&p| p) {
        return true;
    }
    for i in 0..chosen.len() {
        if placed[i] {
            continue;
        }
        let t = txns.txn(chosen[i]);
        let waits = strict
            && chosen.iter().zip(placed.iter()).any(|(&o, &p)| {
                let o = txns.txn(o);
                !p && o.status == Status::Ok && o.complete.is_some_and(|c| c < t.invoke)
            });
        if waits {
            continue;
        }
        if let Some(next) = state.apply(txns, chosen[i]) {
            placed[i] = true;
            if search(txns, chosen, placed, &next, strict) {
                return true;
            }
            placed[i] = false;
        }
    }
    false
}
