//! Redis's client of the bank workload: the accounts are the fields of one hash
//! ([`BANK_KEY`], field = account number, value = balance), sent to the primary that the node's
//! Sentinel names (see [`super::client`] for how the primary is found and followed).
//!
//! # Why each operation is atomic
//! Redis runs one command, or one Lua script, at a time with nothing in between, so:
//! - opening is one script that creates the hash with every balance (one `HSET`) only if the
//!   hash does not exist: the first client creates the bank, the others change nothing;
//! - a transfer is one script that reads both balances, refuses if the source holds less than
//!   the amount, and writes both new balances in one `HSET`: no other transfer can come in
//!   between the check and the write, and no read sees one balance moved without the other;
//! - a read is one `HGETALL`: every balance at one instant.
//!
//! So on one server the total always holds. Redis replicates a script by its effects, here
//! one `HSET` of both balances, so a replica holds the bank as it was after some transfer,
//! never between the debit and the credit: a failover that loses acknowledged transfers
//! leaves an older bank with the same total, which the bank checker (totals and balances per
//! read) does not see. Measured (`tests/redis_workloads.rs`): under `partition-primary` every
//! bank read of 25 runs summed to 100, while the counter run alongside lost up to a third of
//! its acknowledged total.
//!
//! # Why an error is `Definite` or `Indefinite`
//! As for every Redis command ([`super::client`]): an error reply proves nothing was written
//! (`READONLY` on a demoted primary, `NOREPLICAS` under `--redis-min-replicas-to-write`, an
//! error raised by the script): Redis does not roll back a script, but each script here has one
//! write, its last command, so an error from the script or from that write means that write
//! did not happen. Refusals the script returns as a code (insufficient funds, an account that
//! does not exist) wrote nothing: `Definite`, the first one as the workload's
//! [`INSUFFICIENT_FUNDS`]. A timeout or a connection lost after sending: `Indefinite`. A reply
//! the script cannot give comes after it ran: `Indefinite`.

use std::collections::BTreeMap;

use faultline_workloads::bank::{BankClient, INSUFFICIENT_FUNDS};
use faultline_workloads::ClientError;

use super::client::RedisClient;

/// The hash holding every account's balance.
pub const BANK_KEY: &str = "faultline-bank";

/// Creates the bank only if it does not exist: `ARGV` is account, balance, account, balance...
/// Writes nothing when the bank exists, so it also runs on a replica (Redis 7 refuses a
/// script's write commands there, not the script): a final read's client, talking to one
/// node's server, opens the bank like any other.
pub const OPEN_SCRIPT: &str = "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end; \
                               redis.call('HSET', KEYS[1], unpack(ARGV)); return 1";

/// Moves `ARGV[3]` from account `ARGV[1]` to account `ARGV[2]` of the bank `KEYS[1]`. Returns
/// [`MOVED`], [`INSUFFICIENT`] or [`NO_ACCOUNT`]; the `HSET` of both balances is its only and
/// last write (module docs).
pub const TRANSFER_SCRIPT: &str = "local from = tonumber(redis.call('HGET', KEYS[1], ARGV[1])); \
     local to = tonumber(redis.call('HGET', KEYS[1], ARGV[2])); \
     if not from or not to then return -1 end; \
     local amount = tonumber(ARGV[3]); \
     if from < amount then return 0 end; \
     redis.call('HSET', KEYS[1], ARGV[1], from - amount, ARGV[2], to + amount); \
     return 1";

/// The transfer script's answers.
pub const MOVED: i64 = 1;
pub const INSUFFICIENT: i64 = 0;
pub const NO_ACCOUNT: i64 = -1;

/// The transfer script's `EVAL`.
pub fn transfer_command(from: i64, to: i64, amount: i64) -> redis::Cmd {
    let mut c = redis::cmd("EVAL");
    c.arg(TRANSFER_SCRIPT)
        .arg(1)
        .arg(BANK_KEY)
        .arg(from)
        .arg(to)
        .arg(amount);
    c
}

/// The open script's `EVAL`: account 0 holds `total`, the others nothing.
pub fn open_command(accounts: i64, total: i64) -> redis::Cmd {
    let mut c = redis::cmd("EVAL");
    c.arg(OPEN_SCRIPT).arg(1).arg(BANK_KEY);
    for a in 0..accounts {
        c.arg(a).arg(if a == 0 { total } else { 0 });
    }
    c
}

