//! Read-write registers: reads show a value, not its history, so a key's version order is only
//! partly known, and is inferred from what Elle infers it from:
//! - the initial state (nil) precedes every value read or written (always);
//! - writes follow reads: a committed transaction that reads `v` and then writes `v'` orders
//!   `v` before `v'` (`--wfr-keys`; serializability implies it);
//! - sequential keys: a process's successive transactions on a key see its versions in order
//!   (`--sequential-keys`, an assumption about the datastore);
//! - linearizable keys: so do transactions ordered in real time (`--linearizable-keys`).
//!
//! Each inference is added in turn; one that would make a key's version order cyclic is a
//! `cyclic-versions` anomaly and is left out for that key. From a version edge `v1 -> v2`: ww
//! from the writer of `v1` to the writer of `v2`, rw from every committed reader of `v1` to the
//! writer of `v2`; and wr from the writer of each value to its readers. Only external reads (a
//! transaction's first read of a key, before it writes it) and final writes count.
//!
//! Unlike list-append, this inference is incomplete: two writes that no read or inference
//! orders stay unordered, and a cycle that would need their order is not found.

use rustc_hash::{FxHashMap, FxHashSet};

use super::finding::{self, name, Finding, Found, KeyAnalysis};
use super::graph::{Kinds, RW, WR, WW};
use super::txn::{Key, Mop, Status, TxnId, Txns};

/// A version of a register: a value, `None` for the initial nil.
type Version = Option<i64>;

/// The inferences of version order beyond the initial state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inference {
    pub wfr_keys: bool,
    pub sequential_keys: bool,
    pub linearizable_keys: bool,
}

/// Where a version edge came from, for explanations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Initial,
    WritesFollowReads,
    Sequential,
    Linearizable,
}

impl Source {
    fn words(self) -> &'static str {
        match self {
            Source::Initial => "the initial state precedes every value",
            Source::WritesFollowReads => "a transaction wrote it after reading the earlier value",
            Source::Sequential => "a process saw them in that order (sequential keys)",
            Source::Linearizable => {
                "transactions saw them in that order in real time (linearizable keys)"
            }
        }
    }
}

/// What one transaction did to one key, from outside.
#[derive(Clone, Copy, Debug, Default)]
struct Ext {
    /// The first read, when it came before any write (committed transactions only).
    read: Option<Version>,
    /// The last write.
    write: Option<i64>,
}

impl Ext {
    fn of(txns: &Txns, t: TxnId, key: Key) -> Ext {
        let ok = txns.txn(t).status == Status::Ok;
        let mut ext = Ext::default();
        let mut wrote = false;
        for m in txns.mops(t).iter().filter(|m| m.key() == key) {
            match *m {
                Mop::ReadRegister { value, .. } if ok && !wrote && ext.read.is_none() => {
                    ext.read = Some(value)
                }
                Mop::Write { value, .. } => {
                    wrote = true;
                    ext.write = Some(value);
                }
                _ => {}
            }
        }
        ext
    }

    /// The first version the transaction saw or made.
    fn first(&self) -> Option<Version> {
        self.read.or(self.write.map(Some))
    }

    /// The last version the transaction saw or made.
    fn last(&self) -> Option<Version> {
        self.write.map(Some).or(self.read)
    }
}

/// A key's version edges with the inference that gave each, for explanations.
pub type VersionEdges = Vec<((Version, Version), Source)>;

/// Version edges inferred from an order of transactions, per key, for one key's analysis.
pub type OrderEdges = FxHashMap<Key, Vec<(Version, Version, Source)>>;

/// Version edges from the process order (`--sequential-keys`).
pub fn sequential_edges(txns: &Txns) -> OrderEdges {
    let mut last: FxHashMap<(u64, Key), Version> = FxHashMap::default();
    let mut out = OrderEdges::default();
    for (t, txn) in txns.txns.iter().enumerate() {
        if !txn.status.possible() {
            continue;
        }
        for key in keys_of(txns, t as TxnId) {
            let ext = Ext::of(txns, t as TxnId, key);
            if let (Some(prev), Some(first)) = (last.get(&(txn.process, key)), ext.first()) {
                if *prev != first {
                    out.entry(key)
                        .or_default()
                        .push((*prev, first, Source::Sequential));
                }
            }
            if let Some(l) = ext.last() {
                last.insert((txn.process, key), l);
            }
        }
    }
    out
}

