//! Clock faults: moving the clock of a node's datastore processes, through the control file
//! libfaketime reads on that node (see [`crate::db::faketime`] for how the processes are
//! started to follow it, and which datastores it reaches).
//!
//! Jepsen's clock faults, per node:
//! - `clock-bump`: the clock jumps by +/- N ms and stays there until reset;
//! - `clock-strobe`: the clock flips between its offset and the offset + delta every period;
//! - `clock-skew`: the clock drifts away steadily, at R ms per second;
//! - `clock-reset` (the stop of each of them, and part of healing): the offset goes back to 0.
//!
//! A bump is one write of the file over SSH. A strobe or a skew changes the offset every few
//! milliseconds, which SSH round trips cannot do: a small driver (`faultline clock-driver`,
//! [`super::clock_driver`]) runs on the node for the fault's duration and rewrites the file
//! itself; it is started and stopped through a pidfile, never by name, like the latency
//! delayer. The driver also ends on its own after the fault's planned duration, putting the
//! offset back where it found it, so a strobe never outlives a faultline that died.
//!
//! Every clock event records each touched node's offset afterwards (`clock_offsets_ms`), which
//! the report plots. Healing resets every node's file (not only those a fault touched) and
//! stops every driver, so a clock fault that is never healed is impossible while faultline
//! lives; and the next run's set-up writes every file afresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::partition::{all_ok, in_parallel, Node};
use super::{FaultEvent, Nemesis, NemesisError};
use crate::control::{shell::shell_escape, Cmd};
use crate::db::faketime::write_offset_script;

/// How a clock fault moves a node's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockChange {
    /// Jump by `delta_ms` and stay there until reset.
    Bump { delta_ms: i64 },
    /// Flip between the offset and the offset + `delta_ms` every `period_ms`, for `duration_ms`.
    Strobe {
        delta_ms: i64,
        period_ms: u64,
        duration_ms: u64,
    },
    /// Drift away from the offset at `ms_per_s` milliseconds per second, for `duration_ms`.
    Skew { ms_per_s: f64, duration_ms: u64 },
}

impl ClockChange {
    /// The fault's name, as `--nemesis` and the history call it.
    pub fn name(&self) -> &'static str {
        match self {
            ClockChange::Bump { .. } => "clock-bump",
            ClockChange::Strobe { .. } => "clock-strobe",
            ClockChange::Skew { .. } => "clock-skew",
        }
    }

    /// The change's own fields, for the history and test.json.
    pub fn describe(&self) -> serde_json::Value {
        match *self {
            ClockChange::Bump { delta_ms } => json!({ "delta_ms": delta_ms }),
            ClockChange::Strobe {
                delta_ms,
                period_ms,
                duration_ms,
            } => {
                json!({ "delta_ms": delta_ms, "period_ms": period_ms, "duration_ms": duration_ms })
            }
            ClockChange::Skew {
                ms_per_s,
                duration_ms,
            } => json!({ "ms_per_s": ms_per_s, "duration_ms": duration_ms }),
        }
    }

    /// The offset a node at `base` has right after the change starts.
    fn offset_from(&self, base: f64) -> f64 {
        match *self {
            ClockChange::Bump { delta_ms } => base + delta_ms as f64,
            // A strobe starts on its base, a skew starts drifting from it.
            ClockChange::Strobe { .. } | ClockChange::Skew { .. } => base,
        }
    }

    /// The event of starting this change on `nodes`, each at the offset given.
    pub fn start_event(&self, nodes: &[String], offsets: &BTreeMap<String, f64>) -> FaultEvent {
        let mut value = self.describe();
        value["nodes"] = json!(nodes);
        value["clock_offsets_ms"] = json!(offsets);
        FaultEvent::new(&format!("start-{}", self.name()), value)
    }

    /// The event that [`ClockChange::start_event`] is expected to be, from nodes at zero.
    pub fn planned_start_event(&self, nodes: &[String]) -> FaultEvent {
        let offsets = nodes
            .iter()
            .map(|n| (n.clone(), self.offset_from(0.0)))
            .collect();
        self.start_event(nodes, &offsets)
    }
}

/// The event of resetting the clocks of `nodes` to zero.
pub fn reset_event(nodes: &[String]) -> FaultEvent {
    let offsets: BTreeMap<&String, f64> = nodes.iter().map(|n| (n, 0.0)).collect();
    FaultEvent::new(
        "clock-reset",
        json!({ "nodes": nodes, "clock_offsets_ms": offsets }),
    )
}

/// What the clock faults of a run draw from (`--clock-*` options).
#[derive(Debug, Clone, PartialEq)]
pub struct ClockParams {
    /// Each bump jumps by one of these, drawn by the seed.
    pub bump_ms: Vec<i64>,
    /// How far a strobe flips the clock.
    pub strobe_delta_ms: i64,
    /// How often a strobe flips it.
    pub strobe_period_ms: u64,
    /// How fast a skewed clock drifts, in ms per second.
    pub skew_ms_per_s: f64,
}

