//! The PostgreSQL client of the transactional workloads (`tokio-postgres`): each transaction is
//! `BEGIN ISOLATION LEVEL ...`, one statement per micro-op in order, `COMMIT`.
//!
//! A worker's client talks to the primary. With `--pg-replica-reads`, a worker bound to a
//! replica's node runs its read-only transactions on that replica instead (and everything
//! else on the primary). PostgreSQL refuses `SERIALIZABLE` on a hot standby, so there a
//! serializable run's read-only transactions are `REPEATABLE READ READ ONLY`: a snapshot of
//! what the replica has replayed, which is what an application reading from a replica gets.
//!
//! # Why an error is `Definite` or `Indefinite`
//! PostgreSQL commits only on `COMMIT`: until it is sent, whatever goes wrong (a serialization
//! failure, a deadlock, any error of a statement, a lost connection, a timeout after which
//! the connection is dropped) leaves the transaction to be rolled back, so it is `Definite`.
//! While `COMMIT` is on its way, an error of class 40 (`serialization_failure`,
//! `deadlock_detected`, ...) says it rolled back: `Definite`. Anything else then (the
//! connection lost, the server shutting down or crashing, no answer in time) may come after
//! the commit record was written: `Indefinite`.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use faultline_workloads::bank::INSUFFICIENT_FUNDS;
use faultline_workloads::txn::{MicroOp, TxnClient};
use faultline_workloads::ClientError;
use tokio_postgres::{NoTls, Statement};

use super::config::{self, DATABASE, PORT, USER};
use super::Isolation;

/// A server a client connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The node, for messages.
    pub node: String,
    pub ip: String,
}

/// One connection and its prepared statements.
struct Conn {
    client: tokio_postgres::Client,
    append: Statement,
    read_list: Statement,
    write: Statement,
    read_register: Statement,
}

/// A worker's client: a connection to the primary, and one to its replica for read-only
/// transactions when asked. Each is made again after it broke.
pub struct PgClient {
    primary: Endpoint,
    replica: Option<Endpoint>,
    isolation: Isolation,
    /// The bound on one transaction, connecting included.
    timeout: Duration,
    conns: tokio::sync::Mutex<[Option<Conn>; 2]>,
}

/// How far a transaction got, to sort its failure.
const BEFORE_COMMIT: u8 = 0;
const COMMITTING: u8 = 1;

/// Which connection.
const PRIMARY: usize = 0;
const REPLICA: usize = 1;

async fn open(at: &Endpoint, within: Duration) -> Result<Conn, String> {
    let mut c = tokio_postgres::Config::new();
    c.host(&at.ip)
        .port(PORT)
        .user(USER)
        .dbname(DATABASE)
        .application_name("faultline")
        .connect_timeout(within);
    let connect = async {
        let (client, connection) = c.connect(NoTls).await.map_err(|e| e.to_string())?;
        // The connection's I/O runs on its own task until the client is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let prepare = |sql: &'static str| client.prepare(sql);
        let (append, read_list, write, read_register) = (
            prepare(config::APPEND).await,
            prepare(config::READ_LIST).await,
            prepare(config::WRITE).await,
            prepare(config::READ_REGISTER).await,
        );
        let e = |e: tokio_postgres::Error| format!("preparing statements: {e}");
        Ok::<Conn, String>(Conn {
            append: append.map_err(e)?,
            read_list: read_list.map_err(e)?,
            write: write.map_err(e)?,
            read_register: read_register.map_err(e)?,
            client,
        })
    };
    match tokio::time::timeout(within, connect).await {
        Ok(r) => r.map_err(|e| format!("cannot connect to {} ({}): {e}", at.node, at.ip)),
        Err(_) => Err(format!(
            "cannot connect to {} ({}) within {within:?}",
            at.node, at.ip
        )),
    }
}

