//! The ZooKeeper client of the register workload: one session with one server, registers on
//! znodes (`/k0`, `/k1`, ...) holding decimal strings.
//!
//! The session is bound to the worker's own node and never fails over (the connect string names
//! one server), as in Jepsen: a follower cut off from the leader keeps answering reads from its
//! local state until it notices, and those answers must reach the history. A session that
//! expires (its server was cut off or paused for longer than the session timeout) is replaced
//! by a new one on the next operation.
//!
//! # Operations
//! - `read`: `getData`; an absent znode reads as nil. ZooKeeper serves it from the server's
//!   local state, which is sequentially consistent, not linearizable. With `--zk-sync-reads` a
//!   `sync` is sent first, pipelined in the same session: the server answers the `getData` only
//!   after it has caught up with the leader as of the `sync` (ZooKeeper's own recipe for reading
//!   the latest value; not a quorum read, so a leader that has lost its quorum without noticing
//!   yet could still answer it).
//! - `write`: `setData` without a version; on `NoNode`, `create`; on `NodeExists` (created
//!   meanwhile), `setData` again. Each retry follows a rejection, which applied nothing.
//! - `cas`: `sync` + `getData` gives the value and its version; a value other than `from` (or no
//!   znode) is a failed compare; otherwise `setData` with that version. It is linearizable: every
//!   `setData` bumps the version, so the version read identifies the value read, and the
//!   conditional `setData` succeeds only if, when the leader orders it, the znode is still at
//!   that version, that is, still holds `from`: the cas takes effect at that point. The `sync`
//!   makes the failed-compare path current too (a compare against a stale local value would
//!   report a failure that never held). On `BadVersion` (changed between the read and the set)
//!   the cas reads again: the set was rejected, so nothing has happened yet.
//!
//! # Why an error is `Definite` or `Indefinite`
//! A request is `Definite` only when it certainly did not change the znode:
//! - No session could be made (connection refused, nothing answers): nothing was sent.
//! - ZooKeeper's rejections: `NoNode`, `NodeExists`, `BadVersion`, `NoAuth`, `InvalidAcl`,
//!   bad arguments, `Throttled`, `QuotaExceeded`, `Unimplemented`, ...: the request was refused
//!   before it was applied.
//! - `SessionExpired`: either the request was still queued in the client when the session was
//!   declared dead (never sent), or the server answered it with "session expired", which it does
//!   before proposing anything; expiry is final, and a session's replies come in order, so every
//!   later request of that session was refused too. `ClientClosed` likewise: never sent.
//! - Any failure of the reading half of a cas (its `sync` and `getData`, our deadline included):
//!   the `setData` was not sent.
//!
//! Everything else is `Indefinite`: `ConnectionLoss` with a request written to the socket (the
//! server may have forwarded it, and the leader committed it), our own deadline with a
//! `setData`/`create` sent (or queued while disconnected: the client sends queued requests when
//! it reconnects, so such a write may still happen later), `SessionMoved`, and anything
//! unforeseen.
//!
//! Reads change nothing, so the workload records any failed read as `fail`.

use std::time::Duration;

use faultline_workloads::register::RegisterClient;
use faultline_workloads::ClientError;
use tokio::sync::Mutex;
use tokio::time::{timeout_at, Instant};
use zookeeper_client as zk;

/// How long to wait before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Each operation, reconnecting included.
    pub request: Duration,
    /// Establishing a session.
    pub connect: Duration,
    /// The session timeout asked of the server (it keeps it within 2 to 20 ticks).
    pub session: Duration,
}

/// A register client bound to one ZooKeeper server.
pub struct ZkClient {
    server: String,
    pub(super) sync_reads: bool,
    timeouts: Timeouts,
    /// The current session; replaced once it has expired.
    session: Mutex<zk::Client>,
}

impl std::fmt::Debug for ZkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkClient")
            .field("server", &self.server)
            .field("sync_reads", &self.sync_reads)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// Opens a session with `server` (`ip:port`) and no other. Nothing is asked of the data, so
