//! What each node says about the cluster, and whether that makes a cluster ready to test.
//!
//! Every node is asked on the node itself with `redis-cli` (so this works however the control
//! machine reaches the nodes): its Sentinel for the primary it names and whether it could fail
//! over (`SENTINEL CKQUORUM`: enough Sentinels known and reachable for the quorum and for the
//! majority that authorizes a failover), its server for its replication state.
//!
//! The cluster is ready when every Sentinel names the same primary, that primary's server says
//! it is the primary, every other server is its replica with the link up and has caught up with
//! the offset the primary had one poll earlier (so a final read of a replica sees every write
//! made before the workload stopped), every Sentinel could fail over, and every Sentinel knows
//! every replica. A Sentinel that could not elect a primary (too few Sentinels for its quorum,
//! Sentinels that never find each other) keeps the cluster not ready: a failover test on it
//! would test nothing. So does a Sentinel that has not yet learnt of a replica (Sentinels find
//! replicas in the primary's `INFO`, which they ask for every 10 s): if the primary failed
//! then, no Sentinel would tell that replica to follow the new primary, and it would stay
//! behind the old one until the next recovery gave up waiting.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use crate::control::shell::shell_escape;
use crate::control::Cmd;
use crate::db::daemon::each;
use crate::db::DbError;

use super::cluster::{Redis, RedisNode, CLI_BIN};
use super::config::{MASTER_NAME, SENTINEL_PORT, SERVER_PORT};

/// Pause between two looks at the cluster.
const POLL: Duration = Duration::from_millis(250);
/// Bound on each `redis-cli` call: a paused server accepts connections and never answers.
const ASK_TIMEOUT_SECS: u32 = 2;

/// A server's replication state (`INFO replication`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// `role:master`, with `master_repl_offset`.
    Primary { offset: i64 },
    /// `role:slave`, following `primary_ip`, with `slave_repl_offset`.
    Replica {
        primary_ip: String,
        link_up: bool,
        offset: i64,
    },
}

/// What one node says; each part is the answer or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// The primary its Sentinel names, `ip:port`.
    pub named: Result<String, String>,
    /// Whether its Sentinel could fail over.
    pub quorum: Result<(), String>,
    /// Its server's replication state.
    pub server: Result<Replication, String>,
    /// The addresses of the replicas its Sentinel knows (`SENTINEL replicas`).
    pub replicas: Result<Vec<String>, String>,
}

impl NodeView {
    fn unreachable(why: &str) -> NodeView {
        NodeView {
            named: Err(why.to_string()),
            quorum: Err(why.to_string()),
            server: Err(why.to_string()),
            replicas: Err(why.to_string()),
        }
    }
}

/// Asks `node` about its Sentinel and its server, in one command on the node.
pub fn look(node: &RedisNode) -> NodeView {
    let ask = |port: u16, words: &str| {
        format!(
            "timeout {ASK_TIMEOUT_SECS} {CLI_BIN} -h {ip} -p {port} {words} 2>&1",
            ip = shell_escape(&node.ip)
        )
    };
    let script = format!(
        "echo '~named'; {named}; echo '~quorum'; {quorum}; echo '~server'; {server}; \
         echo '~replicas'; {replicas}; true",
        named = ask(
            SENTINEL_PORT,
            &format!("SENTINEL get-master-addr-by-name {MASTER_NAME}")
        ),
        quorum = ask(SENTINEL_PORT, &format!("SENTINEL ckquorum {MASTER_NAME}")),
        server = ask(SERVER_PORT, "INFO replication"),
        replicas = ask(SENTINEL_PORT, &format!("SENTINEL replicas {MASTER_NAME}")),
    );
    match node
        .remote
        .run(&Cmd::shell(script), Some(Duration::from_secs(15)))
    {
        Ok(out) => parse_view(&out),
        Err(e) => NodeView::unreachable(&e.to_string()),
    }
}

/// Reads the output of [`look`]'s script.
fn parse_view(out: &str) -> NodeView {
    let mut sections: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut current = "";
    for line in out.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(name) = line.strip_prefix('~') {
            current = name;
            sections.entry(name).or_default();
        } else if !line.trim().is_empty() {
            sections.entry(current).or_default().push(line.trim());
        }
    }
    let section = |name: &str| sections.get(name).cloned().unwrap_or_default();
    let silent = || format!("no answer within {ASK_TIMEOUT_SECS} s");
    let named = match section("named").as_slice() {
        [] => Err(format!("names no primary for {MASTER_NAME}")),
        [ip, port] if port.parse::<u16>().is_ok() => Ok(format!("{ip}:{port}")),
        other => Err(other.join(" ")),
    };
    let quorum = match section("quorum").as_slice() {
        [first, ..] if first.starts_with("OK") => Ok(()),
        [] => Err(silent()),
        other => Err(other.join(" ")),
    };
    let server = match section("server").as_slice() {
        [] => Err(silent()),
        lines => parse_replication(lines).ok_or_else(|| lines.join(" ")),
    };
    let replicas = parse_replicas(&section("replicas"));
    NodeView {
        named,
        quorum,
        server,
        replicas,
    }
}

