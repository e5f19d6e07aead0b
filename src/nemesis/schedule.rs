//! The nemesis schedule: a plain list of "at time t, start fault X on target T" and "at t', stop
//! it", computed up front from the enabled faults, the timing, the targets and the seed.
//!
//! Jepsen composes generators to the same effect; here the whole schedule is data that a reader
//! (and a test) can print and inspect before anything runs, that `test.json` records, and that
//! the same seed gives again (`faultline test --replay`). Faults come in periods: each period
//! starts one or more fault kinds together (`--nemesis-at-once`) and stops them together, and
//! periods never overlap. When periods come is the schedule's kind (`--nemesis-schedule`):
//! - `periodic`: quiet for an interval, faults for an interval, quiet, ... (the default);
//! - `random`: quiet and fault stretches each drawn between 1/4 and 7/4 of the interval, so
//!   faults come at irregular times with the same average rate;
//! - `burst`: after a quiet interval, a burst of 3 to 6 short periods (each 1/10 to 3/10 of an
//!   interval, with 1/20 to 1/5 of an interval between them), then two intervals of quiet, and
//!   again: faults that pile up before the datastore has recovered from the last.
//!
//! The last period is cut short at the time limit, so nothing is left active when the workload
//! ends.

use std::time::Duration;

use faultline_workloads::generator::Rng;

use super::clock::ClockParams;
pub use super::fault::{
    target, Fault, FaultTarget, PrimaryAction, Targets, LATENCY_DELAY, PACKET_LOSS_PROBABILITY,
};
use super::FaultEvent;

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

impl Step {
    /// The step as `test.json` records it: when, which fault, and the event it is planned to
    /// be (a fault aimed at the primary names `"primary"`: the node is known when it starts).
    pub fn to_json(&self) -> serde_json::Value {
        let event = FaultEvent::of_step(&self.target, self.phase);
        serde_json::json!({
            "at_s": self.at.as_secs_f64(),
            "phase": match self.phase { Phase::Start => "start", Phase::Stop => "stop" },
            "fault": self.fault.name(),
            "f": event.f,
            "value": event.value,
        })
    }
}

/// When fault periods come (`--nemesis-schedule`; see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScheduleKind {
    #[default]
    Periodic,
    Random,
    Burst,
}

impl ScheduleKind {
    pub const ALL: [ScheduleKind; 3] = [
        ScheduleKind::Periodic,
        ScheduleKind::Random,
        ScheduleKind::Burst,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ScheduleKind::Periodic => "periodic",
            ScheduleKind::Random => "random",
            ScheduleKind::Burst => "burst",
        }
    }

    pub fn parse(name: &str) -> Option<ScheduleKind> {
        ScheduleKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// How many of the enabled fault kinds start together in each period (`--nemesis-at-once`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtOnce {
    /// This many different kinds (at most as many as are enabled), drawn by the seed.
    Count(usize),
    /// Every enabled kind.
    All,
}

impl Default for AtOnce {
    fn default() -> Self {
        AtOnce::Count(1)
    }
}

impl AtOnce {
    /// `2`, or `all`.
    pub fn parse(text: &str) -> Result<AtOnce, String> {
        match text.trim() {
            "all" => Ok(AtOnce::All),
            t => match t.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(AtOnce::Count(n)),
                _ => Err(format!(
                    "--nemesis-at-once {t}: a number of fault kinds (1 or more), or `all`"
                )),
            },
        }
    }

    pub fn name(self) -> String {
        match self {
            AtOnce::Count(n) => n.to_string(),
            AtOnce::All => "all".into(),
        }
    }
}

/// Everything a schedule is made from, but the nodes and the seed.
#[derive(Debug, Clone)]
pub struct ScheduleSpec<'a> {
    pub kind: ScheduleKind,
    pub faults: &'a [Fault],
    pub at_once: AtOnce,
    pub targets: Targets,
    pub clock: &'a ClockParams,
    pub interval: Duration,
    pub time_limit: Duration,
}

