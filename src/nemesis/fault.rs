//! The kinds of fault a test may enable (`--nemesis`), the nodes they hit (`--nemesis-targets`),
//! and how one fault's concrete target is drawn from the seed: what a schedule step is done to.

use std::time::Duration;

use faultline_workloads::generator::Rng;

use super::clock::{ClockChange, ClockParams};
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
    /// The targets' clocks jump by +/- N ms (libfaketime), reset at the stop.
    ClockBump,
    /// The targets' clocks flip between two offsets every few ms, reset at the stop.
    ClockStrobe,
    /// The targets' clocks drift steadily, reset at the stop.
    ClockSkew,
}

impl Fault {
    /// Every fault, in a fixed order.
    pub const ALL: [Fault; 12] = [
        Fault::PartitionRandomHalves,
        Fault::PartitionMajoritiesRing,
        Fault::PartitionRandomNode,
        Fault::Bridge,
        Fault::PacketLoss,
        Fault::Latency,
        Fault::Kill,
        Fault::Pause,
        Fault::PartitionPrimary,
        Fault::ClockBump,
        Fault::ClockStrobe,
        Fault::ClockSkew,
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
            Fault::ClockBump => "clock-bump",
            Fault::ClockStrobe => "clock-strobe",
            Fault::ClockSkew => "clock-skew",
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
        ) || self.is_clock()
    }

    /// Whether this fault moves clocks (and so needs a datastore that libfaketime reaches).
    pub fn is_clock(self) -> bool {
        matches!(
            self,
            Fault::ClockBump | Fault::ClockStrobe | Fault::ClockSkew
        )
    }

    /// When, among the faults that start together in one period, this one starts: the network
    /// first, then clocks, then pauses, then kills (a paused process can still be killed, a
    /// killed one cannot be paused). They stop in the reverse order.
    pub fn start_rank(self) -> u8 {
        match self {
            Fault::Kill => 4,
            Fault::Pause => 3,
            f if f.is_clock() => 2,
            Fault::Latency => 1,
            _ => 0,
        }
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
            Fault::ClockBump => "the targets' clocks jump by --clock-bump-ms (libfaketime)",
            Fault::ClockStrobe => {
                "the targets' clocks flip by --clock-strobe-ms every --clock-strobe-period-ms"
            }
            Fault::ClockSkew => "the targets' clocks drift by --clock-skew-ms-per-s",
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PrimaryAction {
    Kill,
    Pause,
    /// Cut the primary off alone.
    Isolate,
    /// Cut the primary and a random minority around it off from the majority.
    IsolateWithMinority,
    /// Move the primary's clock.
    Clock(ClockChange),
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
    /// Move the clocks of these nodes (and later reset them).
    Clock {
        nodes: Vec<String>,
        change: ClockChange,
    },
    /// A fault on whichever node is primary when it starts: the nemesis asks the datastore and
    /// turns this into one of the targets above (`seed` draws the minority that goes along).
    Primary { action: PrimaryAction, seed: u64 },
}

/// Draws the target of one `fault` over `nodes`, for a fault that lasts `duration`; `targets`
/// chooses the nodes of kill, pause, isolation and clock faults, `clock` how clocks move.
pub fn target(
    fault: Fault,
    targets: Targets,
    nodes: &[String],
    clock: &ClockParams,
    duration: Duration,
    rng: &mut Rng,
) -> FaultTarget {
    let one = |rng: &mut Rng| nodes[rng.below(nodes.len() as u64) as usize].clone();
    let primary = |action: PrimaryAction, rng: &mut Rng| FaultTarget::Primary {
        action,
        seed: rng.next_u64(),
    };
    let duration_ms = duration.as_millis() as u64;
    let clock_fault = |change: ClockChange, rng: &mut Rng| match targets {
        Targets::Primary => primary(PrimaryAction::Clock(change), rng),
        t => FaultTarget::Clock {
            nodes: t.draw(nodes, rng),
            change,
        },
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
        Fault::ClockBump => {
            let choices = if clock.bump_ms.is_empty() {
                &ClockParams::default().bump_ms
            } else {
                &clock.bump_ms
            };
            let delta_ms = choices[rng.below(choices.len() as u64) as usize];
            clock_fault(ClockChange::Bump { delta_ms }, rng)
        }
        Fault::ClockStrobe => clock_fault(
            ClockChange::Strobe {
                delta_ms: clock.strobe_delta_ms,
                period_ms: clock.strobe_period_ms,
                duration_ms,
            },
            rng,
        ),
        Fault::ClockSkew => clock_fault(
            ClockChange::Skew {
                ms_per_s: clock.skew_ms_per_s,
                duration_ms,
            },
            rng,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<String> {
        (1..=5).map(|i| format!("n{i}")).collect()
    }

    fn draw(fault: Fault, targets: Targets, rng: &mut Rng) -> FaultTarget {
        target(
            fault,
            targets,
            &nodes(),
            &ClockParams::default(),
            Duration::from_secs(1),
            rng,
        )
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
        let count = |t: Targets, rng: &mut Rng| match draw(Fault::Kill, t, rng) {
            FaultTarget::Kill(nodes) => nodes.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(count(Targets::One, &mut rng), 1);
        assert_eq!(count(Targets::Minority, &mut rng), 2);
        assert_eq!(count(Targets::Majority, &mut rng), 3);
        assert_eq!(count(Targets::All, &mut rng), 5);
        assert!(matches!(
            draw(Fault::Pause, Targets::Primary, &mut rng),
            FaultTarget::Primary {
                action: PrimaryAction::Pause,
                ..
            }
        ));
        match draw(Fault::PartitionRandomNode, Targets::Minority, &mut rng) {
            FaultTarget::Partition(g) => {
                let isolated = nodes().iter().filter(|x| g.drops(x).count() == 3).count();
                assert_eq!(
                    isolated, 2,
                    "a minority of two, each dropping the other three"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clock_faults_hit_their_targets_with_the_options_drawn_by_the_seed() {
        let mut rng = Rng::new(5);
        match draw(Fault::ClockBump, Targets::Majority, &mut rng) {
            FaultTarget::Clock {
                nodes,
                change: ClockChange::Bump { delta_ms },
            } => {
                assert_eq!(nodes.len(), 3);
                assert!([-5000, 5000].contains(&delta_ms), "{delta_ms}");
            }
            other => panic!("{other:?}"),
        }
        let deltas: std::collections::BTreeSet<i64> = (0..50)
            .map(|_| match draw(Fault::ClockBump, Targets::One, &mut rng) {
                FaultTarget::Clock {
                    change: ClockChange::Bump { delta_ms },
                    ..
                } => delta_ms,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(deltas.len(), 2, "both directions are drawn");
        assert!(matches!(
            draw(Fault::ClockStrobe, Targets::Primary, &mut rng),
            FaultTarget::Primary {
                action: PrimaryAction::Clock(ClockChange::Strobe {
                    delta_ms: 200,
                    period_ms: 10,
                    duration_ms: 1000
                }),
                ..
            }
        ));
        assert!(matches!(
            draw(Fault::ClockSkew, Targets::All, &mut rng),
            FaultTarget::Clock { nodes, change: ClockChange::Skew { .. } } if nodes.len() == 5
        ));
    }
}
