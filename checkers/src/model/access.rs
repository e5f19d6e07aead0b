//! A model's calls seen as accesses to one register: what the polynomial path for unique values
//! (`linear::unique`) works on.
//!
//! When every value a part's calls write is written by one call only, each read names the one
//! call it saw, and linearizability no longer needs a search (Gibbons & Korach). A model that can
//! say what its calls read and write in a register's terms offers [`Model::register_view`]; the
//! engine checks the uniqueness itself and falls back to the search whenever it fails.
//!
//! [`Model::register_view`]: super::Model::register_view

/// One call as a register access. Values are ids the model chooses; they need not be its
/// interned values (the kv model numbers the prefixes of an append chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Returns this value and changes nothing; impossible in any other state.
    Read(u32),
    /// Sets this value, from any state.
    Write(u32),
    /// Sets `.1` when the value is `.0`; impossible in any other state.
    Cas(u32, u32),
    /// Changes nothing and accepts every state: a read whose result tells nothing.
    Any,
}

impl Access {
    /// The value this access needs to find: a read's result, a cas's expected value.
    pub fn observes(self) -> Option<u32> {
        match self {
            Access::Read(v) | Access::Cas(v, _) => Some(v),
            Access::Write(_) | Access::Any => None,
        }
    }

    /// The value this access sets, if it sets one.
    pub fn sets(self) -> Option<u32> {
        match self {
            Access::Write(v) | Access::Cas(_, v) => Some(v),
            Access::Read(_) | Access::Any => None,
        }
    }
}

/// A part's calls as register accesses, one per call and in the calls' order, with the value the
/// register holds before any call.
///
/// The contract, which the model's implementation must prove in its doc comment: a history of
/// the part's calls (with the same invokes, completions and outcomes) is linearizable for the
/// model if and only if the same history with these accesses is linearizable for a register
/// starting at `initial`; and every order of the calls that the register accepts is one that the
/// model accepts. The engine relies on the first half for its verdicts, and checks the second on
/// every order it reports (it steps the model through it), falling back to the search if the
/// model refuses, so that a mistake in a view costs time, never a wrong `valid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterView {
    pub initial: u32,
    pub accesses: Vec<Access>,
}
