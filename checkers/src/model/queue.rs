//! Queues: `enqueue v` and `dequeue` (ok with the value taken, or nil when the queue was empty).
//!
//! A crashed dequeue (`info`) may have taken an element nobody saw. For the FIFO queue that can
//! only be the head, so the step stays deterministic; for the unordered queue it may be any
//! element, which is why models may return several successor states ([`Step::Many`]).

use super::{unknown_fn, Call, Interner, Model, ModelError, Outcome, Step};

/// A compiled queue call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueOp {
    Enqueue(u32),
    /// An ok dequeue that returned this value (0 = nil: the queue was empty).
    Dequeue(u32),
    /// A dequeue whose result is unknown.
    DequeueUnknown,
}

fn compile(values: &mut Interner, model: &'static str, call: &Call) -> Result<QueueOp, ModelError> {
    match call.f {
        "enqueue" => Ok(QueueOp::Enqueue(values.id(call.input))),
        "dequeue" => Ok(match call.outcome {
            Outcome::Ok(v) => QueueOp::Dequeue(values.id(v)),
            Outcome::Unknown => QueueOp::DequeueUnknown,
        }),
        f => Err(unknown_fn(model, f, "enqueue, dequeue")),
    }
}

fn describe_op(values: &Interner, op: &QueueOp) -> String {
    match *op {
        QueueOp::Enqueue(v) => format!("enqueue {}", values.show(v)),
        QueueOp::Dequeue(0) => "dequeue (empty)".into(),
        QueueOp::Dequeue(v) => format!("dequeue {}", values.show(v)),
        QueueOp::DequeueUnknown => "dequeue (unknown result)".into(),
    }
}

fn show(values: &Interner, items: &[u32]) -> String {
    let v: Vec<String> = items.iter().map(|&i| values.show(i)).collect();
    format!("[{}]", v.join(" "))
}

/// A first-in first-out queue; the state is its contents, head first.
#[derive(Clone, Debug, Default)]
pub struct FifoQueue {
    values: Interner,
}

impl FifoQueue {
    pub fn new() -> Self {
        FifoQueue::default()
    }
}

impl Model for FifoQueue {
    type State = Box<[u32]>;
    type Op = QueueOp;

    fn name(&self) -> &'static str {
        "fifo-queue"
    }

    fn init(&mut self) -> Box<[u32]> {
        Box::new([])
    }

    fn compile(&mut self, call: &Call) -> Result<QueueOp, ModelError> {
        compile(&mut self.values, "fifo-queue", call)
    }

    fn step(&mut self, q: &Box<[u32]>, op: &QueueOp) -> Step<Box<[u32]>> {
        match *op {
            QueueOp::Enqueue(v) => {
                let mut n = q.to_vec();
                n.push(v);
                Step::One(n.into())
            }
            QueueOp::Dequeue(0) if q.is_empty() => Step::One(q.clone()),
            QueueOp::Dequeue(v) if q.first() == Some(&v) => Step::One(q[1..].into()),
            QueueOp::DequeueUnknown if !q.is_empty() => Step::One(q[1..].into()),
            _ => Step::Impossible,
        }
    }

    fn is_read_only(&self, _op: &QueueOp) -> bool {
        false
    }

    fn describe_op(&self, op: &QueueOp) -> String {
        describe_op(&self.values, op)
    }

    fn state_bytes(&self, q: &Box<[u32]>) -> usize {
        super::heap_bytes(4 * q.len())
    }

    fn describe_state(&self, q: &Box<[u32]>) -> String {
        show(&self.values, q)
    }

    fn explain(&self, q: &Box<[u32]>, op: &QueueOp) -> String {
        match (op, q.first()) {
            (QueueOp::Dequeue(_), None) => {
                format!("{} is impossible: the queue is empty", self.describe_op(op))
            }
            (QueueOp::Dequeue(_), Some(&h)) => format!(
                "{} is impossible: the head of the queue {} is {}",
                self.describe_op(op),
                self.describe_state(q),
                self.values.show(h)
            ),
            _ => format!("{} is possible", self.describe_op(op)),
        }
    }
}

