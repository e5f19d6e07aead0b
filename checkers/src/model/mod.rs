//! Models: the sequential specifications that a concurrent history is checked against.
//!
//! A model is data plus a pure step function, in the manner of Porcupine: the engine asks it to
//! *compile* each operation of the history once (turning values into small interned ids), then
//! calls [`Model::step`] millions of times on those compiled operations. Everything a model knows
//! of a datastore is here; the engine knows nothing of registers or queues.
//!
//! Each search owns its own model instance (`&mut self`), so a model may intern values and cache
//! results (the kv model memoises string concatenations) without locks.

mod access;
mod counter;
mod intern;
mod kv;
mod mutex;
mod queue;
mod register;
mod set;

pub use access::{Access, RegisterView};
pub use counter::Counter;
pub use intern::Interner;
pub use kv::Kv;
pub use mutex::Mutex;
pub use queue::{FifoQueue, UnorderedQueue};
pub use register::Register;
pub use set::Set;

use std::fmt::Debug;
use std::hash::Hash;

use crate::history::Value;

/// What the engine knows of how a call ended.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    /// It happened, with this result (the completion's `value`).
    Ok(&'a Value),
    /// Unknown (`info`, or no completion): it may have happened, at any time after its invoke.
    Unknown,
}

impl Outcome<'_> {
    pub fn is_known(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

/// One call as a model sees it, before compilation.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub f: &'a str,
    /// The independent key, when the history is checked as one object with keyed state.
    pub key: Option<&'a Value>,
    /// The invoke's value: the argument.
    pub input: &'a Value,
    pub outcome: Outcome<'a>,
}

impl<'a> Call<'a> {
    /// The argument of a `write` or `cas`: the invoke's value, or the completion's when the
    /// invoke carries none. Jepsen completes a `write` or `cas` with its argument; one that names
    /// another value is refused as malformed when the history is read (see
    /// `history::well_formed`), so the two never disagree in a history read from a file, and in
    /// one built in memory the invoke, being what the client asked for, wins.
    pub fn value(&self) -> &'a Value {
        match self.outcome {
            Outcome::Ok(v) if self.input.is_nil() => v,
            _ => self.input,
        }
    }
}

/// Why a call cannot be given to a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("the {model} model has no operation `{f}` (it knows {known})")]
    UnknownFunction {
        model: &'static str,
        f: String,
        known: &'static str,
    },
    #[error("`{f}` needs {expected}, found {found}")]
    BadValue {
        f: String,
        expected: &'static str,
        found: String,
    },
}

/// How an ok read of nil is understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NilRead {
    /// As Knossos does for Jepsen histories: nil carries no information and matches any state.
    Any,
    /// As faultline's own histories mean it: the object is absent (its initial state).
    #[default]
    Absent,
}

/// Settings shared by all models.
#[derive(Clone, Debug, Default)]
pub struct ModelConfig {
    /// The object's initial value; `Nil` = absent.
    pub initial: Value,
    pub nil_read: NilRead,
}

/// The states reachable by one step: most models are deterministic, a few are not (a crashed
/// dequeue of an unordered queue may have removed any element).
#[derive(Debug)]
pub enum Step<S> {
    Impossible,
    One(S),
    Many(Vec<S>),
}

/// A sequential specification. See the module documentation.
pub trait Model: Clone + Send + Sync {
    /// Compact, cheap to clone and hash: the engine memoises (linearized set, state) pairs.
    type State: Clone + Eq + Hash + Debug + Send + Sync;
    /// A compiled call: arguments and known result, with values interned.
    type Op: Clone + Eq + Hash + Debug + Send + Sync;

    /// The name used on the command line.
    fn name(&self) -> &'static str;

    fn init(&mut self) -> Self::State;

    fn compile(&mut self, call: &Call) -> Result<Self::Op, ModelError>;

    fn step(&mut self, state: &Self::State, op: &Self::Op) -> Step<Self::State>;

    /// True when `op` can never change the state. An `info` call that is read-only has no effect
    /// that anyone could observe, so the engine drops it.
    fn is_read_only(&self, op: &Self::Op) -> bool;

