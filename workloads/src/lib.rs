//! # faultline-workloads
//!
//! A workload is what the clients do during a test and how the result is judged: an operation
//! generator, the capability it needs from a datastore's client (a trait that `src/db` implements),
//! and the checkers from `faultline-checkers` that decide the verdict. No networking lives here.

pub use faultline_checkers as checkers;