impl Default for ClockParams {
    fn default() -> Self {
        ClockParams {
            bump_ms: vec![-5000, 5000],
            strobe_delta_ms: 200,
            strobe_period_ms: 10,
            skew_ms_per_s: 100.0,
        }
    }
}

/// The clock faults' options of `faultline test`.
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[command(next_help_heading = "Clock faults (--nemesis clock-bump,clock-strobe,clock-skew)")]
#[serde(default)]
pub struct ClockOptions {
    /// Milliseconds a clock-bump jumps a node's clock by, negative for backwards; with several,
    /// each bump draws one by the seed [default: -5000,5000].
    #[arg(
        long,
        value_name = "MS[,MS..]",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    pub clock_bump_ms: Vec<i64>,

    /// How far a clock-strobe flips a node's clock, in milliseconds [default: 200].
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub clock_strobe_ms: Option<i64>,

    /// How often a clock-strobe flips it, in milliseconds [default: 10].
    #[arg(long, value_name = "MS")]
    pub clock_strobe_period_ms: Option<u64>,

    /// How fast a clock-skew makes a node's clock drift, in milliseconds per second, negative
    /// for a slow clock [default: 100, i.e. 10% fast].
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub clock_skew_ms_per_s: Option<f64>,

    /// Move CLOCK_MONOTONIC with the wall clock too (a stepped clock leaves it alone; a JVM's
    /// System.nanoTime() then jumps, even backwards).
    #[arg(long)]
    pub clock_fake_monotonic: bool,
}

impl ClockOptions {
    /// The options given on the command line.
    pub fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if !self.clock_bump_ms.is_empty() {
            given.push("--clock-bump-ms");
        }
        if self.clock_strobe_ms.is_some() {
            given.push("--clock-strobe-ms");
        }
        if self.clock_strobe_period_ms.is_some() {
            given.push("--clock-strobe-period-ms");
        }
        if self.clock_skew_ms_per_s.is_some() {
            given.push("--clock-skew-ms-per-s");
        }
        if self.clock_fake_monotonic {
            given.push("--clock-fake-monotonic");
        }
        given
    }

    /// The parameters the faults draw from, or why the options make none.
    pub fn params(&self) -> Result<ClockParams, String> {
        let mut p = ClockParams::default();
        if !self.clock_bump_ms.is_empty() {
            if self.clock_bump_ms.contains(&0) {
                return Err("--clock-bump-ms: a bump of 0 ms moves nothing".into());
            }
            p.bump_ms = self.clock_bump_ms.clone();
        }
        if let Some(ms) = self.clock_strobe_ms {
            if ms == 0 {
                return Err("--clock-strobe-ms: a strobe of 0 ms moves nothing".into());
            }
            p.strobe_delta_ms = ms;
        }
        if let Some(ms) = self.clock_strobe_period_ms {
            if !(1..=60_000).contains(&ms) {
                return Err(format!(
                    "--clock-strobe-period-ms {ms}: between 1 and 60000 milliseconds"
                ));
            }
            p.strobe_period_ms = ms;
        }
        if let Some(r) = self.clock_skew_ms_per_s {
            if !r.is_finite() || r == 0.0 || r.abs() > 100_000.0 {
                return Err(format!(
                    "--clock-skew-ms-per-s {r}: a drift of a few ms per second, not 0, at most \
                     100000"
                ));
            }
            p.skew_ms_per_s = r;
        }
        Ok(p)
    }
}

/// The driver's pidfile on `node`: by address, as local-cluster nodes of different clusters
/// share names and one file system.
pub fn driver_pidfile(node: &Node) -> PathBuf {
    PathBuf::from(format!("/run/faultline-clock-{}.pid", node.ip))
}

/// The driver's log on `node`.
pub fn driver_log(node: &Node) -> PathBuf {
    PathBuf::from(format!("/tmp/faultline-clock-{}.log", node.ip))
}

fn q(p: &Path) -> String {
    shell_escape(&p.to_string_lossy())
}

/// The command that starts the driver of `change` on `node` from offset `base`, writing `file`.
/// A bump needs no driver: `None`.
pub fn start_driver_command(
    node: &Node,
    exe: &Path,
    file: &Path,
    base: f64,
    change: &ClockChange,
) -> Option<Cmd> {
    let how = match *change {
        ClockChange::Bump { .. } => return None,
        ClockChange::Strobe {
            delta_ms,
            period_ms,
            duration_ms,
        } => format!("--strobe-delta-ms {delta_ms} --period-ms {period_ms} --for-ms {duration_ms}"),
        ClockChange::Skew {
            ms_per_s,
            duration_ms,
        } => format!("--skew-ms-per-s {ms_per_s} --for-ms {duration_ms}"),
    };
    Some(Cmd::shell(format!(
        "start-stop-daemon --start --background --no-close --make-pidfile --pidfile {pid} \
         --exec {exe} -- clock-driver --file {file} --base-ms {base} {how} \
         >>{log} 2>&1 </dev/null",
        pid = q(&driver_pidfile(node)),
        exe = q(exe),
        file = q(file),
        log = q(&driver_log(node)),
    )))
}

