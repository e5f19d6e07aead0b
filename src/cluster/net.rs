//! The cluster's network: one namespace per node, a veth pair from each into one bridge, and
//! a guard route. Names and the subnet derive from the cluster's name so that clusters (and
//! other tools' namespaces) never collide.
//!
//! Nothing here gives a namespace a default route: traffic from a node can reach only the
//! other nodes and the bridge's address (this machine), never the outside world. The guard
//! route (`unreachable SUBNET metric 4000`) makes sure that, should the bridge vanish, packets
//! for the cluster's addresses are refused rather than sent out of the machine's real interface.

use std::net::Ipv4Addr;
use std::path::Path;

use super::host::{run, run_quietly};
use super::ClusterError;

/// Metric of the guard route: higher than the bridge's own route, so it only matters without it.
const GUARD_METRIC: &str = "4000";

/// The third octet of the cluster's 10.77.K.0/24 subnet that a name asks for first: 0 for the
/// default cluster `fl` (the addresses in CLUSTER.md), otherwise a hash of the name in 1..=254,
/// so the same name gets the same addresses from run to run.
pub(crate) fn preferred_octet(name: &str) -> u8 {
    if name == super::DEFAULT_NAME {
        return 0;
    }
    // FNV-1a: tiny, stable across Rust versions (unlike DefaultHasher).
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    1 + (h % 254) as u8
}

/// Chooses the subnet octet for `name`: the preferred one, or the next free one, skipping
/// octets that another cluster has recorded (`claimed`) or that some interface on this machine
/// already has an address in.
pub(crate) fn choose_octet(name: &str, claimed: &[u8]) -> Result<u8, ClusterError> {
    let addrs = run("ip", &["-o", "-4", "addr", "show"])?;
    let in_use = |k: u8| claimed.contains(&k) || addrs.contains(&format!("inet 10.77.{k}."));
    let first = preferred_octet(name);
    let candidates = (0..=255u16).map(|step| ((u16::from(first) + step) % 256) as u8);
    candidates
        // 0 belongs to the default cluster; 255 would put the bridge on a broadcast-looking net.
        .filter(|&k| (k != 0 || name == super::DEFAULT_NAME) && k != 255)
        .find(|&k| !in_use(k))
        .ok_or(ClusterError::NoFreeSubnet)
}

/// The address of node `i` (1-based) in subnet `octet`: 10.77.K.(10+i).
pub(crate) fn node_ip(octet: u8, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, octet, (10 + i) as u8)
}

/// The bridge's own address (this machine, as seen from the nodes).
pub(crate) fn bridge_ip(octet: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, octet, 1)
}

/// The subnet in CIDR notation.
pub(crate) fn subnet(octet: u8) -> String {
    format!("10.77.{octet}.0/24")
}

/// Whether a network interface exists in the root namespace.
pub(crate) fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Whether a named network namespace exists.
pub(crate) fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// Names of existing namespaces that belong to cluster `name` (`<name>-n<digits>`), including
/// ones a previous, larger or killed run left behind.
pub(crate) fn cluster_netns(name: &str) -> Vec<String> {
    let prefix = format!("{name}-n");
    let mut found: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| is_numbered(n, &prefix))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Names of links in the root namespace that belong to cluster `name`: its veths
/// (`<name>-v<digits>`) and its bridge.
pub(crate) fn cluster_links(name: &str) -> Vec<String> {
    let prefix = format!("{name}-v");
    let bridge = bridge_name(name);
    std::fs::read_dir("/sys/class/net")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| is_numbered(n, &prefix) || *n == bridge)
                .collect()
        })
        .unwrap_or_default()
}

