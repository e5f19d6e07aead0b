//! What each PostgreSQL server is told: its command line, the client authentication file, and
//! the schema the workloads use. Pure text.
//!
//! Every setting that differs between nodes (address, socket directory) is on the command line,
//! so a replica made by `pg_basebackup` (which copies the primary's `postgresql.conf`) still
//! listens where it should. The authentication file is faultline's own, the same on every
//! node (`hba_file`), so nothing of Debian's defaults decides who may connect.

/// The port every server listens on (each node has its own address).
pub const PORT: u16 = 5432;
/// The database the workloads use: the one `initdb` creates.
pub const DATABASE: &str = "postgres";
/// The user the clients and replicas connect as: the superuser `initdb` creates.
pub const USER: &str = "postgres";

/// The schema of the transactional workloads, created on the primary at setup.
///
/// A list (list-append) is one row per key holding the whole list as a `bigint[]`, appended to
/// by `INSERT ... ON CONFLICT (k) DO UPDATE SET v = lists.v || $2`: every append to a key
/// takes that row's lock and builds on the latest committed version, so the order of the
/// elements is the order in which the appends committed, and a read sees a list that existed.
/// The other way, one row per element ordered by a sequence, orders elements by when their
/// inserts started, not when they committed: two concurrent appends to one key commit in
/// either order, and readers would see the later-numbered element first and the earlier one
/// slotted in before it afterwards, an `incompatible-order` that the schema makes and the
/// database does not. (Jepsen's PostgreSQL append test keeps a text column for the same reason.)
///
/// A register (rw-register) is one row per key, written by upsert.
///
/// The counter is one row, its adds an upsert of `v + amount` (a row lock: no add is lost at any
/// level). An id is the identity of a row inserted and committed, so it is as durable as any
/// commit: PostgreSQL's documentation warns that a crash can undo the sequence change of a
/// `nextval()` whose transaction had not committed, and hand the value out again. A bank
/// account is a row.
pub const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS lists (k bigint PRIMARY KEY, v bigint[] NOT NULL); \
     CREATE TABLE IF NOT EXISTS registers (k bigint PRIMARY KEY, v bigint NOT NULL); \
     CREATE TABLE IF NOT EXISTS counters (k text PRIMARY KEY, v bigint NOT NULL); \
     CREATE TABLE IF NOT EXISTS ids (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY); \
     CREATE TABLE IF NOT EXISTS accounts (id bigint PRIMARY KEY, balance bigint NOT NULL);";

/// Appends `$2` to the list at `$1`, creating it.
pub const APPEND: &str = "INSERT INTO lists AS l (k, v) VALUES ($1, ARRAY[$2::bigint]) \
     ON CONFLICT (k) DO UPDATE SET v = l.v || $2::bigint";
/// The list at `$1` (no row: never appended to).
pub const READ_LIST: &str = "SELECT v FROM lists WHERE k = $1";
/// Sets the register at `$1` to `$2`.
pub const WRITE: &str = "INSERT INTO registers AS r (k, v) VALUES ($1, $2) \
     ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v";
/// The register at `$1` (no row: never written).
pub const READ_REGISTER: &str = "SELECT v FROM registers WHERE k = $1";

/// The counter's row.
pub const COUNTER: &str = "faultline-counter";
/// Adds `$2` to the counter `$1`, creating it.
pub const ADD: &str = "INSERT INTO counters AS c (k, v) VALUES ($1, $2) \
     ON CONFLICT (k) DO UPDATE SET v = c.v + EXCLUDED.v";
/// The counter `$1` (no row: nothing added yet).
pub const READ_COUNTER: &str = "SELECT v FROM counters WHERE k = $1";
/// A new id.
pub const GENERATE: &str = "INSERT INTO ids DEFAULT VALUES RETURNING id";
/// Opens the accounts `0..$1` with `$2` in account 0, unless they exist: one statement, so
/// either every account is created or none.
pub const OPEN_ACCOUNTS: &str = "INSERT INTO accounts (id, balance) \
     SELECT a, CASE WHEN a = 0 THEN $2::bigint ELSE 0 END FROM generate_series(0, $1::bigint - 1) a \
     ON CONFLICT (id) DO NOTHING";
/// The balance of account `$1`.
pub const BALANCE: &str = "SELECT balance FROM accounts WHERE id = $1";
/// Sets account `$1`'s balance to `$2`.
pub const SET_BALANCE: &str = "UPDATE accounts SET balance = $2 WHERE id = $1";
/// Every account, by account.
pub const READ_ACCOUNTS: &str = "SELECT id, balance FROM accounts ORDER BY id";

/// `pg_hba.conf`: the postgres user over the node's socket, and anyone from the test
/// network, trusted, including for replication. The servers listen only on their node's
/// address (the local cluster's bridge, or the test machines' network), and the data is
/// throwaway; trust keeps passwords out of the harness.
pub fn hba_conf() -> String {
    "# Written by faultline at setup.\n\
     local all all trust\n\
     local replication all trust\n\
     host all all 0.0.0.0/0 trust\n\
     host replication all 0.0.0.0/0 trust\n"
        .to_string()
}

/// The server's command line: `postgres -D DATA -c ...`.
///
/// - `listen_addresses`: only the node's own address; `unix_socket_directories`: the node's
///   own directory (the local cluster's nodes share one file system).
/// - `shared_buffers` small: several clusters may share one machine.
/// - `max_connections`: every worker holds one, and a worker whose operation ended `info`
///   connects afresh while the server may not yet have noticed the old one is gone.
/// - `wal_keep_size`: WAL kept for a replica that was cut off, so that it can catch up after
///   healing instead of needing a new base backup.
/// - `fsync` and `synchronous_commit` stay on (PostgreSQL's defaults): a killed server must
///   keep what it acknowledged.
pub fn server_args(
    data_dir: &str,
    ip: &str,
    socket_dir: &str,
    hba_file: &str,
    node: &str,
) -> Vec<String> {
    let mut args = vec!["-D".to_string(), data_dir.to_string()];
    for setting in [
        format!("listen_addresses={ip}"),
        format!("port={PORT}"),
        format!("unix_socket_directories={socket_dir}"),
        format!("hba_file={hba_file}"),
        format!("cluster_name={node}"),
        "max_connections=300".to_string(),
        "shared_buffers=32MB".to_string(),
        "wal_keep_size=256MB".to_string(),
        "log_line_prefix=%m [%p] ".to_string(),
    ] {
        args.push("-c".to_string());
        args.push(setting);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_listens_on_its_own_address_and_socket_dir() {
        let args = server_args(
            "/d/n2/data",
            "10.0.0.12",
            "/d/n2",
            "/d/n2/pg_hba.conf",
            "n2",
        );
        let text = args.join(" ");
        assert!(text.starts_with("-D /d/n2/data "), "{text}");
        assert!(text.contains("-c listen_addresses=10.0.0.12 "), "{text}");
        assert!(text.contains("-c unix_socket_directories=/d/n2 "), "{text}");
        assert!(text.contains("-c hba_file=/d/n2/pg_hba.conf "), "{text}");
        assert!(hba_conf().contains("host replication all 0.0.0.0/0 trust"));
    }
}