impl PgClient {
    /// A client of the primary (and of `replica` for read-only transactions); connects to
    /// the primary at once, so a server that is down fails here (`Definite`: nothing sent).
    pub async fn connect(
        primary: Endpoint,
        replica: Option<Endpoint>,
        isolation: Isolation,
        timeout: Duration,
    ) -> Result<PgClient, ClientError> {
        let conn = open(&primary, timeout)
            .await
            .map_err(ClientError::Definite)?;
        Ok(PgClient {
            primary,
            replica,
            isolation,
            timeout,
            conns: tokio::sync::Mutex::new([Some(conn), None]),
        })
    }

    /// The `BEGIN` of a transaction on connection `which`.
    fn begin(&self, which: usize) -> &'static str {
        match (self.isolation, which) {
            (Isolation::ReadCommitted, PRIMARY) => "BEGIN ISOLATION LEVEL READ COMMITTED",
            (Isolation::RepeatableRead, PRIMARY) => "BEGIN ISOLATION LEVEL REPEATABLE READ",
            (Isolation::Serializable, PRIMARY) => "BEGIN ISOLATION LEVEL SERIALIZABLE",
            (Isolation::ReadCommitted, _) => "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY",
            // A hot standby has no serializable transactions (see the module docs).
            _ => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        }
    }
}

