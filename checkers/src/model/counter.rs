//! A counter: `add n` (or `increment`) and `read`.

use super::{bad_value, unknown_fn, Call, Model, ModelConfig, ModelError, NilRead, Outcome, Step};

/// A counter starting at `--initial` (default 0).
#[derive(Clone, Debug)]
pub struct Counter {
    initial: i64,
    nil_read: NilRead,
}

/// A compiled counter call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CounterOp {
    Add(i64),
    Read(i64),
    ReadAny,
}

impl Counter {
    pub fn new(config: ModelConfig) -> Self {
        Counter {
            initial: config.initial.as_int().unwrap_or(0),
            nil_read: config.nil_read,
        }
    }
}

impl Model for Counter {
    type State = i64;
    type Op = CounterOp;

    fn name(&self) -> &'static str {
        "counter"
    }

    fn init(&mut self) -> i64 {
        self.initial
    }

    fn compile(&mut self, call: &Call) -> Result<CounterOp, ModelError> {
        match call.f {
            "add" | "increment" | "incr" => match call.input {
                crate::history::Value::Nil if call.f != "add" => Ok(CounterOp::Add(1)),
                v => v
                    .as_int()
                    .map(CounterOp::Add)
                    .ok_or_else(|| bad_value(call.f, "an integer", v)),
            },
            "read" => match call.outcome {
                Outcome::Unknown => Ok(CounterOp::ReadAny),
                Outcome::Ok(v) if v.is_nil() && self.nil_read == NilRead::Any => {
                    Ok(CounterOp::ReadAny)
                }
                Outcome::Ok(v) if v.is_nil() => Ok(CounterOp::Read(self.initial)),
                Outcome::Ok(v) => v
                    .as_int()
                    .map(CounterOp::Read)
                    .ok_or_else(|| bad_value("read", "an integer", v)),
            },
            f => Err(unknown_fn("counter", f, "add, read")),
        }
    }

    fn step(&mut self, n: &i64, op: &CounterOp) -> Step<i64> {
        match *op {
            CounterOp::Add(d) => Step::One(n.wrapping_add(d)),
            CounterOp::Read(v) if v != *n => Step::Impossible,
            CounterOp::Read(_) | CounterOp::ReadAny => Step::One(*n),
        }
    }

    fn is_read_only(&self, op: &CounterOp) -> bool {
        !matches!(op, CounterOp::Add(_))
    }

    fn always_accepts(&self, op: &CounterOp) -> bool {
        matches!(op, CounterOp::ReadAny)
    }

    fn describe_op(&self, op: &CounterOp) -> String {
        match op {
            CounterOp::Add(d) => format!("add {d}"),
            CounterOp::Read(v) => format!("read {v}"),
            CounterOp::ReadAny => "read (any value)".into(),
        }
    }

    fn describe_state(&self, n: &i64) -> String {
        n.to_string()
    }

    fn explain(&self, n: &i64, op: &CounterOp) -> String {
        match op {
            CounterOp::Read(_) => {
                format!("{} is impossible: the counter is {n}", self.describe_op(op))
            }
            _ => format!("{} is always possible", self.describe_op(op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_must_see_the_sum_of_adds() {
        let mut m = Counter::new(ModelConfig::default());
        let s = m.init();
        let Step::One(s) = m.step(&s, &CounterOp::Add(3)) else {
            panic!()
        };
        assert!(matches!(m.step(&s, &CounterOp::Read(3)), Step::One(3)));
        assert!(matches!(m.step(&s, &CounterOp::Read(2)), Step::Impossible));
    }
}
