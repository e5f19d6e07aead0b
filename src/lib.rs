//! faultline: a Jepsen-style tester for distributed datastores, as a library.
//!
//! The `faultline` binary (`main.rs`) only parses the command line and calls one function of
//! this library per subcommand; the integration tests use the same modules. The concepts are
//! Jepsen's, one module each:
//!
//! - [`control`]: how a command reaches a node (SSH, or this machine);
//! - [`cluster`]: the local cluster of network namespaces, one sshd per node;
//! - [`db`]: datastores, one folder each (lifecycle, clients, process faults), and their registry;
//! - [`nemesis`]: faults (partitions, packet loss, latency, kill, pause) and their schedule;
//! - [`run`]: `faultline test`, phase by phase, knowing no datastore's or workload's name;
//! - [`matrix`]: `faultline test-all`, a nightly matrix of runs, compared with the one before;
//! - [`store`]: where runs are kept and the typed records they hold;
//! - [`report`] and [`web`]: the pages of a run and of the store, serving, JUnit, comparing;
//! - [`check`] and [`bench`]: `faultline check` and `faultline bench`.
//!
//! Workloads (generators, client capabilities, which checker judges them) live in the
//! `faultline-workloads` crate, checkers in `faultline-checkers`; dependencies flow one way,
//! `faultline` -> `faultline-workloads` -> `faultline-checkers`.

pub mod bench;
pub mod check;
pub mod check_txn;
pub mod check_workload;
pub mod cli;
pub mod cluster;
pub mod control;
pub mod db;
pub mod delayer;
pub mod exit;
pub mod matrix;
pub mod nemesis;
pub mod report;
pub mod run;
pub mod store;
pub mod web;