/// What the transfer script's answer means (module docs for the sorting).
pub fn transfer_outcome(answer: i64, from: i64, to: i64) -> Result<(), ClientError> {
    match answer {
        MOVED => Ok(()),
        INSUFFICIENT => Err(ClientError::Definite(INSUFFICIENT_FUNDS.into())),
        NO_ACCOUNT => Err(ClientError::Definite(format!(
            "transfer: account {from} or {to} does not exist in {BANK_KEY} (or holds no number)"
        ))),
        other => Err(ClientError::Indefinite(format!(
            "transfer: the script answered {other}, which it cannot"
        ))),
    }
}

/// Every account's balance from `HGETALL`'s reply, by account. A field that is not an account
/// or a value that is not a balance was not written by this workload: the read fails
/// (`Definite`: a read changes nothing).
pub fn balances(reply: BTreeMap<String, String>) -> Result<Vec<(i64, i64)>, ClientError> {
    let mut accounts = Vec::with_capacity(reply.len());
    for (field, value) in reply {
        match (field.parse(), value.parse()) {
            (Ok(account), Ok(balance)) => accounts.push((account, balance)),
            _ => {
                return Err(ClientError::Definite(format!(
                    "read: {BANK_KEY} holds {field:?} = {value:?}, not an account balance"
                )))
            }
        }
    }
    accounts.sort_unstable();
    Ok(accounts)
}

impl BankClient for RedisClient {
    async fn open(&self, accounts: i64, total: i64) -> Result<(), ClientError> {
        // 1 when this client created the bank, 0 when it existed: both leave it open.
        self.request::<i64>("open", &open_command(accounts, total))
            .await
            .map(|_| ())
    }

    async fn transfer(&self, from: i64, to: i64, amount: i64) -> Result<(), ClientError> {
        if from == to {
            // The script's one HSET would write the account twice, the credit last.
            return Err(ClientError::Definite(format!(
                "transfer from account {from} to itself"
            )));
        }
        let answer: i64 = self
            .request("transfer", &transfer_command(from, to, amount))
            .await?;
        transfer_outcome(answer, from, to)
    }

    async fn read(&self) -> Result<Vec<(i64, i64)>, ClientError> {
        let reply = self
            .request("read", redis::cmd("HGETALL").arg(BANK_KEY))
            .await?;
        balances(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words of a packed command, without RESP's framing.
    fn words(c: &redis::Cmd) -> Vec<String> {
        String::from_utf8(c.get_packed_command())
            .unwrap()
            .split("\r\n")
            .filter(|w| !w.starts_with(['*', '$']) && !w.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_transfer_is_one_eval_on_the_bank_key_alone() {
        let w = words(&transfer_command(2, 5, 3));
        assert_eq!(w[0], "EVAL");
        assert_eq!(w[2..], ["1", BANK_KEY, "2", "5", "3"]);
        // Every key the script touches is declared: it names no key of its own.
        let script = &w[1];
        assert!(!script.contains("faultline"), "{script}");
        assert_eq!(script.matches("KEYS[1]").count(), 3, "{script}");
        // Its one write is the last command before the answer.
        assert_eq!(script.matches("HSET").count(), 1, "{script}");
        let hset = script.find("HSET").unwrap();
        assert!(!script[hset..].contains("redis.call('HGET'"), "{script}");
    }

    #[test]
    fn opening_puts_the_whole_total_in_account_zero_only_if_the_bank_is_absent() {
        let w = words(&open_command(3, 100));
        assert_eq!(w[0], "EVAL");
        assert_eq!(w[2..], ["1", BANK_KEY, "0", "100", "1", "0", "2", "0"]);
        let script = &w[1];
        assert!(script.starts_with("if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end"));
    }

    #[test]
    fn the_scripts_answers_are_sorted_by_what_they_prove() {
        assert!(transfer_outcome(MOVED, 1, 2).is_ok());
        match transfer_outcome(INSUFFICIENT, 1, 2) {
            Err(ClientError::Definite(why)) => assert_eq!(why, INSUFFICIENT_FUNDS),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            transfer_outcome(NO_ACCOUNT, 1, 2),
            Err(ClientError::Definite(_))
        ));
        assert!(matches!(
            transfer_outcome(7, 1, 2),
            Err(ClientError::Indefinite(_))
        ));
    }

    #[test]
    fn balances_are_read_by_account_and_garbage_fails_the_read() {
        let reply: BTreeMap<String, String> = [("10", "5"), ("2", "90"), ("0", "5")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(balances(reply).unwrap(), [(0, 5), (2, 90), (10, 5)]);
        assert!(balances(BTreeMap::new()).unwrap().is_empty());
        let garbage = BTreeMap::from([("x".to_string(), "1".to_string())]);
        assert!(matches!(balances(garbage), Err(ClientError::Definite(_))));
    }
}