/// Version edges from the real-time order (`--linearizable-keys`): per key, a frontier of the
/// committed transactions not yet followed, as for the real-time edges of the graph.
pub fn linearizable_edges(txns: &Txns) -> OrderEdges {
    let mut events: Vec<(u64, bool, TxnId)> = Vec::new();
    for (t, txn) in txns.txns.iter().enumerate() {
        if !txn.status.possible() {
            continue;
        }
        events.push((txn.invoke, true, t as TxnId));
        if let (Status::Ok, Some(c)) = (txn.status, txn.complete) {
            events.push((c, false, t as TxnId));
        }
    }
    events.sort_unstable_by_key(|e| e.0);
    let mut frontier: FxHashMap<Key, Vec<(TxnId, Version)>> = FxHashMap::default();
    let mut saw: FxHashMap<(TxnId, Key), Vec<TxnId>> = FxHashMap::default();
    let mut out = OrderEdges::default();
    for (_, invoke, t) in events {
        for key in keys_of(txns, t) {
            let ext = Ext::of(txns, t, key);
            let f = frontier.entry(key).or_default();
            if invoke {
                if let Some(first) = ext.first() {
                    for &(_, v) in f.iter().filter(|(_, v)| *v != first) {
                        out.entry(key)
                            .or_default()
                            .push((v, first, Source::Linearizable));
                    }
                    saw.insert((t, key), f.iter().map(|(p, _)| *p).collect());
                }
            } else if let Some(l) = ext.last() {
                let before = saw.remove(&(t, key)).unwrap_or_default();
                f.retain(|(p, _)| !before.contains(p));
                f.push((t, l));
            }
        }
    }
    out
}

