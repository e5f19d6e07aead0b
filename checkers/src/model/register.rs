//! Registers: `read`, `write`, and (for the cas-register) `cas [from to]`.

use super::{
    bad_value, unknown_fn, Access, Call, Interner, Model, ModelConfig, ModelError, NilRead,
    Outcome, RegisterView, Step,
};

/// A read/write register, optionally with compare-and-set. The state is the interned id of the
/// value held (0 = absent).
#[derive(Clone, Debug)]
pub struct Register {
    cas: bool,
    config: ModelConfig,
    values: Interner,
}

/// A compiled register call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// A read that returned this value.
    Read(u32),
    /// A read whose result tells nothing (unknown, or nil under [`NilRead::Any`]).
    ReadAny,
    Write(u32),
    Cas(u32, u32),
}

impl Register {
    /// A plain register: `read` and `write`.
    pub fn new(config: ModelConfig) -> Self {
        Register {
            cas: false,
            config,
            values: Interner::default(),
        }
    }

    /// A compare-and-set register: `read`, `write` and `cas`.
    pub fn cas(config: ModelConfig) -> Self {
        Register {
            cas: true,
            ..Register::new(config)
        }
    }
}

impl Model for Register {
    type State = u32;
    type Op = RegisterOp;

    fn name(&self) -> &'static str {
        if self.cas {
            "cas-register"
        } else {
            "register"
        }
    }

    fn init(&mut self) -> u32 {
        let initial = self.config.initial.clone();
        self.values.id(&initial)
    }

    fn compile(&mut self, call: &Call) -> Result<RegisterOp, ModelError> {
        let known = if self.cas {
            "read, write, cas"
        } else {
            "read, write"
        };
        match call.f {
            "read" => Ok(match call.outcome {
                Outcome::Unknown => RegisterOp::ReadAny,
                Outcome::Ok(v) if v.is_nil() && self.config.nil_read == NilRead::Any => {
                    RegisterOp::ReadAny
                }
                Outcome::Ok(v) => RegisterOp::Read(self.values.id(v)),
            }),
            "write" => Ok(RegisterOp::Write(self.values.id(call.value()))),
            "cas" if self.cas => match call.value().as_slice() {
                Some([from, to]) => Ok(RegisterOp::Cas(self.values.id(from), self.values.id(to))),
                _ => Err(bad_value("cas", "a [from to] pair", call.value())),
            },
            f => Err(unknown_fn(self.name(), f, known)),
        }
    }

    fn step(&mut self, state: &u32, op: &RegisterOp) -> Step<u32> {
        match *op {
            RegisterOp::Read(v) if v != *state => Step::Impossible,
            RegisterOp::Read(_) | RegisterOp::ReadAny => Step::One(*state),
            RegisterOp::Write(v) => Step::One(v),
            RegisterOp::Cas(from, to) if from == *state => Step::One(to),
            RegisterOp::Cas(..) => Step::Impossible,
        }
    }

    fn is_read_only(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_) | RegisterOp::ReadAny)
    }

    fn always_accepts(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::ReadAny)
    }

    /// A crashed write, or the `to` of a crashed cas, that no ok read returned and no cas expects
    /// (see [`Model::unobservable`]). Soundness: take a linearization and remove every such call.
    /// An op that followed one in it saw the unobserved value, so it was neither a read of that
    /// value (ok reads name only observed values) nor a cas from it (every cas's `from` is
    /// observed): it was a write, or a read of anything, which any state accepts and which set
    /// the state by itself. Every other op sees the same state as before.
    fn unobservable(&self, ops: &[&RegisterOp], known: &[bool]) -> Vec<bool> {
        let mut observed = rustc_hash::FxHashSet::default();
        for (op, &known) in ops.iter().zip(known) {
            match **op {
                RegisterOp::Read(v) if known => {
                    observed.insert(v);
                }
                RegisterOp::Cas(from, _) => {
                    observed.insert(from);
                }
                _ => {}
            }
        }
        ops.iter()
            .zip(known)
            .map(|(op, &known)| {
                !known
                    && match **op {
                        RegisterOp::Write(v) | RegisterOp::Cas(_, v) => !observed.contains(&v),
                        _ => false,
                    }
            })
            .collect()
    }

    /// A register is its own view: the accesses are the calls, with the interned values and the
    /// interned initial value, so the contract holds trivially.
    fn register_view(&mut self, ops: &[&RegisterOp], _known: &[bool]) -> Option<RegisterView> {
        let accesses = ops
            .iter()
            .map(|op| match **op {
                RegisterOp::Read(v) => Access::Read(v),
                RegisterOp::ReadAny => Access::Any,
                RegisterOp::Write(v) => Access::Write(v),
                RegisterOp::Cas(a, b) => Access::Cas(a, b),
            })
            .collect();
        Some(RegisterView {
            initial: self.init(),
            accesses,
        })
    }

    fn describe_op(&self, op: &RegisterOp) -> String {
        match *op {
            RegisterOp::Read(v) => format!("read {}", self.values.show(v)),
            RegisterOp::ReadAny => "read (any value)".into(),
            RegisterOp::Write(v) => format!("write {}", self.values.show(v)),
            RegisterOp::Cas(a, b) => {
                format!("cas {} -> {}", self.values.show(a), self.values.show(b))
            }
        }
    }

    fn describe_state(&self, state: &u32) -> String {
        if *state == 0 {
            "absent (nil)".into()
        } else {
            self.values.show(*state)
        }
    }

    fn explain(&self, state: &u32, op: &RegisterOp) -> String {
        let holds = format!("the register holds {}", self.describe_state(state));
        match *op {
            RegisterOp::Read(_) => format!("{} is impossible: {holds}", self.describe_op(op)),
            RegisterOp::Cas(..) => format!("{} cannot succeed: {holds}", self.describe_op(op)),
            _ => format!("{} is always possible", self.describe_op(op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Value;

    fn call<'a>(f: &'a str, input: &'a Value, out: Option<&'a Value>) -> Call<'a> {
        Call {
            f,
            key: None,
            input,
            outcome: out.map_or(Outcome::Unknown, Outcome::Ok),
        }
    }

    #[test]
    fn cas_applies_only_from_the_expected_value() {
        let mut m = Register::cas(ModelConfig::default());
        let s0 = m.init();
        let pair = Value::Vector(vec![Value::Int(1), Value::Int(2)].into());
        let cas = m.compile(&call("cas", &pair, Some(&pair))).unwrap();
        assert!(matches!(m.step(&s0, &cas), Step::Impossible));
        let one = Value::Int(1);
        let w = m.compile(&call("write", &one, Some(&one))).unwrap();
        let Step::One(s1) = m.step(&s0, &w) else {
            panic!()
        };
        let Step::One(s2) = m.step(&s1, &cas) else {
            panic!()
        };
        let two = Value::Int(2);
        let r = m.compile(&call("read", &Value::Nil, Some(&two))).unwrap();
        assert!(matches!(m.step(&s2, &r), Step::One(_)));
        assert!(matches!(m.step(&s1, &r), Step::Impossible));
        assert_eq!(
            m.explain(&s1, &r),
            "read 2 is impossible: the register holds 1"
        );
    }

    #[test]
    fn nil_read_means_absent_or_anything_as_configured() {
        let absent = ModelConfig::default();
        let mut m = Register::new(absent);
        let r = m
            .compile(&call("read", &Value::Nil, Some(&Value::Nil)))
            .unwrap();
        assert_eq!(r, RegisterOp::Read(0));
        let any = ModelConfig {
            nil_read: NilRead::Any,
            ..ModelConfig::default()
        };
        let mut m = Register::new(any);
        let r = m
            .compile(&call("read", &Value::Nil, Some(&Value::Nil)))
            .unwrap();
        assert_eq!(r, RegisterOp::ReadAny);
        assert!(m.always_accepts(&r));
    }

    #[test]
    fn a_plain_register_refuses_cas() {
        let mut m = Register::new(ModelConfig::default());
        let pair = Value::Vector(vec![Value::Int(1), Value::Int(2)].into());
        assert!(m.compile(&call("cas", &pair, None)).is_err());
    }

    #[test]
    fn the_initial_value_is_configurable() {
        let mut m = Register::new(ModelConfig {
            initial: Value::Int(0),
            nil_read: NilRead::Absent,
        });
        let s = m.init();
        let zero = Value::Int(0);
        let r = m.compile(&call("read", &Value::Nil, Some(&zero))).unwrap();
        assert!(matches!(m.step(&s, &r), Step::One(_)));
    }
}
