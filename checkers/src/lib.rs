//! # faultline-checkers
//!
//! Everything faultline needs to judge a history, and nothing that touches a network: the history
//! types and the readers and writers of faultline's JSONL, Jepsen's EDN and Jepsen's text logs
//! ([`history`]); the sequential specifications of the datastores' objects ([`model`]); and the
//! parallel linearizability engine ([`linear`]) that decides whether a concurrent history could
//! have come from those specifications.
//!
//! The crate is usable on its own: read a history, pick a model, call [`linear::check`].

pub mod history;
pub mod linear;
pub mod model;
