//! The Redis client (the register and set workloads here; counter, unique-ids and bank in
//! [`super::counting`] and [`super::accounts`] over the same requests): it finds the primary
//! through the Sentinel on its own node, as applications do, and follows failovers.
//!
//! # How a client finds the primary
//! Before every operation the client asks its node's Sentinel `SENTINEL
//! get-master-addr-by-name faultline`, and talks to the server it names, over a connection it
//! keeps while the Sentinel keeps naming that server. A new connection is checked with `ROLE`
//! (Sentinel's client guidelines: a server the Sentinel still names may already be a replica).
//! After any error the connections are dropped and made again for the next operation.
//!
//! Asking before every operation rather than only after an error is what a client subscribed
//! to its Sentinel's `+switch-master` events sees: the answer changes exactly when the Sentinel
//! announces the switch. It matters here because the clients run on the control machine, which
//! partitions do not cut off: a client bound to n3 keeps a working connection to an old primary
//! n1 on the other side of a partition, where a real client on n3 would lose it and ask again.
//! Either way a client follows its own Sentinel, and a client whose Sentinel is on the minority
//! side keeps writing to the old primary for as long as that Sentinel names it: the writes
//! that Sentinel's failover then throws away. One artefact remains: until the majority's
//! Sentinels fail over (down-after-milliseconds, then the election), a client on the majority
//! side still reaches the old primary here, where a real one would time out.
//!
//! A client made for a final read talks straight to one node's server instead: the final read
//! on every node is what that node kept.
//!
//! # Why an error is `Definite` or `Indefinite`
//! A wrong `Definite` makes the checker believe a write that took effect never happened, so an
//! error is `Definite` only when it proves the command was not applied:
//! - Asking the Sentinel, connecting to the server, and checking its `ROLE` send nothing that
//!   writes: any failure there (refused, timed out, no primary named, the named server is a
//!   replica) is `Definite`.
//! - An error reply from the server: Redis runs a command whole or answers with an error and
//!   runs nothing: `READONLY` (a replica), `NOREPLICAS` (fewer replicas than
//!   `min-replicas-to-write`), `LOADING`, `MASTERDOWN`, `OOM`, `BUSY`, `MISCONF`, `WRONGTYPE`,
//!   `ERR ...`. `Definite`. The one exception would be a Lua script that fails after a write
//!   (scripts are not rolled back); the cas script's only write is its last command, so an
//!   error from it means that write did not happen either.
//! - A request that times out, a connection closed, reset or broken after the command may
//!   have been written, an answer that cannot be read (the command ran): `Indefinite`.
//!
//! Reads change nothing: the workloads record any failed read as `fail`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use faultline_workloads::register::RegisterClient;
use faultline_workloads::set::SetClient;
use faultline_workloads::ClientError;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, FromRedisValue, RedisError, Value};

use super::config::MASTER_NAME;

/// The key holding the set workload's set.
pub const SET_KEY: &str = "faultline-set";

/// cas as one atomic script: compare, then set. An absent key never equals `from`, so cas
/// never creates a key. The `SET` is the script's only and last write (see the module docs).
const CAS_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                          redis.call('SET', KEYS[1], ARGV[2]); return 1 end; return 0";

/// Where a client sends its commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To the primary the Sentinel at `sentinel` (`ip:port`, on `node`) names.
    Sentinel { node: String, sentinel: String },
    /// Straight to the server at `server` (`ip:port`, on `node`).
    Direct { node: String, server: String },
}

/// A client bound to one node. Cheap to share: methods take `&self`; the connections are
/// multiplexed and cloned per request.
pub struct RedisClient {
    route: Route,
    /// The bound on a whole operation: asking the Sentinel, connecting, the command.
    timeout: Duration,
    sentinel: Mutex<Option<MultiplexedConnection>>,
    /// The server the connection goes to, `ip:port`, and the connection.
    server: Mutex<Option<(String, MultiplexedConnection)>>,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient")
            .field("route", &self.route)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A connection to `addr` (`ip:port`) within `within`.
async fn open(addr: &str, within: Duration) -> Result<MultiplexedConnection, String> {
    let client = redis::Client::open(format!("redis://{addr}/")).map_err(|e| e.to_string())?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(within))
        .set_response_timeout(None);
    match tokio::time::timeout(
        within,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {within:?}")),
    }
}

