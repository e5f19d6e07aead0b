//! The network nemesis against a real local cluster: partitions cut exactly the pairs a grudge
//! names, and healing restores everything while touching only faultline's own rules.
//!
//! Needs root. Each test brings up its own uniquely named cluster and tears it down when it
//! ends (also on failure). Connectivity is probed with the sshd every node already runs: from
//! node A, `bash -c '</dev/tcp/IP_B/22'` connects or, when the pair is cut, times out.

use faultline::control;

use faultline::nemesis;

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::test_cluster::TestCluster;
use control::ssh::{SshConfig, SshRemote};
use control::Cmd;
use faultline_workloads::generator::Rng;
use nemesis::partition::{self, in_parallel, Node, CHAIN};
use nemesis::{Grudge, Nemesis};

const T: Duration = Duration::from_secs(10);

impl TestCluster {
    fn nodes(&self) -> Vec<Node> {
        self.info
            .nodes
            .iter()
            .zip(self.info.remotes())
            .map(|(n, r)| Node {
                name: n.name.clone(),
                ip: n.ip.into(),
                remote: Arc::new(r),
            })
            .collect()
    }

    fn names(&self) -> Vec<String> {
        self.info.nodes.iter().map(|n| n.name.clone()).collect()
    }
}

/// For every ordered pair (a, b) of distinct nodes, whether a can open a TCP connection to b's
/// sshd. Each node probes all its peers at once in one command, and all nodes run at once, so a
/// cut costs one probe timeout, not one per pair.
fn reachability(nodes: &[Node]) -> BTreeMap<(String, String), bool> {
    let per_node = in_parallel(nodes, |a| {
        let peers: Vec<&Node> = nodes.iter().filter(|b| b.name != a.name).collect();
        let mut script = String::new();
        for b in &peers {
            script.push_str(&format!(
                "(timeout 2 bash -c '</dev/tcp/{ip}/22' 2>/dev/null && echo {ip} ok || echo {ip} cut) & ",
                ip = b.ip
            ));
        }
        script.push_str("wait");
        let out = a
            .remote
            .run(&Cmd::shell(script), Some(T))
            .unwrap_or_else(|e| panic!("probe: {e}"));
        peers
            .iter()
            .map(|b| {
                let line = out
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some(&b.ip.to_string()))
                    .unwrap_or_else(|| panic!("no probe result for {} in {out}", b.name));
                ((a.name.clone(), b.name.clone()), line.ends_with(" ok"))
            })
            .collect::<Vec<_>>()
    });
    per_node.into_iter().flatten().collect()
}

/// Asserts that exactly the pairs `grudge` blocks are cut.
fn assert_cut_as(nodes: &[Node], grudge: &Grudge) {
    let cut = reachability(nodes);
    for ((a, b), ok) in &cut {
        assert_eq!(
            *ok,
            !grudge.blocks(a, b),
            "{a} -> {b} under {grudge:?}: {cut:?}"
        );
    }
}

fn assert_all_reachable(nodes: &[Node]) {
    for ((a, b), ok) in reachability(nodes) {
        assert!(ok, "{a} cannot reach {b}");
    }
}

fn input_jumps(node: &Node) -> usize {
    node.remote
        .run(&Cmd::shell("iptables -w -S INPUT"), Some(T))
        .expect("iptables -S")
        .lines()
        .filter(|l| l.contains(&format!("-j {CHAIN}")))
        .count()
}

#[test]
fn random_halves_cut_exactly_the_grudged_pairs_and_heal_all_restores_everything() {
    let c = TestCluster::up("ft-nemh", 3);
    let nodes = c.nodes();
    let nem = Nemesis::new(nodes.clone());
    assert_all_reachable(&nodes);

    // A rule faultline did not create: healing must leave it alone.
    let foreign = format!("-A INPUT -s 10.77.{}.250/32 -j DROP", c.info.subnet_octet);
    nodes[0]
        .remote
        .run(&Cmd::shell(format!("iptables -w {foreign}")), Some(T))
        .expect("foreign rule");

    let grudge = Grudge::random_halves(&c.names(), &mut Rng::new(3));
    let event = nem.partition(&grudge).expect("partition");
    assert_eq!(event.f, "start-partition");
    assert_eq!(event.value, grudge.to_json());
    let cut = reachability(&nodes);
    let mut blocked = 0;
    for ((a, b), ok) in &cut {
        assert_eq!(
            *ok,
            !grudge.blocks(a, b),
            "{a} -> {b} under {grudge:?}: {cut:?}"
        );
        blocked += usize::from(!ok);
    }
    assert_eq!(blocked, 4, "1 | 2 split cuts two pairs, both ways");

    // A second partition on top adds rules but never a second jump from INPUT.
    nem.partition(&grudge).expect("partition again");
    for n in &nodes {
        assert_eq!(input_jumps(n), 1, "{}", n.name);
    }

    let start = Instant::now();
    assert_eq!(nem.heal_all().expect("heal").f, "heal-all");
    eprintln!("heal_all on 3 nodes: {:?}", start.elapsed());
    assert!(nem.active().is_empty());
    for n in &nodes {
        assert_eq!(partition::rules(n, T).expect("rules"), Vec::<String>::new());
    }
    assert_all_reachable(&nodes);
    let input = nodes[0]
        .remote
        .run(&Cmd::shell("iptables -w -S INPUT"), Some(T))
        .expect("iptables -S");
    assert!(input.contains(&foreign), "foreign rule lost: {input}");

    // Idempotent, also on nodes the nemesis no longer remembers.
    nem.heal_all().expect("second heal");
    for n in &nodes {
        partition::heal(n, T).expect("heal by hand");
        assert!(partition::rules(n, T).expect("rules").is_empty());
    }
}