/// The schedule of `spec` over `nodes`, drawn by `seed`. No faults, no nodes or a zero interval
/// give an empty schedule.
pub fn plan(spec: &ScheduleSpec<'_>, nodes: &[String], seed: u64) -> Vec<Step> {
    let mut steps = Vec::new();
    if spec.faults.is_empty() || nodes.is_empty() || spec.interval.is_zero() {
        return steps;
    }
    let mut rng = Rng::new(seed);
    let (interval, limit) = (spec.interval, spec.time_limit);
    let mut period = |start: Duration, stop: Duration, rng: &mut Rng| {
        add_period(&mut steps, spec, nodes, start, stop.min(limit), rng)
    };
    match spec.kind {
        ScheduleKind::Periodic => {
            let mut start = interval;
            while start < limit {
                period(start, start + interval, &mut rng);
                start += interval * 2;
            }
        }
        ScheduleKind::Random => {
            let mut quiet_from = Duration::ZERO;
            loop {
                let start = quiet_from + interval.mul_f64(0.25 + 1.5 * rng.unit());
                if start >= limit {
                    break;
                }
                let stop = start + interval.mul_f64(0.25 + 1.5 * rng.unit());
                period(start, stop, &mut rng);
                quiet_from = stop;
            }
        }
        ScheduleKind::Burst => {
            let mut start = interval;
            'bursts: while start < limit {
                let count = 3 + rng.below(4);
                for _ in 0..count {
                    if start >= limit {
                        break 'bursts;
                    }
                    let stop = start + interval.mul_f64(0.1 + 0.2 * rng.unit());
                    period(start, stop, &mut rng);
                    start = stop + interval.mul_f64(0.05 + 0.15 * rng.unit());
                }
                start += interval * 2;
            }
        }
    }
    steps
}

/// Adds the steps of one period from `start` to `stop`: the kinds it starts are drawn, each
/// one's target is drawn, they start in [`Fault::start_rank`] order and stop in the reverse.
fn add_period(
    steps: &mut Vec<Step>,
    spec: &ScheduleSpec<'_>,
    nodes: &[String],
    start: Duration,
    stop: Duration,
    rng: &mut Rng,
) {
    let kinds: Vec<Fault> = match spec.at_once {
        // One kind, drawn as the first schedules did, so that their seeds still give them.
        AtOnce::Count(1) => vec![spec.faults[rng.below(spec.faults.len() as u64) as usize]],
        AtOnce::Count(n) => {
            let mut pool = spec.faults.to_vec();
            let mut picked = Vec::new();
            while picked.len() < n && !pool.is_empty() {
                picked.push(pool.remove(rng.below(pool.len() as u64) as usize));
            }
            picked
        }
        AtOnce::All => spec.faults.to_vec(),
    };
    let mut period: Vec<(Fault, FaultTarget)> = kinds
        .into_iter()
        .map(|fault| {
            let t = target(
                fault,
                spec.targets,
                nodes,
                spec.clock,
                stop.saturating_sub(start),
                rng,
            );
            (fault, t)
        })
        .collect();
    period.sort_by_key(|(f, _)| f.start_rank());
    for (fault, target) in &period {
        steps.push(Step {
            at: start,
            phase: Phase::Start,
            fault: *fault,
            target: target.clone(),
        });
    }
    for (fault, target) in period.into_iter().rev() {
        steps.push(Step {
            at: stop,
            phase: Phase::Stop,
            fault,
            target,
        });
    }
}

/// The periodic schedule of one fault at a time: faults start at `interval`, `3 * interval`,
/// ... (each one drawn from `faults` by the seed), and each stops one interval later (or at
/// the time limit).
pub fn schedule(
    faults: &[Fault],
    targets: Targets,
    nodes: &[String],
    interval: Duration,
    time_limit: Duration,
    seed: u64,
) -> Vec<Step> {
    let clock = ClockParams::default();
    plan(
        &ScheduleSpec {
            kind: ScheduleKind::Periodic,
            faults,
            at_once: AtOnce::Count(1),
            targets,
            clock: &clock,
            interval,
            time_limit,
        },
        nodes,
        seed,
    )
}

#[cfg(test)]
mod tests;
