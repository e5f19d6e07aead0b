//! etcd's clients of the counter and unique-ids workloads.
//!
//! etcd has no increment, so an add is an optimistic transaction, as applications write it:
//! read the counter and its `mod_revision`, then put the sum only if the key has not changed
//! since (an absent key has revision 0). A conflict retries; any error of the transaction is
//! returned as the register client sorts it (an error of the read before it proves nothing was
//! written, as every earlier attempt's compare failed).
//!
//! An id is the cluster revision of a put: etcd gives each write transaction its own revision,
//! from one Raft log, so two puts acknowledged with the same revision would mean two histories
//! of the log.

use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use faultline_workloads::counter::CounterClient;
use faultline_workloads::unique_ids::IdClient;
use faultline_workloads::ClientError;

use super::client::EtcdClient;

/// Where the counter lives.
pub const COUNTER_KEY: &str = "faultline-counter";
/// The key every id-generating put writes.
pub const IDS_KEY: &str = "faultline-ids";
/// Attempts of an add that keeps losing its compare to concurrent adds.
const ATTEMPTS: usize = 50;

impl EtcdClient {
    /// The counter's value and mod revision (0 and 0 when absent).
    async fn counter(&self, what: &str, options: etcd_client::GetOptions) -> Result<(i64, i64), ClientError> {
        let mut client = self.client.clone();
        let response = self
            .request(what, client.get(COUNTER_KEY, Some(options)))
            .await?;
        match response.kvs().first() {
            None => Ok((0, 0)),
            Some(kv) => {
                let text = String::from_utf8_lossy(kv.value());
                let value = text.parse().map_err(|_| {
                    ClientError::Definite(format!(
                        "{what} on {}: {COUNTER_KEY} holds {text:?}, not an integer",
                        self.endpoint()
                    ))
                })?;
                Ok((value, kv.mod_revision()))
            }
        }
    }
}

impl CounterClient for EtcdClient {
    async fn add(&self, amount: i64) -> Result<(), ClientError> {
        for _ in 0..ATTEMPTS {
            // A linearizable read: a stale one would only make the compare fail.
            let read = self
                .counter("add (read)", etcd_client::GetOptions::new())
                .await
                .map_err(|e| ClientError::Definite(e.to_string()))?;
            let (value, revision) = read;
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    COUNTER_KEY,
                    CompareOp::Equal,
                    revision,
                )])
                .and_then([TxnOp::put(COUNTER_KEY, (value + amount).to_string(), None)]);
            let mut client = self.client.clone();
            if self.request("add", client.txn(txn)).await?.succeeded() {
                return Ok(());
            }
        }
        Err(ClientError::Definite(format!(
            "add on {}: lost the compare to concurrent adds {ATTEMPTS} times",
            self.endpoint()
        )))
    }

    async fn read(&self) -> Result<i64, ClientError> {
        self.counter("read", self.read_options())
            .await
            .map(|(value, _)| value)
    }
}

impl IdClient for EtcdClient {
    async fn generate(&self) -> Result<i64, ClientError> {
        let mut client = self.client.clone();
        let response = self
            .request("generate", client.put(IDS_KEY, "", None))
            .await?;
        response
            .header()
            .map(|h| h.revision())
            .ok_or_else(|| {
                ClientError::Indefinite(format!(
                    "generate on {}: the put was acknowledged without a header",
                    self.endpoint()
                ))
            })
    }
}