/// What a request sends: one command, or a pipeline (a `MULTI`/`EXEC` transaction).
#[derive(Clone, Copy)]
pub enum Request<'a> {
    Cmd(&'a redis::Cmd),
    Pipe(&'a redis::Pipeline),
}

impl<'a> From<&'a redis::Cmd> for Request<'a> {
    fn from(c: &'a redis::Cmd) -> Self {
        Request::Cmd(c)
    }
}

impl<'a> From<&'a mut redis::Cmd> for Request<'a> {
    fn from(c: &'a mut redis::Cmd) -> Self {
        Request::Cmd(c)
    }
}

impl<'a> From<&'a redis::Pipeline> for Request<'a> {
    fn from(p: &'a redis::Pipeline) -> Self {
        Request::Pipe(p)
    }
}

/// Runs `cmd` on `conn` within `within`; `Err(None)` when time ran out.
async fn query<T: FromRedisValue>(
    cmd: impl Into<Request<'_>>,
    conn: &mut MultiplexedConnection,
    within: Duration,
) -> Result<T, Option<RedisError>> {
    let sent = async {
        match cmd.into() {
            Request::Cmd(c) => c.query_async::<T>(conn).await,
            Request::Pipe(p) => p.query_async::<T>(conn).await,
        }
    };
    match tokio::time::timeout(within, sent).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Some(e)),
        Err(_) => Err(None),
    }
}

impl RedisClient {
    /// A client on `route`; each operation bounded by `timeout`. Connects to the Sentinel (or
    /// the server, for a direct route) at once, so a node that is down fails here. Nothing is
    /// asked of the store, so every error is `Definite`.
    pub async fn connect(route: Route, timeout: Duration) -> Result<RedisClient, ClientError> {
        let client = RedisClient {
            route,
            timeout,
            sentinel: Mutex::new(None),
            server: Mutex::new(None),
        };
        match &client.route {
            Route::Sentinel { node, sentinel } => {
                let c = open(sentinel, timeout).await.map_err(|e| {
                    ClientError::Definite(format!("cannot reach {node}'s Sentinel: {e}"))
                })?;
                *lock(&client.sentinel) = Some(c);
            }
            Route::Direct { node, server } => {
                let c = open(server, timeout).await.map_err(|e| {
                    ClientError::Definite(format!("cannot reach {node}'s server: {e}"))
                })?;
                *lock(&client.server) = Some((server.clone(), c));
            }
        }
        Ok(client)
    }

    /// The server its Sentinel names now, or why there is none (all `Definite`).
    async fn named(&self, node: &str, sentinel: &str, deadline: Instant) -> Result<String, String> {
        let cached = lock(&self.sentinel).clone();
        let mut conn = match cached {
            Some(c) => c,
            None => {
                let c = open(sentinel, left(deadline)).await?;
                *lock(&self.sentinel) = Some(c.clone());
                c
            }
        };
        let mut ask = redis::cmd("SENTINEL");
        ask.arg("get-master-addr-by-name").arg(MASTER_NAME);
        match query::<Option<(String, u16)>>(&ask, &mut conn, left(deadline)).await {
            Ok(Some((ip, port))) => Ok(format!("{ip}:{port}")),
            Ok(None) => Err(format!("{node}'s Sentinel names no primary")),
            Err(e) => {
                *lock(&self.sentinel) = None;
                Err(match e {
                    Some(e) => format!("asking {node}'s Sentinel: {e}"),
                    None => format!("{node}'s Sentinel did not answer within the timeout"),
                })
            }
        }
    }

    /// The server to send a command to and a connection to it; every error `Definite`, since
    /// nothing that writes has been sent yet.
    async fn server(&self, deadline: Instant) -> Result<(String, MultiplexedConnection), String> {
        let (addr, check_role) = match &self.route {
            Route::Sentinel { node, sentinel } => {
                (self.named(node, sentinel, deadline).await?, true)
            }
            Route::Direct { server, .. } => (server.clone(), false),
        };
        if let Some((cached, conn)) = lock(&self.server).clone() {
            if cached == addr {
                return Ok((addr, conn));
            }
        }
        let mut conn = open(&addr, left(deadline)).await?;
        if check_role {
            let role = query::<Vec<Value>>(&redis::cmd("ROLE"), &mut conn, left(deadline))
                .await
                .map_err(|e| match e {
                    Some(e) => format!("ROLE on {addr}: {e}"),
                    None => format!("ROLE on {addr}: no answer within the timeout"),
                })?;
            let role = role
                .first()
                .and_then(|r| String::from_redis_value(r.clone()).ok());
            if role.as_deref() != Some("master") {
                return Err(format!(
                    "the Sentinel names {addr}, which says it is a {}",
                    role.as_deref().unwrap_or("server of no known role")
                ));
            }
        }
        *lock(&self.server) = Some((addr.clone(), conn.clone()));
        Ok((addr, conn))
    }

