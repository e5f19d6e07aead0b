//! The final reads: after healing and settling, what the datastore finally holds. The workload
//! says what to read and whether the first node to answer is enough (a register's value) or
//! every node must answer (a set, whose replicas may have kept different elements).

use std::sync::Arc;
use std::time::Duration;

use faultline_workloads::{Client, Completion, FinalNodes, FinalReads};

use super::log::Log;
use super::worker::{complete, record, Origin, Shared};
use crate::db::Db;
use faultline_checkers::history::OpType;

/// Issues the generator's final reads; a node that does not answer costs one timeout and is
/// passed over (for `FirstAnswer`, the next node is asked). A run of several workloads has one
/// set of reads per workload, each asked through that workload's client and recorded as its.
pub async fn final_reads(
    shared: &Shared,
    db: &Arc<dyn Db>,
    workload: &str,
    nodes: &[String],
    timeout: Duration,
    log: &Log,
) {
    let sets = shared
        .generator
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .final_reads();
    // Process numbers no worker uses; a read without answer retires its process, as in workers.
    let mut process = shared.concurrency * 1_000_000;
    for reads in &sets {
        let client_of = reads.part.unwrap_or(workload);
        process = read_set(shared, db, client_of, reads, nodes, timeout, log, process).await;
    }
}

/// Asks one set of reads through `client_of`'s client; returns the next unused process.
#[allow(clippy::too_many_arguments)]
async fn read_set(
    shared: &Shared,
    db: &Arc<dyn Db>,
    client_of: &str,
    reads: &FinalReads,
    nodes: &[String],
    timeout: Duration,
    log: &Log,
    mut process: u64,
) -> u64 {
    let mut clients: Vec<Option<Box<dyn Client>>> = Vec::new();
    for node in nodes {
        let client = match db.final_connector(client_of, node) {
            Ok(c) => match tokio::time::timeout(timeout, c.connect()).await {
                Ok(Ok(client)) => Some(client),
                Ok(Err(e)) => {
                    log.say(&format!("final reads: no client on {node}: {e}"));
                    None
                }
                Err(_) => {
                    log.say(&format!(
                        "final reads: no connection to {node} within {timeout:?}"
                    ));
                    None
                }
            },
            Err(e) => {
                log.say(&format!("final reads: {e}"));
                None
            }
        };
        clients.push(client);
    }
    let mut answered = 0;
    let mut asked = 0;
    for op in &reads.ops {
        let mut answered_once = false;
        for (node, client) in nodes.iter().zip(&clients) {
            let Some(client) = client else { continue };
            asked += 1;
            let origin = Origin {
                process,
                node,
                part: reads.part,
            };
            record(shared, origin, OpType::Invoke, op, op.value.clone(), None);
            let done = match tokio::time::timeout(timeout, client.invoke(op)).await {
                Ok(done) => done,
                Err(_) => Completion::Info(format!("no answer within {timeout:?}")),
            };
            let ok = matches!(done, Completion::Ok(_));
            if complete(shared, origin, op, done) || !ok {
                process += 1;
            }
            if ok {
                answered += 1;
                answered_once = true;
                if reads.on == FinalNodes::FirstAnswer {
                    break;
                }
            }
        }
        if !answered_once {
            log.say(&format!(
                "final reads: no node answered {} {}",
                op.f, op.value
            ));
        }
    }
    log.say(&format!(
        "final reads{}: {answered} of {} answered ({asked} asked)",
        reads.part.map(|p| format!(" of {p}")).unwrap_or_default(),
        match reads.on {
            FinalNodes::FirstAnswer => reads.ops.len(),
            FinalNodes::Every => reads.ops.len() * nodes.len(),
        }
    ));
    process
}
