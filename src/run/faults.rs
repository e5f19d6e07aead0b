//! The nemesis side of a run: following the fault schedule, healing at the end (and again while
//! nodes may come back), and the signal handler that stops a run or, at a second signal, heals
//! at once. Every fault start and stop is recorded in the history as an op of the `nemesis`
//! process, also when it failed (it may have half-happened).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_checkers::history::{OpType, Process, Value};
use tokio::sync::watch;

use super::log::Log;
use super::recorder::{Event, Recorder};
use crate::nemesis::schedule::{Phase, Step};
use crate::nemesis::{FaultEvent, FaultTarget, Nemesis};

/// Records a nemesis event in the history (with its error, when it failed).
pub fn record_fault(recorder: &Recorder, event: &FaultEvent, error: Option<String>) {
    let f: Arc<str> = Arc::from(event.f.as_str());
    recorder.record(Event {
        process: Process::Nemesis,
        kind: OpType::Info,
        f: &f,
        key: None,
        // A fault's target is names and numbers; should it ever not convert, keep its text.
        value: faultline_checkers::history::value_from_json(event.value.clone())
            .unwrap_or_else(|_| Value::Str(event.value.to_string().into())),
        node: None,
        error,
        workload: None,
    });
}

/// Follows the schedule; returns the errors it met (the run goes on: a fault that failed to
/// start is recorded as such, and healing at the end covers whatever half-happened). A fault
/// aimed at the primary is resolved when it starts, and its stop undoes what it became.
/// When `stop` comes (the workload ended, or an interrupt), no further fault starts; stops
/// already due still run.
pub async fn nemesis_loop(
    steps: Vec<Step>,
    nemesis: Arc<Nemesis>,
    recorder: Arc<Recorder>,
    start: Instant,
    mut stop: watch::Receiver<bool>,
    log: Arc<Log>,
) -> Vec<String> {
    let mut errors = Vec::new();
    // What each scheduled target turned into when it started (the primary of the moment).
    let mut resolved: HashMap<usize, FaultTarget> = HashMap::new();
    let mut started_as: Vec<(FaultTarget, usize)> = Vec::new();
    let mut ended = false;
    for (i, step) in steps.into_iter().enumerate() {
        ended = ended || *stop.borrow();
        if !ended {
            ended = tokio::select! {
                _ = tokio::time::sleep_until((start + step.at).into()) => false,
                changed = stop.changed() => changed.is_err() || *stop.borrow(),
            };
        }
        // Once the workload has ended, nothing new starts; but a stop that is due (the last
        // period's, cut at the time limit, which is when the workers end) still runs, so that
        // a run and its replay end their histories alike rather than by a race.
        if ended && !(step.phase == Phase::Stop && start.elapsed() >= step.at) {
            return errors;
        }
        let target = match step.phase {
            Phase::Start => {
                started_as.push((step.target.clone(), i));
                step.target.clone()
            }
            Phase::Stop => started_as
                .iter()
                .rposition(|(t, _)| *t == step.target)
                .map(|at| started_as.remove(at).1)
                .and_then(|i| resolved.remove(&i))
                .unwrap_or_else(|| step.target.clone()),
        };
        let n = nemesis.clone();
        let phase = step.phase;
        let outcome = tokio::task::spawn_blocking(move || {
            let concrete = match phase {
                Phase::Start => n.resolve(&target)?,
                Phase::Stop => target,
            };
            let event = match phase {
                Phase::Start => n.start(&concrete)?,
                Phase::Stop => n.stop(&concrete)?,
            };
            Ok::<_, crate::nemesis::NemesisError>((event, concrete))
        })
        .await;
        match outcome {
            Ok(Ok((event, concrete))) => {
                log.say(&format!("nemesis: {} {}", event.f, event.value));
                record_fault(&recorder, &event, None);
                if phase == Phase::Start {
                    resolved.insert(i, concrete);
                }
            }
            Ok(Err(e)) => {
                // It may have half-happened: the history says it was tried, and how it failed.
                let event = FaultEvent::of_step(&step.target, step.phase);
                log.say(&format!("nemesis: {} {} failed: {e}", event.f, event.value));
                record_fault(&recorder, &event, Some(e.to_string()));
                errors.push(format!("nemesis {}: {e}", event.f));
            }
            Err(e) => errors.push(format!("nemesis task: {e}")),
        }
    }
    errors
}

/// Heals every fault, trying again while nodes may come back (sshd restarting, a node
/// rebooting). Returns what is still not healed, naming the nodes; empty when all is healed.
pub async fn heal(nemesis: &Arc<Nemesis>, recorder: &Recorder, log: &Log) -> Vec<String> {
    const ATTEMPTS: u32 = 4;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        log.say(
            if attempt == 1 {
                "healing every fault".to_string()
            } else {
                format!("healing again (attempt {attempt} of {ATTEMPTS})")
            }
            .as_str(),
        );
        let n = nemesis.clone();
        match tokio::task::spawn_blocking(move || n.heal_all()).await {
            Ok(Ok(event)) => {
                record_fault(recorder, &event, None);
                return Vec::new();
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(e) => last = format!("the healing task failed: {e}"),
        }
        log.say(&format!("healing failed: {last}"));
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_secs(2 * u64::from(attempt))).await;
        }
    }
    vec![last]
}

/// Ctrl-C or SIGTERM: stop the workload (the run then heals, tears down, writes and checks what
/// it has). A second signal: heal right now, tear down, and exit 130.
pub fn spawn_signal_handler(
    stop: watch::Sender<bool>,
    nemesis: Arc<Nemesis>,
    teardown: Arc<super::Teardown>,
    interrupted: Arc<AtomicBool>,
    log: Arc<Log>,
) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        for round in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if round == 0 {
                log.say("interrupted: stopping the workload, then healing and checking what was recorded");
                interrupted.store(true, Ordering::SeqCst);
                let _ = stop.send(true);
            } else {
                log.say("interrupted again: healing now, tearing down and exiting");
                let n = nemesis.clone();
                let t = teardown.clone();
                let done = tokio::task::spawn_blocking(move || {
                    let healed = n.heal_all();
                    t.run();
                    healed
                })
                .await;
                if !matches!(done, Ok(Ok(_))) {
                    eprintln!("faultline: healing failed: {done:?}");
                }
                // The history writer flushes whenever it catches up: give it a moment, so the
                // file ends on a whole line.
                tokio::time::sleep(Duration::from_millis(200)).await;
                std::process::exit(130);
            }
        }
    });
}