/// A queue without order (a bag); the state is its contents, sorted.
#[derive(Clone, Debug, Default)]
pub struct UnorderedQueue {
    values: Interner,
}

impl UnorderedQueue {
    pub fn new() -> Self {
        UnorderedQueue::default()
    }
}

fn without_at(q: &[u32], at: usize) -> Box<[u32]> {
    let mut n = Vec::with_capacity(q.len().saturating_sub(1));
    n.extend_from_slice(&q[..at]);
    n.extend_from_slice(&q[at + 1..]);
    n.into()
}

impl Model for UnorderedQueue {
    type State = Box<[u32]>;
    type Op = QueueOp;

    fn name(&self) -> &'static str {
        "unordered-queue"
    }

    fn init(&mut self) -> Box<[u32]> {
        Box::new([])
    }

    fn compile(&mut self, call: &Call) -> Result<QueueOp, ModelError> {
        compile(&mut self.values, "unordered-queue", call)
    }

    fn step(&mut self, q: &Box<[u32]>, op: &QueueOp) -> Step<Box<[u32]>> {
        match *op {
            QueueOp::Enqueue(v) => {
                let at = q.partition_point(|&x| x <= v);
                let mut n = Vec::with_capacity(q.len() + 1);
                n.extend_from_slice(&q[..at]);
                n.push(v);
                n.extend_from_slice(&q[at..]);
                Step::One(n.into())
            }
            QueueOp::Dequeue(0) if q.is_empty() => Step::One(q.clone()),
            QueueOp::Dequeue(v) => match q.binary_search(&v) {
                Ok(at) if v != 0 => Step::One(without_at(q, at)),
                _ => Step::Impossible,
            },
            QueueOp::DequeueUnknown => {
                let mut next: Vec<Box<[u32]>> = Vec::new();
                for at in 0..q.len() {
                    if at == 0 || q[at] != q[at - 1] {
                        next.push(without_at(q, at));
                    }
                }
                match next.len() {
                    0 => Step::Impossible,
                    1 => Step::One(next.remove(0)),
                    _ => Step::Many(next),
                }
            }
        }
    }

    fn is_read_only(&self, _op: &QueueOp) -> bool {
        false
    }

    fn describe_op(&self, op: &QueueOp) -> String {
        describe_op(&self.values, op)
    }

    fn state_bytes(&self, q: &Box<[u32]>) -> usize {
        super::heap_bytes(4 * q.len())
    }

    fn describe_state(&self, q: &Box<[u32]>) -> String {
        show(&self.values, q)
    }

    fn explain(&self, q: &Box<[u32]>, op: &QueueOp) -> String {
        match op {
            QueueOp::Dequeue(_) => format!(
                "{} is impossible: the queue holds {}",
                self.describe_op(op),
                self.describe_state(q)
            ),
            _ => format!("{} is possible", self.describe_op(op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_dequeues_in_order_and_a_crashed_dequeue_takes_the_head() {
        let mut m = FifoQueue::new();
        let s = m.init();
        let Step::One(s) = m.step(&s, &QueueOp::Enqueue(1)) else {
            panic!()
        };
        let Step::One(s) = m.step(&s, &QueueOp::Enqueue(2)) else {
            panic!()
        };
        assert!(matches!(m.step(&s, &QueueOp::Dequeue(2)), Step::Impossible));
        let Step::One(s2) = m.step(&s, &QueueOp::DequeueUnknown) else {
            panic!()
        };
        assert!(matches!(m.step(&s2, &QueueOp::Dequeue(2)), Step::One(_)));
    }

    #[test]
    fn unordered_crashed_dequeue_may_take_any_element() {
        let mut m = UnorderedQueue::new();
        let s = m.init();
        let Step::One(s) = m.step(&s, &QueueOp::Enqueue(1)) else {
            panic!()
        };
        let Step::One(s) = m.step(&s, &QueueOp::Enqueue(2)) else {
            panic!()
        };
        assert!(matches!(m.step(&s, &QueueOp::Dequeue(2)), Step::One(_)));
        match m.step(&s, &QueueOp::DequeueUnknown) {
            Step::Many(v) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
