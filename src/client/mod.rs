//! client: how a worker performs operations on a datastore.
//!
//! Each module implements the capability traits of `faultline-workloads` (such as
//! [`RegisterClient`](faultline_workloads::register::RegisterClient)) for one datastore, and sorts
//! every failure into `Definite` (certainly not applied: the history records `fail`) or
//! `Indefinite` (may have been applied: `info`). That sorting decides whether a checked history
//! is right, so each client documents why each error lands where it does. As in Jepsen, a client
//! talks to exactly one node: faults then hit the workers bound to that node, and a stale node's
//! answers reach the history instead of being hidden by failover.

pub mod etcd;
