//! etcd's client of the bank workload: one key per account (`faultline-bank/<n>`), transfers as
//! optimistic transactions, reads of the whole prefix.
//!
//! A transfer reads both balances with their `mod_revision`s and commits only if neither has
//! changed since (otherwise it retries), so a transfer is atomic and never overdraws. A read is
//! one range request, which etcd serves from one revision: a snapshot of every account.

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};
use faultline_workloads::bank::{BankClient, INSUFFICIENT_FUNDS};
use faultline_workloads::ClientError;

use super::client::EtcdClient;

/// The accounts' common prefix.
pub const PREFIX: &str = "faultline-bank/";
/// Attempts of a transfer that keeps losing its compare to concurrent transfers.
const ATTEMPTS: usize = 50;

fn account_key(account: i64) -> String {
    format!("{PREFIX}{account}")
}

impl EtcdClient {
    /// Every account's balance and mod revision, by account, from one snapshot.
    async fn accounts(
        &self,
        what: &str,
        options: GetOptions,
    ) -> Result<Vec<(i64, i64, i64)>, ClientError> {
        let mut client = self.client.clone();
        let response = self
            .request(what, client.get(PREFIX, Some(options.with_prefix())))
            .await?;
        let mut accounts = Vec::with_capacity(response.kvs().len());
        for kv in response.kvs() {
            let key = String::from_utf8_lossy(kv.key());
            let value = String::from_utf8_lossy(kv.value());
            let parsed = key
                .strip_prefix(PREFIX)
                .and_then(|a| a.parse().ok())
                .zip(value.parse().ok());
            let Some((account, balance)) = parsed else {
                return Err(ClientError::Definite(format!(
                    "{what} on {}: {key} holds {value:?}, not an account balance",
                    self.endpoint()
                )));
            };
            accounts.push((account, balance, kv.mod_revision()));
        }
        accounts.sort_unstable();
        Ok(accounts)
    }
}

impl BankClient for EtcdClient {
    async fn open(&self, accounts: i64, total: i64) -> Result<(), ClientError> {
        // Only the first client's transaction finds account 0 absent; the others change nothing.
        let puts: Vec<TxnOp> = (0..accounts)
            .map(|a| {
                let balance = if a == 0 { total } else { 0 };
                TxnOp::put(account_key(a), balance.to_string(), None)
            })
            .collect();
        let txn = Txn::new()
            .when([Compare::create_revision(
                account_key(0),
                CompareOp::Equal,
                0,
            )])
            .and_then(puts);
        let mut client = self.client.clone();
        self.request("open", client.txn(txn)).await.map(|_| ())
    }

    async fn transfer(&self, from: i64, to: i64, amount: i64) -> Result<(), ClientError> {
        for _ in 0..ATTEMPTS {
            // Nothing was written yet (every earlier compare failed): a failed read is definite.
            let accounts = self
                .accounts("transfer (read)", GetOptions::new())
                .await
                .map_err(|e| ClientError::Definite(e.to_string()))?;
            let find = |a: i64| accounts.iter().find(|(n, _, _)| *n == a).copied();
            let (Some((_, from_balance, from_rev)), Some((_, to_balance, to_rev))) =
                (find(from), find(to))
            else {
                return Err(ClientError::Definite(format!(
                    "transfer on {}: account {from} or {to} does not exist",
                    self.endpoint()
                )));
            };
            if from_balance < amount {
                return Err(ClientError::Definite(INSUFFICIENT_FUNDS.into()));
            }
            let txn = Txn::new()
                .when([
                    Compare::mod_revision(account_key(from), CompareOp::Equal, from_rev),
                    Compare::mod_revision(account_key(to), CompareOp::Equal, to_rev),
                ])
                .and_then([
                    TxnOp::put(account_key(from), (from_balance - amount).to_string(), None),
                    TxnOp::put(account_key(to), (to_balance + amount).to_string(), None),
                ]);
            let mut client = self.client.clone();
            if self.request("transfer", client.txn(txn)).await?.succeeded() {
                return Ok(());
            }
        }
        Err(ClientError::Definite(format!(
            "transfer on {}: lost the compare to concurrent transfers {ATTEMPTS} times",
            self.endpoint()
        )))
    }

    async fn read(&self) -> Result<Vec<(i64, i64)>, ClientError> {
        let accounts = self.accounts("read", self.read_options()).await?;
        Ok(accounts.into_iter().map(|(a, b, _)| (a, b)).collect())
    }
}