/// What one transaction does: a transactional workload's micro-ops, or one operation of the
/// counter, unique-ids or bank workloads. Results are written into the borrowed places.
pub(super) enum Work<'a> {
    MicroOps(&'a mut [MicroOp]),
    Add(i64),
    ReadCounter(&'a mut i64),
    Generate(&'a mut i64),
    OpenAccounts { accounts: i64, total: i64 },
    Transfer { from: i64, to: i64, amount: i64 },
    ReadAccounts(&'a mut Vec<(i64, i64)>),
}

impl Work<'_> {
    /// Whether the transaction only reads (it may then go to a replica).
    fn read_only(&self) -> bool {
        match self {
            Work::MicroOps(txn) => txn.iter().all(MicroOp::is_read),
            Work::ReadCounter(_) | Work::ReadAccounts(_) => true,
            _ => false,
        }
    }
}

/// Why a transaction's body stopped before `COMMIT`.
enum Abort {
    /// The server refused a statement, or the connection broke.
    Db(tokio_postgres::Error),
    /// The body itself decided not to go on (a transfer from an account that holds too
    /// little): the transaction is rolled back and the operation certainly did not happen.
    Refused(String),
}

impl From<tokio_postgres::Error> for Abort {
    fn from(e: tokio_postgres::Error) -> Abort {
        Abort::Db(e)
    }
}

/// Runs `work` as one transaction on `conn`, recording in `phase` how far it got.
async fn run(conn: &Conn, begin: &str, work: &mut Work<'_>, phase: &AtomicU8) -> Result<(), Abort> {
    let c = &conn.client;
    c.batch_execute(begin).await?;
    match work {
        Work::MicroOps(txn) => micro_ops(conn, txn).await?,
        Work::Add(amount) => {
            c.execute(config::ADD, &[&config::COUNTER, amount]).await?;
        }
        Work::ReadCounter(value) => {
            **value = match c
                .query_opt(config::READ_COUNTER, &[&config::COUNTER])
                .await?
            {
                Some(row) => row.try_get(0)?,
                None => 0,
            };
        }
        Work::Generate(id) => **id = c.query_one(config::GENERATE, &[]).await?.try_get(0)?,
        Work::OpenAccounts { accounts, total } => {
            c.execute(config::OPEN_ACCOUNTS, &[accounts, total]).await?;
        }
        Work::Transfer { from, to, amount } => transfer(c, *from, *to, *amount).await?,
        Work::ReadAccounts(accounts) => {
            **accounts = c
                .query(config::READ_ACCOUNTS, &[])
                .await?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<_, tokio_postgres::Error>>()?;
        }
    }
    phase.store(COMMITTING, Ordering::SeqCst);
    c.batch_execute("COMMIT").await?;
    Ok(())
}

/// The statements of a list-append or rw-register transaction, in order.
async fn micro_ops(conn: &Conn, txn: &mut [MicroOp]) -> Result<(), tokio_postgres::Error> {
    let c = &conn.client;
    for m in txn.iter_mut() {
        match m {
            MicroOp::Append { key, element } => {
                c.execute(&conn.append, &[&(*key as i64), element]).await?;
            }
            MicroOp::ReadList { key, list } => {
                *list = match c.query_opt(&conn.read_list, &[&(*key as i64)]).await? {
                    Some(row) => row.try_get(0)?,
                    None => Vec::new(),
                };
            }
            MicroOp::Write { key, value } => {
                c.execute(&conn.write, &[&(*key as i64), value]).await?;
            }
            MicroOp::ReadRegister { key, value } => {
                *value = match c.query_opt(&conn.read_register, &[&(*key as i64)]).await? {
                    Some(row) => Some(row.try_get(0)?),
                    None => None,
                };
            }
        }
    }
    Ok(())
}

/// A transfer as an application writes it with an ORM: read both balances, refuse when the
/// source holds too little, write both new balances. The isolation level alone decides whether
/// two concurrent transfers can both read a balance and write over each other (read committed
/// lets them: a lost update, which the bank's total shows; repeatable read and serializable
/// abort the second writer with a serialization failure).
async fn transfer(
    c: &tokio_postgres::Client,
    from: i64,
    to: i64,
    amount: i64,
) -> Result<(), Abort> {
    let balance = |account: i64| async move {
        match c.query_opt(config::BALANCE, &[&account]).await? {
            Some(row) => Ok::<i64, Abort>(row.try_get(0)?),
            None => Err(Abort::Refused(format!("account {account} does not exist"))),
        }
    };
    let (source, target) = (balance(from).await?, balance(to).await?);
    if source < amount {
        return Err(Abort::Refused(format!(
            "{INSUFFICIENT_FUNDS}: account {from} holds {source}, less than {amount}"
        )));
    }
    c.execute(config::SET_BALANCE, &[&from, &(source - amount)])
        .await?;
    c.execute(config::SET_BALANCE, &[&to, &(target + amount)])
        .await?;
    Ok(())
}

/// Whether a server error says the transaction rolled back: SQLSTATE class 40.
fn rolled_back(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|d| sqlstate_rolled_back(d.code().code()))
}

fn sqlstate_rolled_back(sqlstate: &str) -> bool {
    sqlstate.starts_with("40")
}

/// What `e` met in `phase` means for the transaction (module docs).
pub fn classify(phase: u8, e: &tokio_postgres::Error, at: &Endpoint) -> ClientError {
    let db = e.as_db_error();
    let message = match db {
        Some(d) => format!(
            "{} on {}: {} ({})",
            phase_name(phase),
            at.node,
            d.message(),
            d.code().code()
        ),
        None => format!("{} on {}: {e}", phase_name(phase), at.node),
    };
    sorted(phase, db.map(|d| d.code().code()), message)
}

/// `Definite` when a transaction that went wrong in `phase` certainly did not commit, given
/// the SQLSTATE of the server's error (`None`: no answer from the server, a lost connection or
/// a timeout); the rule of the module docs, apart from the driver's error type so that it can
/// be tested.
fn sorted(phase: u8, sqlstate: Option<&str>, message: String) -> ClientError {
    if phase == BEFORE_COMMIT || sqlstate.is_some_and(sqlstate_rolled_back) {
        ClientError::Definite(message)
    } else {
        ClientError::Indefinite(message)
    }
}

/// Ends an open transaction within `within`; whether the connection can go on.
async fn roll_back(conn: &Conn, within: Duration) -> bool {
    matches!(
        tokio::time::timeout(within, conn.client.batch_execute("ROLLBACK")).await,
        Ok(Ok(()))
    )
}

fn phase_name(phase: u8) -> &'static str {
    if phase == BEFORE_COMMIT {
        "transaction"
    } else {
        "commit"
    }
}

