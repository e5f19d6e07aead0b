//! The nodes of a run: the local cluster's, or remote machines given by name, each with its
//! SSH remote. Everything here fails with an error naming the node.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Result};

use crate::cli::TestArgs;
use crate::cluster::Cluster;
use crate::control::dummy::DummyRemote;
use crate::control::ssh::{SshConfig, SshRemote};
use crate::control::{Cmd, Remote};
use crate::nemesis::partition::Node;

/// A node could not be reached: exit code 69.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

pub struct RunNode {
    pub name: String,
    pub ip: IpAddr,
    pub remote: Arc<dyn Remote>,
}

pub struct NodeSet {
    pub nodes: Vec<RunNode>,
}

impl NodeSet {
    /// Brings up the local cluster (`--local-cluster N`) or resolves `--nodes`/`--nodes-file`.
    pub fn resolve(args: &TestArgs, named: &[String]) -> Result<NodeSet> {
        if let Some(n) = args.local_cluster {
            let info = Cluster::up(&args.cluster, n)
                .map_err(|e| Unavailable(format!("local cluster {}: {e}", args.cluster)))?;
            let config = Arc::new(info.ssh_config());
            let nodes = info
                .nodes
                .iter()
                .map(|n| RunNode {
                    name: n.name.clone(),
                    ip: IpAddr::V4(n.ip),
                    remote: Arc::new(SshRemote::new(
                        n.name.clone(),
                        n.ip.to_string(),
                        config.clone(),
                    )),
                })
                .collect();
            return Ok(NodeSet { nodes });
        }
        let names = named.to_vec();
        if names.is_empty() {
            return Err(anyhow!(
                "no nodes: give --local-cluster N, --nodes or --nodes-file"
            ));
        }
        let secrets = crate::control::secret::ssh_secrets();
        let mut config = SshConfig {
            user: args.username.clone(),
            port: args.ssh_port,
            private_key: args.ssh_private_key.clone(),
            key_passphrase: secrets.key_passphrase,
            use_agent: args.ssh_private_key.is_none(),
            password: secrets.password,
            strict_host_key_checking: !args.no_strict_host_key_checking,
            ..SshConfig::default()
        };
        if let Some(k) = &args.known_hosts {
            config.known_hosts = Some(PathBuf::from(k));
        }
        let config = Arc::new(config);
        let dummy = args.dummy_ssh;
        let mut nodes = Vec::new();
        for name in names {
            let ip = (name.as_str(), args.ssh_port)
                .to_socket_addrs()
                .map_err(|e| Unavailable(format!("node {name}: cannot resolve its address: {e}")))?
                .next()
                .ok_or_else(|| Unavailable(format!("node {name}: no address")))?
                .ip();
            let remote: Arc<dyn Remote> = if dummy {
                Arc::new(DummyRemote::new(name.clone()))
            } else {
                Arc::new(SshRemote::new(name.clone(), ip.to_string(), config.clone()))
            };
            nodes.push(RunNode { remote, name, ip });
        }
        Ok(NodeSet { nodes })
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    pub fn describe(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("{} ({})", n.name, n.ip))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn nemesis_nodes(&self) -> Vec<Node> {
        self.nodes
            .iter()
            .map(|n| Node {
                name: n.name.clone(),
                ip: n.ip,
                remote: n.remote.clone(),
            })
            .collect()
    }

    /// Runs `true` on every node at once; an error names every node that did not answer.
    pub async fn check_reachable(&self) -> Result<()> {
        let mut tasks = Vec::new();
        for n in &self.nodes {
            let remote = n.remote.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                remote.run(&Cmd::new("true"), Some(std::time::Duration::from_secs(10)))
            }));
        }
        let mut failures = Vec::new();
        for (n, t) in self.nodes.iter().zip(tasks) {
            match t.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => failures.push(format!("{e}")),
                Err(e) => failures.push(format!("node {}: {e}", n.name)),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Unavailable(format!("cannot reach every node: {}", failures.join("; "))).into())
        }
    }

    /// Each node's name and remote.
    pub fn remotes(&self) -> Vec<(String, Arc<dyn Remote>)> {
        self.nodes
            .iter()
            .map(|n| (n.name.clone(), n.remote.clone()))
            .collect()
    }

    /// The nodes as a datastore sees them.
    pub fn db_nodes(&self) -> Vec<crate::db::DbNode> {
        self.nodes
            .iter()
            .map(|n| crate::db::DbNode {
                name: n.name.clone(),
                ip: n.ip.to_string(),
                remote: n.remote.clone(),
            })
            .collect()
    }
}
