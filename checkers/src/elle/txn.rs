//! Transactions as the Elle checkers see them: compact, with every key interned and every list
//! read stored in one shared arena, so that a history of a million transactions costs tens of
//! bytes a micro-op rather than a tree of [`Value`]s.
//!
//! A transaction is an invoke paired with its completion. Its outcome decides what it tells:
//! `ok` committed, and its reads are what it observed; `fail` certainly did not commit (its writes
//! must never be seen); `info` (or an invoke never completed) may or may not have committed, and
//! its reads are unknown, so they are kept as [`Mop::ReadUnknown`] and never used.

use std::ops::Range;

use rustc_hash::FxHashMap;

use crate::history::Value;

/// A key, interned: its index in [`Txns::keys`].
pub type Key = u32;

/// Which kind of transactional history, and so which micro-ops are allowed (Elle's workloads).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Micro-ops `[append k v]` and `[r k [v ...]]` on lists: every read shows the order of
    /// the appends before it, so version orders are recovered from the reads.
    ListAppend,
    /// Micro-ops `[w k v]` and `[r k v]` on registers: version orders must be inferred.
    RwRegister,
}

impl Workload {
    /// The name Elle and `faultline check --workload` use.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ListAppend => "list-append",
            Workload::RwRegister => "rw-register",
        }
    }

    pub fn parse(name: &str) -> Option<Workload> {
        match name {
            "list-append" | "append" => Some(Workload::ListAppend),
            "rw-register" | "wr" | "rw" => Some(Workload::RwRegister),
            _ => None,
        }
    }
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    /// Timed out, crashed, or never completed: it may or may not have committed.
    Info,
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Fail => "fail",
        }
    }

    /// Whether the transaction may have committed (and so belongs in the dependency graph).
    pub fn possible(self) -> bool {
        self != Status::Fail
    }
}

/// One micro-operation. Values and elements are integers (Elle's generators write unique
/// integers; anything else is refused when read, see `mop.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mop {
    Append {
        key: Key,
        element: i64,
    },
    Write {
        key: Key,
        value: i64,
    },
    /// A list read that was observed: the elements are `Txns::elements[start..start + len]`.
    ReadList {
        key: Key,
        start: u32,
        len: u32,
    },
    /// A register read that was observed; `None` is nil, the initial state.
    ReadRegister {
        key: Key,
        value: Option<i64>,
    },
    /// A read whose result is unknown (the transaction did not end `ok`).
    ReadUnknown {
        key: Key,
    },
}

impl Mop {
    pub fn key(&self) -> Key {
        match *self {
            Mop::Append { key, .. }
            | Mop::Write { key, .. }
            | Mop::ReadList { key, .. }
            | Mop::ReadRegister { key, .. }
            | Mop::ReadUnknown { key } => key,
        }
    }

    pub fn is_write(&self) -> bool {
        matches!(self, Mop::Append { .. } | Mop::Write { .. })
    }

    /// The appended element or written value.
    pub fn written(&self) -> Option<i64> {
        match *self {
            Mop::Append { element, .. } => Some(element),
            Mop::Write { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// Transaction ids are positions in [`Txns::txns`], in the order of their invokes.
pub type TxnId = u32;

/// One transaction. The invariant `invoke < complete` holds; an invoke never completed has
/// `complete == None` and status `Info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Txn {
    /// History index of the invoke (what verdicts name the transaction by).
    pub invoke: u64,
    /// History index of the completion.
    pub complete: Option<u64>,
    pub process: u64,
    pub status: Status,
    /// Source line of the invoke, for messages.
    pub line: u32,
    mops: (u32, u32),
}

impl Txn {
    pub fn mop_range(&self) -> Range<usize> {
        self.mops.0 as usize..(self.mops.0 + self.mops.1) as usize
    }
}

/// A whole transactional history, compacted. See the module documentation.
#[derive(Debug, Default)]
pub struct Txns {
    pub txns: Vec<Txn>,
    pub mops: Vec<Mop>,
    /// The elements of every list read, one after another.
    pub elements: Vec<i64>,
    /// Interned keys, by [`Key`].
    pub keys: Vec<Value>,
    key_ids: FxHashMap<Value, Key>,
}

impl Txns {
    pub fn mops(&self, t: TxnId) -> &[Mop] {
        &self.mops[self.txns[t as usize].mop_range()]
    }

    pub fn txn(&self, t: TxnId) -> &Txn {
        &self.txns[t as usize]
    }

    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// The elements of a list read.
    pub fn list(&self, start: u32, len: u32) -> &[i64] {
        &self.elements[start as usize..(start + len) as usize]
    }

    pub fn key_id(&mut self, key: &Value) -> Key {
        if let Some(&k) = self.key_ids.get(key) {
            return k;
        }
        let k = self.keys.len() as Key;
        self.keys.push(key.clone());
        self.key_ids.insert(key.clone(), k);
        k
    }

    /// Appends a transaction whose micro-ops were pushed since `first_mop`.
    pub fn push(&mut self, mut txn: Txn, first_mop: usize) {
        txn.mops = (first_mop as u32, (self.mops.len() - first_mop) as u32);
        self.txns.push(txn);
    }

    /// Bytes held, roughly: what the memory limit counts.
    pub fn bytes(&self) -> usize {
        self.txns.capacity() * std::mem::size_of::<Txn>()
            + self.mops.capacity() * std::mem::size_of::<Mop>()
            + self.elements.capacity() * 8
            + self.keys.len() * 64
    }

    /// The transactions touching each key, as (transaction, position of the micro-op), in
    /// transaction order: the per-key analyses run on these, one key per task.
    pub fn by_key(&self) -> ByKey {
        let mut starts = vec![0u32; self.keys.len() + 1];
        for m in &self.mops {
            starts[m.key() as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut fill = starts.clone();
        let mut entries = vec![(0u32, 0u32); self.mops.len()];
        for (t, txn) in self.txns.iter().enumerate() {
            for i in txn.mop_range() {
                let k = self.mops[i].key() as usize;
                entries[fill[k] as usize] = (t as TxnId, i as u32);
                fill[k] += 1;
            }
        }
        ByKey { starts, entries }
    }
}

/// The micro-ops of each key: see [`Txns::by_key`].
pub struct ByKey {
    starts: Vec<u32>,
    entries: Vec<(TxnId, u32)>,
}

impl ByKey {
    /// (transaction, index into `Txns::mops`) of every micro-op on `key`, in transaction order.
    pub fn of(&self, key: Key) -> &[(TxnId, u32)] {
        &self.entries[self.starts[key as usize] as usize..self.starts[key as usize + 1] as usize]
    }

    pub fn bytes(&self) -> usize {
        self.starts.capacity() * 4 + self.entries.capacity() * 8
    }
}

/// Builds a [`Txn`] before its micro-ops are known.
pub fn txn(invoke: u64, complete: Option<u64>, process: u64, status: Status, line: u32) -> Txn {
    Txn {
        invoke,
        complete,
        process,
        status,
        line,
        mops: (0, 0),
    }
}
