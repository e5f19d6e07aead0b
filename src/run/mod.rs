//! `faultline test`: one Jepsen-style run, phase by phase.
//!
//! plan (every option checked: exit 64, nothing touched) -> run directory -> nodes reachable ->
//! datastore set up and ready -> workers + nemesis -> heal -> settle -> datastore ready again ->
//! final reads -> close the history -> node logs -> teardown -> check -> results.json ->
//! report pages.
//!
//! The run knows the datastore only as a [`Db`] and the workload only as a
//! [`faultline_workloads::Workload`]: both are chosen by name from their registries.
//!
//! Faults are always healed and the datastore always torn down on the way out: at the end, on
//! error, on Ctrl-C/SIGTERM (a second signal heals and tears down at once, then exits), and,
//! through a guard dropped while a panic unwinds, on panic.

mod faults;
mod final_reads;
mod log;
mod nodes;
pub mod overhead;
pub mod phases;
pub mod plan;
pub mod plan_file;
mod recorder;
pub mod replay;
mod summary;
mod worker;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use faultline_checkers::history::{read_history, Format, History, ReadOptions};
use faultline_checkers::{Validity, Verdict};
use faultline_workloads::CheckLimits;
use tokio::sync::watch;

use crate::cli::TestArgs;
use crate::db::daemon::each;
use crate::db::faketime::FakeClock;
use crate::db::{Db, DbError};
use crate::exit;
use crate::nemesis::schedule::{plan as plan_schedule, ScheduleSpec, Step};
use crate::nemesis::{DbFaults, Nemesis};
use crate::store::records::{NodeRecord, SshRecord};
use crate::store::{ResultsRecord, RunDir, TestRecord, LOG, NODE_LOGS};
use log::Log;
use nodes::NodeSet;
use plan::{Plan, Usage};
use recorder::Recorder;
use worker::Shared;

/// The store cannot be written, so the run cannot be recorded: exit code 73.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CantCreate(String);

/// How long a datastore may take to become ready after setup, and again after healing.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Test hook: `FAULTLINE_TEST_PANIC=<phase>` makes the run panic at that phase (`setup`: once
/// the datastore is up; `workload`: once a fault is in force; `check`: before checking), so
/// that the tests can show that a panic still heals every fault and tears the datastore down.
const PANIC_HOOK: &str = "FAULTLINE_TEST_PANIC";

fn panic_hook(phase: &str) {
    if std::env::var(PANIC_HOOK).as_deref() == Ok(phase) {
        panic!("{PANIC_HOOK}={phase}: a panic on purpose, to test the way out");
    }
}

/// Runs `faultline test`; returns the exit code (the worst over `--test-count` runs).
pub fn run(args: &TestArgs) -> i32 {
    let replayed;
    let args = match &args.replay {
        Some(dir) => match replay::replay_args(dir, args) {
            Ok(a) => {
                replayed = a;
                &replayed
            }
            Err(e) => {
                eprintln!("faultline test: {e}");
                return exit::USAGE;
            }
        },
        None => args,
    };
    let plan = match Plan::new(args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("faultline test: {e}");
            return exit::USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("faultline test: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    let mut worst = exit::VALID;
    for i in 0..args.test_count {
        if args.test_count > 1 {
            eprintln!("== run {} of {}", i + 1, args.test_count);
        }
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(run_once(args, &plan, i))
        }));
        let code = match outcome {
            Ok(Ok(code)) => code,
            Ok(Err(e)) => {
                eprintln!("faultline test: {e:#}");
                if e.downcast_ref::<nodes::Unavailable>().is_some()
                    || e.downcast_ref::<DbError>()
                        .is_some_and(DbError::is_unavailable)
                {
                    exit::UNAVAILABLE
                } else if e.downcast_ref::<Usage>().is_some() {
                    exit::USAGE
                } else if e.downcast_ref::<CantCreate>().is_some() {
                    exit::CANT_CREATE
                } else {
                    exit::INTERNAL
                }
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                eprintln!(
                    "faultline test: internal error (a panic: {what}); the faults were healed \
                     and the datastore torn down on the way out, and the history is on disk"
                );
                // A bug: no further runs (their tasks would share the runtime with this one's).
                return exit::INTERNAL;
            }
        };
        worst = worse(worst, code);
    }
    worst
}

