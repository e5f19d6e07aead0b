//! PostgreSQL's clients of the counter, unique-ids and bank workloads: each operation is one
//! transaction at `--isolation`, like the transactional workloads' (same connections, same
//! sorting of errors; see [`super::client`]), over the tables of [`super::config::SCHEMA`].
//!
//! - counter: an add is one upsert of `v + amount` (it takes the row's lock, so no add is lost
//!   at any level); a read selects the row.
//! - unique-ids: an id is the identity of a row inserted and committed.
//! - bank: a transfer reads both balances and writes both (see `client::transfer`), so the
//!   isolation level decides whether concurrent transfers lose updates; a read is one
//!   `SELECT` of every account, one snapshot at any level.

use faultline_workloads::bank::BankClient;
use faultline_workloads::counter::CounterClient;
use faultline_workloads::unique_ids::IdClient;
use faultline_workloads::ClientError;

use super::client::{PgClient, Work};

impl CounterClient for PgClient {
    async fn add(&self, amount: i64) -> Result<(), ClientError> {
        self.perform(Work::Add(amount)).await
    }

    async fn read(&self) -> Result<i64, ClientError> {
        let mut value = 0;
        self.perform(Work::ReadCounter(&mut value)).await?;
        Ok(value)
    }
}

impl IdClient for PgClient {
    async fn generate(&self) -> Result<i64, ClientError> {
        let mut id = 0;
        self.perform(Work::Generate(&mut id)).await?;
        Ok(id)
    }
}

impl BankClient for PgClient {
    async fn open(&self, accounts: i64, total: i64) -> Result<(), ClientError> {
        self.perform(Work::OpenAccounts { accounts, total }).await
    }

    async fn transfer(&self, from: i64, to: i64, amount: i64) -> Result<(), ClientError> {
        self.perform(Work::Transfer { from, to, amount }).await
    }

    async fn read(&self) -> Result<Vec<(i64, i64)>, ClientError> {
        let mut accounts = Vec::new();
        self.perform(Work::ReadAccounts(&mut accounts)).await?;
        Ok(accounts)
    }
}
