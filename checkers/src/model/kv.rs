//! A key-value store of strings: `get`, `put`, `append` (Porcupine's kv model).
//!
//! Checked per key (P-compositionality) the state is one string; with `--no-partition` it is one
//! string per key. Strings are interned, and each concatenation is computed once and remembered,
//! so a step costs a hash lookup rather than a copy of a growing string.

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::{
    bad_value, unknown_fn, Call, Interner, Model, ModelConfig, ModelError, NilRead, Outcome, Step,
};
use crate::history::Value;

/// The kv model's state: one interned string per key slot.
pub type KvState = SmallVec<[u32; 4]>;

/// The kv model. Every key starts as `""` (or `--initial`, when that is a string).
#[derive(Clone, Debug)]
pub struct Kv {
    config: ModelConfig,
    strings: Interner,
    keys: Interner,
    concat: FxHashMap<(u32, u32), u32>,
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

    fn text(&self, id: u32) -> &str {
        self.strings.value(id).as_str().unwrap_or("")
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
        SmallVec::from_elem(init, n)
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
                Outcome::Ok(v) => Ok(KvOp::Get(slot, self.string_id(call.f, v)?)),
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
            KvOp::Put(slot, v) => with(slot, v),
            KvOp::Append(slot, suffix) => {
                let cur = state.get(slot as usize).copied().unwrap_or(0);
                let id = match self.concat.get(&(cur, suffix)) {
                    Some(&id) => id,
                    None => {
                        let joined = format!("{}{}", self.text(cur), self.text(suffix));
                        let id = self.strings.id(&Value::Str(joined.into()));
                        self.concat.insert((cur, suffix), id);
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
            || target.starts_with(self.text(cur))
            || self
                .puts
                .get(slot as usize)
                .is_some_and(|ps| ps.iter().any(|&p| target.starts_with(self.text(p))))
    }

    fn describe_op(&self, op: &KvOp) -> String {
        match *op {
            KvOp::Get(k, v) => format!("{}get {:?}", self.key_name(k), self.text(v)),
            KvOp::GetAny(k) => format!("{}get (any value)", self.key_name(k)),
            KvOp::Put(k, v) => format!("{}put {:?}", self.key_name(k), self.text(v)),
            KvOp::Append(k, v) => format!("{}append {:?}", self.key_name(k), self.text(v)),
        }
    }

    fn describe_state(&self, state: &KvState) -> String {
        if state.len() == 1 {
            return format!("{:?}", self.text(state[0]));
        }
        let parts: Vec<String> = state
            .iter()
            .enumerate()
            .map(|(slot, &v)| format!("{} {:?}", self.keys.show(slot as u32 + 1), self.text(v)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    fn explain(&self, state: &KvState, op: &KvOp) -> String {
        match *op {
            KvOp::Get(k, _) => {
                let cur = state.get(k as usize).copied().unwrap_or(0);
                format!(
                    "{} is impossible: the value is {:?}",
                    self.describe_op(op),
                    self.text(cur)
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
