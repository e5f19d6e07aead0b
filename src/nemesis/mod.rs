//! The nemesis: faults injected into the cluster while clients work, and healed on the way out.
//!
//! [`grudge`] decides who must not hear from whom, [`partition`] makes it so with iptables in
//! each node, [`schedule`] says when, and [`Nemesis`] does it and remembers every fault it has
//! active, so that [`Nemesis::heal_all`] can undo all of them: on success, on error and on panic
//! (it also runs when the `Nemesis` is dropped). Process faults (kill, pause) belong to the
//! datastore, which implements [`ProcessFaults`]; the nemesis only decides and remembers.
//!
//! Clock faults move the clock a node's datastore processes see ([`clock`]), through libfaketime.
//!
//! Each action returns a [`FaultEvent`], the `f` and `value` of the `"process": "nemesis"` entry
//! the harness writes to the history.

pub mod clock;
pub mod clock_driver;
pub mod fault;
pub mod grudge;
pub mod latency;
pub mod partition;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::control::ControlError;
use crate::db::faketime::FakeClock;
use crate::db::Db;
pub use clock::ClockChange;
pub use grudge::Grudge;
pub use partition::Node;
pub use schedule::{Fault, FaultTarget, Phase, PrimaryAction, Step, Targets};

/// Any error a datastore's process faults may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a fault could not be started or healed. Every variant names the node.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// A fault names a node this nemesis does not know.
    #[error("node {node} is not one of the nemesis's nodes")]
    UnknownNode {
        /// The unknown name.
        node: String,
    },
    /// A command on a node failed (the error names node and command).
    #[error(transparent)]
    Control(#[from] ControlError),
    /// A process fault failed on a node.
    #[error("node {node}: {action} failed: {source}")]
    Process {
        /// The node.
        node: String,
        /// `kill`, `restart`, `pause` or `resume`.
        action: &'static str,
        /// What the datastore reported.
        #[source]
        source: BoxError,
    },
    /// A process fault was asked for, but the datastore provides none.
    #[error("node {node}: cannot {action}: this datastore has no process faults")]
    NoProcessFaults {
        /// The node.
        node: String,
        /// The action asked for.
        action: &'static str,
    },
    /// A fault aimed at the primary found none: the datastore named no primary right now.
    #[error("no primary to aim {action} at: {detail}")]
    NoPrimary {
        /// The fault.
        action: &'static str,
        /// What the datastore said.
        detail: String,
    },
    /// A packet-loss probability outside 0..=1.
    #[error("packet loss probability {0} is not within 0..=1")]
    Probability(f64),
    /// The faultline binary, which runs as the latency delayer and the clock driver, could not
    /// be located.
    #[error("node {node}: cannot start the node's helper (latency delayer, clock driver): the faultline binary's path is unknown: {source}")]
    DelayerBinary {
        /// The node.
        node: String,
        /// Why `current_exe` failed.
        #[source]
        source: std::io::Error,
    },
    /// A clock fault was asked for, but the run did not start the datastore under libfaketime.
    #[error("node {node}: cannot move its clock: the datastore was not started under libfaketime")]
    NoClock {
        /// The node.
        node: String,
    },
    /// Several nodes failed; each error is kept.
    #[error("{} failures: {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Several(Vec<NemesisError>),
}

/// Kill, restart, pause and resume the datastore on a node. Implemented by each datastore
/// (which knows its pidfiles: never kill by name, the namespaces share one PID space).
pub trait ProcessFaults: Send + Sync {
    /// SIGKILL the datastore on `node`.
    fn kill(&self, node: &str) -> Result<(), BoxError>;
    /// Start the datastore on `node` again, on the same data.
    fn restart(&self, node: &str) -> Result<(), BoxError>;
    /// SIGSTOP the datastore on `node`.
    fn pause(&self, node: &str) -> Result<(), BoxError>;
    /// SIGCONT the datastore on `node`.
    fn resume(&self, node: &str) -> Result<(), BoxError>;
    /// The nodes the datastore says are primary (leader) right now; empty when none is.
    fn primaries(&self) -> Result<Vec<String>, BoxError>;
}

