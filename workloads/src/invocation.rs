//! What a worker asks a client to do, and how it ended.

use std::sync::Arc;

use faultline_checkers::history::Value;

/// One operation a worker is about to perform: becomes the `invoke` event of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub f: Arc<str>,
    /// The independent key, for workloads over many keys.
    pub key: Option<Value>,
    pub value: Value,
}

/// How an operation ended: becomes the completion event of the history.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// It happened; the value is the result (a read's value, or the argument echoed).
    Ok(Value),
    /// It certainly did not happen (a cas whose compare failed, a refused request).
    Fail(String),
    /// Unknown: it may have happened (timeout, lost connection). The worker's process retires.
    Info(String),
}

/// What went wrong in a client call, sorted by what it means for the history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The operation certainly did not take effect (rejected before being applied).
    #[error("{0}")]
    Definite(String),
    /// The operation may or may not have taken effect (timeout, connection lost mid-request).
    #[error("{0}")]
    Indefinite(String),
}