fn keys_of(txns: &Txns, t: TxnId) -> Vec<Key> {
    let mut keys: Vec<Key> = txns.mops(t).iter().map(Mop::key).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Who wrote a value.
#[derive(Clone, Copy, Debug)]
struct Writer {
    txn: TxnId,
    status: Status,
    /// Overwritten by the same transaction (not its final write).
    intermediate: bool,
}

/// A key's versions: writers, readers, and the version graph.
struct KeyVersions {
    writers: FxHashMap<i64, Writer>,
    duplicate_writes: Vec<(i64, TxnId, TxnId)>,
    /// External reads of committed transactions, by version.
    readers: FxHashMap<Version, Vec<TxnId>>,
    /// Final writes of transactions that may have committed.
    final_writers: FxHashMap<i64, TxnId>,
    /// Version edges, each with the first inference that gave it.
    edges: FxHashMap<(Version, Version), Source>,
    /// Inferences left out because they made the order cyclic.
    cyclic: Vec<Source>,
}

impl KeyVersions {
    fn of(
        txns: &Txns,
        entries: &[(TxnId, u32)],
        key: Key,
        inference: Inference,
        ordered: &[(Version, Version, Source)],
    ) -> KeyVersions {
        let mut kv = KeyVersions {
            writers: FxHashMap::default(),
            duplicate_writes: Vec::new(),
            readers: FxHashMap::default(),
            final_writers: FxHashMap::default(),
            edges: FxHashMap::default(),
            cyclic: Vec::new(),
        };
        let mut exts: Vec<(TxnId, Ext)> = Vec::new();
        for (i, &(t, m)) in entries.iter().enumerate() {
            if let Mop::Write { value, .. } = txns.mops[m as usize] {
                let again = entries[i + 1..]
                    .iter()
                    .take_while(|&&(t2, _)| t2 == t)
                    .any(|&(_, m2)| txns.mops[m2 as usize].is_write());
                let w = Writer {
                    txn: t,
                    status: txns.txn(t).status,
                    intermediate: again,
                };
                if let Some(old) = kv.writers.insert(value, w) {
                    kv.duplicate_writes.push((value, old.txn, t));
                }
            }
            if exts.last().is_none_or(|(last, _)| *last != t) {
                exts.push((t, Ext::of(txns, t, key)));
            }
        }
        let mut initial = Vec::new();
        let mut wfr = Vec::new();
        for &(t, ext) in &exts {
            if let Some(r) = ext.read {
                kv.readers.entry(r).or_default().push(t);
                if r.is_some() {
                    initial.push((None, r, Source::Initial));
                }
            }
            if let Some(w) = ext.write.filter(|_| txns.txn(t).status.possible()) {
                kv.final_writers.insert(w, t);
                initial.push((None, Some(w), Source::Initial));
                if let Some(Some(r)) = ext.read {
                    if r != w {
                        wfr.push((Some(r), Some(w), Source::WritesFollowReads));
                    }
                }
            }
        }
        kv.add(initial);
        if inference.wfr_keys {
            kv.add(wfr);
        }
        for source in [Source::Sequential, Source::Linearizable] {
            let wanted = match source {
                Source::Sequential => inference.sequential_keys,
                _ => inference.linearizable_keys,
            };
            if wanted {
                kv.add(ordered.iter().copied().filter(|e| e.2 == source).collect());
            }
        }
        kv
    }

    /// Adds one inference's version edges, unless they would make the order cyclic.
    fn add(&mut self, edges: Vec<(Version, Version, Source)>) {
        let Some(source) = edges.first().map(|e| e.2) else {
            return;
        };
        let mut trial = self.edges.clone();
        for (a, b, s) in edges {
            trial.entry((a, b)).or_insert(s);
        }
        if acyclic(&trial) {
            self.edges = trial;
        } else {
            self.cyclic.push(source);
        }
    }
}

/// Whether a version graph has no cycle (Kahn's algorithm).
fn acyclic(edges: &FxHashMap<(Version, Version), Source>) -> bool {
    let mut indegree: FxHashMap<Version, usize> = FxHashMap::default();
    let mut out: FxHashMap<Version, Vec<Version>> = FxHashMap::default();
    for &(a, b) in edges.keys() {
        indegree.entry(a).or_insert(0);
        *indegree.entry(b).or_insert(0) += 1;
        out.entry(a).or_default().push(b);
    }
    let mut ready: Vec<Version> = indegree
        .iter()
        .filter(|(_, &d)| d == 0)
        .map(|(v, _)| *v)
        .collect();
    let mut seen = 0;
    while let Some(v) = ready.pop() {
        seen += 1;
        for w in out.get(&v).into_iter().flatten() {
            if let Some(d) = indegree.get_mut(w) {
                *d -= 1;
                if *d == 0 {
                    ready.push(*w);
                }
            }
        }
    }
    seen == indegree.len()
}

fn version(v: Version) -> String {
    v.map_or("nil".to_string(), |v| v.to_string())
}

/// The edges and anomalies of one key. See the module documentation.
pub fn analyze_key(
    txns: &Txns,
    entries: &[(TxnId, u32)],
    key: Key,
    inference: Inference,
    ordered: &[(Version, Version, Source)],
) -> KeyAnalysis {
    let kv = KeyVersions::of(txns, entries, key, inference, ordered);
    let mut out = KeyAnalysis::default();
    let k = finding::key(txns, key);
    for &(v, a, b) in &kv.duplicate_writes {
        out.unknown.push(format!(
            "{v} is written to key {k} twice (transactions at index {} and {}): rw-register needs \
             every value written once to tell versions apart",
            txns.txn(a).invoke,
            txns.txn(b).invoke
        ));
    }
    if !out.unknown.is_empty() {
        return out;
    }
    let found = &mut out.found;
    for source in &kv.cyclic {
        found.add("cyclic-versions", || {
            Finding::new(
                "cyclic-versions",
                Some(key),
                Vec::new(),
                vec![format!(
                    "key {k}'s versions would be in a cycle if ordered because {}; that inference \
                     is left out for this key",
                    source.words()
                )],
            )
        });
    }
    let mut readers: Vec<(&Version, &Vec<TxnId>)> = kv.readers.iter().collect();
    readers.sort_by_key(|(_, rs)| rs[0]);
    for (&v, rs) in readers {
        let Some(value) = v else { continue };
        for &t in rs {
            match kv.writers.get(&value) {
                None => found.add("garbage-read", || {
                    Finding::new(
                        "garbage-read",
                        Some(key),
                        vec![t],
                        vec![format!("T1 read key {k} = {value}, which no transaction wrote")],
                    )
                }),
                Some(w) if w.txn == t => {}
                Some(w) if w.status == Status::Fail => found.add("G1a", || {
                    Finding::new(
                        "G1a",
                        Some(key),
                        vec![t, w.txn],
                        vec![format!(
                            "T1 read key {k} = {value}, which T2 wrote in a transaction that failed: \
                             an aborted read"
                        )],
                    )
                }),
                Some(w) if w.intermediate => found.add("G1b", || {
                    Finding::new(
                        "G1b",
                        Some(key),
                        vec![t, w.txn],
                        vec![format!(
                            "T1 read key {k} = {value}, which T2 wrote and then overwrote in the same \
                             transaction: an intermediate read"
                        )],
                    )
                }),
                Some(_) => {
                    if let Some(&w) = kv.final_writers.get(&value) {
                        out.edges.push((w, t, WR));
                    }
                }
            }
        }
    }
    // Lost updates: committed transactions that read the same version, then wrote the key.
    let mut by_read: FxHashMap<Version, Vec<TxnId>> = FxHashMap::default();
    let mut seen = FxHashSet::default();
    for &(t, _) in entries {
        if !seen.insert(t) || txns.txn(t).status != Status::Ok {
            continue;
        }
        let ext = Ext::of(txns, t, key);
        if let (Some(r), Some(_)) = (ext.read, ext.write) {
            by_read.entry(r).or_default().push(t);
        }
    }
    let mut groups: Vec<_> = by_read.into_iter().filter(|(_, ts)| ts.len() > 1).collect();
    groups.sort_by_key(|(_, ts)| ts[0]);
    for (v, ts) in groups {
        found.add("lost-update", || {
            let names: Vec<String> = (0..ts.len()).map(name).collect();
            Finding::new(
                "lost-update",
                Some(key),
                ts.clone(),
                vec![format!(
                    "{} all read key {k} = {}, then wrote it, and all committed: each update was \
                     made without the others'",
                    names.join(", "),
                    version(v)
                )],
            )
        });
    }
    for &(a, b) in kv.edges.keys() {
        let Some(b) = b else { continue };
        let Some(&wb) = kv.final_writers.get(&b) else {
            continue;
        };
        if let Some(&wa) = a.and_then(|a| kv.final_writers.get(&a)) {
            if wa != wb {
                out.edges.push((wa, wb, WW));
            }
        }
        if let Some(rs) = kv.readers.get(&a) {
            out.edges
                .extend(rs.iter().filter(|&&r| r != wb).map(|&r| (r, wb, RW)));
        }
    }
    out
}

/// Anomalies inside one committed transaction: `internal` (a read that disagrees with its own
/// earlier read or write of the key) and `future-read` (a read of a value it writes later).
pub fn txn_findings(txns: &Txns, t: TxnId, found: &mut Found) {
    if txns.txn(t).status != Status::Ok {
        return;
    }
    let mops = txns.mops(t);
    let mut known: FxHashMap<Key, Version> = FxHashMap::default();
    for (i, m) in mops.iter().enumerate() {
        match *m {
            Mop::Write { key, value } => {
                known.insert(key, Some(value));
            }
            Mop::ReadRegister { key, value } => {
                let k = finding::key(txns, key);
                if let Some(&expected) = known.get(&key).filter(|&&e| e != value) {
                    found.add("internal", || {
                        Finding::new(
                            "internal",
                            Some(key),
                            vec![t],
                            vec![format!(
                                "T1 read key {k} = {}, but its own earlier read or write says it was {}",
                                version(value),
                                version(expected)
                            )],
                        )
                    });
                } else if value.is_some()
                    && !known.contains_key(&key)
                    && mops[i + 1..]
                        .iter()
                        .any(|w| matches!(*w, Mop::Write { key: wk, value: wv } if wk == key && Some(wv) == value))
                {
                    found.add("future-read", || {
                        Finding::new(
                            "future-read",
                            Some(key),
                            vec![t],
                            vec![format!(
                                "T1 read key {k} = {}, a value T1 itself writes later",
                                version(value)
                            )],
                        )
                    });
                }
                known.insert(key, value);
            }
            _ => {}
        }
    }
}

/// Why `a` precedes `b` by an edge of `kind`, in words naming them `an` and `bn`, with the key.
pub fn explain(
    txns: &Txns,
    versions_of: &dyn Fn(Key) -> VersionEdges,
    (a, an): (TxnId, &str),
    (b, bn): (TxnId, &str),
    kind: Kinds,
) -> Option<(Key, String)> {
    for key in keys_of(txns, b) {
        let (ea, eb) = (Ext::of(txns, a, key), Ext::of(txns, b, key));
        let k = finding::key(txns, key);
        match kind {
            WR => {
                if let (Some(w), Some(Some(r))) = (ea.write, eb.read) {
                    if w == r {
                        return Some((
                            key,
                            format!("{bn} read key {k} = {r}, which {an} wrote, so {an} wrote before {bn} read: wr"),
                        ));
                    }
                }
            }
            WW | RW => {
                let from = if kind == WW {
                    ea.write.map(Some)
                } else {
                    ea.read
                };
                let (Some(v1), Some(v2)) = (from, eb.write) else {
                    continue;
                };
                let versions = versions_of(key);
                let Some(&(_, source)) = versions.iter().find(|(e, _)| *e == (v1, Some(v2))) else {
                    continue;
                };
                let why = source.words();
                return Some((
                    key,
                    if kind == WW {
                        format!(
                            "{an} wrote key {k} = {} and {bn} wrote {v2}, a later version ({why}), so \
                             {an} wrote before {bn}: ww",
                            version(v1)
                        )
                    } else {
                        format!(
                            "{an} read key {k} = {} and {bn} wrote {v2}, a later version ({why}), so \
                             {an} read before {bn} wrote: rw",
                            version(v1)
                        )
                    },
                ));
            }
            _ => {}
        }
    }
    None
}

/// The version edges of one key with their sources, for [`explain`].
pub fn version_edges(
    txns: &Txns,
    entries: &[(TxnId, u32)],
    key: Key,
    inference: Inference,
    ordered: &[(Version, Version, Source)],
) -> VersionEdges {
    KeyVersions::of(txns, entries, key, inference, ordered)
        .edges
        .into_iter()
        .collect()
}
