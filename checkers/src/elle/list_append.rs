//! List-append: every read of a list shows the order of the appends before it, so each key's
//! version order is its longest committed read, and every other read must be a prefix of it.
//!
//! Per key (one task each): who appended each element; the version order (the distinct
//! elements of the longest read, or the one element of a key appended once and never read
//! non-empty); reads that are not prefixes of it (`incompatible-order`), that repeat an element
//! (`duplicate-elements`), that show an element nobody appended (`garbage-read`), one whose
//! append failed (`G1a`), or end in an append its transaction followed with another
//! (`G1b`); committed appends ordered after failed ones (`dirty-update`); two committed
//! transactions that read the same version and both appended (`lost-update`). And the edges:
//! - wr: the appender of a read's last element, to the reader;
//! - ww: the appender of the element just before `x`, to the appender of `x`;
//! - rw: every reader of the version just before `x` (a read ending there), to `x`'s appender.
//!
//! An element never read is placed after the longest read: had it been appended earlier, the
//! longest read would show it. Per transaction: reads that disagree with the transaction's own
//! earlier reads and appends (`internal`) and reads of an element it appends later
//! (`future-read`). Only `ok` reads are used: the reads of other transactions are unknown.

use rustc_hash::{FxHashMap, FxHashSet};

use super::finding::{self, list, name, Finding, Found, KeyAnalysis};
use super::graph::{Kinds, RW, WR, WW};
use super::txn::{Key, Mop, Status, TxnId, Txns};

/// A version of a key: the last element appended, `None` for the empty initial list.
type Version = Option<i64>;

/// Who appended an element.
#[derive(Clone, Copy, Debug)]
struct Writer {
    txn: TxnId,
    status: Status,
    /// The transaction appended to the key again after this.
    intermediate: bool,
}

/// What a key's micro-ops say about its versions.
struct KeyOrder {
    writers: FxHashMap<i64, Writer>,
    /// Elements appended twice: (element, first transaction, second).
    duplicate_appends: Vec<(i64, TxnId, TxnId)>,
    /// The longest committed read: (reader, its elements).
    longest: Option<(TxnId, Vec<i64>)>,
    /// The version order: distinct elements, earliest first.
    order: Vec<i64>,
    position: FxHashMap<i64, usize>,
}

impl KeyOrder {
    fn of(txns: &Txns, entries: &[(TxnId, u32)]) -> KeyOrder {
        let mut writers: FxHashMap<i64, Writer> = FxHashMap::default();
        let mut duplicate_appends = Vec::new();
        let mut longest: Option<(TxnId, &[i64])> = None;
        let mut possible_appends = 0usize;
        let mut last_append: Option<i64> = None;
        for (i, &(t, m)) in entries.iter().enumerate() {
            let txn = txns.txn(t);
            match txns.mops[m as usize] {
                Mop::Append { element, .. } => {
                    // Whether this transaction appends to the key again later.
                    let again = entries[i + 1..]
                        .iter()
                        .take_while(|&&(t2, _)| t2 == t)
                        .any(|&(_, m2)| txns.mops[m2 as usize].is_write());
                    let w = Writer {
                        txn: t,
                        status: txn.status,
                        intermediate: again,
                    };
                    if let Some(old) = writers.insert(element, w) {
                        duplicate_appends.push((element, old.txn, t));
                    }
                    if txn.status.possible() {
                        possible_appends += 1;
                        last_append = Some(element);
                    }
                }
                Mop::ReadList { start, len, .. }
                    if txn.status == Status::Ok
                        && longest.is_none_or(|(_, l)| (len as usize) > l.len()) =>
                {
                    longest = Some((t, txns.list(start, len)));
                }
                _ => {}
            }
        }
        let longest: Option<(TxnId, Vec<i64>)> = longest
            .filter(|(_, l)| !l.is_empty())
            .map(|(t, l)| (t, l.to_vec()));
        let mut order = Vec::new();
        let mut position = FxHashMap::default();
        match &longest {
            Some((_, l)) => {
                for &e in l {
                    if let std::collections::hash_map::Entry::Vacant(v) = position.entry(e) {
                        v.insert(order.len());
                        order.push(e);
                    }
                }
            }
            // Appended once and never read: the only order there is.
            None if possible_appends == 1 => {
                if let Some(e) = last_append {
                    position.insert(e, 0);
                    order.push(e);
                }
            }
            None => {}
        }
        KeyOrder {
            writers,
            duplicate_appends,
            longest,
            order,
            position,
        }
    }