/// Invalid beats unknown beats valid; any error code beats a verdict.
pub fn worse(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        exit::VALID => 0,
        exit::UNKNOWN => 1,
        exit::INVALID => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Stops and wipes the datastore on every node, once, unless it is to be left running.
pub struct Teardown {
    db: Arc<dyn Db>,
    nodes: Vec<String>,
    stop: bool,
    done: AtomicBool,
}

impl Teardown {
    /// Runs the teardown (the first call only); returns what could not be done, naming nodes.
    pub fn run(&self) -> Vec<String> {
        if !self.stop || self.done.swap(true, Ordering::SeqCst) {
            return Vec::new();
        }
        each(&self.nodes, |n| self.db.teardown(n))
            .into_iter()
            .filter_map(Result::err)
            .map(|e| format!("teardown: {e}"))
            .collect()
    }
}

/// Heals and tears down when dropped armed: on an early return (an error) or a panic.
struct Cleanup {
    nemesis: Arc<Nemesis>,
    teardown: Arc<Teardown>,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        eprintln!("faultline test: the run ended early: healing every fault and tearing down");
        if let Err(e) = self.nemesis.heal_all() {
            eprintln!("faultline test: healing failed: {e}");
        }
        for problem in self.teardown.run() {
            eprintln!("faultline test: {problem}");
        }
    }
}

