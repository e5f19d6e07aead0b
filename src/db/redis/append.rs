//! Redis's client of the list-append workload: a transaction is `MULTI`, one `RPUSH` (append)
//! or `LRANGE key 0 -1` (read) per micro-op in order, `EXEC`, sent as one pipeline to the
//! primary that the node's Sentinel names (see [`super::client`] for how the primary is found
//! and followed).
//!
//! Redis runs the commands of an `EXEC` one after the other with nothing in between, so on one
//! server every transaction is atomic and isolated: whatever the checker finds comes from
//! replication and failover (Sentinel promoting a replica that had not received everything,
//! an old primary on the minority side of a partition acknowledging transactions that the
//! failover then discards), which is what Jepsen's Redis analyses found: lost appends, reads
//! whose lists disagree on the order of elements (`incompatible-order`).
//!
//! # Why an error is `Definite` or `Indefinite`
//! As for single commands ([`super::client`]), and: a command refused while being queued
//! (`READONLY` on a demoted primary, `OOM`, a wrong argument) makes `EXEC` abort the whole
//! transaction (`EXECABORT`): `Definite`. An error inside `EXEC`'s reply comes from a command
//! that ran while the others took effect (Redis does not roll back): `Indefinite`. No such
//! error can happen with these commands on these keys, but a wrong `Definite` would hide a
//! write the checker must see.

use faultline_workloads::txn::{MicroOp, TxnClient};
use faultline_workloads::ClientError;
use redis::{FromRedisValue, Value};

use super::client::RedisClient;

/// The Redis key of list `key`.
pub fn list_key(key: u64) -> String {
    format!("append:{key}")
}

/// The `MULTI`/`EXEC` pipeline of a transaction, or why it cannot be one.
pub fn pipeline(txn: &[MicroOp]) -> Result<redis::Pipeline, ClientError> {
    let mut pipe = redis::pipe();
    pipe.atomic().ignore_errors();
    for m in txn {
        match m {
            MicroOp::Append { key, element } => {
                pipe.cmd("RPUSH").arg(list_key(*key)).arg(*element);
            }
            MicroOp::ReadList { key, .. } => {
                pipe.cmd("LRANGE").arg(list_key(*key)).arg(0).arg(-1);
            }
            other => {
                return Err(ClientError::Definite(format!(
                    "redis runs the list-append workload only, not {other:?}"
                )))
            }
        }
    }
    Ok(pipe)
}

/// Fills in the reads of `txn` from `EXEC`'s replies, one per micro-op.
pub fn fill(txn: &mut [MicroOp], replies: Vec<Value>) -> Result<(), ClientError> {
    if replies.len() != txn.len() {
        return Err(ClientError::Indefinite(format!(
            "EXEC answered {} replies for {} commands",
            replies.len(),
            txn.len()
        )));
    }
    for (m, reply) in txn.iter_mut().zip(replies) {
        if let Value::ServerError(e) = &reply {
            return Err(ClientError::Indefinite(format!(
                "a command inside EXEC failed, after or before others took effect: {e:?}"
            )));
        }
        if let MicroOp::ReadList { key, list } = m {
            *list = Vec::<i64>::from_redis_value(reply).map_err(|e| {
                ClientError::Indefinite(format!("LRANGE {}: unreadable reply: {e}", list_key(*key)))
            })?;
        }
    }
    Ok(())
}

impl TxnClient for RedisClient {
    async fn transact(&self, txn: &mut [MicroOp]) -> Result<(), ClientError> {
        let pipe = pipeline(txn)?;
        let replies: Vec<Value> = self.request("txn", &pipe).await?;
        fill(txn, replies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_is_one_multi_exec_of_rpush_and_lrange() {
        let txn = [
            MicroOp::Append { key: 3, element: 7 },
            MicroOp::ReadList {
                key: 3,
                list: Vec::new(),
            },
        ];
        let packed = String::from_utf8(pipeline(&txn).unwrap().get_packed_pipeline()).unwrap();
        let words: Vec<&str> = packed
            .split("\r\n")
            .filter(|w| !w.starts_with(['*', '$']) && !w.is_empty())
            .collect();
        assert_eq!(
            words,
            ["MULTI", "RPUSH", "append:3", "7", "LRANGE", "append:3", "0", "-1", "EXEC"]
        );
        let registers = [MicroOp::Write { key: 1, value: 2 }];
        assert!(matches!(pipeline(&registers), Err(ClientError::Definite(_))));
    }

    #[test]
    fn reads_are_filled_in_and_an_error_inside_exec_is_indefinite() {
        let mut txn = [
            MicroOp::Append { key: 3, element: 7 },
            MicroOp::ReadList {
                key: 3,
                list: Vec::new(),
            },
        ];
        fill(
            &mut txn,
            vec![
                Value::Int(2),
                Value::Array(vec![Value::BulkString(b"4".to_vec()), Value::BulkString(b"7".to_vec())]),
            ],
        )
        .unwrap();
        assert_eq!(
            txn[1],
            MicroOp::ReadList {
                key: 3,
                list: vec![4, 7]
            }
        );
        let server_error = redis::parse_redis_value(b"-WRONGTYPE wrong kind of value\r\n").unwrap();
        assert!(matches!(server_error, Value::ServerError(_)), "{server_error:?}");
        let e = fill(&mut txn, vec![Value::Int(3), server_error]).unwrap_err();
        assert!(matches!(e, ClientError::Indefinite(_)), "{e:?}");
        let e = fill(&mut txn, vec![Value::Int(3)]).unwrap_err();
        assert!(matches!(e, ClientError::Indefinite(_)), "{e:?}");
    }
}
