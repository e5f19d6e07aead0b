//! # faultline-checkers
//!
//! Everything faultline needs to judge a history, and nothing that touches a network: the history
//! types and the readers and writers of faultline's JSONL, Jepsen's EDN and Jepsen's text logs
//! ([`history`]); the sequential specifications of the datastores' objects ([`model`]); the
//! parallel linearizability engine ([`linear`]) that decides whether a concurrent history could
//! have come from those specifications; and the Elle-style checker of transactional isolation
//! ([`elle`]), which finds the dependency cycles and read anomalies of list-append and
//! rw-register histories and names the consistency models they rule out.
//!
//! The crate is usable on its own: read a history, pick a model, call [`linear::check`]. For a
//! history too large to hold (tens of millions of events), [`linear::check_file`] checks it as
//! it is read, keeping only the compiled calls: a 10-million-operation register history takes
//! about half a gigabyte. [`elle::check_file`] likewise compacts transactions as it reads them.
//!
//! Bad input is an error naming the file, the line and what was expected, never a panic: the
//! readers are fuzzed (`history/robustness_tests.rs`, `history/corruption_tests.rs`), and every
//! broken input worth keeping is a case of `tests/regressions/`.

pub mod bank;
pub mod counter;
pub mod elle;
pub mod history;
pub mod linear;
pub mod model;
pub mod set;
pub mod unique_ids;
pub mod verdict;

pub use verdict::{Anomaly, Validity, Verdict};