impl PgClient {
    /// Runs `work` as one transaction at the run's isolation level and sorts how it ended.
    pub(super) async fn perform(&self, mut work: Work<'_>) -> Result<(), ClientError> {
        // A margin inside the run's own bound, so that the outcome is sorted here.
        let deadline = Instant::now() + self.timeout.mul_f64(0.9);
        let left = || deadline.saturating_duration_since(Instant::now());
        let read_only = work.read_only();
        let (which, at) = match (&self.replica, read_only) {
            (Some(r), true) => (REPLICA, r),
            _ => (PRIMARY, &self.primary),
        };
        let mut conns = self.conns.lock().await;
        let slot = &mut conns[which];
        if slot.as_ref().is_some_and(|c| c.client.is_closed()) {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(open(at, left()).await.map_err(ClientError::Definite)?);
        }
        let Some(conn) = slot.as_ref() else {
            return Err(ClientError::Definite(format!(
                "no connection to {}",
                at.node
            )));
        };
        let phase = AtomicU8::new(BEFORE_COMMIT);
        let outcome =
            tokio::time::timeout(left(), run(conn, self.begin(which), &mut work, &phase)).await;
        let phase = phase.load(Ordering::SeqCst);
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Abort::Refused(why))) => {
                // Nothing was written; end the transaction so the connection can go on.
                if !roll_back(conn, left()).await {
                    *slot = None;
                }
                Err(ClientError::Definite(format!(
                    "{} on {}: {why}",
                    phase_name(phase),
                    at.node
                )))
            }
            Ok(Err(Abort::Db(e))) => {
                let sorted = classify(phase, &e, at);
                // A statement's error leaves the transaction open and aborted: end it so the
                // connection can go on; anything else, or a failed rollback, drops it.
                let reusable = if phase == BEFORE_COMMIT {
                    e.as_db_error().is_some() && roll_back(conn, left()).await
                } else {
                    // A COMMIT refused with class 40 has ended the transaction already.
                    rolled_back(&e) && !conn.client.is_closed()
                };
                if !reusable {
                    *slot = None;
                }
                Err(sorted)
            }
            Err(_) => {
                // The transaction is still open on the connection: dropping it rolls it back,
                // unless COMMIT was already on its way.
                *slot = None;
                let message = format!(
                    "{} on {}: no answer within {:?}",
                    phase_name(phase),
                    at.node,
                    self.timeout.mul_f64(0.9)
                );
                Err(sorted(phase, None, message))
            }
        }
    }
}

impl TxnClient for PgClient {
    async fn transact(&self, txn: &mut [MicroOp]) -> Result<(), ClientError> {
        self.perform(Work::MicroOps(txn)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definite(phase: u8, sqlstate: Option<&str>) -> bool {
        matches!(
            sorted(phase, sqlstate, String::new()),
            ClientError::Definite(_)
        )
    }

    #[test]
    fn anything_that_goes_wrong_before_commit_is_sent_is_a_definite_failure() {
        for sqlstate in [
            None,          // connection lost, or no answer in time
            Some("40001"), // serialization_failure
            Some("40P01"), // deadlock_detected
            Some("23505"), // unique_violation
            Some("57P01"), // admin_shutdown
            Some("08006"), // connection_failure
            Some("25006"), // read_only_sql_transaction (a replica)
        ] {
            assert!(definite(BEFORE_COMMIT, sqlstate), "{sqlstate:?}");
        }
    }

    #[test]
    fn a_commit_refused_with_class_40_rolled_back() {
        for sqlstate in ["40001", "40P01", "40002", "40003", "40000"] {
            assert!(definite(COMMITTING, Some(sqlstate)), "{sqlstate}");
        }
    }

    #[test]
    fn a_commit_that_met_anything_else_may_have_committed() {
        // The server may have written the commit record before it went down, or before the
        // answer was lost.
        for sqlstate in [
            None,
            Some("57P01"),
            Some("57P02"),
            Some("08006"),
            Some("XX000"),
        ] {
            assert!(!definite(COMMITTING, sqlstate), "{sqlstate:?}");
        }
    }
}