/// `INFO replication`'s `key:value` lines as a [`Replication`].
fn parse_replication(lines: &[&str]) -> Option<Replication> {
    let fields: BTreeMap<&str, &str> = lines.iter().filter_map(|l| l.split_once(':')).collect();
    let number = |key: &str| fields.get(key).and_then(|v| v.parse::<i64>().ok());
    match *fields.get("role")? {
        "master" => Some(Replication::Primary {
            offset: number("master_repl_offset")?,
        }),
        "slave" => Some(Replication::Replica {
            primary_ip: fields.get("master_host")?.to_string(),
            link_up: fields.get("master_link_status") == Some(&"up"),
            offset: number("slave_repl_offset").unwrap_or(-1),
        }),
        _ => None,
    }
}

/// The replicas' addresses in `SENTINEL replicas`, which `redis-cli` prints one word a line:
/// for each replica its fields as name and value, in pairs (`name`, `10.0.0.12:6379`, `ip`,
/// `10.0.0.12`, ...). An empty answer is an empty list; anything else unpaired is an error.
fn parse_replicas(lines: &[&str]) -> Result<Vec<String>, String> {
    if !lines.len().is_multiple_of(2) || lines.first().is_some_and(|l| l.starts_with("ERR")) {
        return Err(lines.join(" "));
    }
    Ok(lines
        .chunks(2)
        .filter(|pair| pair[0] == "ip")
        .map(|pair| pair[1].to_string())
        .collect())
}

/// The primary and its offset at one look, for the next look's catching-up check.
pub type Mark = (String, i64);

/// Whether the cluster is ready, by what every node said (`views` in `nodes` order) and the
/// primary's offset at the previous look. Returns this look's mark with the verdict: `Err`
/// says, in a user's words, what is not ready yet.
pub fn judge(
    nodes: &[RedisNode],
    views: &[NodeView],
    previous: Option<&Mark>,
) -> (Option<Mark>, Result<(), String>) {
    // Every Sentinel names one primary.
    let mut named: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (n, v) in nodes.iter().zip(views) {
        match &v.named {
            Ok(addr) => named.entry(addr).or_default().push(&n.name),
            Err(why) => return (None, Err(format!("{}'s Sentinel: {why}", n.name))),
        }
    }
    if named.len() != 1 {
        let sides: Vec<String> = named
            .iter()
            .map(|(addr, who)| format!("{} name {addr}", who.join(", ")))
            .collect();
        return (
            None,
            Err(format!("the Sentinels disagree: {}", sides.join("; "))),
        );
    }
    let Some(addr) = named.keys().next().copied() else {
        return (None, Err("no Sentinel answered".into()));
    };
    let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
    let Some(index) = nodes.iter().position(|n| n.ip == ip) else {
        return (
            None,
            Err(format!(
                "the Sentinels name {addr}, which is no node of the cluster"
            )),
        );
    };
    let primary = &nodes[index].name;
    // Its server agrees.
    let offset = match &views[index].server {
        Ok(Replication::Primary { offset }) => *offset,
        Ok(Replication::Replica { primary_ip, .. }) => {
            return (
                None,
                Err(format!(
                    "the Sentinels name {primary}, whose server is a replica of {primary_ip}"
                )),
            )
        }
        Err(why) => {
            return (
                None,
                Err(format!(
                    "the Sentinels name {primary}, whose server does not answer: {why}"
                )),
            )
        }
    };
    let mark = Some((primary.clone(), offset));
    // Every other server follows it, with the link up; then, caught up.
    let caught_up_to = previous.filter(|(p, _)| p == primary).map(|(_, o)| *o);
    let replicas = || nodes.iter().zip(views).filter(|(n, _)| &n.name != primary);
    for (n, v) in replicas() {
        let why = match &v.server {
            Err(why) => format!("{}'s server: {why}", n.name),
            Ok(Replication::Primary { .. }) => {
                format!("{} is a primary too (the Sentinels name {primary})", n.name)
            }
            Ok(Replication::Replica { primary_ip, .. }) if primary_ip != ip => {
                format!("{} replicates {primary_ip}, not {primary}", n.name)
            }
            Ok(Replication::Replica { link_up: false, .. }) => {
                format!("{}'s link to {primary} is down", n.name)
            }
            Ok(Replication::Replica { .. }) => continue,
        };
        return (mark, Err(why));
    }
    for (n, v) in replicas() {
        if let Ok(Replication::Replica { offset, .. }) = &v.server {
            match caught_up_to {
                None => {
                    return (
                        mark,
                        Err("replicas not compared with the primary's offset yet".into()),
                    )
                }
                Some(want) if *offset < want => {
                    return (
                        mark,
                        Err(format!(
                            "{} is at offset {offset}, behind {primary}'s {want}",
                            n.name
                        )),
                    )
                }
                Some(_) => {}
            }
        }
    }
    // Every Sentinel could fail over, knowing every replica.
    for (n, v) in nodes.iter().zip(views) {
        if let Err(why) = &v.quorum {
            return (mark, Err(format!("{}'s Sentinel: {why}", n.name)));
        }
        let known = match &v.replicas {
            Ok(known) => known,
            Err(why) => return (mark, Err(format!("{}'s Sentinel: {why}", n.name))),
        };
        if let Some((r, _)) = replicas().find(|(r, _)| !known.contains(&r.ip)) {
            return (
                mark,
                Err(format!(
                    "{}'s Sentinel does not know {} as a replica yet",
                    n.name, r.name
                )),
            );
        }
    }
    (mark, Ok(()))
}