#[test]
fn packet_loss_drops_through_a_statistic_rule_that_heal_removes() {
    let c = TestCluster::up("ft-neml", 3);
    let nodes = c.nodes();
    let nem = Nemesis::new(nodes.clone());
    // Probability 1 makes the outcome certain while going through the statistic match.
    let event = nem
        .packet_loss("n1", &["n2".to_string()], 1.0)
        .expect("packet loss");
    assert_eq!(event.f, "start-packet-loss");
    let rules = partition::rules(&nodes[0], T).expect("rules");
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert!(
        rules[0].contains("statistic") && rules[0].contains(&nodes[1].ip.to_string()),
        "{rules:?}"
    );
    let r = reachability(&nodes);
    assert!(!r[&("n1".to_string(), "n2".to_string())]);
    assert!(!r[&("n2".to_string(), "n1".to_string())]);
    assert!(r[&("n1".to_string(), "n3".to_string())]);
    assert!(r[&("n3".to_string(), "n2".to_string())]);
    assert!(matches!(
        nem.packet_loss("n1", &["n2".to_string()], 1.5),
        Err(nemesis::NemesisError::Probability(_))
    ));
    nem.heal_all().expect("heal");
    assert_all_reachable(&nodes);
}

#[test]
fn heal_all_names_an_unreachable_node_and_still_heals_the_others() {
    let c = TestCluster::up("ft-nemu", 3);
    let mut nodes = c.nodes();
    // A fourth node at an address of the cluster's subnet that no namespace has.
    let ip = format!("10.77.{}.99", c.info.subnet_octet);
    let config = Arc::new(SshConfig {
        connect_retries: 0,
        connect_timeout: Duration::from_secs(1),
        ..c.info.ssh_config()
    });
    nodes.push(Node {
        name: "n9".into(),
        ip: ip.parse().expect("ip"),
        remote: Arc::new(SshRemote::new("n9", ip, config)),
    });
    let nem = Nemesis::new(nodes.clone()).with_timeout(Duration::from_secs(5));
    let grudge = Grudge::complete(&[
        vec!["n1".into()],
        vec!["n2".into(), "n3".into(), "n9".into()],
    ]);
    let e = nem.partition(&grudge).expect_err("n9 is unreachable");
    assert!(e.to_string().contains("node n9"), "{e}");
    assert!(!reachability(&nodes[..3])[&("n1".to_string(), "n2".to_string())]);

    let start = Instant::now();
    let e = nem.heal_all().expect_err("n9 is still unreachable");
    let took = start.elapsed();
    assert!(e.to_string().contains("node n9"), "{e}");
    assert!(!e.to_string().contains("node n1"), "{e}");
    assert!(took < Duration::from_secs(8), "heal took {took:?}");
    for n in &nodes[..3] {
        assert!(
            partition::rules(n, T).expect("rules").is_empty(),
            "{}",
            n.name
        );
    }
    assert_all_reachable(&nodes[..3]);
    let active = nem.active();
    assert_eq!(active.network.into_iter().collect::<Vec<_>>(), vec!["n9"]);
}

#[test]
fn every_grudge_shape_cuts_exactly_its_pairs_on_five_nodes() {
    let c = TestCluster::up("ft-nem5", 5);
    let nodes = c.nodes();
    let names = c.names();
    let nem = Nemesis::new(nodes.clone());
    let mut rng = Rng::new(11);
    let shapes = [
        ("random-halves", Grudge::random_halves(&names, &mut rng)),
        ("majorities-ring", Grudge::majorities_ring(&names, &mut rng)),
        ("isolate-one", Grudge::isolate_one(&names, &mut rng)),
        ("bridge", Grudge::bridge(&names, &mut rng)),
    ];
    for (shape, grudge) in &shapes {
        let start = Instant::now();
        nem.partition(grudge)
            .unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert_cut_as(&nodes, grudge);
        nem.heal_all().unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert_all_reachable(&nodes);
        eprintln!(
            "{shape}: partition, probe, heal, probe: {:?}",
            start.elapsed()
        );
    }
}
