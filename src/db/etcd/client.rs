//! The etcd client of the register workload: one connection to one etcd member over gRPC.
//!
//! Values are stored as decimal strings. A `cas` is one transaction: compare the key's value with
//! `from`, and only then put `to`. Reads are linearizable (a quorum read through the leader) or
//! serializable (served from the member's local state without a quorum: fast, but a member cut
//! off from the majority answers with stale values, which is exactly what a test must be able to
//! catch).
//!
//! # Why an error is `Definite` or `Indefinite`
//! A wrong `Definite` makes the checker believe a write that took effect never happened, and it
//! may then report a correct store as broken (or hide a real bug). So an error is `Definite` only
//! when it proves the request was not applied; everything else is `Indefinite`:
//! - The connection to the member could not be established for this request (connection
//!   refused, connect timeout: tonic's `ConnectError` in the status' source chain): the request
//!   was never written to any socket. `Definite`.
//! - gRPC `InvalidArgument`: etcd validates requests (empty key, duplicate keys in a transaction,
//!   too many operations, request too large) before proposing them to Raft. `Definite`.
//! - `etcdserver: too many requests` (the applied index lags the committed index too much) and
//!   `database space exceeded` (the quota check): both are refused before the proposal; the
//!   latter, if raised when applying, still means the entry was not applied. `Definite`.
//! - Our own timeout, a dropped connection or stream reset mid-request, `Cancelled`,
//!   `DeadlineExceeded`, and etcd's `Unavailable` statuses (`request timed out`, `leader
//!   changed`, `timed out due to previous leader failure`, `server stopped`, ...): the proposal
//!   may already be in the Raft log and be committed later. `Indefinite`.
//! - `etcdserver: no leader` is `Indefinite` too: for puts and transactions it comes only from the
//!   require-leader interceptor (before anything is proposed), which this client does not enable
//!   (it would also refuse the serializable reads that must stay observable under partition), so
//!   seeing it would mean something we did not foresee.
//! - Anything else, including errors decoding a response (the request was applied): `Indefinite`.
//!
//! Reads change nothing, so the workload records any failed read as `fail`; the sorting above
//! matters for `write` and `cas`.

use std::future::Future;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp};
use faultline_workloads::register::RegisterClient;
use faultline_workloads::ClientError;

/// How reads are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadConsistency {
    /// A quorum read: the member confirms with the leader that its state is current. Never stale;
    /// blocks (then times out) on a member without a quorum.
    #[default]
    Linearizable,
    /// The member answers from its local state (etcd's `--consistency=s`). May be stale under a
    /// partition: the anomaly a serializable-read test exists to show.
    Serializable,
}

/// How long to wait before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Each request, from sending to answer. When it runs out the outcome is unknown
    /// (`Indefinite`).
    pub request: Duration,
    /// Establishing the connection, in [`EtcdClient::connect`] and on each reconnect.
    pub connect: Duration,
}

impl Default for Timeouts {
    /// One second each: etcd elects a new leader in 1.2-1.5 s here, so a request stuck on a lost
    /// leader is given up (and its worker retired) about as fast as the cluster recovers.
    fn default() -> Self {
        Timeouts {
            request: Duration::from_secs(1),
            connect: Duration::from_secs(1),
        }
    }
}

/// A register client bound to one etcd member. Cheap to share: methods take `&self` and each
/// call works on a clone of the underlying gRPC client (clones share one HTTP/2 connection).
#[derive(Clone)]
pub struct EtcdClient {
    pub(super) client: Client,
    endpoint: String,
    consistency: ReadConsistency,
    timeouts: Timeouts,
}

impl std::fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdClient")
            .field("endpoint", &self.endpoint)
            .field("consistency", &self.consistency)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl EtcdClient {
    /// Connects to the member at `endpoint` (`http://host:port` or `host:port`) and to no other:
    /// no failover, as in Jepsen, so the history shows what this member says. Bounded by
    /// `timeouts.connect`. Nothing is asked of the store here, so every error is `Definite`.
    /// A refused connection fails at once. A paused or partitioned member may still accept the
    /// connection (the kernel completes the TCP handshake); its requests then time out.
    pub async fn connect(
        endpoint: &str,
        consistency: ReadConsistency,
        timeouts: Timeouts,
    ) -> Result<Self, ClientError> {
        let url = if endpoint.contains("://") {
            endpoint.to_string()
        } else {
            format!("http://{endpoint}")
        };
        let refused = |e: &dyn std::fmt::Display| {
            ClientError::Definite(format!("cannot connect to etcd at {url}: {e}"))
        };
        let refused_by = |e: &dyn std::error::Error| refused(&with_causes(e));
        let channel = tonic::transport::Endpoint::from_shared(url.clone())
            .map_err(|e| refused_by(&e))?
            .connect_timeout(timeouts.connect)
            .tcp_nodelay(true)
            // HTTP/2 pings drop a connection that stays silent with requests open (a member
            // partitioned for long: TCP's retransmission backoff could otherwise keep the healed
            // connection dead for tens of seconds), so the next request reconnects. Not more
            // often, and not while idle: etcd answers pings sooner than its
            // `--grpc-keepalive-min-time` (5 s) or without open streams with a GOAWAY
            // ("too many pings"), which would cut the connection under running requests.
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(3))
            .keep_alive_while_idle(false);
        // An eager connect: a member that is down fails here, quickly, rather than at the first
        // operation. Later connection losses reconnect on the next request.
        let channel = tokio::time::timeout(timeouts.connect, channel.connect())
            .await
            .map_err(|_| refused(&format!("no connection within {:?}", timeouts.connect)))?
            .map_err(|e| refused_by(&e))?;
        let client = Client::from_channel(etcd_client::Channel::Tonic(channel), None)
            .await
            .map_err(|e| refused(&e))?;
        Ok(EtcdClient {
            client,
            endpoint: url,
            consistency,
            timeouts,
        })
    }

    /// The member this client talks to, for the history's `node` field.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Get options for a read served as `--read-consistency` says.
    pub(super) fn read_options(&self) -> GetOptions {
        match self.consistency {
            ReadConsistency::Linearizable => GetOptions::new(),
            ReadConsistency::Serializable => GetOptions::new().with_serializable(),
        }
    }

    /// How this client's reads are served, for the test's record.
    pub fn consistency(&self) -> ReadConsistency {
        self.consistency
    }

    /// Runs one request under the request timeout and sorts its failure.
    pub(super) async fn request<T, F>(&self, what: &str, call: F) -> Result<T, ClientError>
    where
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        match tokio::time::timeout(self.timeouts.request, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(what, &self.endpoint, e)),
            Err(_) => Err(ClientError::Indefinite(format!(
                "{what} on {}: timed out after {:?}",
                self.endpoint, self.timeouts.request
            ))),
        }
    }
}

