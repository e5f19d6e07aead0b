//! The phases of a run, as Jepsen composes its generators (`gen/phases`): a warm-up without
//! faults, a period of faults, a recovery (every fault healed, then a wait until the datastore
//! is healthy again), and the final reads, each with its own time limit.
//!
//! `--phases warm-up:10,faults:30,recovery:60,final-reads:10` (or `[[phase]]` tables in a test
//! plan) lists them in order. Without it a run is `faults:<--time-limit>,recovery:60,
//! final-reads`, which is what `faultline test` always did. The list is plain data, checked
//! before anything is touched, so a reader (and `test.json`) can see what the run will do.
//!
//! Consecutive workload phases (`warm-up`, `faults`) form one stretch of load: the workers run
//! through it without a pause, and the nemesis follows its schedule only inside `faults`. A
//! recovery stops the workers (every operation in flight completes or times out first), so
//! that healing and the wait for the datastore happen without load, as in Jepsen; a workload
//! phase after it starts them again, each worker continuing as the process it was.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::watch;

use super::log::Log;
use super::nodes::NodeSet;
use super::recorder::Recorder;
use super::worker::{self, Shared};
use super::{faults, final_reads};
use crate::db::Db;
use crate::nemesis::{Nemesis, Step};

/// How long a recovery waits for the datastore when its phase names no time limit.
pub const DEFAULT_RECOVERY: Duration = Duration::from_secs(60);

/// What a phase does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    /// The workload without faults.
    WarmUp,
    /// The workload while the nemesis follows its schedule.
    Faults,
    /// Heal every fault, wait `--settle`, then until the datastore is ready.
    Recovery,
    /// The workload's final reads.
    FinalReads,
}

impl PhaseKind {
    pub const ALL: [PhaseKind; 4] = [
        PhaseKind::WarmUp,
        PhaseKind::Faults,
        PhaseKind::Recovery,
        PhaseKind::FinalReads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PhaseKind::WarmUp => "warm-up",
            PhaseKind::Faults => "faults",
            PhaseKind::Recovery => "recovery",
            PhaseKind::FinalReads => "final-reads",
        }
    }

    pub fn parse(name: &str) -> Option<PhaseKind> {
        PhaseKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether clients run during the phase.
    pub fn is_workload(self) -> bool {
        matches!(self, PhaseKind::WarmUp | PhaseKind::Faults)
    }
}

/// One phase and its time limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    pub kind: PhaseKind,
    /// A workload phase lasts exactly this long (unless the run is stopped); a recovery waits
    /// at most this long for the datastore; final reads stop after it (`None`: no bound but
    /// each read's `--op-timeout-ms`).
    pub limit: Option<Duration>,
}

/// The phases of a run, in order; checked by [`Phases::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Phases(pub Vec<Phase>);

impl Phases {
    /// What a run without `--phases` does: faults for `time_limit`, recovery, final reads.
    pub fn standard(time_limit: Duration) -> Phases {
        Phases(vec![
            Phase {
                kind: PhaseKind::Faults,
                limit: Some(time_limit),
            },
            Phase {
                kind: PhaseKind::Recovery,
                limit: Some(DEFAULT_RECOVERY),
            },
            Phase {
                kind: PhaseKind::FinalReads,
                limit: None,
            },
        ])
    }

