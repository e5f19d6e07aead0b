//! ZooKeeper's clients of the counter and unique-ids workloads, written as a ZooKeeper
//! application writes them: a counter is one znode updated by compare-and-set on its version,
//! an id is the sequence number of a new sequential znode.
//!
//! # Why an add is atomic
//! ZooKeeper has no increment. An add reads the counter (`/faultline-counter`, a decimal string)
//! with its version, then `setData`s the sum with that version: the leader applies the set only
//! if, when it orders it, the znode is still at that version, and every `setData` bumps the
//! version, so the version read identifies the value read and no other add can slip in between
//! (no lost update). An absent counter is 0, and the first add `create`s it, which succeeds only
//! while it is still absent. A rejected attempt (`BadVersion`, `NodeExists`: another add came
//! first) applied nothing and is retried, at most [`ATTEMPTS`] times within the request
//! deadline. The add's read needs no `sync`: a stale version only makes the set fail, and the
//! rejection reaches the client after the server has applied everything before it.
//!
//! A read is `getData` (an absent counter reads 0), after a pipelined `sync` with
//! `--zk-sync-reads`, exactly as the register client reads: without it, a follower answers from
//! its own state, which may miss acknowledged adds.
//!
//! # Why an id is unique
//! `create` of `/faultline-ids/id-` in mode `PERSISTENT_SEQUENTIAL` appends the parent's child
//! version (ten digits): the leader orders the creates, and each one bumps that version, so no
//! two creates get the same number. The znodes are kept (ids must persist: an ephemeral one
//! would vanish with its session, and nothing in the workload needs them deleted; a run makes a
//! few thousand). The sequence number is parsed from the returned path by `zookeeper-client`
//! ([`zk::CreateSequence`]); a path without one is its `UnexpectedError`, which comes after the
//! znode was created: `Indefinite`, like any doubt about a create. The parent is created on the
//! first `NoNode`.
//!
//! # Why an error is `Definite` or `Indefinite`
//! As for the register ([`super::client`], the same `classify`): a rejection (`BadVersion`,
//! `NoNode`, `NodeExists`, ...), an expired session, no session at all are `Definite`; a lost
//! connection or our deadline after a `setData`/`create` was sent are `Indefinite`. A failure of
//! an add's reading half is `Definite` whatever it is: every earlier attempt of that add was
//! rejected, so nothing of it has been applied. Reads change nothing: `Definite`.

use faultline_workloads::counter::CounterClient;
use faultline_workloads::unique_ids::IdClient;
use faultline_workloads::ClientError;
use tokio::time::timeout_at;
use zookeeper_client as zk;

use super::client::{classify, ZkClient};

/// The counter's znode.
pub const COUNTER_ZNODE: &str = "/faultline-counter";
/// The parent of the ids' sequential znodes.
pub const IDS_ZNODE: &str = "/faultline-ids";
/// The path every id's `create` asks for; ZooKeeper appends the sequence number.
pub const ID_PREFIX: &str = "/faultline-ids/id-";
/// Attempts of an add that keeps losing its compare-and-set to concurrent adds.
pub const ATTEMPTS: usize = 50;

/// How the counter and the balances are stored: a decimal string, as the register stores its
/// values (readable with `zkCli.sh get`).
pub fn encode(value: i64) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// The integer a znode holds, or `None` if it holds something else (not written by faultline).
pub fn decode(data: &[u8]) -> Option<i64> {
    std::str::from_utf8(data).ok()?.parse().ok()
}

/// `PERSISTENT` znodes, open to everyone, like the register's.
pub(super) fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

impl ZkClient {
    /// The counter's value in `data`; anything else is `Definite` (nothing was written).
    fn counter_value(&self, what: &str, data: &[u8]) -> Result<i64, ClientError> {
        decode(data).ok_or_else(|| {
            ClientError::Definite(format!(
                "{what} {COUNTER_ZNODE} on {}: the znode holds {:?}, not an integer",
                self.server(),
                String::from_utf8_lossy(data)
            ))
        })
    }
}

