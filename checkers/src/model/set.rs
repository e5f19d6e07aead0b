//! A set: `add e` and `read` (which returns the whole set).

use super::{
    bad_value, unknown_fn, Call, Interner, Model, ModelConfig, ModelError, NilRead, Outcome, Step,
};
use crate::history::Value;

/// A grow-only set; the state is the sorted ids of its elements.
#[derive(Clone, Debug)]
pub struct Set {
    nil_read: NilRead,
    elements: Interner,
}

/// A compiled set call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetOp {
    Add(u32),
    /// A read that returned exactly these elements (sorted ids).
    Read(Box<[u32]>),
    ReadAny,
}

impl Set {
    pub fn new(config: ModelConfig) -> Self {
        Set {
            nil_read: config.nil_read,
            elements: Interner::default(),
        }
    }

    fn show(&self, ids: &[u32]) -> String {
        let items: Vec<String> = ids.iter().map(|&i| self.elements.show(i)).collect();
        format!("#{{{}}}", items.join(" "))
    }
}

impl Model for Set {
    type State = Box<[u32]>;
    type Op = SetOp;

    fn name(&self) -> &'static str {
        "set"
    }

    fn init(&mut self) -> Box<[u32]> {
        Box::new([])
    }

    fn compile(&mut self, call: &Call) -> Result<SetOp, ModelError> {
        match call.f {
            "add" => Ok(SetOp::Add(self.elements.id(call.input))),
            "read" => match call.outcome {
                Outcome::Unknown => Ok(SetOp::ReadAny),
                Outcome::Ok(Value::Nil) if self.nil_read == NilRead::Any => Ok(SetOp::ReadAny),
                Outcome::Ok(Value::Nil) => Ok(SetOp::Read(Box::new([]))),
                Outcome::Ok(v) => {
                    let items = v
                        .as_slice()
                        .ok_or_else(|| bad_value("read", "a set or vector", v))?;
                    let mut ids: Vec<u32> = items.iter().map(|e| self.elements.id(e)).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    Ok(SetOp::Read(ids.into()))
                }
            },
            f => Err(unknown_fn("set", f, "add, read")),
        }
    }

    fn step(&mut self, s: &Box<[u32]>, op: &SetOp) -> Step<Box<[u32]>> {
        match op {
            SetOp::Add(e) => match s.binary_search(e) {
                Ok(_) => Step::One(s.clone()),
                Err(at) => {
                    let mut v = Vec::with_capacity(s.len() + 1);
                    v.extend_from_slice(&s[..at]);
                    v.push(*e);
                    v.extend_from_slice(&s[at..]);
                    Step::One(v.into())
                }
            },
            SetOp::Read(r) if r != s => Step::Impossible,
            SetOp::Read(_) | SetOp::ReadAny => Step::One(s.clone()),
        }
    }

    fn is_read_only(&self, op: &SetOp) -> bool {
        !matches!(op, SetOp::Add(_))
    }

    fn always_accepts(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::ReadAny)
    }

    fn describe_op(&self, op: &SetOp) -> String {
        match op {
            SetOp::Add(e) => format!("add {}", self.elements.show(*e)),
            SetOp::Read(r) => format!("read {}", self.show(r)),
            SetOp::ReadAny => "read (any value)".into(),
        }
    }

    fn state_bytes(&self, s: &Box<[u32]>) -> usize {
        super::heap_bytes(4 * s.len())
    }

    fn describe_state(&self, s: &Box<[u32]>) -> String {
        self.show(s)
    }

    fn explain(&self, s: &Box<[u32]>, op: &SetOp) -> String {
        match op {
            SetOp::Read(r) => {
                let missing: Vec<u32> = s.iter().filter(|e| !r.contains(e)).copied().collect();
                let extra: Vec<u32> = r.iter().filter(|e| !s.contains(e)).copied().collect();
                format!(
                    "{} is impossible: the set is {} (the read misses {} and has unexpected {})",
                    self.describe_op(op),
                    self.show(s),
                    self.show(&missing),
                    self.show(&extra)
                )
            }
            _ => format!("{} is always possible", self.describe_op(op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_must_see_exactly_the_added_elements() {
        let mut m = Set::new(ModelConfig::default());
        let (one, two) = (Value::Int(1), Value::Int(2));
        let add1 = m
            .compile(&Call {
                f: "add",
                key: None,
                input: &one,
                outcome: Outcome::Ok(&one),
            })
            .unwrap();
        let read = Value::Set(vec![two.clone(), one.clone()].into());
        let read12 = m
            .compile(&Call {
                f: "read",
                key: None,
                input: &Value::Nil,
                outcome: Outcome::Ok(&read),
            })
            .unwrap();
        let add2 = m
            .compile(&Call {
                f: "add",
                key: None,
                input: &two,
                outcome: Outcome::Ok(&two),
            })
            .unwrap();
        let s = m.init();
        let Step::One(s) = m.step(&s, &add1) else {
            panic!()
        };
        assert!(matches!(m.step(&s, &read12), Step::Impossible));
        let Step::One(s) = m.step(&s, &add2) else {
            panic!()
        };
        assert!(matches!(m.step(&s, &read12), Step::One(_)));
    }
}