    /// Parses `--phases` text: `KIND[:SECS]`, comma-separated. A workload phase without SECS
    /// lasts `time_limit` (`--time-limit`); a recovery without SECS waits at most 60 s.
    pub fn parse(text: &str, time_limit: Duration) -> Result<Phases, String> {
        let mut phases = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, secs) = match part.split_once(':') {
                Some((n, s)) => (n.trim(), Some(s.trim())),
                None => (part, None),
            };
            let kind = PhaseKind::parse(name).ok_or_else(|| {
                format!(
                    "--phases {text}: unknown phase `{name}` (known: {})",
                    PhaseKind::ALL.map(PhaseKind::name).join(", ")
                )
            })?;
            let limit = match secs {
                Some(s) => {
                    let v: f64 = s.parse().map_err(|_| {
                        format!("--phases {text}: `{part}`: the time limit is a number of seconds")
                    })?;
                    if !(v.is_finite() && v > 0.0) {
                        return Err(format!(
                            "--phases {text}: `{part}`: the time limit must be a positive number of seconds"
                        ));
                    }
                    Some(
                        Duration::try_from_secs_f64(v)
                            .map_err(|e| format!("--phases {text}: `{part}`: {e}"))?,
                    )
                }
                None => match kind {
                    PhaseKind::WarmUp | PhaseKind::Faults => Some(time_limit),
                    PhaseKind::Recovery => Some(DEFAULT_RECOVERY),
                    PhaseKind::FinalReads => None,
                },
            };
            phases.push(Phase { kind, limit });
        }
        let phases = Phases(phases);
        phases
            .check()
            .map_err(|e| format!("--phases {text}: {e}"))?;
        Ok(phases)
    }

    /// The rules a list of phases must follow.
    fn check(&self) -> Result<(), String> {
        let list = &self.0;
        if !list.iter().any(|p| p.kind.is_workload()) {
            return Err("no warm-up or faults phase: the clients would never run".into());
        }
        let finals = list
            .iter()
            .filter(|p| p.kind == PhaseKind::FinalReads)
            .count();
        if finals > 1 || (finals == 1 && list.last().map(|p| p.kind) != Some(PhaseKind::FinalReads))
        {
            return Err("final-reads comes once, as the last phase".into());
        }
        if finals == 1 {
            // Final reads must see the healed datastore: a recovery after the last faults.
            let last_faults = list.iter().rposition(|p| p.kind == PhaseKind::Faults);
            let last_recovery = list.iter().rposition(|p| p.kind == PhaseKind::Recovery);
            if let Some(f) = last_faults {
                if !matches!(last_recovery, Some(r) if r > f) {
                    return Err(
                        "final-reads must follow a recovery after the last faults phase (the \
                         final reads are of the healed datastore)"
                            .into(),
                    );
                }
            }
        }
        Ok(())
    }

    /// `warm-up:10,faults:30,recovery:60,final-reads`: the text [`Phases::parse`] reads back.
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|p| match p.limit {
                Some(l) => format!("{}:{}", p.kind.name(), l.as_secs_f64()),
                None => p.kind.name().to_string(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Seconds of workload over every warm-up and faults phase.
    pub fn workload_time(&self) -> Duration {
        self.0
            .iter()
            .filter(|p| p.kind.is_workload())
            .filter_map(|p| p.limit)
            .sum()
    }

    /// Whether any phase lets the nemesis work.
    pub fn has_faults(&self) -> bool {
        self.0.iter().any(|p| p.kind == PhaseKind::Faults)
    }
}

/// What the phases of a run need from it.
pub struct PhaseContext<'a> {
    pub phases: &'a Phases,
    pub shared: &'a Arc<Shared>,
    pub db: &'a Arc<dyn Db>,
    pub workload: &'a dyn faultline_workloads::Workload,
    pub nodes: &'a NodeSet,
    pub nemesis: &'a Arc<Nemesis>,
    pub recorder: &'a Arc<Recorder>,
    pub log: &'a Arc<Log>,
    /// The run's stop signal (Ctrl-C, a history that cannot be written).
    pub stop: &'a watch::Receiver<bool>,
    pub interrupted: &'a AtomicBool,
    /// Whether faultline controls the nodes (not `--dummy-ssh`).
    pub controlled: bool,
    pub settle: Duration,
    pub op_timeout: Duration,
    /// The nemesis schedule of the `n`th faults phase (from 0), for its length.
    pub schedule: &'a (dyn Fn(usize, Duration) -> Vec<Step> + Sync),
}

/// What the phases leave to the end of the run.
#[derive(Debug, Default)]
pub struct PhaseOutcome {
    /// What went wrong without stopping the run.
    pub problems: Vec<String>,
    /// Faults that could not be healed, naming the nodes.
    pub unhealed: Vec<String>,
}

impl PhaseContext<'_> {
    /// Whether the run must stop going through its phases (interrupted, or the history cannot
    /// be written): it then only heals.
    fn stopped(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
            || self.recorder.writing_failed()
            || *self.stop.borrow()
    }
}