impl RegisterClient for EtcdClient {
    async fn read(&self, key: &str) -> Result<Option<i64>, ClientError> {
        let options = match self.consistency {
            ReadConsistency::Linearizable => GetOptions::new(),
            ReadConsistency::Serializable => GetOptions::new().with_serializable(),
        };
        let mut client = self.client.clone();
        let response = self.request("read", client.get(key, Some(options))).await?;
        match response.kvs().first() {
            None => Ok(None),
            Some(kv) => {
                let text = String::from_utf8_lossy(kv.value());
                text.parse().map(Some).map_err(|_| {
                    ClientError::Definite(format!(
                        "read on {}: key {key} holds {text:?}, not an integer",
                        self.endpoint
                    ))
                })
            }
        }
    }

    async fn write(&self, key: &str, value: i64) -> Result<(), ClientError> {
        let mut client = self.client.clone();
        self.request("write", client.put(key, value.to_string(), None))
            .await
            .map(|_| ())
    }

    async fn cas(&self, key: &str, from: i64, to: i64) -> Result<bool, ClientError> {
        // An absent key has no value, so its compare fails: cas never creates a key.
        let txn = Txn::new()
            .when([Compare::value(key, CompareOp::Equal, from.to_string())])
            .and_then([TxnOp::put(key, to.to_string(), None)]);
        let mut client = self.client.clone();
        let response = self.request("cas", client.txn(txn)).await?;
        Ok(response.succeeded())
    }
}

/// An error and its causes, `outer: inner: ...`: tonic's transport errors say only "transport
/// error" and keep the reason (such as "Connection refused") in their sources.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// Sorts an etcd-client error by what it proves about the request (see the module docs).
fn classify(what: &str, endpoint: &str, error: etcd_client::Error) -> ClientError {
    let message = format!("{what} on {endpoint}: {error}");
    let definite = match &error {
        // Checked locally before anything is sent.
        etcd_client::Error::InvalidArgs(_) | etcd_client::Error::InvalidUri(_) => true,
        etcd_client::Error::GRpcStatus(status) => status_is_definite(status),
        _ => false,
    };
    if definite {
        ClientError::Definite(message)
    } else {
        ClientError::Indefinite(message)
    }
}

/// Whether a gRPC status proves the request was not applied.
fn status_is_definite(status: &tonic::Status) -> bool {
    if never_sent(status) {
        return true;
    }
    let text = status.message();
    match status.code() {
        tonic::Code::InvalidArgument => text.starts_with("etcdserver:"),
        tonic::Code::ResourceExhausted => {
            text == "etcdserver: too many requests" || text.contains("database space exceeded")
        }
        _ => false,
    }
}

/// Whether the status comes from failing to connect for this request: tonic wraps such errors in
/// `ConnectError`, raised before the request is written to a connection.
fn never_sent(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_timeouts_and_leader_changes_are_indefinite() {
        for text in [
            "etcdserver: request timed out",
            "etcdserver: leader changed",
            "etcdserver: no leader",
            "etcdserver: server stopped",
        ] {
            assert!(
                !status_is_definite(&tonic::Status::unavailable(text)),
                "{text}"
            );
        }
        assert!(!status_is_definite(&tonic::Status::cancelled("x")));
        assert!(!status_is_definite(&tonic::Status::deadline_exceeded("x")));
        assert!(!status_is_definite(&tonic::Status::unknown("h2 error")));
    }

    #[test]
    fn etcd_rejections_before_proposing_are_definite() {
        assert!(status_is_definite(&tonic::Status::invalid_argument(
            "etcdserver: duplicate key given in txn request"
        )));
        assert!(status_is_definite(&tonic::Status::resource_exhausted(
            "etcdserver: too many requests"
        )));
        assert!(status_is_definite(&tonic::Status::resource_exhausted(
            "etcdserver: mvcc: database space exceeded"
        )));
        assert!(!status_is_definite(&tonic::Status::resource_exhausted(
            "message too large"
        )));
    }
}
