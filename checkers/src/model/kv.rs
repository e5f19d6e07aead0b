//! A key-value store of strings: `get`, `put`, `append` (Porcupine's kv model).
//!
//! Checked per key (P-compositionality) the state is one string; with `--no-partition` it is one
//! string per key. Strings are interned, and each concatenation is computed once and remembered,
//! so a step costs a hash lookup rather than a copy of a growing string.
//!
//! Dead strings: a key's string only grows by appends until a put replaces it, so a string that
//! is not a prefix of any value some get of that key returned can satisfy no get before the next
//! put. All such strings behave alike for every future sequence of operations (appends keep them
//! dead, a put replaces them, a get fails), so the model folds them into one state, [`DEAD`].
//! This is exact, and it matters: appends that a later put overwrites before anyone reads them
//! would otherwise give one state per order in which they could have run.

mod chains;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::{
    bad_value, unknown_fn, Call, Interner, Model, ModelConfig, ModelError, NilRead, Outcome,
    RegisterView, Step,
};
use crate::history::Value;

/// The state of a key whose string no get of that key can ever return (see the module docs).
pub const DEAD: u32 = u32::MAX;

/// The kv model's state: one interned string per key slot.
pub type KvState = SmallVec<[u32; 4]>;

/// The kv model. Every key starts as `""` (or `--initial`, when that is a string).
#[derive(Clone, Debug)]
pub struct Kv {
    config: ModelConfig,
    strings: Interner,
    keys: Interner,
    concat: FxHashMap<(u32, u32, u32), u32>,
    /// The values each key slot's gets returned.
    reads: Vec<Vec<u32>>,
    /// Whether a string (per slot) is a prefix of some value in `reads`.
    live: FxHashMap<(u32, u32), bool>,
    /// The values `put` in each key slot: after a put a string grows from that value.
    puts: Vec<Vec<u32>>,
}

/// A compiled kv call on the key in slot `.0`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    Get(u32, u32),
    GetAny(u32),
    Put(u32, u32),
    Append(u32, u32),
}

impl Kv {
    pub fn new(config: ModelConfig) -> Self {
        Kv {
            config,
            strings: Interner::default(),
            keys: Interner::default(),
            concat: FxHashMap::default(),
            reads: Vec::new(),
            live: FxHashMap::default(),
            puts: Vec::new(),
        }
    }

    fn initial(&mut self) -> u32 {
        match &self.config.initial {
            Value::Nil => self.strings.id(&Value::Str("".into())),
            v => {
                let v = v.clone();
                self.strings.id(&v)
            }
        }
    }

    fn string_id(&mut self, f: &str, v: &Value) -> Result<u32, ModelError> {
        match v {
            Value::Str(_) => Ok(self.strings.id(v)),
            Value::Nil => Ok(self.initial()),
            other => Err(bad_value(f, "a string", other)),
        }
    }

    /// `id`, or [`DEAD`] when no get of `slot` can ever return `id` or anything it grows into.
    fn settle(&mut self, slot: u32, id: u32) -> u32 {
        if id == DEAD {
            return DEAD;
        }
        let live = match self.live.get(&(slot, id)) {
            Some(&l) => l,
            None => {
                let text = self.text(id);
                let l = self
                    .reads
                    .get(slot as usize)
                    .is_some_and(|rs| rs.iter().any(|&r| self.text(r).starts_with(text)));
                self.live.insert((slot, id), l);
                l
            }
        };
        if live {
            id
        } else {
            DEAD
        }
    }

    fn text(&self, id: u32) -> &str {
        if id == DEAD {
            return "";
        }
        self.strings.value(id).as_str().unwrap_or("")
    }

    fn show(&self, id: u32) -> String {
        if id == DEAD {
            "a string no get ever returns (it holds an append nobody read)".to_string()
        } else {
            format!("{:?}", self.text(id))
        }
    }

    fn key_name(&self, slot: u32) -> String {
        match self.keys.value(slot + 1) {
            Value::Nil => String::new(),
            k => format!("key {k}: "),
        }
    }
}