/// Runs the phases in order. Whatever happens, every fault is healed before this returns.
pub async fn run(ctx: PhaseContext<'_>) -> Result<PhaseOutcome> {
    let mut out = PhaseOutcome::default();
    let list = &ctx.phases.0;
    let mut faults_seen = 0;
    // Whether a fault may be active: a faults phase ran since the last heal.
    let mut unhealed_phase = false;
    let mut i = 0;
    while i < list.len() {
        if ctx.stopped() {
            break;
        }
        let phase = list[i];
        match phase.kind {
            PhaseKind::WarmUp | PhaseKind::Faults => {
                let end = list[i..]
                    .iter()
                    .position(|p| !p.kind.is_workload())
                    .map_or(list.len(), |n| i + n);
                unhealed_phase |= list[i..end].iter().any(|p| p.kind == PhaseKind::Faults);
                let problems = stretch(&ctx, &list[i..end], i, &mut faults_seen).await?;
                out.problems.extend(problems);
                i = end;
                continue;
            }
            PhaseKind::Recovery => {
                ctx.log.say(&phase_line(i, list.len(), &phase));
                out.unhealed = faults::heal(ctx.nemesis, ctx.recorder, ctx.log).await;
                unhealed_phase = false;
                if ctx.stopped() {
                    break;
                }
                tokio::time::sleep(ctx.settle).await;
                if ctx.controlled {
                    let db = ctx.db.clone();
                    let limit = phase.limit.unwrap_or(DEFAULT_RECOVERY);
                    if let Ok(Err(e)) =
                        tokio::task::spawn_blocking(move || db.await_ready(limit)).await
                    {
                        ctx.log.say(&format!("after healing: {e}"));
                        out.problems.push(format!("after healing: {e}"));
                    }
                }
            }
            PhaseKind::FinalReads => {
                ctx.log.say(&phase_line(i, list.len(), &phase));
                let names = ctx.nodes.names();
                let reads = final_reads::final_reads(
                    ctx.shared,
                    ctx.db,
                    ctx.workload.name(),
                    &names,
                    ctx.op_timeout,
                    ctx.log,
                );
                match phase.limit {
                    None => reads.await,
                    Some(limit) => {
                        if tokio::time::timeout(limit, reads).await.is_err() {
                            let why = format!(
                                "final reads: stopped at their time limit of {:.1} s",
                                limit.as_secs_f64()
                            );
                            ctx.log.say(&why);
                            out.problems.push(why);
                        }
                    }
                }
            }
        }
        i += 1;
    }
    if unhealed_phase {
        out.unhealed = faults::heal(ctx.nemesis, ctx.recorder, ctx.log).await;
    }
    Ok(out)
}

fn phase_line(i: usize, of: usize, phase: &Phase) -> String {
    format!(
        "phase {} of {of}: {}{}",
        i + 1,
        phase.kind.name(),
        phase
            .limit
            .map(|l| format!(" ({:.1} s)", l.as_secs_f64()))
            .unwrap_or_default()
    )
}

