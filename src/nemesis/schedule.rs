//! The nemesis schedule: a plain list of "at time t, start fault X on target T" and "at t +
//! interval, stop it", computed up front from the enabled faults, the interval and the seed.
//!
//! Jepsen composes generators to the same effect; here the whole schedule is data that a reader
//! (and a test) can print and inspect before anything runs. One fault is active at a time: quiet
//! for an interval, a fault for an interval, quiet, and so on until the time limit.

use std::time::Duration;

use faultline_workloads::generator::Rng;

use super::grudge::Grudge;

/// The probability with which a `packet-loss` fault drops each packet.
pub const PACKET_LOSS_PROBABILITY: f64 = 0.3;

/// The delay a `latency` fault adds to every packet its node receives.
pub const LATENCY_DELAY: Duration = Duration::from_millis(100);

/// A kind of fault that can be enabled for a test (`--nemesis` names, Jepsen's where it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Two random halves, cut from each other.
    PartitionRandomHalves,
    /// Every node sees a different majority.
    PartitionMajoritiesRing,
    /// One random node cut off from the rest.
    PartitionRandomNode,
    /// Two halves joined by one node that sees both.
    Bridge,
    /// One random node loses packets from all others with [`PACKET_LOSS_PROBABILITY`].
    PacketLoss,
    /// One random node receives every packet [`LATENCY_DELAY`] late.
    Latency,
    /// SIGKILL the datastore on one random node, restart it at the stop.
    Kill,
    /// SIGSTOP the datastore on one random node, SIGCONT at the stop.
    Pause,
    /// The current primary (leader) and a random minority with it, cut off from the majority:
    /// clients on the minority side keep talking to the old primary.
    PartitionPrimary,
}

impl Fault {
    /// Every fault, in a fixed order.
    pub const ALL: [Fault; 9] = [
        Fault::PartitionRandomHalves,
        Fault::PartitionMajoritiesRing,
        Fault::PartitionRandomNode,
        Fault::Bridge,
        Fault::PacketLoss,
        Fault::Latency,
        Fault::Kill,
        Fault::Pause,
        Fault::PartitionPrimary,
    ];

    /// The fault's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Fault::PartitionRandomHalves => "partition-random-halves",
            Fault::PartitionMajoritiesRing => "partition-majorities-ring",
            Fault::PartitionRandomNode => "partition-random-node",
            Fault::Bridge => "bridge",
            Fault::PacketLoss => "packet-loss",
            Fault::Latency => "latency",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::PartitionPrimary => "partition-primary",
        }
    }

    /// The fault called `name`, if any (`isolate` is another name of `partition-random-node`).
    pub fn parse(name: &str) -> Option<Fault> {
        if name == "isolate" {
            return Some(Fault::PartitionRandomNode);
        }
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether `--nemesis-targets` chooses this fault's nodes.
    pub fn is_targeted(self) -> bool {
        matches!(
            self,
            Fault::Kill | Fault::Pause | Fault::PartitionRandomNode
        )
    }

    /// One line of help.
    pub fn about(self) -> &'static str {
        match self {
            Fault::PartitionRandomHalves => "two random halves cut from each other",
            Fault::PartitionMajoritiesRing => "every node sees a different majority",
            Fault::PartitionRandomNode => "the targets cut off from the rest (alias: isolate)",
            Fault::Bridge => "two halves joined by one node that sees both",
            Fault::PacketLoss => "one node loses 30% of the packets from the others",
            Fault::Latency => "one node receives every packet 100 ms late",
            Fault::Kill => "SIGKILL the datastore on the targets, restart it at the stop",
            Fault::Pause => "SIGSTOP the datastore on the targets, SIGCONT at the stop",
            Fault::PartitionPrimary => "the primary with a minority, cut off from the majority",
        }
    }
}

/// Which nodes a targeted fault hits (`--nemesis-targets`, Jepsen's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Targets {
    /// One random node.
    #[default]
    One,
    /// A random minority (at least one node, fewer than half).
    Minority,
    /// A random majority.
    Majority,
    /// The current primary (leader), as the datastore says when the fault starts.
    Primary,
    /// Every node.
    All,
}

impl Targets {
    pub const ALL: [Targets; 5] = [
        Targets::One,
        Targets::Minority,
        Targets::Majority,
        Targets::Primary,
        Targets::All,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Targets::One => "one",
            Targets::Minority => "minority",
            Targets::Majority => "majority",
            Targets::Primary => "primary",
            Targets::All => "all",
        }
    }

    pub fn parse(name: &str) -> Option<Targets> {
        Targets::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Draws the nodes (never called for `Primary`, which the datastore names at run time).
    fn draw(self, nodes: &[String], rng: &mut Rng) -> Vec<String> {
        let shuffled = super::grudge::shuffle(nodes, rng);
        let n = nodes.len();
        let count = match self {
            Targets::One | Targets::Primary => 1,
            Targets::Minority => ((n - 1) / 2).max(1),
            Targets::Majority => super::grudge::majority(n),
            Targets::All => n,
        };
        let mut picked: Vec<String> = shuffled.into_iter().take(count.min(n)).collect();
        picked.sort();
        picked
    }
}