async fn run_once(args: &TestArgs, plan: &Plan, run_number: u32) -> Result<i32> {
    let started = Instant::now();
    let seed = args
        .seed
        .map(|s| s.wrapping_add(u64::from(run_number)))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let workload: Arc<dyn faultline_workloads::Workload> = Arc::from(plan.workload(args, seed)?);
    let controlled = !args.dummy_ssh;
    // The store first: a run that cannot be recorded must not touch the cluster.
    let dir = RunDir::create(&args.store, &plan.name).map_err(|e| CantCreate(format!("{e:#}")))?;
    let log_file = std::fs::File::create(dir.file(LOG))
        .with_context(|| format!("cannot create {}", dir.file(LOG).display()))
        .map_err(|e| CantCreate(format!("{e:#}")))?;
    let log = Arc::new(Log::new(Some(log_file), started));
    log.say(&format!("run directory {}", dir.path.display()));
    let nodes = tokio::task::spawn_blocking({
        let (args, named) = (args.clone(), plan.named_nodes.clone());
        move || NodeSet::resolve(&args, &named)
    })
    .await??;
    log.say(&format!("nodes: {}", nodes.describe()));
    if controlled {
        nodes.check_reachable().await?;
    }
    // With clock faults, the datastore starts under libfaketime, following these files.
    let fake_clock = (controlled && plan.has_clock_faults()).then(|| {
        Arc::new(FakeClock::new(
            &args.cluster,
            args.clock.clock_fake_monotonic,
        ))
    });
    let db = (plan.db.open)(
        &plan.db_context(args, nodes.db_nodes(), seed, fake_clock.clone()),
        &args.db_options,
    )
    .map_err(Usage)?;
    // The whole fault schedule, drawn before anything runs, so that test.json records it: one
    // per faults phase, each drawn from the seed and its place.
    let schedules = fault_schedules(plan, &nodes.names(), seed);
    let steps: usize = schedules.iter().map(Vec::len).sum();
    let version = if controlled {
        let db = db.clone();
        match tokio::task::spawn_blocking(move || db.version()).await? {
            Ok(v) => v,
            Err(e) => format!("not known ({e})"),
        }
    } else {
        "not known (--dummy-ssh)".to_string()
    };
    dir.write_test(&test_record(
        args, plan, &*workload, seed, &nodes, &version, &schedules,
    ))
    .map_err(|e| CantCreate(format!("{e:#}")))?;

    let mut nemesis =
        Nemesis::new(nodes.nemesis_nodes()).with_process_faults(Arc::new(DbFaults(db.clone())));
    if let Some(clock) = &fake_clock {
        nemesis = nemesis.with_clock(clock.clone());
    }
    let nemesis = Arc::new(nemesis);
    let teardown = Arc::new(Teardown {
        db: db.clone(),
        nodes: nodes.names(),
        stop: controlled && !args.leave_db_running,
        done: AtomicBool::new(false),
    });
    let mut cleanup = Cleanup {
        nemesis: nemesis.clone(),
        teardown: teardown.clone(),
        armed: controlled,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let history_path = dir.history();
    let recorder = Recorder::create(&history_path, started, {
        let (log, stop) = (log.clone(), stop_tx.clone());
        move |why| {
            log.say(&format!("{why}: stopping the workload"));
            let _ = stop.send(true);
        }
    })?;
    let interrupted = Arc::new(AtomicBool::new(false));
    faults::spawn_signal_handler(
        stop_tx.clone(),
        nemesis.clone(),
        teardown.clone(),
        interrupted.clone(),
        log.clone(),
    );

    // Set up; a datastore that never becomes ready ends the run `unknown`, with the reason.
    let mut problems: Vec<String> = Vec::new();
    let mut not_ready: Option<String> = None;
    if controlled {
        log.say(&format!("setting up {} on every node", plan.db.name));
        let (db2, names, remotes) = (db.clone(), nodes.names(), nodes.remotes());
        let clock = fake_clock.clone();
        let setup = tokio::task::spawn_blocking(move || {
            if let Some(clock) = &clock {
                DbError::gather(each(&remotes, |(n, r)| clock.prepare(n, r.as_ref())))?;
            }
            DbError::gather(each(&names, |n| db2.setup(n)))?;
            db2.await_ready(READY_TIMEOUT)
        })
        .await
        .context("the setup task failed")?;
        match setup {
            Ok(()) => log.say(&format!("{} is ready", plan.db.name)),
            Err(e) if e.is_not_ready() => {
                log.say(&format!("{e}"));
                not_ready = Some(e.to_string());
            }
            Err(e) => return Err(e.into()),
        }
        panic_hook("setup");
    }

    let workload_start = Instant::now();
    let shared = Arc::new(Shared::new(
        workload.generator(),
        recorder.clone(),
        plan.concurrency,
        plan.pace.interval,
        workload_start,
        plan.op_timeout,
        plan.stagger.then_some(seed ^ 0x0073_7461_6767_6572),
    ));
    let mut unhealed = Vec::new();
    if not_ready.is_none() {
        log.say(&format!(
            "workload: {}, {} workers, {}{}; phases: {}; nemesis: {}",
            workload.name(),
            plan.concurrency,
            if plan.pace.interval.is_zero() {
                "no rate limit".to_string()
            } else {
                format!("{} ops/s", args.rate)
            },
            if plan.stagger { ", staggered" } else { "" },
            plan.phases.text(),
            if plan.faults.is_empty() {
                "none".to_string()
            } else {
                format!(
                    "{} ({} at once), {} schedule around {:.1} s, targets {}, {} steps",
                    args.nemesis.join(","),
                    plan.at_once.name(),
                    plan.schedule.name(),
                    plan.nemesis_interval.as_secs_f64(),
                    plan.targets.name(),
                    steps
                )
            }
        ));
        // Each faults phase follows its own schedule, drawn above.
        let schedule_of =
            |n: usize, _length: Duration| schedules.get(n).cloned().unwrap_or_default();
        let outcome = phases::run(phases::PhaseContext {
            phases: &plan.phases,
            shared: &shared,
            db: &db,
            workload: &*workload,
            nodes: &nodes,
            nemesis: &nemesis,
            recorder: &recorder,
            log: &log,
            stop: &stop_rx,
            interrupted: &interrupted,
            controlled,
            settle: plan.settle,
            op_timeout: plan.op_timeout,
            schedule: &schedule_of,
        })
        .await?;
        problems.extend(outcome.problems);
        unhealed = outcome.unhealed;
    }
    let workload_seconds = workload_start.elapsed().as_secs_f64();
    let closed = recorder.close();
    if let Some(e) = &closed.error {
        problems.push(format!("{e:#}"));
    }
    log.say(&format!(
        "history: {} of {} events in {}",
        closed.written,
        closed.recorded,
        history_path.display()
    ));

    // Node logs, then teardown.
    if controlled {
        let (db2, remotes, logs) = (db.clone(), nodes.remotes(), dir.file(NODE_LOGS));
        problems.extend(
            tokio::task::spawn_blocking(move || download_logs(&*db2, &remotes, &logs))
                .await
                .unwrap_or_else(|e| vec![format!("downloading logs: {e}")]),
        );
        let t = teardown.clone();
        problems.extend(
            tokio::task::spawn_blocking(move || t.run())
                .await
                .unwrap_or_else(|e| vec![format!("teardown task: {e}")]),
        );
    }
    cleanup.armed = false;

    // Check what the file holds: it is the record, and what a rerun of `check` would see.
    panic_hook("check");
    let check_started = Instant::now();
    let mut checks: Vec<Verdict> = Vec::new();
    let mut history_readable = true;
    if let Some(why) = &not_ready {
        problems.push(why.clone());
    } else {
        log.say("checking the history");
        let limits = CheckLimits {
            time_limit: Some(plan.check_time_limit),
            ..Default::default()
        };
        let (path, w) = (history_path.clone(), workload.clone());
        match tokio::task::spawn_blocking(move || w.check(&path, &limits))
            .await
            .context("the checker task failed")?
        {
            Ok(v) => checks = v,
            Err(e) => {
                problems.push(e.to_string());
                history_readable = false;
            }
        }
    }
    finish(FinishArgs {
        args,
        dir: &dir,
        history: read_back(&history_path, &mut problems),
        checks,
        check_time: check_started.elapsed(),
        workload_seconds,
        started,
        interrupted: interrupted.load(Ordering::SeqCst),
        problems,
        observation: workload.observation(),
        complete: closed.complete() && history_readable,
        unhealed,
        not_ready,
    })
}

/// Reads the stored history back for the summary (an unreadable one is a problem, and the
/// summary is then of nothing).
fn read_back(path: &std::path::Path, problems: &mut Vec<String>) -> History {
    let options = ReadOptions {
        format: Some(Format::Jsonl),
        ..Default::default()
    };
    match read_history(path, &options) {
        Ok(loaded) => loaded.history,
        Err(e) => {
            problems.push(format!("reading back {}: {e}", path.display()));
            History::from_ops(Vec::new())
        }
    }
}

/// What the end of a run needs.
struct FinishArgs<'a> {
    args: &'a TestArgs,
    dir: &'a RunDir,
    history: History,
    checks: Vec<Verdict>,
    check_time: Duration,
    workload_seconds: f64,
    started: Instant,
    interrupted: bool,
    problems: Vec<String>,
    observation: faultline_workloads::Observation,
    complete: bool,
    unhealed: Vec<String>,
    /// Why the datastore never became ready, if it did not.
    not_ready: Option<String>,
}

