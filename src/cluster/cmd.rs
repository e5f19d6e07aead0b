//! `faultline cluster up|down|status`: the local cluster from the command line.
//!
//! Exit codes (as for every faultline command): 0 done / all nodes answer, 64 usage error
//! (bad cluster name or node count), 69 a node or the cluster is unavailable, 70 anything else.

use clap::{Args, Subcommand};

use super::{Cluster, ClusterError, DEFAULT_NAME, DEFAULT_NODES};

/// Arguments of `faultline cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub action: ClusterAction,
}

/// What to do with the local cluster.
#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Create the cluster (namespaces, bridge, one sshd per node); quick if it is already up.
    Up {
        /// Number of nodes (n1..nN).
        #[arg(long, default_value_t = DEFAULT_NODES)]
        nodes: usize,
        #[command(flatten)]
        name: NameArg,
    },
    /// Remove the cluster and every process running in it.
    Down {
        #[command(flatten)]
        name: NameArg,
    },
    /// Show each node, its address and whether its sshd answers.
    Status {
        #[command(flatten)]
        name: NameArg,
    },
}

/// Which cluster.
#[derive(Debug, Args)]
pub struct NameArg {
    /// Cluster name (up to 10 of a-z, 0-9, '-'); names its namespaces, bridge and subnet.
    #[arg(long = "cluster", default_value = DEFAULT_NAME)]
    pub cluster: String,
}

/// Runs a `cluster` subcommand and returns the process exit code.
pub fn run(args: &ClusterArgs) -> anyhow::Result<i32> {
    let outcome = match &args.action {
        ClusterAction::Up { nodes, name } => up(&name.cluster, *nodes),
        ClusterAction::Down { name } => Cluster::down(&name.cluster).map(|()| {
            println!("cluster {} is down", name.cluster);
            0
        }),
        ClusterAction::Status { name } => status(&name.cluster),
    };
    match outcome {
        Ok(code) => Ok(code),
        Err(e @ (ClusterError::InvalidName { .. } | ClusterError::InvalidNodeCount(_))) => {
            eprintln!("faultline: {e}");
            Ok(64)
        }
        Err(e @ (ClusterError::NotUp { .. } | ClusterError::SshdNotAnswering { .. })) => {
            eprintln!("faultline: {e}");
            Ok(69)
        }
        Err(e) => Err(anyhow::Error::new(e).context("local cluster")),
    }
}

fn up(name: &str, nodes: usize) -> Result<i32, ClusterError> {
    let info = Cluster::up(name, nodes)?;
    println!(
        "cluster {} is up: {} node(s) on {}",
        info.name,
        info.nodes.len(),
        info.subnet
    );
    for n in &info.nodes {
        println!("  {:<4} {}", n.name, n.ip);
    }
    if let Some(first) = info.nodes.first() {
        println!(
            "ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes {}@{}",
            info.private_key.display(),
            info.known_hosts.display(),
            info.user,
            first.ip
        );
    }
    Ok(0)
}

fn status(name: &str) -> Result<i32, ClusterError> {
    let (info, nodes) = Cluster::status(name)?;
    println!(
        "cluster {}: {} ({})",
        info.name,
        info.subnet,
        info.state_dir.display()
    );
    let mut all_up = true;
    for n in &nodes {
        let state = match (n.netns, n.sshd_pid, n.sshd_answers) {
            (true, Some(pid), true) => format!("sshd answers (pid {pid})"),
            (false, _, _) => "namespace missing".to_string(),
            (true, None, _) => "sshd not running".to_string(),
            (true, Some(pid), false) => format!("sshd (pid {pid}) does not answer"),
        };
        all_up &= n.sshd_answers;
        println!("  {:<4} {:<15} {state}", n.name, n.ip.to_string());
    }
    Ok(if all_up { 0 } else { 69 })
}