/// What a fault aimed at the primary does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryAction {
    Kill,
    Pause,
    /// Cut the primary off alone.
    Isolate,
    /// Cut the primary and a random minority around it off from the majority.
    IsolateWithMinority,
}

/// What a fault is done to.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultTarget {
    /// Cut the network as the grudge says.
    Partition(Grudge),
    /// `node` loses packets from each of `peers` with `probability`.
    PacketLoss {
        /// The node whose INPUT loses packets.
        node: String,
        /// The nodes whose packets it loses.
        peers: Vec<String>,
        /// Per packet, in 0..=1.
        probability: f64,
    },
    /// Delay every packet `node` receives by `delay`.
    Latency {
        /// The node whose incoming packets are delayed.
        node: String,
        /// How long each packet is held.
        delay: Duration,
    },
    /// Kill (and later restart) the datastore on these nodes.
    Kill(Vec<String>),
    /// Pause (and later resume) the datastore on these nodes.
    Pause(Vec<String>),
    /// A fault on whichever node is primary when it starts: the nemesis asks the datastore and
    /// turns this into one of the targets above (`seed` draws the minority that goes along).
    Primary { action: PrimaryAction, seed: u64 },
}

/// Whether a step begins or ends its fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The fault begins.
    Start,
    /// The fault is healed.
    Stop,
}

/// One step of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// When, from the start of the workload.
    pub at: Duration,
    /// Begin or end.
    pub phase: Phase,
    /// Which kind of fault.
    pub fault: Fault,
    /// On what (the same target for a start and its stop).
    pub target: FaultTarget,
}

/// The schedule for `time_limit`: faults start at `interval`, `3 * interval`, ... (each one drawn
/// from `faults` by the seed), and each stops one interval later (or at the time limit, so that
/// nothing is left active when the workload ends). No faults, no nodes or a zero interval give
/// an empty schedule.
pub fn schedule(
    faults: &[Fault],
    targets: Targets,
    nodes: &[String],
    interval: Duration,
    time_limit: Duration,
    seed: u64,
) -> Vec<Step> {
    let mut steps = Vec::new();
    if faults.is_empty() || nodes.is_empty() || interval.is_zero() {
        return steps;
    }
    let mut rng = Rng::new(seed);
    let mut start = interval;
    while start < time_limit {
        let fault = faults[rng.below(faults.len() as u64) as usize];
        let target = target(fault, targets, nodes, &mut rng);
        let stop = (start + interval).min(time_limit);
        steps.push(Step {
            at: start,
            phase: Phase::Start,
            fault,
            target: target.clone(),
        });
        steps.push(Step {
            at: stop,
            phase: Phase::Stop,
            fault,
            target,
        });
        start += interval * 2;
    }
    steps
}