/// A datastore's process faults, for the nemesis: kill, restart, pause and resume by pidfile,
/// and its primaries, through the [`Db`] protocol.
pub struct DbFaults(pub Arc<dyn Db>);

impl ProcessFaults for DbFaults {
    fn kill(&self, node: &str) -> Result<(), BoxError> {
        Ok(self.0.kill(node)?)
    }
    fn restart(&self, node: &str) -> Result<(), BoxError> {
        Ok(self.0.start(node)?)
    }
    fn pause(&self, node: &str) -> Result<(), BoxError> {
        Ok(self.0.pause(node)?)
    }
    fn resume(&self, node: &str) -> Result<(), BoxError> {
        Ok(self.0.resume(node)?)
    }
    fn primaries(&self) -> Result<Vec<String>, BoxError> {
        Ok(self.0.primaries()?)
    }
}

/// A nemesis entry of the history: `f` (e.g. `start-partition`) and its `value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultEvent {
    /// What happened, in Jepsen's words: `start-partition`, `stop-partition`,
    /// `start-packet-loss`, `kill`, `restart`, `pause`, `resume`, `heal-all`.
    pub f: String,
    /// The target: a grudge as node -> [nodes], a node name, or null.
    pub value: serde_json::Value,
}

impl FaultEvent {
    fn new(f: &str, value: serde_json::Value) -> FaultEvent {
        FaultEvent {
            f: f.to_string(),
            value,
        }
    }

    /// The event a schedule step records: what [`Nemesis::start`] or [`Nemesis::stop`] returns
    /// when it succeeds. A step that fails may still have half-happened (a partition applied on
    /// every node but one), so the history records this event for it too, with the error.
    pub fn of_step(target: &FaultTarget, phase: Phase) -> FaultEvent {
        match (phase, target) {
            (Phase::Start, FaultTarget::Partition(g)) => Self::new("start-partition", g.to_json()),
            (
                Phase::Start,
                FaultTarget::PacketLoss {
                    node,
                    peers,
                    probability,
                },
            ) => Self::new(
                "start-packet-loss",
                json!({ "node": node, "peers": peers, "probability": probability }),
            ),
            (Phase::Start, FaultTarget::Latency { node, delay }) => Self::new(
                "start-latency",
                json!({ "node": node, "delay_ms": delay.as_millis() as u64 }),
            ),
            (Phase::Start, FaultTarget::Kill(nodes)) => Self::new("kill", node_list(nodes)),
            (Phase::Start, FaultTarget::Pause(nodes)) => Self::new("pause", node_list(nodes)),
            (Phase::Start, FaultTarget::Clock { nodes, change }) => {
                change.planned_start_event(nodes)
            }
            (Phase::Stop, FaultTarget::Clock { nodes, .. }) => clock::reset_event(nodes),
            (phase, FaultTarget::Primary { action, .. }) => {
                let f = match (phase, action) {
                    (Phase::Start, PrimaryAction::Kill) => "kill",
                    (Phase::Stop, PrimaryAction::Kill) => "restart",
                    (Phase::Start, PrimaryAction::Pause) => "pause",
                    (Phase::Stop, PrimaryAction::Pause) => "resume",
                    (Phase::Start, PrimaryAction::Clock(change)) => {
                        let mut value = change.describe();
                        value["nodes"] = json!("primary");
                        return Self::new(&format!("start-{}", change.name()), value);
                    }
                    (Phase::Stop, PrimaryAction::Clock(_)) => "clock-reset",
                    (Phase::Start, _) => "start-partition",
                    (Phase::Stop, _) => "stop-partition",
                };
                Self::new(f, json!("primary"))
            }
            (Phase::Stop, FaultTarget::Partition(_)) => {
                Self::new("stop-partition", serde_json::Value::Null)
            }
            (Phase::Stop, FaultTarget::PacketLoss { .. }) => {
                Self::new("stop-packet-loss", serde_json::Value::Null)
            }
            (Phase::Stop, FaultTarget::Latency { node, .. }) => {
                Self::new("stop-latency", json!(node))
            }
            (Phase::Stop, FaultTarget::Kill(nodes)) => Self::new("restart", node_list(nodes)),
            (Phase::Stop, FaultTarget::Pause(nodes)) => Self::new("resume", node_list(nodes)),
        }
    }
}