/// Settles the verdict, writes `results.json`, prints the summary, writes the pages; returns
/// the exit code.
fn finish(f: FinishArgs<'_>) -> Result<i32> {
    let mut summary = summary::summarize(
        &f.history,
        f.check_time,
        f.workload_seconds,
        f.started,
        f.interrupted,
        f.problems,
    );
    summary::settle_verdict(
        &mut summary,
        &f.checks,
        f.observation,
        f.complete,
        f.unhealed,
    );
    if let Some(why) = f.not_ready {
        summary.valid = Validity::Unknown;
        summary.unknown_because = vec![format!("the datastore never became ready: {why}")];
    }
    let results = ResultsRecord {
        valid: summary.valid,
        summary,
        checks: f.checks,
    };
    if let Err(e) = f.dir.write_results(&results) {
        eprintln!("faultline test: {e:#}");
    } else if let Err(e) = f.dir.link_latest(&f.args.store) {
        eprintln!("faultline test: {e:#}");
    }
    summary::print(f.dir, &results);
    drop(f.history);
    // The pages are a view of what is stored: a failure to draw them loses no result.
    match crate::report::write_run_report(&f.dir.path) {
        Ok(files) => println!("report: {}", files.index.display()),
        Err(e) => eprintln!("faultline test: the report could not be written: {e:#}"),
    }
    match crate::report::write_store_index(&f.args.store) {
        Ok(index) => println!(
            "all runs: {} (browse with: faultline serve --store {})",
            index.display(),
            f.args.store.display()
        ),
        Err(e) => eprintln!("faultline test: the store index could not be written: {e:#}"),
    }
    if !results.summary.unhealed.is_empty() {
        eprintln!(
            "\nfaultline test: FAULTS LEFT ON THE CLUSTER, healing failed: {}\n\
             Heal them by hand (iptables -F FAULTLINE, kill -CONT, restart the datastore) or, \
             on the local cluster, with `faultline cluster down`.",
            results.summary.unhealed.join("; ")
        );
        return Ok(exit::UNAVAILABLE);
    }
    Ok(match results.valid {
        Validity::Valid => exit::VALID,
        Validity::Invalid => exit::INVALID,
        Validity::Unknown => exit::UNKNOWN,
    })
}

/// Copies every node's logs to `nodes/<node>/`; returns what could not be copied.
fn download_logs(
    db: &dyn Db,
    nodes: &[(String, Arc<dyn crate::control::Remote>)],
    into: &std::path::Path,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (node, remote) in nodes {
        let dir = into.join(node);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            problems.push(format!("logs of {node}: {}: {e}", dir.display()));
            continue;
        }
        for (path, name) in db.log_files(node) {
            if let Err(e) = remote.download_file(&path, &dir.join(&name)) {
                problems.push(format!("logs of {node}: {e}"));
            }
        }
    }
    problems
}