/// Looks at every node until the cluster is ready, or errors after `timeout` with what was
/// last not ready.
pub fn await_ready(redis: &Redis, timeout: Duration) -> Result<(), DbError> {
    let started = Instant::now();
    let mut previous: Option<Mark> = None;
    loop {
        let views = each(redis.nodes(), look);
        let (mark, verdict) = judge(redis.nodes(), &views, previous.as_ref());
        match verdict {
            Ok(()) => return Ok(()),
            Err(why) if started.elapsed() >= timeout => {
                return Err(DbError::NotReady {
                    db: "redis",
                    after: started.elapsed(),
                    detail: why,
                })
            }
            Err(_) => {
                previous = mark;
                thread::sleep(POLL);
            }
        }
    }
}

/// The current primary: the node a majority of the Sentinels name; without such a majority
/// (a partition, a failover under way), every node whose server says it is a primary.
pub fn primaries(redis: &Redis) -> Vec<String> {
    let nodes = redis.nodes();
    let views = each(nodes, look);
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &views {
        if let Ok(addr) = &v.named {
            *votes
                .entry(addr.rsplit_once(':').map_or(addr, |(ip, _)| ip))
                .or_default() += 1;
        }
    }
    if let Some((ip, _)) = votes.iter().find(|(_, &n)| n * 2 > nodes.len()) {
        if let Some(n) = redis.node_at(ip) {
            return vec![n.name.clone()];
        }
    }
    nodes
        .iter()
        .zip(&views)
        .filter(|(_, v)| matches!(v.server, Ok(Replication::Primary { .. })))
        .map(|(n, _)| n.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::local::LocalRemote;
    use std::sync::Arc;

    fn nodes() -> Vec<RedisNode> {
        (1..=3)
            .map(|i| RedisNode {
                name: format!("n{i}"),
                ip: format!("10.0.0.1{i}"),
                remote: Arc::new(LocalRemote::new(format!("n{i}"))),
            })
            .collect()
    }

    fn primary(offset: i64) -> Result<Replication, String> {
        Ok(Replication::Primary { offset })
    }

    fn replica(of: &str, link_up: bool, offset: i64) -> Result<Replication, String> {
        Ok(Replication::Replica {
            primary_ip: of.into(),
            link_up,
            offset,
        })
    }

    fn view(named: &str, server: Result<Replication, String>) -> NodeView {
        NodeView {
            named: Ok(named.into()),
            quorum: Ok(()),
            server,
            replicas: Ok(vec!["10.0.0.12".into(), "10.0.0.13".into()]),
        }
    }

    fn healthy(replica_offset: i64) -> Vec<NodeView> {
        vec![
            view("10.0.0.11:6379", primary(100)),
            view("10.0.0.11:6379", replica("10.0.0.11", true, replica_offset)),
            view("10.0.0.11:6379", replica("10.0.0.11", true, replica_offset)),
        ]
    }

    #[test]
    fn a_cluster_is_ready_once_the_replicas_caught_up_with_the_primary() {
        let (mark, verdict) = judge(&nodes(), &healthy(100), None);
        assert_eq!(mark, Some(("n1".to_string(), 100)));
        assert!(verdict.is_err(), "the first look cannot compare offsets");
        let (_, verdict) = judge(&nodes(), &healthy(90), mark.as_ref());
        assert_eq!(
            verdict,
            Err("n2 is at offset 90, behind n1's 100".to_string())
        );
        let (_, verdict) = judge(&nodes(), &healthy(120), mark.as_ref());
        assert_eq!(verdict, Ok(()));
    }

    #[test]
    fn sentinels_that_disagree_or_cannot_fail_over_are_not_ready() {
        let mut views = healthy(100);
        views[2].named = Ok("10.0.0.13:6379".into());
        let (_, verdict) = judge(&nodes(), &views, None);
        assert_eq!(
            verdict,
            Err(
                "the Sentinels disagree: n1, n2 name 10.0.0.11:6379; n3 name 10.0.0.13:6379".into()
            )
        );
        let mut views = healthy(100);
        views[1].quorum = Err("NOQUORUM 3 usable Sentinels".into());
        let mark = Some(("n1".to_string(), 100));
        let (_, verdict) = judge(&nodes(), &views, mark.as_ref());
        assert_eq!(
            verdict,
            Err("n2's Sentinel: NOQUORUM 3 usable Sentinels".into())
        );
    }

    #[test]
    fn a_sentinel_that_has_not_learnt_of_every_replica_is_not_ready() {
        let mark = Some(("n1".to_string(), 100));
        let mut views = healthy(100);
        views[2].replicas = Ok(vec!["10.0.0.12".into()]);
        let (_, verdict) = judge(&nodes(), &views, mark.as_ref());
        assert_eq!(
            verdict,
            Err("n3's Sentinel does not know n3 as a replica yet".into())
        );
        let mut views = healthy(100);
        views[0].replicas = Err("ERR No such master with that name".into());
        let (_, verdict) = judge(&nodes(), &views, mark.as_ref());
        assert_eq!(
            verdict,
            Err("n1's Sentinel: ERR No such master with that name".into())
        );
    }

    #[test]
    fn sentinel_replicas_are_read_as_pairs_of_name_and_value() {
        let lines = [
            "name", "10.0.0.12:6379", "ip", "10.0.0.12", "port", "6379", "flags", "slave",
            "name", "10.0.0.13:6379", "ip", "10.0.0.13", "port", "6379", "flags", "slave",
        ];
        assert_eq!(
            parse_replicas(&lines),
            Ok(vec!["10.0.0.12".to_string(), "10.0.0.13".to_string()])
        );
        assert_eq!(parse_replicas(&[]), Ok(vec![]));
        assert!(parse_replicas(&["ERR No such master with that name"]).is_err());
    }

    #[test]
    fn a_named_primary_that_is_a_replica_or_a_second_primary_is_not_ready() {
        let mut views = healthy(100);
        views[0].server = replica("10.0.0.12", true, 5);
        let verdict = judge(&nodes(), &views, None).1.unwrap_err();
        assert!(verdict.contains("whose server is a replica"), "{verdict}");
        let mut views = healthy(100);
        views[2].server = primary(7);
        let verdict = judge(&nodes(), &views, None).1.unwrap_err();
        assert!(verdict.contains("n3 is a primary too"), "{verdict}");
        let mut views = healthy(100);
        views[1].server = replica("10.0.0.11", false, 100);
        let verdict = judge(&nodes(), &views, None).1.unwrap_err();
        assert_eq!(verdict, "n2's link to n1 is down");
    }

    #[test]
    fn redis_cli_answers_are_read_section_by_section() {
        let out = "~named\n10.0.0.11\n6379\n~quorum\nOK 3 usable Sentinels. Quorum and failover \
                   authorization can be reached\n~server\n# Replication\r\nrole:slave\r\n\
                   master_host:10.0.0.11\r\nmaster_link_status:up\r\nslave_repl_offset:42\r\n";
        assert_eq!(
            parse_view(out),
            NodeView {
                named: Ok("10.0.0.11:6379".into()),
                quorum: Ok(()),
                server: replica("10.0.0.11", true, 42),
                replicas: Ok(vec![]),
            }
        );
        let out = "~named\n~quorum\nNOQUORUM 1 usable Sentinels. Not enough\n~server\n\
                   Could not connect to Redis at 10.0.0.11:6379: Connection refused\n";
        let v = parse_view(out);
        assert_eq!(v.named, Err("names no primary for faultline".into()));
        assert_eq!(
            v.quorum,
            Err("NOQUORUM 1 usable Sentinels. Not enough".into())
        );
        assert_eq!(
            v.server,
            Err("Could not connect to Redis at 10.0.0.11:6379: Connection refused".into())
        );
        let v = parse_view("~named\n~quorum\n~server\n");
        assert_eq!(v.server, Err("no answer within 2 s".into()));
    }
}