/// The nodes a fault hit, as the history records them: one name, or a list of names.
fn node_list(nodes: &[String]) -> serde_json::Value {
    match nodes {
        [one] => json!(one),
        many => json!(many),
    }
}

/// Which faults are active: what [`Nemesis::heal_all`] will undo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Active {
    /// Nodes that may have faultline iptables rules.
    pub network: BTreeSet<String>,
    /// Nodes whose datastore may be paused.
    pub paused: BTreeSet<String>,
    /// Nodes whose datastore may be killed.
    pub killed: BTreeSet<String>,
    /// Nodes that may have a latency delayer running.
    pub latency: BTreeSet<String>,
    /// Nodes whose clock may be moved, or have a clock driver running.
    pub clock: BTreeSet<String>,
}

impl Active {
    /// Whether nothing is active.
    pub fn is_empty(&self) -> bool {
        self.network.is_empty()
            && self.paused.is_empty()
            && self.killed.is_empty()
            && self.latency.is_empty()
            && self.clock.is_empty()
    }
}

/// Starts and heals faults on a fixed set of nodes and remembers what it has done.
///
/// A node counts as faulted from the moment a fault is *attempted* on it (a command that timed
/// out may still have taken effect), and stops counting only once healing it succeeded.
pub struct Nemesis {
    nodes: Vec<Node>,
    process: Option<Arc<dyn ProcessFaults>>,
    timeout: Duration,
    delayer_exe: Option<PathBuf>,
    active: Mutex<Active>,
    /// The nodes' libfaketime control files, when the run has clock faults.
    clock: Option<Arc<FakeClock>>,
    /// Each node's clock offset as last set, in ms.
    clock_offsets: Mutex<BTreeMap<String, f64>>,
}