/// every error is `Definite`.
async fn open_session(server: &str, timeouts: Timeouts) -> Result<zk::Client, ClientError> {
    let connecting = zk::Client::connector()
        .with_session_timeout(timeouts.session)
        // One server only: give up when it has been tried, rather than cycling until the
        // session timeout.
        .with_fail_eagerly()
        .connect(server);
    match tokio::time::timeout(timeouts.connect, connecting).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(ClientError::Definite(format!(
            "no ZooKeeper session with {server}: {e}"
        ))),
        Err(_) => Err(ClientError::Definite(format!(
            "no ZooKeeper session with {server} within {:?}",
            timeouts.connect
        ))),
    }
}

impl ZkClient {
    /// Connects to `server` (`ip:port`). Bounded by `timeouts.connect`; every error is
    /// `Definite`. A server cut off from the leader accepts the TCP connection but cannot
    /// create the session (the leader must), so this times out there.
    pub async fn connect(
        server: &str,
        sync_reads: bool,
        timeouts: Timeouts,
    ) -> Result<ZkClient, ClientError> {
        let session = open_session(server, timeouts).await?;
        Ok(ZkClient {
            server: server.to_string(),
            sync_reads,
            timeouts,
            session: Mutex::new(session),
        })
    }

    /// The server this client talks to.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The session to use now: the current one, or a new one if it has ended (expired,
    /// closed). Failing to make one is `Definite`: nothing was sent.
    pub(super) async fn session(&self) -> Result<zk::Client, ClientError> {
        let mut current = self.session.lock().await;
        if current.state().is_terminated() {
            *current = open_session(&self.server, self.timeouts).await?;
        }
        Ok(current.clone())
    }

    pub(super) fn deadline(&self) -> Instant {
        Instant::now() + self.timeouts.request
    }

    pub(super) fn timed_out(&self, what: &str, key: &str) -> String {
        format!(
            "{what} {key} on {}: no answer within {:?}",
            self.server, self.timeouts.request
        )
    }