    /// The version just before `element` was appended: the element before it in the order, or
    /// the last one observed when it was never read.
    fn before(&self, element: i64) -> Version {
        match self.position.get(&element) {
            Some(&0) => None,
            Some(&i) => Some(self.order[i - 1]),
            None => self.order.last().copied(),
        }
    }

    /// The transaction that appended `element`, if it may have committed.
    fn possible_writer(&self, element: i64) -> Option<TxnId> {
        self.writers
            .get(&element)
            .filter(|w| w.status.possible())
            .map(|w| w.txn)
    }
}

/// The edges and anomalies of one key. See the module documentation.
pub fn analyze_key(txns: &Txns, entries: &[(TxnId, u32)], key: Key) -> KeyAnalysis {
    let ord = KeyOrder::of(txns, entries);
    let mut out = KeyAnalysis::default();
    let k = finding::key(txns, key);
    for &(e, a, b) in &ord.duplicate_appends {
        out.unknown.push(format!(
            "{e} is appended to key {k} twice (transactions at index {} and {}): list-append needs \
             every element appended once to infer the version order",
            txns.txn(a).invoke,
            txns.txn(b).invoke
        ));
    }
    if !out.unknown.is_empty() {
        return out;
    }
    let found = &mut out.found;
    let mut readers: FxHashMap<Version, Vec<TxnId>> = FxHashMap::default();
    // The first position of the longest read holding an element appended by nobody, by a failed
    // transaction, or already seen before it.
    let first_suspect = ord.longest.as_ref().map_or(usize::MAX, |(_, l)| {
        let mut seen = FxHashSet::default();
        l.iter()
            .position(|e| {
                !seen.insert(*e) || ord.writers.get(e).is_none_or(|w| w.status == Status::Fail)
            })
            .unwrap_or(usize::MAX)
    });
    let mut incompatible = false;
    for &(t, m) in entries {
        let Mop::ReadList { start, len, .. } = txns.mops[m as usize] else {
            continue;
        };
        if txns.txn(t).status != Status::Ok {
            continue;
        }
        let read = txns.list(start, len);
        let version = read.last().copied();
        readers.entry(version).or_default().push(t);
        let compatible = ord
            .longest
            .as_ref()
            .is_none_or(|(_, l)| l.starts_with(read));
        // A prefix of the longest read that stops before its first suspect element needs no
        // look at each element: the longest read's were looked at once for all.
        if compatible && read.len() <= first_suspect {
            wr_and_g1b(&ord, key, &k, t, read, &mut out.edges, found);
            continue;
        }
        let shown = list(read);
        if let Some((longest_reader, longest)) = &ord.longest {
            if !incompatible && !compatible {
                incompatible = true;
                found.add("incompatible-order", || {
                    Finding::new(
                        "incompatible-order",
                        Some(key),
                        vec![t, *longest_reader],
                        vec![format!(
                            "T1 read key {k} as {shown} and T2 read it as {}: the first is not a prefix \
                             of the second, so no single order of appends gives both",
                            list(longest)
                        )],
                    )
                });
            }
        }
        if read.len() > 1 {
            let mut seen = FxHashSet::default();
            if let Some(&dup) = read.iter().find(|e| !seen.insert(**e)) {
                found.add("duplicate-elements", || {
                    Finding::new(
                        "duplicate-elements",
                        Some(key),
                        vec![t],
                        vec![format!(
                            "T1 read key {k} as {shown}, where {dup} appears more than once, though it \
                             was appended once"
                        )],
                    )
                });
            }
        }
        for &e in read {
            match ord.writers.get(&e) {
                None => found.add("garbage-read", || {
                    Finding::new(
                        "garbage-read",
                        Some(key),
                        vec![t],
                        vec![format!(
                            "T1 read key {k} as {shown}, with {e}, which no transaction appended"
                        )],
                    )
                }),
                Some(w) if w.status == Status::Fail => found.add("G1a", || {
                    Finding::new(
                        "G1a",
                        Some(key),
                        vec![t, w.txn],
                        vec![format!(
                            "T1 read key {k} as {shown}, with {e}, which T2 appended in a transaction \
                             that failed: an aborted read"
                        )],
                    )
                }),
                Some(_) => {}
            }
        }
        wr_and_g1b(&ord, key, &k, t, read, &mut out.edges, found);
    }
    dirty_updates(&ord, key, &k, found);
    lost_updates(txns, entries, key, &k, found);
    for &(t, m) in entries {
        let Mop::Append { element, .. } = txns.mops[m as usize] else {
            continue;
        };
        if !txns.txn(t).status.possible() {
            continue;
        }
        let before = ord.before(element);
        if let Some(w) = before.and_then(|b| ord.possible_writer(b)) {
            if w != t {
                out.edges.push((w, t, WW));
            }
        }
        if let Some(rs) = readers.get(&before) {
            out.edges
                .extend(rs.iter().filter(|&&r| r != t).map(|&r| (r, t, RW)));
        }
    }
    out
}