impl Nemesis {
    /// The default bound on one command on one node.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A nemesis over `nodes`, with network faults only.
    pub fn new(nodes: Vec<Node>) -> Nemesis {
        Nemesis {
            nodes,
            process: None,
            timeout: Nemesis::DEFAULT_TIMEOUT,
            delayer_exe: None,
            active: Mutex::new(Active::default()),
            clock: None,
            clock_offsets: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds clock faults: the datastore's processes follow the control files of `clock`.
    pub fn with_clock(mut self, clock: Arc<FakeClock>) -> Nemesis {
        self.clock = Some(clock);
        self
    }

    /// Adds the datastore's process faults.
    pub fn with_process_faults(mut self, process: Arc<dyn ProcessFaults>) -> Nemesis {
        self.process = Some(process);
        self
    }

    /// Bounds each command on each node by `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Nemesis {
        self.timeout = timeout;
        self
    }

    /// Runs the latency delayer and the clock driver from `exe` (default: this process's own
    /// binary, which is faultline itself; tests, whose binary is not, pass faultline's).
    pub fn with_delayer_exe(mut self, exe: PathBuf) -> Nemesis {
        self.delayer_exe = Some(exe);
        self
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// What is active now.
    pub fn active(&self) -> Active {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Active> {
        // A panic elsewhere must not stop the healing: the set itself is always consistent.
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn node(&self, name: &str) -> Result<&Node, NemesisError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| NemesisError::UnknownNode {
                node: name.to_string(),
            })
    }

    /// Cuts the network as `grudge` says (adding to any cut already active).
    pub fn partition(&self, grudge: &Grudge) -> Result<FaultEvent, NemesisError> {
        for name in grudge.nodes() {
            self.node(name)?;
        }
        self.lock().network.extend(
            grudge
                .nodes()
                .filter(|n| grudge.drops(n).next().is_some())
                .cloned(),
        );
        partition::apply_grudge(&self.nodes, grudge, self.timeout)?;
        Ok(FaultEvent::new("start-partition", grudge.to_json()))
    }

    /// Makes `node` lose packets from `peers` with `probability`.
    pub fn packet_loss(
        &self,
        node: &str,
        peers: &[String],
        probability: f64,
    ) -> Result<FaultEvent, NemesisError> {
        let target = self.node(node)?;
        let peer_nodes = peers
            .iter()
            .map(|p| self.node(p))
            .collect::<Result<Vec<_>, _>>()?;
        if !(0.0..=1.0).contains(&probability) {
            return Err(NemesisError::Probability(probability));
        }
        self.lock().network.insert(node.to_string());
        partition::packet_loss(target, &peer_nodes, probability, self.timeout)?;
        Ok(FaultEvent::new(
            "start-packet-loss",
            json!({ "node": node, "peers": peers, "probability": probability }),
        ))
    }

    /// Removes every network fault (partitions and packet loss) from every node that has one.
    pub fn heal_network(&self) -> Result<FaultEvent, NemesisError> {
        let touched: Vec<&Node> = {
            let active = self.lock();
            self.nodes
                .iter()
                .filter(|n| active.network.contains(&n.name))
                .collect()
        };
        let results = partition::in_parallel(&touched, |node| {
            partition::heal(node, self.timeout).map(|()| node.name.clone())
        });
        let mut errors = Vec::new();
        {
            let mut active = self.lock();
            for r in results {
                match r {
                    Ok(name) => {
                        active.network.remove(&name);
                    }
                    Err(e) => errors.push(Err(e)),
                }
            }
        }
        partition::all_ok(errors)?;
        Ok(FaultEvent::new("stop-partition", serde_json::Value::Null))
    }

    /// Delays every packet `node` receives by `delay`.
    pub fn latency(&self, node: &str, delay: Duration) -> Result<FaultEvent, NemesisError> {
        let target = self.node(node)?;
        let exe = self.helper_exe(node)?;
        {
            // The queue rule is a faultline iptables rule like any other network fault's.
            let mut active = self.lock();
            active.latency.insert(node.to_string());
            active.network.insert(node.to_string());
        }
        latency::start_latency(target, &exe, delay, self.timeout)?;
        Ok(FaultEvent::new(
            "start-latency",
            json!({ "node": node, "delay_ms": delay.as_millis() as u64 }),
        ))
    }

    /// Removes the latency from `node` (and any other faultline rule on it).
    pub fn stop_latency(&self, node: &str) -> Result<FaultEvent, NemesisError> {
        let target = self.node(node)?;
        latency::stop_latency(target, self.timeout)?;
        let mut active = self.lock();
        active.latency.remove(node);
        active.network.remove(node);
        Ok(FaultEvent::new("stop-latency", json!(node)))
    }

    fn process(
        &self,
        node: &str,
        action: &'static str,
    ) -> Result<&dyn ProcessFaults, NemesisError> {
        self.node(node)?;
        self.process
            .as_deref()
            .ok_or_else(|| NemesisError::NoProcessFaults {
                node: node.to_string(),
                action,
            })
    }

    fn process_error(node: &str, action: &'static str) -> impl FnOnce(BoxError) -> NemesisError {
        let node = node.to_string();
        move |source| NemesisError::Process {
            node,
            action,
            source,
        }
    }

    /// Kills the datastore on `node`.
    pub fn kill(&self, node: &str) -> Result<FaultEvent, NemesisError> {
        let p = self.process(node, "kill")?;
        self.lock().killed.insert(node.to_string());
        p.kill(node).map_err(Self::process_error(node, "kill"))?;
        Ok(FaultEvent::new("kill", json!(node)))
    }

    /// Starts the datastore on `node` again.
    pub fn restart(&self, node: &str) -> Result<FaultEvent, NemesisError> {
        let p = self.process(node, "restart")?;
        p.restart(node)
            .map_err(Self::process_error(node, "restart"))?;
        self.lock().killed.remove(node);
        Ok(FaultEvent::new("restart", json!(node)))
    }

    /// Pauses the datastore on `node`.
    pub fn pause(&self, node: &str) -> Result<FaultEvent, NemesisError> {
        let p = self.process(node, "pause")?;
        self.lock().paused.insert(node.to_string());
        p.pause(node).map_err(Self::process_error(node, "pause"))?;
        Ok(FaultEvent::new("pause", json!(node)))
    }

    /// Resumes the datastore on `node`.
    pub fn resume(&self, node: &str) -> Result<FaultEvent, NemesisError> {
        let p = self.process(node, "resume")?;
        p.resume(node)
            .map_err(Self::process_error(node, "resume"))?;
        self.lock().paused.remove(node);
        Ok(FaultEvent::new("resume", json!(node)))
    }

    /// Starts the fault a schedule step names.
    pub fn start(&self, target: &FaultTarget) -> Result<FaultEvent, NemesisError> {
        match target {
            FaultTarget::Partition(g) => self.partition(g),
            FaultTarget::PacketLoss {
                node,
                peers,
                probability,
            } => self.packet_loss(node, peers, *probability),
            FaultTarget::Kill(nodes) => self.on_each(nodes, "kill", |n| self.kill(n)),
            FaultTarget::Pause(nodes) => self.on_each(nodes, "pause", |n| self.pause(n)),
            FaultTarget::Latency { node, delay } => self.latency(node, *delay),
            FaultTarget::Clock { nodes, change } => self.change_clock(nodes, change),
            FaultTarget::Primary { .. } => {
                let resolved = self.resolve(target)?;
                self.start(&resolved)
            }
        }
    }

    /// Runs `action` on every node of `nodes` in parallel; one event naming them all.
    fn on_each(
        &self,
        nodes: &[String],
        f: &str,
        action: impl Fn(&str) -> Result<FaultEvent, NemesisError> + Sync,
    ) -> Result<FaultEvent, NemesisError> {
        let results = partition::in_parallel(nodes, |n| action(n).map(|_| ()));
        partition::all_ok(results)?;
        Ok(FaultEvent::new(f, node_list(nodes)))
    }

    /// The concrete target of a fault aimed at the primary: the datastore is asked which node
    /// is primary now. Any other target is returned as it is.
    pub fn resolve(&self, target: &FaultTarget) -> Result<FaultTarget, NemesisError> {
        let FaultTarget::Primary { action, seed } = target else {
            return Ok(target.clone());
        };
        let what = match action {
            PrimaryAction::Kill => "kill",
            PrimaryAction::Pause => "pause",
            PrimaryAction::Isolate | PrimaryAction::IsolateWithMinority => "a partition",
            PrimaryAction::Clock(_) => "a clock fault",
        };
        let process = self
            .process
            .as_deref()
            .ok_or_else(|| NemesisError::NoPrimary {
                action: what,
                detail: "this datastore names no primary".into(),
            })?;
        let primaries = process.primaries().map_err(|e| NemesisError::NoPrimary {
            action: what,
            detail: e.to_string(),
        })?;
        let Some(primary) = primaries.into_iter().find(|p| self.node(p).is_ok()) else {
            return Err(NemesisError::NoPrimary {
                action: what,
                detail: "the datastore names none right now".into(),
            });
        };
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        Ok(match action {
            PrimaryAction::Kill => FaultTarget::Kill(vec![primary]),
            PrimaryAction::Pause => FaultTarget::Pause(vec![primary]),
            PrimaryAction::Clock(change) => FaultTarget::Clock {
                nodes: vec![primary],
                change: *change,
            },
            PrimaryAction::Isolate => FaultTarget::Partition(Grudge::isolate(&names, &[primary])),
            PrimaryAction::IsolateWithMinority => {
                let mut rng = faultline_workloads::generator::Rng::new(*seed);
                let others: Vec<String> =
                    names.iter().filter(|n| **n != primary).cloned().collect();
                let minority = (names.len().saturating_sub(1) / 2).max(1);
                let mut side = vec![primary];
                side.extend(
                    grudge::shuffle(&others, &mut rng)
                        .into_iter()
                        .take(minority - 1),
                );
                FaultTarget::Partition(Grudge::isolate(&names, &side))
            }
        })
    }

    /// Stops the fault a schedule step started.
    pub fn stop(&self, target: &FaultTarget) -> Result<FaultEvent, NemesisError> {
        match target {
            FaultTarget::Partition(_) => self.heal_network(),
            FaultTarget::PacketLoss { .. } => self.heal_network().map(|mut e| {
                e.f = "stop-packet-loss".to_string();
                e
            }),
            FaultTarget::Kill(nodes) => self.on_each(nodes, "restart", |n| self.restart(n)),
            FaultTarget::Pause(nodes) => self.on_each(nodes, "resume", |n| self.resume(n)),
            FaultTarget::Latency { node, .. } => self.stop_latency(node),
            FaultTarget::Clock { nodes, .. } => self.reset_clocks(nodes),
            // Never started as such (`start` resolves it): heal whatever it may have become.
            FaultTarget::Primary { .. } => self.heal_all(),
        }
    }

    /// Undoes every fault this nemesis may have left active: resumes paused nodes, restarts
    /// killed ones, stops latency delayers and flushes the faultline chain on every node it
    /// touched, and, when the run has clock faults, resets every node's clock. Every node is
    /// attempted even when others fail; the error lists every failure. Idempotent: what was
    /// healed is forgotten, what failed is tried again next time.
    pub fn heal_all(&self) -> Result<FaultEvent, NemesisError> {
        let active = self.active();
        let mut results = Vec::new();
        for node in &active.paused {
            results.push(self.resume(node).map(|_| ()));
        }
        for node in &active.killed {
            results.push(self.restart(node).map(|_| ()));
        }
        let delayed: Vec<String> = active.latency.iter().cloned().collect();
        results.extend(partition::in_parallel(&delayed, |node| {
            self.stop_latency(node).map(|_| ())
        }));
        results.push(self.heal_network().map(|_| ()));
        results.push(self.heal_clocks());
        partition::all_ok(results)?;
        Ok(FaultEvent::new("heal-all", serde_json::Value::Null))
    }
}

impl Drop for Nemesis {
    fn drop(&mut self) {
        if self.lock().is_empty() {
            return;
        }
        if let Err(e) = self.heal_all() {
            eprintln!("faultline: nemesis: healing on the way out failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::local::LocalRemote;

    /// Records calls; fails `resume` on the nodes listed in `broken`.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<String>>,
        broken: Mutex<BTreeSet<String>>,
        primary: Mutex<Option<String>>,
    }

    impl Recorder {
        fn record(&self, what: &str, node: &str) -> Result<(), BoxError> {
            self.calls.lock().unwrap().push(format!("{what} {node}"));
            if what == "resume" && self.broken.lock().unwrap().contains(node) {
                return Err("no such process".into());
            }
            Ok(())
        }
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.calls.lock().unwrap())
        }
    }

    impl ProcessFaults for Recorder {
        fn kill(&self, node: &str) -> Result<(), BoxError> {
            self.record("kill", node)
        }
        fn restart(&self, node: &str) -> Result<(), BoxError> {
            self.record("restart", node)
        }
        fn pause(&self, node: &str) -> Result<(), BoxError> {
            self.record("pause", node)
        }
        fn resume(&self, node: &str) -> Result<(), BoxError> {
            self.record("resume", node)
        }
        fn primaries(&self) -> Result<Vec<String>, BoxError> {
            Ok(self.primary.lock().unwrap().iter().cloned().collect())
        }
    }

    fn nemesis(recorder: Arc<Recorder>) -> Nemesis {
        // Process faults never run commands through these remotes.
        let nodes = (1..=3)
            .map(|i| Node {
                name: format!("n{i}"),
                ip: format!("127.0.0.{i}").parse().unwrap(),
                remote: Arc::new(LocalRemote::new(format!("n{i}"))),
            })
            .collect();
        Nemesis::new(nodes).with_process_faults(recorder)
    }

    #[test]
    fn a_steps_event_is_what_the_nemesis_records_when_the_step_succeeds() {
        let nem = nemesis(Arc::new(Recorder::default()));
        for target in [
            FaultTarget::Kill(vec!["n1".into()]),
            FaultTarget::Pause(vec!["n2".into()]),
            FaultTarget::Kill(vec!["n1".into(), "n3".into()]),
        ] {
            for phase in [Phase::Start, Phase::Stop] {
                let done = match phase {
                    Phase::Start => nem.start(&target),
                    Phase::Stop => nem.stop(&target),
                }
                .unwrap();
                assert_eq!(
                    done,
                    FaultEvent::of_step(&target, phase),
                    "{target:?} {phase:?}"
                );
            }
        }
    }

    #[test]
    fn a_fault_aimed_at_the_primary_hits_the_node_the_datastore_names_when_it_starts() {
        let rec = Arc::new(Recorder::default());
        let nem = nemesis(rec.clone());
        let kill = FaultTarget::Primary {
            action: PrimaryAction::Kill,
            seed: 1,
        };
        let e = nem.start(&kill).unwrap_err().to_string();
        assert!(e.contains("no primary"), "{e}");
        *rec.primary.lock().unwrap() = Some("n2".into());
        assert_eq!(
            nem.resolve(&kill).unwrap(),
            FaultTarget::Kill(vec!["n2".into()])
        );
        let done = nem.start(&kill).unwrap();
        assert_eq!(done, FaultEvent::new("kill", json!("n2")));
        let FaultTarget::Partition(g) = nem
            .resolve(&FaultTarget::Primary {
                action: PrimaryAction::IsolateWithMinority,
                seed: 7,
            })
            .unwrap()
        else {
            panic!("a partition")
        };
        assert!(g.drops("n2").count() > 0, "the primary is cut off");
        assert_eq!(
            g.drops("n2").count(),
            2,
            "of three nodes, a minority is one: the primary alone, cut from n1 and n3"
        );
    }

    #[test]
    fn heal_all_resumes_paused_and_restarts_killed_nodes_once() {
        let rec = Arc::new(Recorder::default());
        let nem = nemesis(rec.clone());
        assert_eq!(
            nem.kill("n1").unwrap(),
            FaultEvent::new("kill", json!("n1"))
        );
        nem.pause("n2").unwrap();
        nem.pause("n3").unwrap();
        nem.resume("n3").unwrap();
        rec.take();
        assert_eq!(nem.heal_all().unwrap().f, "heal-all");
        assert_eq!(rec.take(), vec!["resume n2", "restart n1"]);
        assert!(nem.active().is_empty());
        nem.heal_all().unwrap();
        assert!(rec.take().is_empty(), "a second heal has nothing to do");
    }

    #[test]
    fn a_failed_resume_is_reported_by_node_and_retried_while_the_rest_heal() {
        let rec = Arc::new(Recorder::default());
        rec.broken.lock().unwrap().insert("n2".into());
        let nem = nemesis(rec.clone());
        nem.pause("n2").unwrap();
        nem.kill("n3").unwrap();
        rec.take();
        let e = nem.heal_all().unwrap_err().to_string();
        assert!(e.contains("node n2: resume failed: no such process"), "{e}");
        assert_eq!(rec.take(), vec!["resume n2", "restart n3"]);
        assert_eq!(nem.active().paused, BTreeSet::from(["n2".to_string()]));
        assert!(nem.active().killed.is_empty());
        rec.broken.lock().unwrap().clear();
        nem.heal_all().unwrap();
        assert_eq!(rec.take(), vec!["resume n2"]);
    }

    #[test]
    fn faults_on_unknown_nodes_or_without_process_faults_are_refused() {
        let nem = nemesis(Arc::new(Recorder::default()));
        assert!(matches!(
            nem.kill("n7"),
            Err(NemesisError::UnknownNode { .. })
        ));
        let g = Grudge::complete(&[vec!["n1".into()], vec!["n8".into()]]);
        assert!(matches!(
            nem.partition(&g),
            Err(NemesisError::UnknownNode { .. })
        ));
        assert!(nem.active().is_empty(), "nothing was attempted");
        let bare = Nemesis::new(nem.nodes().to_vec());
        let e = bare.pause("n1").unwrap_err().to_string();
        assert!(
            e.contains("node n1") && e.contains("no process faults"),
            "{e}"
        );
    }
}