    /// `getData`, after a pipelined `sync` when `sync` is set. `None` for an absent znode.
    pub(super) async fn get(
        &self,
        session: &zk::Client,
        path: &str,
        sync: bool,
    ) -> Result<Option<(Vec<u8>, zk::Stat)>, zk::Error> {
        // Both requests are sent as their futures are created, in this order; the server
        // answers a session's requests in order, so the read waits for the sync.
        let synced = sync.then(|| session.sync(path));
        let got = session.get_data(path);
        if let Some(synced) = synced {
            synced.await?;
        }
        match got.await {
            Ok(found) => Ok(Some(found)),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn value(&self, key: &str, data: &[u8]) -> Result<i64, ClientError> {
        let text = String::from_utf8_lossy(data);
        text.parse().map_err(|_| {
            ClientError::Definite(format!(
                "read {key} on {}: the znode holds {text:?}, not an integer",
                self.server
            ))
        })
    }

    /// Sets the znode, creating it if absent. Every retry follows a rejection.
    async fn put(&self, session: &zk::Client, path: &str, data: &[u8]) -> Result<(), zk::Error> {
        let create = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        loop {
            match session.set_data(path, data, None).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NoNode) => match session.create(path, data, &create).await {
                    Ok(_) => return Ok(()),
                    Err(zk::Error::NodeExists) => continue,
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
    }
}

impl RegisterClient for ZkClient {
    async fn read(&self, key: &str) -> Result<Option<i64>, ClientError> {
        let path = znode(key)?;
        let deadline = self.deadline();
        let session = timeout_at(deadline, self.session())
            .await
            .map_err(|_| ClientError::Definite(self.timed_out("read", key)))??;
        match timeout_at(deadline, self.get(&session, &path, self.sync_reads)).await {
            Err(_) => Err(ClientError::Indefinite(self.timed_out("read", key))),
            Ok(Err(e)) => Err(classify("read", key, &self.server, e)),
            Ok(Ok(None)) => Ok(None),
            Ok(Ok(Some((data, _)))) => self.value(key, &data).map(Some),
        }
    }

    async fn write(&self, key: &str, value: i64) -> Result<(), ClientError> {
        let path = znode(key)?;
        let deadline = self.deadline();
        let session = timeout_at(deadline, self.session())
            .await
            .map_err(|_| ClientError::Definite(self.timed_out("write", key)))??;
        let data = value.to_string();
        match timeout_at(deadline, self.put(&session, &path, data.as_bytes())).await {
            Err(_) => Err(ClientError::Indefinite(self.timed_out("write", key))),
            Ok(Err(e)) => Err(classify("write", key, &self.server, e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    async fn cas(&self, key: &str, from: i64, to: i64) -> Result<bool, ClientError> {
        let path = znode(key)?;
        let deadline = self.deadline();
        let session = timeout_at(deadline, self.session())
            .await
            .map_err(|_| ClientError::Definite(self.timed_out("cas", key)))??;
        let data = to.to_string();
        loop {
            // The reading half: nothing of this cas has been applied yet.
            let read = match timeout_at(deadline, self.get(&session, &path, true)).await {
                Err(_) => return Err(ClientError::Definite(self.timed_out("cas (reading)", key))),
                Ok(Err(e)) => {
                    return Err(ClientError::Definite(format!(
                        "cas {key} on {} (reading): {e}",
                        self.server
                    )))
                }
                Ok(Ok(read)) => read,
            };
            let Some((current, stat)) = read else {
                return Ok(false);
            };
            if self.value(key, &current)? != from {
                return Ok(false);
            }
            let set = session.set_data(&path, data.as_bytes(), Some(stat.version));
            match timeout_at(deadline, set).await {
                Err(_) => return Err(ClientError::Indefinite(self.timed_out("cas", key))),
                Ok(Ok(_)) => return Ok(true),
                Ok(Err(zk::Error::BadVersion)) => continue,
                Ok(Err(e)) => return Err(classify("cas", key, &self.server, e)),
            }
        }
    }
}

/// The znode of register `key`: `/key`. A key with a `/` would name a child of another znode.
fn znode(key: &str) -> Result<String, ClientError> {
    if key.is_empty() || key.contains('/') || key == "zookeeper" {
        return Err(ClientError::Definite(format!(
            "register key {key:?} cannot be a top-level znode name"
        )));
    }
    Ok(format!("/{key}"))
}

/// Sorts a ZooKeeper error by what it proves about the request (see the module docs).
pub(super) fn classify(what: &str, key: &str, server: &str, error: zk::Error) -> ClientError {
    let message = format!("{what} {key} on {server}: {error}");
    if is_definite(&error) {
        ClientError::Definite(message)
    } else {
        ClientError::Indefinite(message)
    }
}

/// Whether the error proves the request was not applied.
fn is_definite(error: &zk::Error) -> bool {
    use zk::Error::*;
    matches!(
        error,
        NoNode
            | NodeExists
            | BadVersion
            | NotEmpty
            | NoChildrenForEphemerals
            | NoAuth
            | InvalidAcl
            | AuthFailed
            | BadArguments(_)
            | NotReadOnly
            | Throttled
            | QuotaExceeded
            | MarshallingError
            | Unimplemented
            | NoHosts
            | SessionExpired
            | ClientClosed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_and_timeouts_are_indefinite() {
        for e in [
            zk::Error::ConnectionLoss,
            zk::Error::Timeout,
            zk::Error::SessionMoved,
            zk::Error::UnexpectedError("reply for an unknown request".into()),
        ] {
            assert!(!is_definite(&e), "{e}");
            assert!(matches!(
                classify("write", "k1", "10.77.0.11:2181", e),
                ClientError::Indefinite(_)
            ));
        }
    }

    #[test]
    fn rejections_and_expired_sessions_are_definite() {
        for e in [
            zk::Error::BadVersion,
            zk::Error::NoNode,
            zk::Error::NodeExists,
            zk::Error::SessionExpired,
            zk::Error::Throttled,
            zk::Error::NoHosts,
        ] {
            assert!(is_definite(&e), "{e}");
        }
        let ClientError::Definite(m) =
            classify("cas", "k3", "10.77.0.12:2181", zk::Error::BadVersion)
        else {
            panic!("definite");
        };
        assert_eq!(m, "cas k3 on 10.77.0.12:2181: mismatch version");
    }

    #[test]
    fn a_register_is_a_top_level_znode() {
        assert_eq!(znode("k7").ok().as_deref(), Some("/k7"));
        assert!(znode("a/b").is_err());
        assert!(znode("zookeeper").is_err());
        assert!(znode("").is_err());
    }
}
