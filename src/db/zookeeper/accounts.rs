//! ZooKeeper's client of the bank workload: one znode per account (`/faultline-bank/<n>`, the
//! balance as a decimal string), transfers as one `multi` of two version-checked `setData`s,
//! reads as one `multiRead`.
//!
//! # Why each operation is atomic
//! - `open`: one `multi` creates the parent and every account; a `multi` is applied whole or
//!   not at all, so the accounts appear together, with the bank's whole total in account 0. A
//!   second `open` (every worker opens once) fails on the first `create` with `NodeExists`,
//!   which proves an earlier `multi` of the same znodes was applied: the bank is open, `Ok`.
//! - `transfer`: reads both balances with their versions (one `multiRead`, after a `sync`, so
//!   that a refusal for insufficient funds is about the current balance), then one `multi` of
//!   `setData(from, balance - amount, version)` and `setData(to, balance + amount, version)`.
//!   The leader applies it only if neither znode changed since the read, and both sets or
//!   neither: money is neither created nor lost, and a source account never goes below zero.
//!   `BadVersion` (another transfer came first) applied nothing and is retried, at most
//!   [`ATTEMPTS`] times within the request deadline.
//! - `read`: `getChildren` of the parent names the accounts, then one `multiRead` gets the
//!   children again and every account's data. A server runs a `multiRead` as one request while
//!   no write is being applied (ZooKeeper's `CommitProcessor` lets no read run alongside a
//!   write), so the balances come from one state of the tree: a snapshot, whose total is the
//!   bank's. The accounts never change after `open`; children that differ between the two
//!   requests would be an error. With `--zk-sync-reads` a `sync` goes first; without it the
//!   snapshot may be old (a follower's state), but it is still one state, so the total holds.
//!
//! # Why an error is `Definite` or `Indefinite`
//! As for the register ([`super::client`], the same `classify`): rejections (`BadVersion`,
//! `NoNode`, `NodeExists`, ...), an expired session and no session are `Definite`; a lost
//! connection or our deadline after a `multi` was sent are `Indefinite`. A failure of a
//! transfer's reading half is `Definite` (every earlier attempt was rejected), and so is
//! [`INSUFFICIENT_FUNDS`], which is decided before anything is sent. An `open` in doubt changes
//! no balance (the workload records it as a failed operation either way).

use faultline_workloads::bank::{BankClient, INSUFFICIENT_FUNDS};
use faultline_workloads::ClientError;
use tokio::time::timeout_at;
use zookeeper_client as zk;

use super::client::{classify, ZkClient};
use super::counting::{decode, encode, persistent};

/// The accounts' parent znode.
pub const BANK_ZNODE: &str = "/faultline-bank";
/// Attempts of a transfer that keeps losing its check-and-set to concurrent transfers.
pub const ATTEMPTS: usize = 50;

/// The znode of `account`.
pub fn account_znode(account: i64) -> String {
    format!("{BANK_ZNODE}/{account}")
}

/// The account a child of [`BANK_ZNODE`] is, or `None` for a name faultline never makes.
pub fn account_of(child: &str) -> Option<i64> {
    let account: i64 = child.parse().ok()?;
    (account >= 0 && account.to_string() == child).then_some(account)
}

/// The balance and version of each `getData` of a `multiRead`, in order; `None` for an absent
/// znode. Any other failure of one read, or a result of another kind, is `Err`.
fn balances(results: Vec<zk::MultiReadResult>) -> Result<Vec<Option<(i64, i32)>>, String> {
    results
        .into_iter()
        .map(|r| match r {
            zk::MultiReadResult::Data { data, stat } => decode(&data)
                .map(|b| Some((b, stat.version)))
                .ok_or_else(|| {
                    format!(
                        "a balance of {:?}, not an integer",
                        String::from_utf8_lossy(&data)
                    )
                }),
            zk::MultiReadResult::Error {
                err: zk::Error::NoNode,
            } => Ok(None),
            zk::MultiReadResult::Error { err } => Err(err.to_string()),
            other => Err(format!("{other:?} where account data was expected")),
        })
        .collect()
}

impl ZkClient {
    async fn bank_session(
        &self,
        what: &str,
        deadline: tokio::time::Instant,
    ) -> Result<zk::Client, ClientError> {
        timeout_at(deadline, self.session())
            .await
            .map_err(|_| ClientError::Definite(self.timed_out(what, BANK_ZNODE)))?
    }

