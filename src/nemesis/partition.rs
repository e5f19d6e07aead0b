//! Network faults with iptables, inside each node (over its [`Remote`]).
//!
//! Every rule faultline adds lives in one dedicated chain, [`CHAIN`], created on first use and
//! jumped to from the node's INPUT chain exactly once. Healing flushes that chain and nothing
//! else, so rules that the machine or an operator put in INPUT survive any number of heals.
//!
//! Commands for all nodes run in parallel on plain threads (the SSH library is blocking, and a
//! partition that reaches nodes one by one would be a different, slower fault).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::grudge::Grudge;
use super::NemesisError;
use crate::control::{shell::shell_escape, Cmd, Remote};

/// The iptables chain that holds every rule faultline adds.
pub const CHAIN: &str = "FAULTLINE";

/// One node as the network nemesis sees it: its name (as grudges use it), its address (as the
/// other nodes' packets carry it) and the way to run commands on it.
#[derive(Clone)]
pub struct Node {
    /// The node's name, e.g. `n1`.
    pub name: String,
    /// The address its peers see as the packets' source.
    pub ip: IpAddr,
    /// How commands reach the node.
    pub remote: Arc<dyn Remote>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("ip", &self.ip)
            .finish()
    }
}

/// Shell text that creates [`CHAIN`] if absent and makes INPUT jump to it (once).
fn ensure_chain() -> String {
    format!(
        "{{ iptables -w -N {CHAIN} 2>/dev/null || true; }} && \
         {{ iptables -w -C INPUT -j {CHAIN} 2>/dev/null || iptables -w -I INPUT 1 -j {CHAIN}; }}"
    )
}

/// The command that drops packets from each of `sources` (with `probability`, or always).
pub fn drop_command(sources: &[IpAddr], probability: Option<f64>) -> Cmd {
    let mut line = ensure_chain();
    for ip in sources {
        line.push_str(&format!(
            " && iptables -w -A {CHAIN} -s {}",
            shell_escape(&ip.to_string())
        ));
        if let Some(p) = probability {
            line.push_str(&format!(" -m statistic --mode random --probability {p:.4}"));
        }
        line.push_str(" -j DROP");
    }
    Cmd::shell(line)
}

/// The command that removes every faultline rule from a node (and nothing else); a node that
/// never had the chain is already healed.
pub fn heal_command() -> Cmd {
    Cmd::shell(format!(
        "if iptables -w -n -L {CHAIN} >/dev/null 2>&1; then iptables -w -F {CHAIN}; fi"
    ))
}

/// Runs `f` on every item at once, one thread each, and returns the results in item order.
pub fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|item| s.spawn(move || f(item))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a nemesis worker thread panicked"))
            .collect()
    })
}

/// Folds per-node outcomes into one result: all errors are kept, none hides another.
pub fn all_ok(results: Vec<Result<(), NemesisError>>) -> Result<(), NemesisError> {
    let mut errors: Vec<NemesisError> = results.into_iter().filter_map(Result::err).collect();
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(NemesisError::Several(errors)),
    }
}

fn find<'a>(nodes: &'a [Node], name: &str) -> Result<&'a Node, NemesisError> {
    nodes
        .iter()
        .find(|n| n.name == name)
        .ok_or_else(|| NemesisError::UnknownNode {
            node: name.to_string(),
        })
}

/// Applies `grudge` on every node that holds one, in parallel. Each node `a` gets one DROP rule
/// per node it must not hear from. Returns every node's failure, each naming node and command.
pub fn apply_grudge(
    nodes: &[Node],
    grudge: &Grudge,
    timeout: Duration,
) -> Result<(), NemesisError> {
    // Resolve every name first: an unknown node is a mistake, and nothing is applied.
    let mut work: Vec<(&Node, Vec<IpAddr>)> = Vec::new();
    for name in grudge.nodes() {
        let node = find(nodes, name)?;
        let sources = grudge
            .drops(name)
            .map(|peer| find(nodes, peer).map(|p| p.ip))
            .collect::<Result<Vec<_>, _>>()?;
        if !sources.is_empty() {
            work.push((node, sources));
        }
    }
    all_ok(in_parallel(&work, |(node, sources)| {
        node.remote
            .run(&drop_command(sources, None), Some(timeout))
            .map(|_| ())
            .map_err(NemesisError::from)
    }))
}

/// Makes `node` lose each packet from `peers` with `probability` (0..=1).
pub fn packet_loss(
    node: &Node,
    peers: &[&Node],
    probability: f64,
    timeout: Duration,
) -> Result<(), NemesisError> {
    if !(0.0..=1.0).contains(&probability) {
        return Err(NemesisError::Probability(probability));
    }
    let sources: Vec<IpAddr> = peers.iter().map(|p| p.ip).collect();
    node.remote
        .run(&drop_command(&sources, Some(probability)), Some(timeout))?;
    Ok(())
}

/// Removes every faultline rule from `node`.
pub fn heal(node: &Node, timeout: Duration) -> Result<(), NemesisError> {
    node.remote.run(&heal_command(), Some(timeout))?;
    Ok(())
}

/// The rules currently in `node`'s faultline chain, as `iptables -S` prints them (empty when the
/// chain is empty or absent).
pub fn rules(node: &Node, timeout: Duration) -> Result<Vec<String>, NemesisError> {
    let out = node.remote.run(
        &Cmd::shell(format!("iptables -w -S {CHAIN} 2>/dev/null || true")),
        Some(timeout),
    )?;
    Ok(out
        .lines()
        .filter(|l| l.starts_with("-A "))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_command_creates_the_chain_once_and_appends_one_rule_per_source() {
        let ips: Vec<IpAddr> = vec!["10.77.0.12".parse().unwrap(), "10.77.0.13".parse().unwrap()];
        let cmd = drop_command(&ips, None).to_string();
        assert!(cmd.contains("iptables -w -N FAULTLINE"), "{cmd}");
        assert!(cmd.contains("iptables -w -C INPUT -j FAULTLINE"), "{cmd}");
        assert!(cmd.contains("-A FAULTLINE -s 10.77.0.12 -j DROP"), "{cmd}");
        assert!(cmd.contains("-A FAULTLINE -s 10.77.0.13 -j DROP"), "{cmd}");
        assert!(!cmd.contains("-F INPUT"), "{cmd}");
        let lossy = drop_command(&ips[..1], Some(0.3)).to_string();
        assert!(
            lossy.contains("-s 10.77.0.12 -m statistic --mode random --probability 0.3000 -j DROP"),
            "{lossy}"
        );
    }

    #[test]
    fn heal_flushes_only_the_faultline_chain() {
        let cmd = heal_command().to_string();
        assert!(cmd.contains("-F FAULTLINE"), "{cmd}");
        assert!(!cmd.contains("INPUT"), "{cmd}");
    }
}