impl Model for Kv {
    /// One interned string per key slot; inline (no allocation) for up to four keys.
    type State = KvState;
    type Op = KvOp;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn init(&mut self) -> KvState {
        let n = (self.keys.len() - 1).max(1);
        let init = self.initial();
        (0..n as u32).map(|slot| self.settle(slot, init)).collect()
    }

    fn compile(&mut self, call: &Call) -> Result<KvOp, ModelError> {
        let slot = match call.key {
            Some(k) => self.keys.id(k).saturating_sub(1),
            None => 0,
        };
        match call.f {
            "get" | "read" => match call.outcome {
                Outcome::Unknown => Ok(KvOp::GetAny(slot)),
                Outcome::Ok(v) if v.is_nil() && self.config.nil_read == NilRead::Any => {
                    Ok(KvOp::GetAny(slot))
                }
                Outcome::Ok(v) => {
                    let id = self.string_id(call.f, v)?;
                    if self.reads.len() <= slot as usize {
                        self.reads.resize(slot as usize + 1, Vec::new());
                    }
                    self.reads[slot as usize].push(id);
                    Ok(KvOp::Get(slot, id))
                }
            },
            "put" | "write" => {
                let v = self.string_id(call.f, call.input)?;
                if self.puts.len() <= slot as usize {
                    self.puts.resize(slot as usize + 1, Vec::new());
                }
                self.puts[slot as usize].push(v);
                Ok(KvOp::Put(slot, v))
            }
            "append" => Ok(KvOp::Append(slot, self.string_id(call.f, call.input)?)),
            f => Err(unknown_fn("kv", f, "get, put, append")),
        }
    }

    fn step(&mut self, state: &KvState, op: &KvOp) -> Step<KvState> {
        let with = |slot: u32, v: u32| {
            let mut s = state.clone();
            if let Some(x) = s.get_mut(slot as usize) {
                *x = v;
            }
            Step::One(s)
        };
        match *op {
            KvOp::Get(slot, v) => {
                if state.get(slot as usize) == Some(&v) {
                    Step::One(state.clone())
                } else {
                    Step::Impossible
                }
            }
            KvOp::GetAny(_) => Step::One(state.clone()),
            KvOp::Put(slot, v) => {
                let v = self.settle(slot, v);
                with(slot, v)
            }
            KvOp::Append(slot, suffix) => {
                let cur = state.get(slot as usize).copied().unwrap_or(0);
                if cur == DEAD {
                    return Step::One(state.clone());
                }
                let id = match self.concat.get(&(slot, cur, suffix)) {
                    Some(&id) => id,
                    None => {
                        let joined = format!("{}{}", self.text(cur), self.text(suffix));
                        let id = self.strings.id(&Value::Str(joined.into()));
                        let id = self.settle(slot, id);
                        self.concat.insert((slot, cur, suffix), id);
                        id
                    }
                };
                with(slot, id)
            }
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(..) | KvOp::GetAny(_))
    }