    /// Runs one command on the server of the moment and sorts its failure (module docs).
    pub(super) async fn request<T: FromRedisValue>(
        &self,
        what: &str,
        cmd: impl Into<Request<'_>>,
    ) -> Result<T, ClientError> {
        // A margin inside the run's own bound, so that the outcome is sorted here.
        let deadline = Instant::now() + self.timeout.mul_f64(0.9);
        let (addr, mut conn) = match self.server(deadline).await {
            Ok(found) => found,
            Err(why) => {
                *lock(&self.server) = None;
                return Err(ClientError::Definite(format!("{what}: {why}")));
            }
        };
        match query::<T>(cmd, &mut conn, left(deadline)).await {
            Ok(v) => Ok(v),
            Err(e) => {
                // The server may be gone, demoted or behind a partition: find it afresh.
                *lock(&self.server) = None;
                Err(match e {
                    Some(e) => classify(&format!("{what} on {addr}"), &e),
                    None => ClientError::Indefinite(format!(
                        "{what} on {addr}: no answer within {:?}",
                        self.timeout.mul_f64(0.9)
                    )),
                })
            }
        }
    }
}

/// The time left until `deadline` (never zero, so a timer always gets a chance).
fn left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sorts a failed command by what it proves (module docs).
pub fn classify(what: &str, e: &RedisError) -> ClientError {
    let message = format!("{what}: {e}");
    match e.kind() {
        // The server answered with an error: it ran nothing.
        ErrorKind::Server(_) | ErrorKind::Extension => ClientError::Definite(message),
        // Refused by the library before anything was sent.
        ErrorKind::Client | ErrorKind::InvalidClientConfig => ClientError::Definite(message),
        // Lost connections, unreadable answers, anything else.
        _ => ClientError::Indefinite(message),
    }
}

impl RegisterClient for RedisClient {
    async fn read(&self, key: &str) -> Result<Option<i64>, ClientError> {
        let value: Option<String> = self.request("read", redis::cmd("GET").arg(key)).await?;
        match value {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                ClientError::Definite(format!("read: key {key} holds {text:?}, not an integer"))
            }),
        }
    }

    async fn write(&self, key: &str, value: i64) -> Result<(), ClientError> {
        self.request::<()>("write", redis::cmd("SET").arg(key).arg(value))
            .await
    }

    async fn cas(&self, key: &str, from: i64, to: i64) -> Result<bool, ClientError> {
        let swapped: i64 = self
            .request(
                "cas",
                redis::cmd("EVAL")
                    .arg(CAS_SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(from)
                    .arg(to),
            )
            .await?;
        Ok(swapped == 1)
    }
}

impl SetClient for RedisClient {
    async fn add(&self, element: i64) -> Result<(), ClientError> {
        self.request::<()>("add", redis::cmd("SADD").arg(SET_KEY).arg(element))
            .await
    }

    async fn read(&self) -> Result<Vec<i64>, ClientError> {
        self.request("read", redis::cmd("SMEMBERS").arg(SET_KEY))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(code: &str) -> RedisError {
        redis::make_extension_error(code.to_string(), Some("refused".to_string()))
    }

    #[test]
    fn error_replies_are_definite() {
        for code in ["NOREPLICAS", "OOM", "BUSY", "MISCONF", "WRONGTYPE"] {
            assert!(
                matches!(
                    classify("add", &server_error(code)),
                    ClientError::Definite(_)
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn lost_connections_and_unreadable_answers_are_indefinite() {
        let reset: RedisError =
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer").into();
        assert!(matches!(
            classify("add", &reset),
            ClientError::Indefinite(_)
        ));
        let eof: RedisError =
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed").into();
        assert!(matches!(classify("add", &eof), ClientError::Indefinite(_)));
        let unreadable: RedisError = (ErrorKind::UnexpectedReturnType, "not an integer").into();
        assert!(matches!(
            classify("cas", &unreadable),
            ClientError::Indefinite(_)
        ));
    }
}
