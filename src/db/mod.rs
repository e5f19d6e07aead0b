//! Datastores: how each one is set up, started, stopped, broken and torn down on a node.
//!
//! This is Jepsen's `db` namespace. A datastore lifecycle drives its nodes only through a
//! [`crate::control::Remote`], so the same code runs against the local cluster and against
//! remote machines. Clients (the operations a workload issues) live next to their lifecycle.

pub mod etcd;