impl CounterClient for ZkClient {
    async fn add(&self, amount: i64) -> Result<(), ClientError> {
        let deadline = self.deadline();
        let session = timeout_at(deadline, self.session())
            .await
            .map_err(|_| ClientError::Definite(self.timed_out("add", COUNTER_ZNODE)))??;
        for _ in 0..ATTEMPTS {
            // The reading half: nothing of this add has been applied yet.
            let read = match timeout_at(deadline, self.get(&session, COUNTER_ZNODE, false)).await {
                Err(_) => {
                    return Err(ClientError::Definite(
                        self.timed_out("add (reading)", COUNTER_ZNODE),
                    ))
                }
                Ok(Err(e)) => {
                    return Err(ClientError::Definite(format!(
                        "add {COUNTER_ZNODE} on {} (reading): {e}",
                        self.server()
                    )))
                }
                Ok(Ok(read)) => read,
            };
            let written = match read {
                None => {
                    let create = session.create(COUNTER_ZNODE, &encode(amount), &persistent());
                    timeout_at(deadline, create).await.map(|r| r.map(drop))
                }
                Some((data, stat)) => {
                    let sum = self.counter_value("add", &data)? + amount;
                    let set = session.set_data(COUNTER_ZNODE, &encode(sum), Some(stat.version));
                    timeout_at(deadline, set).await.map(|r| r.map(drop))
                }
            };
            match written {
                Err(_) => {
                    return Err(ClientError::Indefinite(
                        self.timed_out("add", COUNTER_ZNODE),
                    ))
                }
                Ok(Ok(())) => return Ok(()),
                // Another add came first; this attempt applied nothing.
                Ok(Err(zk::Error::BadVersion | zk::Error::NodeExists)) => continue,
                Ok(Err(e)) => return Err(classify("add", COUNTER_ZNODE, self.server(), e)),
            }
        }
        Err(ClientError::Definite(format!(
            "add {COUNTER_ZNODE} on {}: lost the compare-and-set to concurrent adds {ATTEMPTS} \
             times",
            self.server()
        )))
    }

    async fn read(&self) -> Result<i64, ClientError> {
        let deadline = self.deadline();
        let session = timeout_at(deadline, self.session())
            .await
            .map_err(|_| ClientError::Definite(self.timed_out("read", COUNTER_ZNODE)))??;
        let got = self.get(&session, COUNTER_ZNODE, self.sync_reads);
        match timeout_at(deadline, got).await {
            Err(_) => Err(ClientError::Definite(self.timed_out("read", COUNTER_ZNODE))),
            Ok(Err(e)) => Err(ClientError::Definite(format!(
                "read {COUNTER_ZNODE} on {}: {e}",
                self.server()
            ))),
            Ok(Ok(None)) => Ok(0),
            Ok(Ok(Some((data, _)))) => self.counter_value("read", &data),
        }
    }
}

impl IdClient for ZkClient {
    async fn generate(&self) -> Result<i64, ClientError> {
        let deadline = self.deadline();
        let session = timeout_at(deadline, self.session())
            .await
            .map_err(|_| ClientError::Definite(self.timed_out("generate", ID_PREFIX)))??;
        let sequential = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
        let mut made_parent = false;
        loop {
            let create = session.create(ID_PREFIX, &[], &sequential);
            match timeout_at(deadline, create).await {
                Err(_) => {
                    return Err(ClientError::Indefinite(
                        self.timed_out("generate", ID_PREFIX),
                    ))
                }
                Ok(Ok((_, sequence))) => return Ok(sequence.into_i64()),
                // No parent yet: the create was refused, nothing was used up.
                Ok(Err(zk::Error::NoNode)) if !made_parent => {
                    made_parent = true;
                    let parent = session.create(IDS_ZNODE, &[], &persistent());
                    match timeout_at(deadline, parent).await {
                        Err(_) => {
                            return Err(ClientError::Indefinite(
                                self.timed_out("generate (creating the parent)", IDS_ZNODE),
                            ))
                        }
                        Ok(Ok(_) | Err(zk::Error::NodeExists)) => continue,
                        Ok(Err(e)) => {
                            return Err(classify("generate", IDS_ZNODE, self.server(), e))
                        }
                    }
                }
                Ok(Err(e)) => return Err(classify("generate", ID_PREFIX, self.server(), e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_balances_are_decimal_strings() {
        for v in [0, 7, -3, i64::MAX, i64::MIN] {
            assert_eq!(decode(&encode(v)), Some(v));
        }
        assert_eq!(encode(42), b"42");
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"4 2"), None);
        assert_eq!(decode(&[0xff, 0x31]), None);
    }

    /// A rejected compare-and-set is retried, not reported; what else can end an add is sorted
    /// by the register's rule: a lost connection or a malformed reply after the set was sent
    /// may hide an applied add.
    #[test]
    fn an_add_or_a_create_in_doubt_is_indefinite_and_a_rejection_definite() {
        let sorted = |e| classify("add", COUNTER_ZNODE, "10.77.0.11:2181", e);
        assert!(matches!(
            sorted(zk::Error::ConnectionLoss),
            ClientError::Indefinite(_)
        ));
        // What zookeeper-client returns for a sequential path without a number.
        let malformed = zk::Error::UnexpectedError(
            "sequential node get no i32 path /faultline-ids/id-x".into(),
        );
        assert!(matches!(sorted(malformed), ClientError::Indefinite(_)));
        for e in [
            zk::Error::NoNode,
            zk::Error::SessionExpired,
            zk::Error::NodeExists,
        ] {
            assert!(matches!(sorted(e), ClientError::Definite(_)));
        }
    }

    #[test]
    fn ids_are_children_of_their_own_parent() {
        assert_eq!(ID_PREFIX.rsplit_once('/').unwrap().0, IDS_ZNODE);
        assert!(!COUNTER_ZNODE.starts_with(IDS_ZNODE));
    }
}
