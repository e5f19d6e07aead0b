//! Client workers: each takes operations from the shared generator, at the requested pace,
//! performs them through its own client bound to one node, and records invoke and completion.
//! The worker knows no workload and no datastore: a [`Generator`] says what to do, a
//! [`Client`] that the datastore built does it.
//!
//! A worker whose operation ended in `info` retires its process (the operation may still take
//! effect, so that process must never invoke again) and continues as `process + concurrency`,
//! as Jepsen does. The process a worker has reached is kept in [`Shared`], so that a worker
//! started again after a recovery phase continues as that process.
//!
//! With `--stagger` the time between two operations of a worker is drawn uniformly from zero
//! to twice the interval `--rate` gives (Jepsen's `stagger`), from a stream of the run's seed
//! of its own per worker: the mean rate stays the same, the operations no longer come on a
//! beat.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline_checkers::history::{OpType, Process, Value};
use faultline_workloads::generator::Rng;
use faultline_workloads::{Client, Completion, Generator, Invocation};
use tokio::sync::watch;

use super::recorder::{Event, Recorder};
use crate::db::Connect;

/// What all workers share.
pub struct Shared {
    pub generator: Mutex<Box<dyn Generator>>,
    pub recorder: Arc<Recorder>,
    pub concurrency: u64,
    /// Time between two invocations of one worker; zero = as fast as possible.
    pub interval: Duration,
    /// When the current stretch of load ends (see [`Shared::set_deadline`]).
    pub deadline: Mutex<Instant>,
    /// Bound on one operation, beyond the client's own timeouts: a hung call becomes `info`.
    pub op_timeout: Duration,
    /// `--stagger`: the seed of the workers' random delays; `None`: a steady beat.
    pub stagger: Option<u64>,
    /// The process each worker is now (it grows by `concurrency` at each `info`).
    pub processes: Vec<AtomicU64>,
}

impl Shared {
    /// What the workers share, their load ending at `deadline`.
    pub fn new(
        generator: Box<dyn Generator>,
        recorder: Arc<Recorder>,
        concurrency: u64,
        interval: Duration,
        deadline: Instant,
        op_timeout: Duration,
        stagger: Option<u64>,
    ) -> Shared {
        Shared {
            generator: Mutex::new(generator),
            recorder,
            concurrency,
            interval,
            deadline: Mutex::new(deadline),
            op_timeout,
            stagger,
            processes: (0..concurrency).map(AtomicU64::new).collect(),
        }
    }

    /// Sets when the workers stop: the end of a stretch of workload phases.
    pub fn set_deadline(&self, deadline: Instant) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = deadline;
    }

    fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The time until a worker's next operation: the interval, or with `--stagger` (a worker's
    /// own `rng`) a random draw from zero to twice it.
    fn gap(&self, rng: Option<&mut Rng>) -> Duration {
        match rng {
            Some(rng) => staggered(self.interval, rng),
            None => self.interval,
        }
    }
}

/// Jepsen's `stagger`: uniform from zero to twice `interval`, so the mean stays `interval`.
fn staggered(interval: Duration, rng: &mut Rng) -> Duration {
    interval.mul_f64(2.0 * rng.unit())
}

