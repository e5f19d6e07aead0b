//! The rw-register workload (Elle's `wr`): transactions of register writes and reads,
//! `[["w", 3, 17], ["r", 4, null]]`.
//!
//! A register read shows only the last write, not the order of those before it, so the
//! checker knows fewer version orders than with lists: every key starts unwritten (the
//! generator retires keys and starts fresh ones, which keeps that initial state useful), and
//! written values are unique, so each read names the write it saw. Cycles that need an order
//! no read reveals stay unseen (Elle has the same limit). Any datastore with a key-value table
//! can run it. See [`crate::txn`] for the generator, the client capability and the check.

use crate::txn::{TxnKind, TxnOptions};
use crate::workload::WorkloadSpec;

pub use crate::txn::{MicroOp, TxnClient};

/// The rw-register workload in the registry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    name: "rw-register",
    about: "transactions of register writes and reads, checked Elle-style for isolation \
            anomalies against --consistency-models",
    build: |options| Ok(Box::new(TxnOptions::new(SPEC.name, KIND, options)?)),
};

/// Which transactional workload this is, for the checker.
pub const KIND: TxnKind = TxnKind::RwRegister;

/// A datastore's transaction client as the run's client of this workload.
pub fn client<C: TxnClient + 'static>(c: C) -> Box<dyn crate::Client> {
    crate::txn::client(c, KIND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorkloadOptions;

    #[test]
    fn its_transactions_write_and_read_registers() {
        let w = (SPEC.build)(&WorkloadOptions::default()).unwrap();
        let mut g = w.generator();
        let text: String = (0..20)
            .map(|_| g.next().unwrap().value.to_string())
            .collect();
        assert!(text.contains("\"w\""), "{text}");
        assert!(!text.contains("\"append\""), "{text}");
    }
}