/// The wr edge into the reader of `read`, and `G1b` if the read ends in an intermediate append.
fn wr_and_g1b(
    ord: &KeyOrder,
    key: Key,
    k: &str,
    t: TxnId,
    read: &[i64],
    edges: &mut Vec<super::graph::Edge>,
    found: &mut Found,
) {
    let Some(&last) = read.last() else {
        return;
    };
    let Some(w) = ord.writers.get(&last) else {
        return;
    };
    if !w.status.possible() {
        return;
    }
    if w.intermediate && w.txn != t {
        found.add("G1b", || {
            Finding::new(
                "G1b",
                Some(key),
                vec![t, w.txn],
                vec![format!(
                    "T1 read key {k} as {}, ending in {last}, which T2 appended before appending to \
                     key {k} again: an intermediate read",
                    list(read)
                )],
            )
        });
    }
    if w.txn != t {
        edges.push((w.txn, t, WR));
    }
}

/// A committed append ordered after a failed one, with only `info` appends between.
fn dirty_updates(ord: &KeyOrder, key: Key, k: &str, found: &mut Found) {
    let mut failed: Option<(i64, TxnId)> = None;
    for &e in &ord.order {
        let Some(w) = ord.writers.get(&e) else {
            continue;
        };
        match w.status {
            Status::Fail => failed = Some((e, w.txn)),
            Status::Info => {}
            Status::Ok => {
                if let Some((fe, ft)) = failed.take() {
                    found.add("dirty-update", || {
                        Finding::new(
                            "dirty-update",
                            Some(key),
                            vec![ft, w.txn],
                            vec![format!(
                                "T1 appended {fe} to key {k} and failed, yet T2 appended {e} after it and \
                                 committed: a write built on an aborted one"
                            )],
                        )
                    });
                }
            }
        }
    }
}

/// Committed transactions that read the same version of the key before appending to it.
fn lost_updates(txns: &Txns, entries: &[(TxnId, u32)], key: Key, k: &str, found: &mut Found) {
    let mut by_version: FxHashMap<Version, Vec<TxnId>> = FxHashMap::default();
    let mut i = 0;
    while i < entries.len() {
        let t = entries[i].0;
        let mut j = i;
        while j < entries.len() && entries[j].0 == t {
            j += 1;
        }
        let mine = &entries[i..j];
        i = j;
        if txns.txn(t).status != Status::Ok {
            continue;
        }
        let first = txns.mops[mine[0].1 as usize];
        let appends = mine
            .iter()
            .any(|&(_, m)| matches!(txns.mops[m as usize], Mop::Append { .. }));
        if let (Mop::ReadList { start, len, .. }, true) = (first, appends) {
            by_version
                .entry(txns.list(start, len).last().copied())
                .or_default()
                .push(t);
        }
    }
    let mut groups: Vec<(Version, Vec<TxnId>)> = by_version
        .into_iter()
        .filter(|(_, ts)| ts.len() > 1)
        .collect();
    groups.sort_by_key(|(_, ts)| ts[0]);
    for (version, ts) in groups {
        found.add("lost-update", || {
            let seen = match version {
                Some(e) => format!("ending in {e}"),
                None => "empty".to_string(),
            };
            let names: Vec<String> = (0..ts.len()).map(name).collect();
            Finding::new(
                "lost-update",
                Some(key),
                ts.clone(),
                vec![format!(
                    "{} all read key {k} {seen}, then appended to it, and all committed: each \
                     update was made without the others'",
                    names.join(", ")
                )],
            )
        });
    }
}

