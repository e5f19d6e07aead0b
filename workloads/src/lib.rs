//! # faultline-workloads
//!
//! A workload is what the clients do during a test and how the result is judged: an operation
//! generator, the capability it needs from a datastore's client (a trait that `src/client`
//! implements for each datastore), and the checker that decides the verdict. No networking lives
//! here: the harness hands a workload a client, the workload hands back completions.

pub mod invocation;
pub mod register;

pub use faultline_checkers as checkers;
pub use invocation::{ClientError, Completion, Invocation};
