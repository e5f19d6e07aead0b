//! A lock: `acquire` and `release`.

use super::{unknown_fn, Call, Model, ModelError, Step};

/// A mutex; the state is whether it is held.
#[derive(Clone, Debug, Default)]
pub struct Mutex;

/// A compiled mutex call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MutexOp {
    Acquire,
    Release,
}

impl Model for Mutex {
    type State = bool;
    type Op = MutexOp;

    fn name(&self) -> &'static str {
        "mutex"
    }

    fn init(&mut self) -> bool {
        false
    }

    fn compile(&mut self, call: &Call) -> Result<MutexOp, ModelError> {
        match call.f {
            "acquire" | "lock" => Ok(MutexOp::Acquire),
            "release" | "unlock" => Ok(MutexOp::Release),
            f => Err(unknown_fn("mutex", f, "acquire, release")),
        }
    }

    fn step(&mut self, held: &bool, op: &MutexOp) -> Step<bool> {
        match (op, *held) {
            (MutexOp::Acquire, false) => Step::One(true),
            (MutexOp::Release, true) => Step::One(false),
            _ => Step::Impossible,
        }
    }

    fn is_read_only(&self, _op: &MutexOp) -> bool {
        false
    }

    fn describe_op(&self, op: &MutexOp) -> String {
        match op {
            MutexOp::Acquire => "acquire".into(),
            MutexOp::Release => "release".into(),
        }
    }

    fn describe_state(&self, held: &bool) -> String {
        if *held { "held" } else { "free" }.into()
    }

    fn explain(&self, held: &bool, op: &MutexOp) -> String {
        match (op, *held) {
            (MutexOp::Acquire, true) => "acquire is impossible: the lock is already held".into(),
            (MutexOp::Release, false) => "release is impossible: the lock is not held".into(),
            _ => format!("{} is possible", self.describe_op(op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_cannot_be_acquired_again() {
        let mut m = Mutex;
        let s = m.init();
        let Step::One(s) = m.step(&s, &MutexOp::Acquire) else {
            panic!()
        };
        assert!(matches!(m.step(&s, &MutexOp::Acquire), Step::Impossible));
        assert!(matches!(m.step(&s, &MutexOp::Release), Step::One(false)));
    }
}