    fn always_accepts(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::GetAny(_))
    }

    /// A key's string only grows by appends, from its current value or from a value some put
    /// writes. So a get of `v` can still be satisfied only if the current string, or some put's
    /// value, is a prefix of `v` (any put of the key counts, linearized or not: an
    /// over-approximation, as the trait requires).
    fn can_reach(&self, state: &KvState, read: &KvOp) -> bool {
        let KvOp::Get(slot, want) = *read else {
            return true;
        };
        let cur = state.get(slot as usize).copied().unwrap_or(0);
        let target = self.text(want);
        cur == want
            || (cur != DEAD && target.starts_with(self.text(cur)))
            || self
                .puts
                .get(slot as usize)
                .is_some_and(|ps| ps.iter().any(|&p| target.starts_with(self.text(p))))
    }

    /// Append chains of distinct strings as compare-and-sets (see `chains`).
    fn register_view(&mut self, ops: &[&KvOp], known: &[bool]) -> Option<RegisterView> {
        self.chains_view(ops, known)
    }

    fn describe_op(&self, op: &KvOp) -> String {
        match *op {
            KvOp::Get(k, v) => format!("{}get {:?}", self.key_name(k), self.text(v)),
            KvOp::GetAny(k) => format!("{}get (any value)", self.key_name(k)),
            KvOp::Put(k, v) => format!("{}put {:?}", self.key_name(k), self.text(v)),
            KvOp::Append(k, v) => format!("{}append {:?}", self.key_name(k), self.text(v)),
        }
    }

    fn state_bytes(&self, state: &KvState) -> usize {
        if state.spilled() {
            super::heap_bytes(4 * state.capacity())
        } else {
            0
        }
    }

    fn describe_state(&self, state: &KvState) -> String {
        if state.len() == 1 {
            return self.show(state[0]);
        }
        let parts: Vec<String> = state
            .iter()
            .enumerate()
            .map(|(slot, &v)| format!("{} {}", self.keys.show(slot as u32 + 1), self.show(v)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    fn explain(&self, state: &KvState, op: &KvOp) -> String {
        match *op {
            KvOp::Get(k, _) => {
                let cur = state.get(k as usize).copied().unwrap_or(0);
                format!(
                    "{} is impossible: the value is {}",
                    self.describe_op(op),
                    self.show(cur)
                )
            }
            _ => format!("{} is always possible", self.describe_op(op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn ok<'a>(f: &'a str, key: Option<&'a Value>, input: &'a Value, out: &'a Value) -> Call<'a> {
        Call {
            f,
            key,
            input,
            outcome: Outcome::Ok(out),
        }
    }

    #[test]
    fn appends_concatenate_and_gets_see_them() {
        let mut m = Kv::new(ModelConfig::default());
        let (a, b, ab) = (s("a "), s("b "), s("a b "));
        let ap_a = m.compile(&ok("append", None, &a, &a)).unwrap();
        let ap_b = m.compile(&ok("append", None, &b, &b)).unwrap();
        let get_ab = m.compile(&ok("get", None, &Value::Nil, &ab)).unwrap();
        let s0 = m.init();
        let Step::One(s1) = m.step(&s0, &ap_a) else {
            panic!()
        };
        assert!(matches!(m.step(&s1, &get_ab), Step::Impossible));
        let Step::One(s2) = m.step(&s1, &ap_b) else {
            panic!()
        };
        assert!(matches!(m.step(&s2, &get_ab), Step::One(_)));
    }

    #[test]
    fn appends_no_get_can_see_fold_into_one_state() {
        let mut m = Kv::new(ModelConfig::default());
        let (a, b, p, seen) = (s("a "), s("b "), s("p "), s("p c "));
        let ap_a = m.compile(&ok("append", None, &a, &a)).unwrap();
        let ap_b = m.compile(&ok("append", None, &b, &b)).unwrap();
        let put = m.compile(&ok("put", None, &p, &p)).unwrap();
        let get = m.compile(&ok("get", None, &Value::Nil, &seen)).unwrap();
        let s0 = m.init();
        // "a b " and "b a " are prefixes of no get: both are the one dead state.
        let Step::One(s1) = m.step(&s0, &ap_a) else {
            panic!()
        };
        let Step::One(ab) = m.step(&s1, &ap_b) else {
            panic!()
        };
        let Step::One(s1) = m.step(&s0, &ap_b) else {
            panic!()
        };
        let Step::One(ba) = m.step(&s1, &ap_a) else {
            panic!()
        };
        assert_eq!(ab, ba);
        assert_eq!(ab[0], DEAD);
        assert!(matches!(m.step(&ab, &get), Step::Impossible));
        // A put revives the key.
        let Step::One(revived) = m.step(&ab, &put) else {
            panic!()
        };
        assert_ne!(revived[0], DEAD);
        assert!(m.explain(&ab, &get).contains("nobody read"));
    }

    #[test]
    fn unpartitioned_state_keeps_keys_apart() {
        let mut m = Kv::new(ModelConfig::default());
        let (k1, k2, x) = (s("1"), s("2"), s("x"));
        let put1 = m.compile(&ok("put", Some(&k1), &x, &x)).unwrap();
        let get2 = m.compile(&ok("get", Some(&k2), &Value::Nil, &x)).unwrap();
        let s0 = m.init();
        assert_eq!(s0.len(), 2);
        let Step::One(s1) = m.step(&s0, &put1) else {
            panic!()
        };
        assert!(matches!(m.step(&s1, &get2), Step::Impossible));
        assert!(m.explain(&s1, &get2).contains("key \"2\""));
    }
}