/// The command that stops `node`'s driver (the program `exe`) through its pidfile and waits
/// until it is gone; succeeds when none runs. `--exec` makes an exited driver that nobody has
/// reaped yet (a zombie: this machine's PID 1 may never reap it) count as gone.
pub fn stop_driver_command(node: &Node, exe: &Path) -> Cmd {
    Cmd::shell(format!(
        "start-stop-daemon --stop --oknodo --remove-pidfile --pidfile {} --exec {} \
         --retry TERM/2/KILL/2 >/dev/null",
        q(&driver_pidfile(node)),
        q(exe)
    ))
}

impl Nemesis {
    /// The control file of `node`, or why there is none (the run has no clock faults).
    fn clock_file(&self, node: &str) -> Result<PathBuf, NemesisError> {
        self.clock
            .as_ref()
            .map(|c| c.control_file(node))
            .ok_or_else(|| NemesisError::NoClock {
                node: node.to_string(),
            })
    }

    fn offset(&self, node: &str) -> f64 {
        self.offsets().get(node).copied().unwrap_or(0.0)
    }

    fn offsets(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, f64>> {
        self.clock_offsets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Each node's clock offset as the nemesis last set it, in ms.
    pub fn clock_offsets(&self) -> BTreeMap<String, f64> {
        self.offsets().clone()
    }

    /// Moves the clocks of `nodes` as `change` says, in parallel.
    pub fn change_clock(
        &self,
        nodes: &[String],
        change: &ClockChange,
    ) -> Result<FaultEvent, NemesisError> {
        let targets = nodes
            .iter()
            .map(|n| self.node(n))
            .collect::<Result<Vec<_>, _>>()?;
        for n in nodes {
            self.clock_file(n)?;
        }
        self.lock().clock.extend(nodes.iter().cloned());
        let exe = self.helper_exe(nodes.first().map_or("", String::as_str))?;
        let results = in_parallel(&targets, |node| self.change_one(node, &exe, change));
        let mut offsets = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, r) in nodes.iter().zip(results) {
            match r {
                Ok(offset) => {
                    offsets.insert(name.clone(), offset);
                }
                Err(e) => errors.push(Err(e)),
            }
        }
        all_ok(errors)?;
        Ok(change.start_event(nodes, &offsets))
    }

    /// Starts `change` on one node; returns its offset right after.
    fn change_one(
        &self,
        node: &Node,
        exe: &Path,
        change: &ClockChange,
    ) -> Result<f64, NemesisError> {
        let file = self.clock_file(&node.name)?;
        // One driver per node: a new strobe or skew replaces one still running.
        node.remote
            .run(&stop_driver_command(node, exe), Some(self.timeout))?;
        let base = self.offset(&node.name);
        let after = change.offset_from(base);
        match start_driver_command(node, exe, &file, base, change) {
            None => {
                node.remote.run(
                    &Cmd::shell(write_offset_script(&file, after)),
                    Some(self.timeout),
                )?;
            }
            Some(start) => {
                super::latency::ensure_binary(node, exe, self.timeout)?;
                node.remote.run(&start, Some(self.timeout))?;
            }
        }
        self.offsets().insert(node.name.clone(), after);
        Ok(after)
    }

    /// Puts the clocks of `nodes` back to zero: stops their drivers, then writes the files.
    pub fn reset_clocks(&self, nodes: &[String]) -> Result<FaultEvent, NemesisError> {
        let targets = nodes
            .iter()
            .map(|n| self.node(n))
            .collect::<Result<Vec<_>, _>>()?;
        let exe = self.helper_exe(nodes.first().map_or("", String::as_str))?;
        let results = in_parallel(&targets, |node| {
            let file = self.clock_file(&node.name)?;
            node.remote
                .run(&stop_driver_command(node, &exe), Some(self.timeout))?;
            // A driver stopped between writing its next offset and renaming it leaves that
            // file behind: it goes too.
            node.remote.run(
                &Cmd::shell(format!(
                    "rm -f {} && {}",
                    q(&super::clock_driver::scratch_file(&file)),
                    write_offset_script(&file, 0.0)
                )),
                Some(self.timeout),
            )?;
            self.offsets().insert(node.name.clone(), 0.0);
            self.lock().clock.remove(&node.name);
            Ok(())
        });
        all_ok(results)?;
        Ok(reset_event(nodes))
    }

    /// Resets every node's clock when the run has clock faults, whatever the nemesis thinks it
    /// touched: healing must leave no clock moved. Nothing to do otherwise.
    pub(super) fn heal_clocks(&self) -> Result<(), NemesisError> {
        if self.clock.is_none() {
            return Ok(());
        }
        let all: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        self.reset_clocks(&all).map(|_| ())
    }

    /// The faultline binary that runs node-side helpers (the latency delayer, the clock
    /// driver): this process's own unless set with [`Nemesis::with_delayer_exe`].
    pub(super) fn helper_exe(&self, node: &str) -> Result<PathBuf, NemesisError> {
        match &self.delayer_exe {
            Some(exe) => Ok(exe.clone()),
            None => std::env::current_exe().map_err(|source| NemesisError::DelayerBinary {
                node: node.to_string(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::local::LocalRemote;
    use std::sync::Arc;

    fn node() -> Node {
        Node {
            name: "n1".into(),
            ip: "10.9.0.11".parse().unwrap(),
            remote: Arc::new(LocalRemote::new("n1")),
        }
    }

    #[test]
    fn a_bump_needs_no_driver_and_a_strobe_or_skew_starts_one_by_pidfile() {
        let n = node();
        let (exe, file) = (Path::new("/bin/faultline"), Path::new("/c/n1.faketime"));
        let bump = ClockChange::Bump { delta_ms: 250 };
        assert!(start_driver_command(&n, exe, file, 0.0, &bump).is_none());
        let strobe = ClockChange::Strobe {
            delta_ms: 200,
            period_ms: 10,
            duration_ms: 5000,
        };
        let cmd = start_driver_command(&n, exe, file, 250.0, &strobe)
            .unwrap()
            .to_string();
        assert!(
            cmd.contains("--pidfile /run/faultline-clock-10.9.0.11.pid"),
            "{cmd}"
        );
        assert!(
            cmd.contains(
                "clock-driver --file /c/n1.faketime --base-ms 250 --strobe-delta-ms 200 \
                 --period-ms 10 --for-ms 5000"
            ),
            "{cmd}"
        );
        let skew = ClockChange::Skew {
            ms_per_s: -2.5,
            duration_ms: 100,
        };
        let cmd = start_driver_command(&n, exe, file, 0.0, &skew)
            .unwrap()
            .to_string();
        assert!(cmd.contains("--skew-ms-per-s -2.5 --for-ms 100"), "{cmd}");
        let stop = stop_driver_command(&n, exe).to_string();
        assert!(
            stop.contains(
                "--stop --oknodo --remove-pidfile --pidfile /run/faultline-clock-10.9.0.11.pid \
                 --exec /bin/faultline"
            ),
            "{stop}"
        );
    }

    #[test]
    fn events_record_each_nodes_offset() {
        let nodes = vec!["n1".to_string(), "n3".to_string()];
        let e = ClockChange::Bump { delta_ms: -300 }.planned_start_event(&nodes);
        assert_eq!(e.f, "start-clock-bump");
        assert_eq!(
            e.value["clock_offsets_ms"],
            json!({"n1": -300.0, "n3": -300.0})
        );
        assert_eq!(e.value["delta_ms"], json!(-300));
        let e = ClockChange::Skew {
            ms_per_s: 50.0,
            duration_ms: 1000,
        }
        .planned_start_event(&nodes);
        assert_eq!(e.f, "start-clock-skew");
        assert_eq!(e.value["clock_offsets_ms"]["n1"], json!(0.0));
        let r = reset_event(&nodes);
        assert_eq!(r.f, "clock-reset");
        assert_eq!(r.value["clock_offsets_ms"], json!({"n1": 0.0, "n3": 0.0}));
    }

    #[test]
    fn clock_options_are_checked() {
        let o = ClockOptions::default();
        assert_eq!(o.params().unwrap(), ClockParams::default());
        let bad = [
            ClockOptions {
                clock_bump_ms: vec![0],
                ..Default::default()
            },
            ClockOptions {
                clock_strobe_period_ms: Some(0),
                ..Default::default()
            },
            ClockOptions {
                clock_skew_ms_per_s: Some(f64::INFINITY),
                ..Default::default()
            },
            ClockOptions {
                clock_strobe_ms: Some(0),
                ..Default::default()
            },
        ];
        for o in bad {
            assert!(o.params().is_err(), "{o:?}");
        }
        let p = ClockOptions {
            clock_bump_ms: vec![-100, 250],
            clock_skew_ms_per_s: Some(-20.0),
            ..Default::default()
        }
        .params()
        .unwrap();
        assert_eq!(p.bump_ms, vec![-100, 250]);
        assert_eq!(p.skew_ms_per_s, -20.0);
    }
}
