//! Redis's clients of the counter and unique-ids workloads: `INCRBY` and `INCR` on one key
//! each, sent to the primary that the node's Sentinel names (see [`super::client`] for how the
//! primary is found and followed).
//!
//! # Why an add and an id are atomic
//! Redis runs one command at a time, so `INCRBY` reads, adds and writes the counter with
//! nothing in between on the server it reaches: no lost update between concurrent clients,
//! unlike a `GET` then `SET`. `INCR` hands each caller the value it wrote, so two callers on one
//! server never get the same id. Whatever the checkers find therefore comes from replication
//! and failover: a replica promoted before it received the old primary's last increments
//! counts from an older value (lost adds; ids handed out again).
//!
//! A read is `GET`; an absent counter is 0 (the workload starts with no key).
//!
//! # Why an error is `Definite` or `Indefinite`
//! As for every Redis command ([`super::client`]): `INCRBY` and `INCR` are single commands, so
//! an error reply (`READONLY` on a demoted primary, `NOREPLICAS` under
//! `--redis-min-replicas-to-write`) proves nothing was incremented: `Definite`. A timeout or a
//! connection lost after sending may hide an increment that happened: `Indefinite` (an id used
//! up that way is allowed; an add becomes `info`). A reply that is not an integer comes after
//! the command ran: `Indefinite`.

use faultline_workloads::counter::CounterClient;
use faultline_workloads::unique_ids::IdClient;
use faultline_workloads::ClientError;

use super::client::RedisClient;

/// Where the counter lives.
pub const COUNTER_KEY: &str = "faultline-counter";
/// The key whose increments are the ids.
pub const IDS_KEY: &str = "faultline-ids";

/// The counter's value from `GET`'s reply: absent is 0. A value that is not an integer was not
/// written by this workload; a read changes nothing, so `Definite`.
pub fn counter_value(reply: Option<String>) -> Result<i64, ClientError> {
    match reply {
        None => Ok(0),
        Some(text) => text.parse().map_err(|_| {
            ClientError::Definite(format!(
                "read: {COUNTER_KEY} holds {text:?}, not an integer"
            ))
        }),
    }
}

impl CounterClient for RedisClient {
    async fn add(&self, amount: i64) -> Result<(), ClientError> {
        // The reply is the new value; the workload records the amount, not the sum.
        self.request::<i64>("add", redis::cmd("INCRBY").arg(COUNTER_KEY).arg(amount))
            .await
            .map(|_| ())
    }

    async fn read(&self) -> Result<i64, ClientError> {
        let reply: Option<String> = self
            .request("read", redis::cmd("GET").arg(COUNTER_KEY))
            .await?;
        counter_value(reply)
    }
}

impl IdClient for RedisClient {
    /// The value `INCR` wrote: 1 for the first id on an empty key.
    async fn generate(&self) -> Result<i64, ClientError> {
        self.request("generate", redis::cmd("INCR").arg(IDS_KEY))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_counter_reads_as_zero_and_garbage_is_a_definite_failure() {
        assert_eq!(counter_value(None).unwrap(), 0);
        assert_eq!(counter_value(Some("-42".into())).unwrap(), -42);
        assert!(matches!(
            counter_value(Some("12a".into())),
            Err(ClientError::Definite(_))
        ));
    }

    #[test]
    fn the_counter_and_the_ids_have_keys_of_their_own() {
        assert_ne!(COUNTER_KEY, IDS_KEY);
        let packed = redis::cmd("INCRBY")
            .arg(COUNTER_KEY)
            .arg(5_i64)
            .get_packed_command();
        assert_eq!(
            String::from_utf8(packed).unwrap(),
            "*3\r\n$6\r\nINCRBY\r\n$17\r\nfaultline-counter\r\n$1\r\n5\r\n"
        );
    }
}