/// `test.json`.
/// The nemesis schedule of each faults phase, in order. The first is drawn from the run's seed
/// alone (as before phases existed, so a plain run and its replay keep their schedule); each
/// later one from the seed and its place, so that no two phases repeat each other.
fn fault_schedules(plan: &Plan, nodes: &[String], seed: u64) -> Vec<Vec<Step>> {
    plan.phases
        .0
        .iter()
        .filter(|p| p.kind == phases::PhaseKind::Faults)
        .enumerate()
        .map(|(n, phase)| {
            let spec = ScheduleSpec {
                time_limit: phase.limit.unwrap_or_default(),
                ..plan.schedule_spec()
            };
            let place = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            plan_schedule(&spec, nodes, seed ^ 0x6e656d65736973 ^ place)
        })
        .collect()
}

/// The schedules as test.json records them: each step's time counts from the start of its
/// faults phase (`faults_phase`, from 0).
fn schedule_records(schedules: &[Vec<Step>]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for (n, steps) in schedules.iter().enumerate() {
        for step in steps {
            let mut json = step.to_json();
            if let Some(o) = json.as_object_mut() {
                o.insert("faults_phase".into(), n.into());
            }
            out.push(json);
        }
    }
    out
}

fn test_record(
    args: &TestArgs,
    plan: &Plan,
    workload: &dyn faultline_workloads::Workload,
    seed: u64,
    nodes: &NodeSet,
    version: &str,
    schedules: &[Vec<Step>],
) -> TestRecord {
    let secrets = crate::control::secret::ssh_secrets();
    TestRecord {
        name: plan.name.clone(),
        db: plan.db.name.to_string(),
        db_version: version.to_string(),
        db_options: args.db_options.record(plan.db.name),
        workload: workload.name().to_string(),
        workload_options: workload.describe(),
        nemesis: args.nemesis.clone(),
        nemesis_targets: plan.targets.name().to_string(),
        nemesis_interval_s: plan.nemesis_interval.as_secs_f64(),
        nemesis_schedule: plan.schedule.name().to_string(),
        nemesis_at_once: plan.at_once.name(),
        clock: if plan.has_clock_faults() {
            serde_json::to_value(&args.clock).unwrap_or_default()
        } else {
            serde_json::Value::Null
        },
        schedule: schedule_records(schedules),
        args: serde_json::to_value(args).unwrap_or_default(),
        replay_of: args.replay.clone(),
        time_limit_s: plan.time_limit.as_secs_f64(),
        phases: plan.phases.text(),
        stagger: plan.stagger,
        concurrency: plan.concurrency,
        rate: args.rate,
        op_timeout_ms: args.op_timeout_ms,
        seed,
        nodes: nodes
            .nodes
            .iter()
            .map(|n| NodeRecord {
                name: n.name.clone(),
                ip: n.ip.to_string(),
            })
            .collect(),
        local_cluster: args.local_cluster,
        ssh: SshRecord {
            user: args.username.clone(),
            port: args.ssh_port,
            private_key: args.ssh_private_key.clone(),
            strict_host_key_checking: !args.no_strict_host_key_checking,
            // Whether secrets were given, never what they are.
            password_given: secrets.password.is_some(),
            key_passphrase_given: secrets.key_passphrase.is_some(),
        },
        faultline_version: env!("CARGO_PKG_VERSION").to_string(),
        other: Default::default(),
    }
}

/// Every five seconds of load: the operations so far and the faults in force.
async fn progress_loop(
    recorder: Arc<Recorder>,
    nemesis: Arc<Nemesis>,
    mut stop: watch::Receiver<bool>,
    log: Arc<Log>,
    time_limit: Duration,
) {
    let started = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
        let c = recorder.counts();
        let active = nemesis.active();
        let faults = if active.is_empty() {
            "none".to_string()
        } else {
            let mut f = Vec::new();
            if !active.latency.is_empty() {
                f.push("latency");
            }
            if active.network.len() > active.latency.len() {
                f.push("network");
            }
            if !active.paused.is_empty() {
                f.push("pause");
            }
            if !active.killed.is_empty() {
                f.push("kill");
            }
            if !active.clock.is_empty() {
                f.push("clock");
            }
            f.join("+")
        };
        log.say(&format!(
            "{:.0}/{:.0} s: {} ops (ok {}, fail {}, info {}), faults active: {faults}",
            started.elapsed().as_secs_f64(),
            time_limit.as_secs_f64(),
            c.invoke,
            c.ok,
            c.fail,
            c.info
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_exit_code_wins() {
        assert_eq!(worse(exit::VALID, exit::UNKNOWN), exit::UNKNOWN);
        assert_eq!(worse(exit::INVALID, exit::UNKNOWN), exit::INVALID);
        assert_eq!(worse(exit::INVALID, exit::UNAVAILABLE), exit::UNAVAILABLE);
    }
}
