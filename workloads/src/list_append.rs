//! The list-append workload (Elle's `append`): transactions of appends to lists and reads of
//! whole lists, `[["append", 3, 17], ["r", 4, null]]`.
//!
//! Every read of a list shows the order of the appends that came before it, so the checker
//! recovers each key's version order from the reads alone and finds every kind of dependency
//! cycle (G0, G1c, G-single, G2-item) and the anomalies of the list itself (a read that is not
//! a prefix of the longest one: `incompatible-order`; an element twice: `duplicate-elements`).
//! That makes it the sharpest of the transactional workloads; a datastore needs a list type
//! (PostgreSQL: an array column; Redis: `RPUSH`/`LRANGE`). See [`crate::txn`] for the generator,
//! the client capability and the check.

use crate::txn::{TxnKind, TxnOptions};
use crate::workload::WorkloadSpec;

pub use crate::txn::{MicroOp, TxnClient};

/// The list-append workload in the registry.
pub const SPEC: WorkloadSpec = WorkloadSpec {
    name: "list-append",
    about: "transactions of appends to lists and reads of them, checked Elle-style for \
            isolation anomalies against --consistency-models",
    build: |options| Ok(Box::new(TxnOptions::new(SPEC.name, KIND, options)?)),
};

/// Which transactional workload this is, for the checker.
pub const KIND: TxnKind = TxnKind::ListAppend;

/// A datastore's transaction client as the run's client of this workload.
pub fn client<C: TxnClient + 'static>(c: C) -> Box<dyn crate::Client> {
    crate::txn::client(c, KIND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::F;
    use crate::WorkloadOptions;

    #[test]
    fn its_transactions_append_and_read_lists() {
        let w = (SPEC.build)(&WorkloadOptions::default()).unwrap();
        let mut g = w.generator();
        let op = g.next().unwrap();
        assert_eq!(&*op.f, F);
        let text = op.value.to_string();
        assert!(
            text.contains("\"append\"") || text.contains("\"r\""),
            "{text}"
        );
        assert!(!text.contains("\"w\""), "{text}");
        assert_eq!(w.describe()["consistency_models"][0], "serializable");
    }
}