/// Draws the target of one `fault` over `nodes`; `targets` chooses the nodes of kill, pause
/// and isolation.
pub fn target(fault: Fault, targets: Targets, nodes: &[String], rng: &mut Rng) -> FaultTarget {
    let one = |rng: &mut Rng| nodes[rng.below(nodes.len() as u64) as usize].clone();
    let primary = |action: PrimaryAction, rng: &mut Rng| FaultTarget::Primary {
        action,
        seed: rng.next_u64(),
    };
    match fault {
        Fault::PartitionRandomHalves => FaultTarget::Partition(Grudge::random_halves(nodes, rng)),
        Fault::PartitionMajoritiesRing => {
            FaultTarget::Partition(Grudge::majorities_ring(nodes, rng))
        }
        Fault::PartitionRandomNode => match targets {
            Targets::Primary => primary(PrimaryAction::Isolate, rng),
            Targets::All => FaultTarget::Partition(Grudge::complete(
                &nodes.iter().map(|n| vec![n.clone()]).collect::<Vec<_>>(),
            )),
            t => FaultTarget::Partition(Grudge::isolate(nodes, &t.draw(nodes, rng))),
        },
        Fault::Bridge => FaultTarget::Partition(Grudge::bridge(nodes, rng)),
        Fault::PacketLoss => {
            let node = one(rng);
            let peers = nodes.iter().filter(|n| **n != node).cloned().collect();
            FaultTarget::PacketLoss {
                node,
                peers,
                probability: PACKET_LOSS_PROBABILITY,
            }
        }
        Fault::Latency => FaultTarget::Latency {
            node: one(rng),
            delay: LATENCY_DELAY,
        },
        Fault::Kill => match targets {
            Targets::Primary => primary(PrimaryAction::Kill, rng),
            t => FaultTarget::Kill(t.draw(nodes, rng)),
        },
        Fault::Pause => match targets {
            Targets::Primary => primary(PrimaryAction::Pause, rng),
            t => FaultTarget::Pause(t.draw(nodes, rng)),
        },
        Fault::PartitionPrimary => primary(PrimaryAction::IsolateWithMinority, rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<String> {
        (1..=5).map(|i| format!("n{i}")).collect()
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn faults_alternate_with_quiet_intervals_and_stop_by_the_time_limit() {
        let steps = schedule(&Fault::ALL, Targets::One, &nodes(), S(10), S(45), 1);
        let times: Vec<(u64, Phase)> = steps.iter().map(|s| (s.at.as_secs(), s.phase)).collect();
        assert_eq!(
            times,
            vec![
                (10, Phase::Start),
                (20, Phase::Stop),
                (30, Phase::Start),
                (40, Phase::Stop),
            ]
        );
        let steps = schedule(&Fault::ALL, Targets::One, &nodes(), S(10), S(35), 1);
        assert_eq!(steps.last().unwrap().at, S(35), "the last stop is clamped");
        for pair in steps.chunks(2) {
            assert_eq!(pair[0].fault, pair[1].fault);
            assert_eq!(
                pair[0].target, pair[1].target,
                "a stop undoes its own start"
            );
        }
    }

    #[test]
    fn only_enabled_faults_are_scheduled_and_the_seed_decides() {
        let enabled = [Fault::Kill, Fault::PartitionRandomNode];
        let steps = schedule(&enabled, Targets::One, &nodes(), S(1), S(200), 42);
        assert!(steps.iter().all(|s| enabled.contains(&s.fault)));
        let kinds: std::collections::BTreeSet<Fault> = steps.iter().map(|s| s.fault).collect();
        assert_eq!(kinds.len(), 2, "both faults appear in 100 draws");
        assert_eq!(
            steps,
            schedule(&enabled, Targets::One, &nodes(), S(1), S(200), 42)
        );
        assert_ne!(
            steps,
            schedule(&enabled, Targets::One, &nodes(), S(1), S(200), 43)
        );
    }

    #[test]
    fn targets_match_their_fault() {
        for s in schedule(&Fault::ALL, Targets::One, &nodes(), S(1), S(300), 9) {
            match (s.fault, &s.target) {
                (Fault::Kill, FaultTarget::Kill(n)) | (Fault::Pause, FaultTarget::Pause(n)) => {
                    assert_eq!(n.len(), 1);
                    assert!(nodes().contains(&n[0]))
                }
                (
                    Fault::PartitionPrimary,
                    FaultTarget::Primary {
                        action: PrimaryAction::IsolateWithMinority,
                        ..
                    },
                ) => {}
                (Fault::Latency, FaultTarget::Latency { node, delay }) => {
                    assert!(nodes().contains(node));
                    assert_eq!(*delay, LATENCY_DELAY);
                }
                (Fault::PacketLoss, FaultTarget::PacketLoss { node, peers, .. }) => {
                    assert_eq!(peers.len(), 4);
                    assert!(!peers.contains(node));
                }
                (
                    Fault::PartitionRandomHalves
                    | Fault::PartitionMajoritiesRing
                    | Fault::PartitionRandomNode
                    | Fault::Bridge,
                    FaultTarget::Partition(g),
                ) => assert_eq!(g.nodes().count(), 5),
                other => panic!("mismatched step {other:?}"),
            }
        }
    }

    #[test]
    fn nothing_to_do_gives_an_empty_schedule() {
        assert!(schedule(&[], Targets::One, &nodes(), S(1), S(10), 0).is_empty());
        assert!(schedule(&Fault::ALL, Targets::One, &[], S(1), S(10), 0).is_empty());
        assert!(schedule(&Fault::ALL, Targets::One, &nodes(), S(0), S(10), 0).is_empty());
        assert!(schedule(&Fault::ALL, Targets::One, &nodes(), S(10), S(10), 0).is_empty());
    }

    #[test]
    fn names_round_trip() {
        for f in Fault::ALL {
            assert_eq!(Fault::parse(f.name()), Some(f));
        }
        assert_eq!(Fault::parse("partition"), None);
        assert_eq!(Fault::parse("isolate"), Some(Fault::PartitionRandomNode));
        for t in Targets::ALL {
            assert_eq!(Targets::parse(t.name()), Some(t));
        }
    }

    #[test]
    fn targets_choose_how_many_nodes_a_fault_hits() {
        let mut rng = Rng::new(3);
        let n = nodes();
        let count = |t: Targets, rng: &mut Rng| match target(Fault::Kill, t, &n, rng) {
            FaultTarget::Kill(nodes) => nodes.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(count(Targets::One, &mut rng), 1);
        assert_eq!(count(Targets::Minority, &mut rng), 2);
        assert_eq!(count(Targets::Majority, &mut rng), 3);
        assert_eq!(count(Targets::All, &mut rng), 5);
        assert!(matches!(
            target(Fault::Pause, Targets::Primary, &n, &mut rng),
            FaultTarget::Primary {
                action: PrimaryAction::Pause,
                ..
            }
        ));
        match target(Fault::PartitionRandomNode, Targets::Minority, &n, &mut rng) {
            FaultTarget::Partition(g) => {
                let isolated = n.iter().filter(|x| g.drops(x).count() == 3).count();
                assert_eq!(
                    isolated, 2,
                    "a minority of two, each dropping the other three"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