/// Runs one worker until the deadline, until the generator has nothing more, or until `stop`
/// says so. `part` is the workload it serves when the run has several (its operations are
/// recorded as that workload's).
pub async fn run_worker(
    id: u64,
    node: String,
    part: Option<&'static str>,
    connector: Box<dyn Connect>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let slot = &shared.processes[id as usize];
    let mut process = slot.load(Ordering::SeqCst);
    let mut client: Option<Box<dyn Client>> = None;
    let mut rng = shared
        .stagger
        .map(|seed| Rng::new(seed).fork(process.wrapping_add(1)));
    // Spread the workers' first operations over one interval so they do not move in lockstep.
    let offset = match rng.as_mut() {
        Some(rng) => shared.gap(Some(rng)),
        None => shared.interval.mul_f64((id as f64 * 0.618_034) % 1.0),
    };
    let mut next = Instant::now() + offset;
    let deadline = shared.deadline();
    loop {
        if *stop.borrow() || Instant::now() >= deadline {
            return;
        }
        let wait = next.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
        let gap = shared.gap(rng.as_mut());
        next = next.max(Instant::now() - gap) + gap;
        let origin = Origin {
            process,
            node: &node,
            part,
        };
        let invocation = {
            let mut g = shared.generator.lock().unwrap_or_else(|p| p.into_inner());
            g.next_for(id)
        };
        let Some(invocation) = invocation else {
            return;
        };
        record(
            &shared,
            origin,
            OpType::Invoke,
            &invocation,
            invocation.value.clone(),
            None,
        );
        if client.is_none() {
            match tokio::time::timeout(shared.op_timeout, connector.connect()).await {
                Ok(Ok(c)) => client = Some(c),
                Ok(Err(e)) => {
                    // Nothing reached the store: the operation certainly did not happen.
                    let v = invocation.value.clone();
                    record(
                        &shared,
                        origin,
                        OpType::Fail,
                        &invocation,
                        v,
                        Some(e.to_string()),
                    );
                    continue;
                }
                Err(_) => {
                    let why = format!("no connection to {node} within {:?}", shared.op_timeout);
                    let v = invocation.value.clone();
                    record(&shared, origin, OpType::Fail, &invocation, v, Some(why));
                    continue;
                }
            }
        }
        let Some(c) = client.as_ref() else { continue };
        let completion = match tokio::time::timeout(shared.op_timeout, c.invoke(&invocation)).await
        {
            Ok(done) => done,
            Err(_) => Completion::Info(format!("no answer within {:?}", shared.op_timeout)),
        };
        let retire = complete(&shared, origin, &invocation, completion);
        if retire {
            process += shared.concurrency;
            slot.store(process, Ordering::SeqCst);
            // The connection may be what failed: start afresh.
            client = None;
        }
    }
}

/// Records how `invocation` ended; returns whether the process must retire (`info`).
pub fn complete(
    shared: &Shared,
    at: Origin<'_>,
    invocation: &Invocation,
    completion: Completion,
) -> bool {
    let argument = || invocation.value.clone();
    match completion {
        Completion::Ok(v) => {
            record(shared, at, OpType::Ok, invocation, v, None);
            false
        }
        Completion::Fail(why) => {
            record(shared, at, OpType::Fail, invocation, argument(), Some(why));
            false
        }
        Completion::Info(why) => {
            record(shared, at, OpType::Info, invocation, argument(), Some(why));
            true
        }
    }
}

/// Who performed an operation: the process, the node it asked, and the workload it served when
/// the run has several.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub process: u64,
    pub node: &'a str,
    pub part: Option<&'a str>,
}

/// Records one event of `at.process`.
pub fn record(
    shared: &Shared,
    at: Origin<'_>,
    kind: OpType,
    invocation: &Invocation,
    value: Value,
    error: Option<String>,
) {
    shared.recorder.record(Event {
        process: Process::Client(at.process),
        kind,
        f: &invocation.f,
        key: invocation.key.as_ref(),
        value,
        node: Some(at.node),
        error,
        workload: at.part,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staggered_delays_are_seeded_spread_and_keep_the_mean_rate() {
        let interval = Duration::from_millis(100);
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..10_000)
                .map(|_| staggered(interval, &mut rng))
                .collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7), "the same seed, the same delays");
        assert_ne!(a, draw(8));
        assert!(a.iter().all(|d| *d <= interval * 2));
        assert!(a.iter().any(|d| *d < interval / 10));
        assert!(a.iter().any(|d| *d > interval * 19 / 10));
        let mean = a.iter().sum::<Duration>() / a.len() as u32;
        assert!(
            mean > interval * 95 / 100 && mean < interval * 105 / 100,
            "mean {mean:?}"
        );
    }
}