/// One stretch of consecutive workload phases: the workers run through all of them, the
/// nemesis follows its schedule in each faults phase. Returns the nemesis's problems.
async fn stretch(
    ctx: &PhaseContext<'_>,
    phases: &[Phase],
    first: usize,
    faults_seen: &mut usize,
) -> Result<Vec<String>> {
    let total: Duration = phases.iter().filter_map(|p| p.limit).sum();
    let start = Instant::now();
    ctx.shared.set_deadline(start + total);
    // The stretch's own stop: the run's stop, or the end of the stretch.
    let (stop_tx, stop_rx) = watch::channel(*ctx.stop.borrow());
    let forward = tokio::spawn({
        let (mut run_stop, stop_tx) = (ctx.stop.clone(), stop_tx.clone());
        async move {
            while run_stop.changed().await.is_ok() {
                if *run_stop.borrow() {
                    let _ = stop_tx.send(true);
                    return;
                }
            }
        }
    });
    let mut workers = Vec::new();
    for w in 0..ctx.shared.concurrency {
        let node = &ctx.nodes.nodes[(w as usize) % ctx.nodes.len()];
        // A worker of a run of several workloads needs the client of the one it serves.
        let part = ctx.workload.part_of_worker(w);
        let connector = ctx
            .db
            .connector(part.unwrap_or(ctx.workload.name()), &node.name)?;
        workers.push(tokio::spawn(worker::run_worker(
            w,
            node.name.clone(),
            part,
            connector,
            ctx.shared.clone(),
            stop_rx.clone(),
        )));
    }
    let progress = tokio::spawn(super::progress_loop(
        ctx.recorder.clone(),
        ctx.nemesis.clone(),
        stop_rx.clone(),
        ctx.log.clone(),
        total,
    ));
    let mut nemesis_tasks = Vec::new();
    let mut at = start;
    for (k, phase) in phases.iter().enumerate() {
        let limit = phase.limit.unwrap_or_default();
        if phase.kind == PhaseKind::Faults {
            let steps = (ctx.schedule)(*faults_seen, limit);
            *faults_seen += 1;
            nemesis_tasks.push(tokio::spawn(faults::nemesis_loop(
                steps,
                ctx.nemesis.clone(),
                ctx.recorder.clone(),
                at,
                stop_rx.clone(),
                ctx.log.clone(),
            )));
        }
        let line = phase_line(first + k, ctx.phases.0.len(), phase);
        let log = ctx.log.clone();
        let mut stop = stop_rx.clone();
        // Announce each phase when it begins.
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => log.say(&line),
                _ = stop.wait_for(|s| *s) => {}
            }
        });
        at += limit;
    }
    if std::env::var(super::PANIC_HOOK).as_deref() == Ok("workload") && phases_have_faults(phases) {
        while ctx.nemesis.active().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        super::panic_hook("workload");
    }
    for w in workers {
        if let Err(e) = w.await {
            ctx.log.say(&format!("a worker failed: {e}"));
        }
    }
    let _ = stop_tx.send(true);
    forward.abort();
    let mut problems = Vec::new();
    for task in nemesis_tasks {
        problems.extend(task.await.unwrap_or_default());
    }
    progress.abort();
    Ok(problems)
}

fn phases_have_faults(phases: &[Phase]) -> bool {
    phases.iter().any(|p| p.kind == PhaseKind::Faults)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(60);

    #[test]
    fn phases_read_back_as_they_are_written() {
        let p = Phases::parse("warm-up:10,faults:30,recovery:20,final-reads:5", T).unwrap();
        assert_eq!(p.text(), "warm-up:10,faults:30,recovery:20,final-reads:5");
        assert_eq!(p.workload_time(), Duration::from_secs(40));
        assert!(p.has_faults());
        assert_eq!(Phases::parse(&p.text(), T).unwrap(), p);
    }

    #[test]
    fn a_phase_without_a_limit_takes_the_time_limit_or_its_default() {
        let p = Phases::parse("warm-up, faults ,recovery,final-reads", T).unwrap();
        assert_eq!(p.0[0].limit, Some(T));
        assert_eq!(p.0[1].limit, Some(T));
        assert_eq!(p.0[2].limit, Some(DEFAULT_RECOVERY));
        assert_eq!(p.0[3].limit, None);
    }

    #[test]
    fn the_standard_phases_are_what_a_run_always_did() {
        assert_eq!(
            Phases::standard(T),
            Phases::parse("faults,recovery,final-reads", T).unwrap()
        );
    }

    #[test]
    fn phases_that_cannot_run_are_refused() {
        for (text, says) in [
            ("recovery,final-reads", "clients would never run"),
            ("faults:10,final-reads,recovery", "last phase"),
            ("faults:10,final-reads", "must follow a recovery"),
            (
                "faults:10,recovery,faults:5,final-reads",
                "must follow a recovery",
            ),
            ("faults:ten", "number of seconds"),
            ("faults:0", "positive"),
            ("faults:inf", "positive"),
            ("faults:-3", "positive"),
            ("earthquake:3", "unknown phase `earthquake`"),
        ] {
            let e = Phases::parse(text, T).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        // Faults healed by a recovery, then load again before the final reads: fine.
        assert!(Phases::parse("faults:10,recovery,warm-up:5,final-reads", T).is_ok());
        // No final reads at all: the run still heals at the end.
        assert!(Phases::parse("warm-up:5,faults:10", T).is_ok());
    }
}