    /// `sync` (when `sync` is set) and one `multiRead` of `accounts`' data, pipelined.
    async fn read_accounts(
        &self,
        session: &zk::Client,
        accounts: &[i64],
        sync: bool,
    ) -> Result<Vec<Option<(i64, i32)>>, String> {
        let synced = sync.then(|| session.sync(BANK_ZNODE));
        let mut reader = session.new_multi_reader();
        for a in accounts {
            reader
                .add_get_data(&account_znode(*a))
                .map_err(|e| e.to_string())?;
        }
        let got = reader.commit();
        if let Some(synced) = synced {
            synced.await.map_err(|e| e.to_string())?;
        }
        balances(got.await.map_err(|e| e.to_string())?)
    }

    /// Every account and its balance, from one snapshot (see the module docs).
    async fn snapshot(&self, session: &zk::Client) -> Result<Vec<(i64, i64)>, String> {
        let synced = self.sync_reads.then(|| session.sync(BANK_ZNODE));
        let listed = session.get_children(BANK_ZNODE);
        if let Some(synced) = synced {
            synced.await.map_err(|e| e.to_string())?;
        }
        let children = match listed.await {
            Ok((children, _)) => children,
            // Not opened, as far as this server knows: no account to show.
            Err(zk::Error::NoNode) => return Ok(Vec::new()),
            Err(e) => return Err(e.to_string()),
        };
        let mut accounts = Vec::with_capacity(children.len());
        for child in &children {
            let account = account_of(child)
                .ok_or_else(|| format!("{BANK_ZNODE}/{child} is not an account"))?;
            accounts.push(account);
        }
        accounts.sort_unstable();
        let mut reader = session.new_multi_reader();
        reader
            .add_get_children(BANK_ZNODE)
            .map_err(|e| e.to_string())?;
        for a in &accounts {
            reader
                .add_get_data(&account_znode(*a))
                .map_err(|e| e.to_string())?;
        }
        let mut results = reader.commit().await.map_err(|e| e.to_string())?;
        if results.is_empty() {
            return Err("an empty multiRead reply".into());
        }
        match results.remove(0) {
            zk::MultiReadResult::Children {
                children: mut again,
            } => {
                let mut before = children.clone();
                before.sort_unstable();
                again.sort_unstable();
                if again != before {
                    return Err(format!(
                        "the accounts changed between two reads: {before:?}, then {again:?}"
                    ));
                }
            }
            other => return Err(format!("{other:?} where the accounts were expected")),
        }
        let read = balances(results)?;
        accounts
            .iter()
            .zip(read)
            .map(|(a, b)| {
                b.map(|(balance, _)| (*a, balance))
                    .ok_or_else(|| format!("account {a} listed but absent in the same snapshot"))
            })
            .collect()
    }
}