    /// True when `op` never changes the state AND every state accepts it (a read of nil under
    /// [`NilRead::Any`]). Such a call can be linearized anywhere in its window, so the engine drops it.
    fn always_accepts(&self, _op: &Self::Op) -> bool {
        false
    }

    /// Which calls of unknown outcome can be left out because no call could ever observe their
    /// effect: `ops` are a part's calls, `known` says which have a known (ok) outcome. Only calls
    /// of unknown outcome may be marked. The default marks none, which is always sound.
    ///
    /// A register's crashed write of a value that no read returned and no cas expects is such a
    /// call: whatever follows it in a linearization must overwrite it unseen, so dropping it keeps
    /// every linearization valid. Without this, each crashed write stays a candidate at every
    /// later step of the search, and a long history with many of them cannot be checked.
    fn unobservable(&self, _ops: &[&Self::Op], _known: &[bool]) -> Vec<bool> {
        Vec::new()
    }

    /// Whether some sequence of steps could lead from `state` to a state that accepts the
    /// read-only `read`. Must never say false when such a sequence exists; saying true when
    /// unsure is always allowed (the default). Models whose state only grows (appends) use it to
    /// let the engine abandon orders that no later read can agree with.
    fn can_reach(&self, _state: &Self::State, _read: &Self::Op) -> bool {
        true
    }

    /// The part's calls `ops` as accesses to one register, when this model can say what each
    /// reads and writes in those terms (see [`RegisterView`] for the contract); `None` (the
    /// default) when it cannot, and the engine then searches. `known` says which calls have a
    /// known (ok) outcome. The engine, not the model, checks that the values written are unique.
    fn register_view(&mut self, _ops: &[&Self::Op], _known: &[bool]) -> Option<RegisterView> {
        None
    }

    /// The heap bytes a state owns beyond `size_of::<State>()` (a queue's elements, say): the
    /// engine counts them against its memory limit, since it keeps a state per configuration.
    fn state_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    /// The operation in words, e.g. `cas 1 -> 2`.
    fn describe_op(&self, op: &Self::Op) -> String;

    /// The state in words, e.g. `3` or `{"x": "a b"}`.
    fn describe_state(&self, state: &Self::State) -> String;

    /// Why `op` cannot follow `state`, in words, e.g. `read 3 is impossible: the register holds 4`.
    fn explain(&self, state: &Self::State, op: &Self::Op) -> String;
}

/// Something to do with a model chosen by name. A closure cannot be generic over the model, so
/// callers that pick a model by name implement this, and [`with_model`] holds the one `match`.
pub trait WithModel {
    type Output;
    fn with<M: Model>(self, model: M) -> Self::Output;
}

/// Runs `task` with the model that `--model` calls `name`; `None` when no model has that name.
pub fn with_model<T: WithModel>(name: &str, config: ModelConfig, task: T) -> Option<T::Output> {
    Some(match name {
        "register" => task.with(Register::new(config)),
        "cas-register" => task.with(Register::cas(config)),
        "kv" => task.with(Kv::new(config)),
        "mutex" => task.with(Mutex),
        "set" => task.with(Set::new(config)),
        "unordered-queue" => task.with(UnorderedQueue::new()),
        "fifo-queue" => task.with(FifoQueue::new()),
        "counter" => task.with(Counter::new(config)),
        _ => return None,
    })
}

/// The names of the models faultline knows, for `--model`.
pub const MODEL_NAMES: &[&str] = &[
    "register",
    "cas-register",
    "kv",
    "mutex",
    "set",
    "unordered-queue",
    "fifo-queue",
    "counter",
];

/// The bytes malloc takes for an allocation of `n` bytes (glibc: 8 bytes of header, 16-byte
/// steps, 32 at least), for [`Model::state_bytes`].
pub(crate) fn heap_bytes(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        ((n + 8 + 15) & !15).max(32)
    }
}

pub(crate) fn bad_value(f: &str, expected: &'static str, found: &Value) -> ModelError {
    ModelError::BadValue {
        f: f.to_string(),
        expected,
        found: found.to_string(),
    }
}

pub(crate) fn unknown_fn(model: &'static str, f: &str, known: &'static str) -> ModelError {
    ModelError::UnknownFunction {
        model,
        f: f.to_string(),
        known,
    }
}