fn is_numbered(candidate: &str, prefix: &str) -> bool {
    candidate
        .strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// The bridge of cluster `name`.
pub(crate) fn bridge_name(name: &str) -> String {
    format!("{name}-br")
}

/// The octet of the address currently on cluster `name`'s bridge, if the bridge exists: how a
/// teardown finds the guard route to delete when the recorded state is gone.
pub(crate) fn bridge_octet(name: &str) -> Option<u8> {
    let out = run(
        "ip",
        &["-o", "-4", "addr", "show", "dev", &bridge_name(name)],
    )
    .ok()?;
    let addr = out.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
    let ip: Ipv4Addr = addr.split('/').next()?.parse().ok()?;
    let [a, b, k, _] = ip.octets();
    (a == 10 && b == 77).then_some(k)
}

/// One node's plumbing.
pub(crate) struct NodeLink<'a> {
    pub netns: &'a str,
    pub veth: &'a str,
    pub ip: Ipv4Addr,
}

/// Creates the guard route, the bridge and every node's namespace and veth pair.
pub(crate) fn create(name: &str, octet: u8, nodes: &[NodeLink<'_>]) -> Result<(), ClusterError> {
    let subnet = subnet(octet);
    // Guard first, so there is never a moment where these addresses could leave the machine.
    run(
        "ip",
        &[
            "route",
            "replace",
            "unreachable",
            &subnet,
            "metric",
            GUARD_METRIC,
        ],
    )?;
    let bridge = bridge_name(name);
    run("ip", &["link", "add", &bridge, "type", "bridge"])?;
    run(
        "ip",
        &[
            "addr",
            "add",
            &format!("{}/24", bridge_ip(octet)),
            "dev",
            &bridge,
        ],
    )?;
    run("ip", &["link", "set", &bridge, "up"])?;
    for n in nodes {
        let addr = format!("{}/24", n.ip);
        run("ip", &["netns", "add", n.netns])?;
        run(
            "ip",
            &[
                "link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.netns,
            ],
        )?;
        run("ip", &["link", "set", n.veth, "master", &bridge, "up"])?;
        run("ip", &["-n", n.netns, "addr", "add", &addr, "dev", "eth0"])?;
        run("ip", &["-n", n.netns, "link", "set", "eth0", "up"])?;
        run("ip", &["-n", n.netns, "link", "set", "lo", "up"])?;
    }
    Ok(())
}

/// Deletes the namespaces, links and guard route of cluster `name` that exist. Processes in the
/// namespaces must have been stopped first (a namespace outlives its name while processes use it).
pub(crate) fn remove(name: &str, octet: Option<u8>) {
    for ns in cluster_netns(name) {
        run_quietly("ip", &["netns", "del", &ns]);
    }
    // Deleting a namespace deletes its end of each veth pair and with it our end; whatever is
    // left (a veth whose namespace was deleted by hand, the bridge) goes explicitly.
    for link in cluster_links(name) {
        run_quietly("ip", &["link", "del", &link]);
    }
    if let Some(k) = octet {
        run_quietly(
            "ip",
            &[
                "route",
                "del",
                "unreachable",
                &subnet(k),
                "metric",
                GUARD_METRIC,
            ],
        );
    }
}

/// Whether the guard route for `octet` is present.
pub(crate) fn guard_route_exists(octet: u8) -> bool {
    run(
        "ip",
        &["route", "show", "type", "unreachable", &subnet(octet)],
    )
    .is_ok_and(|out| !out.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cluster_uses_the_documented_subnet() {
        assert_eq!(preferred_octet("fl"), 0);
        assert_eq!(node_ip(0, 1), Ipv4Addr::new(10, 77, 0, 11));
        assert_eq!(subnet(0), "10.77.0.0/24");
    }

    #[test]
    fn other_names_get_a_stable_nonzero_octet() {
        let k = preferred_octet("ft-exec");
        assert_ne!(k, 0);
        assert_ne!(k, 255);
        assert_eq!(k, preferred_octet("ft-exec"));
        assert_ne!(preferred_octet("ft-exec"), preferred_octet("ft-xfer"));
    }

    #[test]
    fn numbered_names_match_only_digits() {
        assert!(is_numbered("fl-n1", "fl-n"));
        assert!(is_numbered("fl-n12", "fl-n"));
        assert!(!is_numbered("fl-n-n1", "fl-n"));
        assert!(!is_numbered("fl-n", "fl-n"));
    }
}