impl BankClient for ZkClient {
    async fn open(&self, accounts: i64, total: i64) -> Result<(), ClientError> {
        let deadline = self.deadline();
        let session = self.bank_session("open", deadline).await?;
        let mut multi = session.new_multi_writer();
        let mut add = |path: &str, data: &[u8]| {
            multi
                .add_create(path, data, &persistent())
                .map_err(|e| classify("open", path, self.server(), e))
        };
        add(BANK_ZNODE, &[])?;
        for a in 0..accounts {
            let balance = if a == 0 { total } else { 0 };
            add(&account_znode(a), &encode(balance))?;
        }
        match timeout_at(deadline, multi.commit()).await {
            Err(_) => Err(ClientError::Indefinite(self.timed_out("open", BANK_ZNODE))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => match zk::Error::from(e) {
                // Only this multi creates these znodes: the bank is open.
                zk::Error::NodeExists => Ok(()),
                e => Err(classify("open", BANK_ZNODE, self.server(), e)),
            },
        }
    }

    async fn transfer(&self, from: i64, to: i64, amount: i64) -> Result<(), ClientError> {
        let what = format!("transfer {from}->{to}");
        let deadline = self.deadline();
        let session = self.bank_session(&what, deadline).await?;
        let (from_path, to_path) = (account_znode(from), account_znode(to));
        for _ in 0..ATTEMPTS {
            // The reading half: nothing of this transfer has been applied yet.
            let read = timeout_at(deadline, self.read_accounts(&session, &[from, to], true))
                .await
                .map_err(|_| {
                    let what = format!("{what} (reading)");
                    ClientError::Definite(self.timed_out(&what, BANK_ZNODE))
                })?
                .map_err(|e| {
                    ClientError::Definite(format!(
                        "{what} {BANK_ZNODE} on {} (reading): {e}",
                        self.server()
                    ))
                })?;
            let [Some((from_balance, from_version)), Some((to_balance, to_version))] = read[..]
            else {
                return Err(ClientError::Definite(format!(
                    "{what} on {}: account {from} or {to} does not exist",
                    self.server()
                )));
            };
            if from_balance < amount {
                return Err(ClientError::Definite(INSUFFICIENT_FUNDS.into()));
            }
            let mut multi = session.new_multi_writer();
            let sets = [
                (&from_path, from_balance - amount, from_version),
                (&to_path, to_balance + amount, to_version),
            ];
            for (path, balance, version) in sets {
                multi
                    .add_set_data(path, &encode(balance), Some(version))
                    .map_err(|e| classify(&what, path, self.server(), e))?;
            }
            match timeout_at(deadline, multi.commit()).await {
                Err(_) => return Err(ClientError::Indefinite(self.timed_out(&what, BANK_ZNODE))),
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => match zk::Error::from(e) {
                    // Another transfer came first; this multi applied nothing.
                    zk::Error::BadVersion => continue,
                    e => return Err(classify(&what, BANK_ZNODE, self.server(), e)),
                },
            }
        }
        Err(ClientError::Definite(format!(
            "{what} on {}: lost the check-and-set to concurrent transfers {ATTEMPTS} times",
            self.server()
        )))
    }

    async fn read(&self) -> Result<Vec<(i64, i64)>, ClientError> {
        let deadline = self.deadline();
        let session = self.bank_session("read", deadline).await?;
        match timeout_at(deadline, self.snapshot(&session)).await {
            Err(_) => Err(ClientError::Definite(self.timed_out("read", BANK_ZNODE))),
            Ok(Err(e)) => Err(ClientError::Definite(format!(
                "read {BANK_ZNODE} on {}: {e}",
                self.server()
            ))),
            Ok(Ok(accounts)) => Ok(accounts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_numbered_children_of_the_bank() {
        assert_eq!(account_znode(3), "/faultline-bank/3");
        assert_eq!(account_of("7"), Some(7));
        for odd in ["", "-1", "07", "+7", "x", "id-0000000001"] {
            assert_eq!(account_of(odd), None, "{odd}");
        }
    }

    #[test]
    fn a_multi_read_gives_balances_with_versions_and_none_for_an_absent_account() {
        let stat = |version| zk::Stat {
            czxid: 2,
            mzxid: 9,
            pzxid: 2,
            ctime: 0,
            mtime: 0,
            version,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 2,
            num_children: 0,
        };
        let read = balances(vec![
            zk::MultiReadResult::Data {
                data: encode(95),
                stat: stat(4),
            },
            zk::MultiReadResult::Error {
                err: zk::Error::NoNode,
            },
        ])
        .unwrap();
        assert_eq!(read, vec![Some((95, 4)), None]);
        let e = balances(vec![zk::MultiReadResult::Data {
            data: b"ninety".to_vec(),
            stat: stat(1),
        }])
        .unwrap_err();
        assert!(e.contains("\"ninety\""), "{e}");
        assert!(balances(vec![zk::MultiReadResult::Error {
            err: zk::Error::ConnectionLoss
        }])
        .is_err());
    }

    /// How a failed `multi` reaches the sorting: the failing operation's own error.
    #[test]
    fn a_multi_rejected_by_one_operation_is_definite_and_a_lost_one_indefinite() {
        let rejected = zk::MultiWriteError::OperationFailed {
            index: 1,
            source: zk::Error::BadVersion,
        };
        let e = zk::Error::from(rejected);
        assert_eq!(e, zk::Error::BadVersion);
        assert!(matches!(
            classify("transfer 1->2", BANK_ZNODE, "10.77.0.11:2181", e),
            ClientError::Definite(_)
        ));
        let exists = zk::MultiWriteError::OperationFailed {
            index: 0,
            source: zk::Error::NodeExists,
        };
        assert_eq!(zk::Error::from(exists), zk::Error::NodeExists);
        let lost = zk::MultiWriteError::RequestFailed {
            source: zk::Error::ConnectionLoss,
        };
        assert!(matches!(
            classify("open", BANK_ZNODE, "10.77.0.11:2181", lost.into()),
            ClientError::Indefinite(_)
        ));
    }
}