/// Anomalies inside one committed transaction: `internal` and `future-read`.
pub fn txn_findings(txns: &Txns, t: TxnId, found: &mut Found) {
    if txns.txn(t).status != Status::Ok {
        return;
    }
    /// What the transaction knows of a key: the whole list, or only its own appends at the end.
    enum Known {
        Whole(Vec<i64>),
        Tail(Vec<i64>),
    }
    let mut known: FxHashMap<Key, Known> = FxHashMap::default();
    let mops = txns.mops(t);
    for (i, m) in mops.iter().enumerate() {
        match *m {
            Mop::Append { key, element } => {
                let read_before = mops[..i].iter().any(|r| match *r {
                    Mop::ReadList {
                        key: rk,
                        start,
                        len,
                    } => rk == key && txns.list(start, len).contains(&element),
                    _ => false,
                });
                if read_before {
                    found.add("future-read", || {
                        Finding::new(
                            "future-read",
                            Some(key),
                            vec![t],
                            vec![format!(
                                "T1 read {element} in key {} before T1 itself appended it",
                                finding::key(txns, key)
                            )],
                        )
                    });
                }
                match known.entry(key).or_insert(Known::Tail(Vec::new())) {
                    Known::Whole(v) | Known::Tail(v) => v.push(element),
                }
            }
            Mop::ReadList { key, start, len } => {
                let read = txns.list(start, len);
                let expected = match known.get(&key) {
                    Some(Known::Whole(v)) if v.as_slice() != read => Some(list(v)),
                    Some(Known::Tail(v)) if !read.ends_with(v) => {
                        Some(format!("a list ending in {}", list(v)))
                    }
                    _ => None,
                };
                if let Some(expected) = expected {
                    found.add("internal", || {
                        Finding::new(
                            "internal",
                            Some(key),
                            vec![t],
                            vec![format!(
                                "T1 read key {} as {}, but its own earlier reads and appends say it \
                                 was {expected}",
                                finding::key(txns, key),
                                list(read)
                            )],
                        )
                    });
                }
                known.insert(key, Known::Whole(read.to_vec()));
            }
            _ => {}
        }
    }
}

/// Why `a` precedes `b` by an edge of `kind`, in words naming them `an` and `bn`, with the key.
pub fn explain(
    txns: &Txns,
    entries_of: &dyn Fn(Key) -> Vec<(TxnId, u32)>,
    (a, an): (TxnId, &str),
    (b, bn): (TxnId, &str),
    kind: Kinds,
) -> Option<(Key, String)> {
    let mut keys: Vec<Key> = txns.mops(b).iter().map(Mop::key).collect();
    keys.dedup();
    for key in keys {
        let entries = entries_of(key);
        let ord = KeyOrder::of(txns, &entries);
        let k = finding::key(txns, key);
        for m in txns.mops(b) {
            if m.key() != key {
                continue;
            }
            match (*m, kind) {
                (Mop::Append { element, .. }, WW) => {
                    let before = ord.before(element);
                    if let Some(p) = before.filter(|&p| ord.possible_writer(p) == Some(a)) {
                        let how = if ord.position.contains_key(&element) {
                            format!("just after {an}'s {p}")
                        } else {
                            format!("after {an}'s {p}, the last element any read shows")
                        };
                        return Some((
                            key,
                            format!("{bn} appended {element} to key {k} {how}, so {an} wrote before {bn}: ww"),
                        ));
                    }
                }
                (Mop::ReadList { start, len, .. }, WR) => {
                    let read = txns.list(start, len);
                    if let Some(&last) = read.last().filter(|&&e| ord.possible_writer(e) == Some(a))
                    {
                        return Some((
                            key,
                            format!(
                                "{bn} read key {k} as {}, ending in {an}'s append of {last}, so {an} wrote \
                                 before {bn} read: wr",
                                list(read)
                            ),
                        ));
                    }
                }
                (Mop::Append { element, .. }, RW) => {
                    let before = ord.before(element);
                    let read = txns.mops(a).iter().find_map(|r| match *r {
                        Mop::ReadList {
                            key: rk,
                            start,
                            len,
                        } if rk == key && txns.list(start, len).last().copied() == before => {
                            Some(txns.list(start, len))
                        }
                        _ => None,
                    });
                    if let Some(read) = read {
                        return Some((
                            key,
                            format!(
                                "{bn} appended {element} to key {k}; {an} read key {k} as {}, without \
                                 {element}, so {an} read before {bn} wrote: rw",
                                list(read)
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    None
}
