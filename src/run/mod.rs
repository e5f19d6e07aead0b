//! `faultline test`: one Jepsen-style run, phase by phase.
//!
//! setup (nodes reachable, datastore up and healthy) -> workload + nemesis -> heal -> settle ->
//! final reads -> close the history -> teardown -> collect logs -> check -> results.json.
//!
//! Faults are always healed on the way out: the nemesis heals at the end of the workload, on
//! error, on Ctrl-C/SIGTERM (a second signal heals at once and exits), and, through its `Drop`,
//! when a panic unwinds past it.

mod nodes;
pub mod overhead;
mod recorder;
mod results;
mod worker;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use faultline_checkers::history::{OpType, Process, Value};
use faultline_workloads::register::{Mix, RegisterClient, RegisterGenerator, MODEL};
use faultline_workloads::ClientError;
use tokio::sync::watch;

use crate::cli::{ReadConsistencyArg, TestArgs};
use crate::client::etcd::{EtcdClient, ReadConsistency, Timeouts};
use crate::db::etcd::{Etcd, EtcdMember};
use crate::exit;
use crate::nemesis::schedule::{schedule, Fault, Phase};
use crate::nemesis::{FaultEvent, Nemesis};
use crate::store::RunDir;
use nodes::NodeSet;
use recorder::{Event, Recorder};
use worker::{Connect, Shared};

/// Runs `faultline test`; returns the exit code (the worst over `--test-count` runs).
pub fn run(args: &TestArgs) -> i32 {
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
    for i in 0..args.test_count.max(1) {
        if args.test_count > 1 {
            eprintln!("== run {} of {}", i + 1, args.test_count);
        }
        let code = match runtime.block_on(run_once(args, i)) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("faultline test: {e:#}");
                if e.downcast_ref::<nodes::Unavailable>().is_some() {
                    exit::UNAVAILABLE
                } else if e.downcast_ref::<Usage>().is_some() {
                    exit::USAGE
                } else if e.downcast_ref::<CantCreate>().is_some() {
                    exit::CANT_CREATE
                } else {
                    exit::INTERNAL
                }
            }
        };
        worst = worse(worst, code);
    }
    worst
}

/// A command line that cannot be run: exit code 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Usage(String);

/// The store cannot be written, so the run cannot be recorded: exit code 73.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CantCreate(String);

/// Invalid beats unknown beats valid; any error code beats a verdict.
fn worse(a: i32, b: i32) -> i32 {
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

/// Parses `--mix READ,WRITE,CAS`.
pub fn parse_mix(text: &str) -> Result<Mix> {
    let parts: Vec<u32> = text
        .split(',')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--mix {text}: three whole numbers, READ,WRITE,CAS"))?;
    match parts[..] {
        [read, write, cas] if read + write + cas > 0 => Ok(Mix { read, write, cas }),
        _ => Err(anyhow!(
            "--mix {text}: three whole numbers READ,WRITE,CAS, not all zero"
        )),
    }
}

/// Parses `--concurrency`: `10`, or `3n` for three per node.
pub fn parse_concurrency(text: &str, nodes: usize) -> Result<u64> {
    let t = text.trim();
    let n = if let Some(k) = t.strip_suffix('n') {
        let k: u64 = if k.is_empty() {
            1
        } else {
            k.parse().with_context(|| format!("--concurrency {t}"))?
        };
        k * nodes as u64
    } else {
        t.parse()
            .with_context(|| format!("--concurrency {t}: a number, or Kn for K per node"))?
    };
    if n == 0 {
        return Err(anyhow!("--concurrency must be at least 1"));
    }
    Ok(n)
}

fn parse_faults(names: &[String]) -> Result<Vec<Fault>> {
    let mut faults = Vec::new();
    for name in names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty() && *n != "none")
    {
        let known = || {
            Fault::ALL
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        faults.push(
            Fault::parse(name)
                .ok_or_else(|| anyhow!("unknown fault `{name}` (known: {}, none)", known()))?,
        );
    }
    Ok(faults)
}

/// Connects a worker's client to its node.
struct EtcdConnector {
    endpoint: String,
    consistency: ReadConsistency,
    timeouts: Timeouts,
}

impl Connect<EtcdClient> for EtcdConnector {
    async fn connect(&self) -> Result<EtcdClient, ClientError> {
        EtcdClient::connect(&self.endpoint, self.consistency, self.timeouts).await
    }
}

/// Lets the nemesis kill, restart, pause and resume etcd members.
struct EtcdFaults(Arc<Etcd>);

impl crate::nemesis::ProcessFaults for EtcdFaults {
    fn kill(&self, node: &str) -> Result<(), crate::nemesis::BoxError> {
        Ok(self.0.kill(node)?)
    }
    fn restart(&self, node: &str) -> Result<(), crate::nemesis::BoxError> {
        Ok(self.0.start(node)?)
    }
    fn pause(&self, node: &str) -> Result<(), crate::nemesis::BoxError> {
        Ok(self.0.pause(node)?)
    }
    fn resume(&self, node: &str) -> Result<(), crate::nemesis::BoxError> {
        Ok(self.0.resume(node)?)
    }
}

fn record_fault(recorder: &Recorder, kind: OpType, event: &FaultEvent, error: Option<String>) {
    let f: Arc<str> = Arc::from(event.f.as_str());
    recorder.record(Event {
        process: Process::Nemesis,
        kind,
        f: &f,
        key: None,
        // A fault's target is names and numbers; should it ever not convert, keep its text.
        value: faultline_checkers::history::value_from_json(event.value.clone())
            .unwrap_or_else(|_| Value::Str(event.value.to_string().into())),
        node: None,
        error,
    });
}

/// Logs a phase to stderr and to faultline.log.
struct Log {
    file: Mutex<Option<std::fs::File>>,
    started: Instant,
}

impl Log {
    fn say(&self, msg: &str) {
        use std::io::Write;
        let line = format!("[{:7.2}s] {msg}", self.started.elapsed().as_secs_f64());
        eprintln!("{line}");
        if let Some(f) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = writeln!(f, "{line}");
        }
    }
}

async fn run_once(args: &TestArgs, run_number: u32) -> Result<i32> {
    let started = Instant::now();
    let seed = args
        .seed
        .map(|s| s + u64::from(run_number))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let (faults, mix) = validate(args)?;
    let controlled = !args.dummy_ssh;
    // The store first: a run that cannot be recorded must not touch the cluster.
    let test_name = "etcd-register".to_string();
    let dir = RunDir::create(&args.store, &test_name).map_err(|e| CantCreate(format!("{e:#}")))?;
    let log = Arc::new(Log {
        file: Mutex::new(Some(
            std::fs::File::create(dir.file("faultline.log"))
                .with_context(|| format!("cannot create {}", dir.file("faultline.log").display()))
                .map_err(|e| CantCreate(format!("{e:#}")))?,
        )),
        started,
    });
    log.say(&format!("run directory {}", dir.path.display()));
    let nodes = tokio::task::spawn_blocking({
        let args = args.clone();
        move || NodeSet::resolve(&args)
    })
    .await??;
    let concurrency =
        parse_concurrency(&args.concurrency, nodes.len()).map_err(|e| Usage(format!("{e:#}")))?;
    log.say(&format!("nodes: {}", nodes.describe()));

    // Setup: every node answers over SSH before anything is started.
    if controlled {
        nodes.check_reachable().await?;
    }
    let members: Vec<EtcdMember> = nodes
        .nodes
        .iter()
        .map(|n| EtcdMember {
            name: n.name.clone(),
            ip: n.ip.to_string(),
            remote: n.remote.clone(),
        })
        .collect();
    let token = format!("faultline-{seed:x}");
    let etcd = Arc::new(Etcd::new(
        members,
        Etcd::default_base_dir(&args.cluster),
        &token,
    ));
    let versions = if controlled {
        nodes.versions().await
    } else {
        "not known (--dummy-ssh)".to_string()
    };
    results::write_test_json(&dir, args, seed, concurrency, &nodes, &versions)
        .map_err(|e| CantCreate(format!("{e:#}")))?;
    if controlled {
        log.say("setting up etcd on every node");
        let etcd = etcd.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            etcd.setup_all()?;
            etcd.wait_healthy(Duration::from_secs(30))?;
            Ok(())
        })
        .await??;
        log.say("etcd is healthy");
    }

    let nemesis = Arc::new(
        Nemesis::new(nodes.nemesis_nodes()).with_process_faults(Arc::new(EtcdFaults(etcd.clone()))),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let history_path = dir.file("history.jsonl");
    let recorder = Recorder::create(&history_path, started, {
        let (log, stop) = (log.clone(), stop_tx.clone());
        move |why| {
            log.say(&format!("{why}: stopping the workload"));
            let _ = stop.send(true);
        }
    })?;
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    spawn_signal_handler(
        stop_tx.clone(),
        nemesis.clone(),
        interrupted.clone(),
        log.clone(),
    );

    // Workload and nemesis.
    let time_limit = Duration::from_secs_f64(args.time_limit);
    let workload_start = Instant::now();
    let interval = if args.rate > 0.0 {
        Duration::from_secs_f64(concurrency as f64 / args.rate)
    } else {
        Duration::ZERO
    };
    let live_keys = (concurrency / 2).clamp(1, 8);
    let shared = Arc::new(Shared {
        generator: Mutex::new(RegisterGenerator::new(
            seed,
            mix,
            args.ops_per_key,
            live_keys,
        )),
        recorder: recorder.clone(),
        concurrency,
        interval,
        deadline: workload_start + time_limit,
        op_timeout: Duration::from_millis(args.op_timeout_ms.max(1)),
    });
    let consistency = match args.read_consistency {
        ReadConsistencyArg::Linearizable => ReadConsistency::Linearizable,
        ReadConsistencyArg::Serializable => ReadConsistency::Serializable,
    };
    let timeouts = Timeouts {
        request: Duration::from_millis(args.op_timeout_ms.max(1)),
        connect: Duration::from_millis(args.op_timeout_ms.max(1)),
    };
    log.say(&format!(
        "workload: {concurrency} workers, {}, {:.0} s; nemesis: {}",
        if args.rate > 0.0 {
            format!("{} ops/s", args.rate)
        } else {
            "no rate limit".to_string()
        },
        args.time_limit,
        if faults.is_empty() {
            "none".to_string()
        } else {
            args.nemesis.join(",")
        }
    ));
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let node = &nodes.nodes[(w as usize) % nodes.len()];
        let connector = EtcdConnector {
            endpoint: etcd.client_url(&node.name)?,
            consistency,
            timeouts,
        };
        workers.push(tokio::spawn(worker::run_worker(
            w,
            node.name.clone(),
            connector,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    let steps = schedule(
        &faults,
        &nodes.names(),
        Duration::from_secs_f64(args.nemesis_interval.max(0.1)),
        time_limit,
        seed ^ 0x6e656d65736973,
    );
    let nemesis_task = tokio::spawn(nemesis_loop(
        steps,
        nemesis.clone(),
        recorder.clone(),
        workload_start,
        stop_rx.clone(),
        log.clone(),
    ));
    let progress = tokio::spawn(progress_loop(
        recorder.clone(),
        nemesis.clone(),
        stop_rx.clone(),
        log.clone(),
        time_limit,
    ));
    for w in workers {
        if let Err(e) = w.await {
            log.say(&format!("a worker failed: {e}"));
        }
    }
    let _ = stop_tx.send(true);
    let nemesis_errors = nemesis_task.await.unwrap_or_default();
    progress.abort();

    // Heal, settle, final reads.
    let mut problems: Vec<String> = nemesis_errors;
    let unhealed = heal(&nemesis, &recorder, &log).await;
    let was_interrupted = interrupted.load(std::sync::atomic::Ordering::SeqCst);
    if !was_interrupted && !recorder.writing_failed() {
        tokio::time::sleep(Duration::from_secs_f64(args.settle.max(0.0))).await;
        final_reads(&shared, &nodes, &etcd, consistency, timeouts, &log).await;
    }
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

    // Teardown and logs.
    if controlled {
        problems.extend(teardown(&etcd, &nodes, &dir, args.leave_db_running).await);
    }

    // Check what the file holds: it is the record, and what a rerun of `check` would see.
    log.say("checking the history");
    let check_started = Instant::now();
    let checked = tokio::task::spawn_blocking({
        let path = history_path.clone();
        move || check_history(&path)
    })
    .await
    .context("the checker task failed")?;
    let (history, analysis, history_readable) = match checked {
        Ok((history, analysis)) => (history, analysis, true),
        Err(e) => {
            problems.push(format!("{e:#}"));
            let empty = faultline_checkers::history::History::from_ops(Vec::new());
            let analysis = faultline_checkers::linear::check_by_name(
                &empty,
                MODEL,
                Default::default(),
                &Default::default(),
                None,
            )?;
            (empty, analysis, false)
        }
    };
    let mut summary = results::Summary::new(
        &history,
        &analysis,
        check_started.elapsed(),
        workload_start,
        started,
        was_interrupted,
        problems,
    );
    summary.settle_verdict(closed.complete() && history_readable, unhealed);
    if let Err(e) = results::write_results(&dir, &summary, &analysis) {
        eprintln!("faultline test: {e:#}");
    } else if let Err(e) = dir.link_latest(&args.store) {
        eprintln!("faultline test: {e:#}");
    }
    results::print_summary(&dir, &summary, &analysis, history);
    // The pages are a view of what is stored: a failure to draw them loses no result.
    match crate::report::write_run_report(&dir.path) {
        Ok(files) => println!("report: {}", files.index.display()),
        Err(e) => eprintln!("faultline test: the report could not be written: {e:#}"),
    }
    match crate::report::write_store_index(&args.store) {
        Ok(index) => println!(
            "all runs: {} (browse with: faultline serve --store {})",
            index.display(),
            args.store.display()
        ),
        Err(e) => eprintln!("faultline test: the store index could not be written: {e:#}"),
    }
    if !summary.unhealed.is_empty() {
        eprintln!(
            "\nfaultline test: FAULTS LEFT ON THE CLUSTER, healing failed: {}\n\
             Heal them by hand (iptables -F FAULTLINE, kill -CONT, restart the datastore) or, \
             on the local cluster, with `faultline cluster down`.",
            summary.unhealed.join("; ")
        );
        return Ok(exit::UNAVAILABLE);
    }
    Ok(match summary.valid {
        faultline_checkers::linear::Validity::Valid => exit::VALID,
        faultline_checkers::linear::Validity::Invalid => exit::INVALID,
        faultline_checkers::linear::Validity::Unknown => exit::UNKNOWN,
    })
}

/// Refuses a command line that cannot run, before anything is touched.
fn validate(args: &TestArgs) -> Result<(Vec<Fault>, Mix)> {
    let faults = parse_faults(&args.nemesis).map_err(|e| Usage(format!("{e:#}")))?;
    let mix = parse_mix(&args.mix).map_err(|e| Usage(format!("{e:#}")))?;
    if args.dummy_ssh && !faults.is_empty() {
        return Err(Usage("--dummy-ssh: faultline controls no node, so it cannot inject faults; add --nemesis none".into()).into());
    }
    if args.dummy_ssh && args.local_cluster.is_some() {
        return Err(Usage(
            "--dummy-ssh and --local-cluster do not go together: the local cluster is controlled"
                .into(),
        )
        .into());
    }
    if !(args.time_limit > 0.0 && args.time_limit.is_finite()) {
        return Err(Usage("--time-limit must be a positive number of seconds".into()).into());
    }
    Ok((faults, mix))
}

/// Heals every fault, trying again while nodes may come back (sshd restarting, a node
/// rebooting). Returns what is still not healed, naming the nodes; empty when all is healed.
async fn heal(nemesis: &Arc<Nemesis>, recorder: &Recorder, log: &Log) -> Vec<String> {
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
                record_fault(recorder, OpType::Info, &event, None);
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

/// Downloads every node's log, then (unless `leave_running`) stops and wipes the datastore.
/// Returns what could not be done, naming the node.
async fn teardown(
    etcd: &Arc<Etcd>,
    nodes: &NodeSet,
    dir: &RunDir,
    leave_running: bool,
) -> Vec<String> {
    let etcd = etcd.clone();
    let logs_dir = dir.file("nodes");
    let names = nodes.names();
    tokio::task::spawn_blocking(move || {
        let mut errs = Vec::new();
        for n in &names {
            if let Err(e) = etcd.download_logs(n, &logs_dir.join(n)) {
                errs.push(format!("logs of {n}: {e}"));
            }
        }
        if !leave_running {
            if let Err(e) = etcd.teardown_all() {
                errs.push(format!("teardown: {e}"));
            }
        }
        errs
    })
    .await
    .unwrap_or_else(|e| vec![format!("teardown task: {e}")])
}

/// Reads the stored history back and checks every key.
fn check_history(
    path: &std::path::Path,
) -> Result<(
    faultline_checkers::history::History,
    faultline_checkers::linear::Analysis,
)> {
    let options = faultline_checkers::history::ReadOptions {
        format: Some(faultline_checkers::history::Format::Jsonl),
        ..Default::default()
    };
    let loaded = faultline_checkers::history::read_history(path, &options)
        .with_context(|| format!("reading back {}", path.display()))?;
    let check = faultline_checkers::linear::CheckOptions {
        all_keys: true,
        time_limit: Some(Duration::from_secs(300)),
        ..Default::default()
    };
    let analysis = faultline_checkers::linear::check_by_name(
        &loaded.history,
        MODEL,
        Default::default(),
        &check,
        None,
    )
    .context("checking the recorded history")?;
    Ok((loaded.history, analysis))
}

/// One read (linearizable or not, as configured) of every key of the last group, after
/// healing: what the datastore finally holds. Each key is asked of the nodes in turn until one
/// answers, so a node that is down or frozen does not cost the final reads.
async fn final_reads(
    shared: &Shared,
    nodes: &NodeSet,
    etcd: &Etcd,
    consistency: ReadConsistency,
    timeouts: Timeouts,
    log: &Log,
) {
    let keys = shared
        .generator
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .live_key_names();
    let read: Arc<str> = Arc::from("read");
    // Process numbers no worker uses; a read without answer retires its process, as in workers.
    let mut process = shared.concurrency * 1_000_000;
    let mut clients: Vec<Option<EtcdClient>> = Vec::new();
    for node in &nodes.nodes {
        let client = match etcd.client_url(&node.name) {
            Ok(url) => EtcdClient::connect(&url, consistency, timeouts).await.ok(),
            Err(_) => None,
        };
        clients.push(client);
    }
    let mut answered = 0;
    for key in &keys {
        let k = Value::Str(key.as_str().into());
        for (node, client) in nodes.nodes.iter().zip(&clients) {
            let Some(client) = client else { continue };
            shared.recorder.record(Event {
                process: Process::Client(process),
                kind: OpType::Invoke,
                f: &read,
                key: Some(&k),
                value: Value::Nil,
                node: Some(&node.name),
                error: None,
            });
            let result = tokio::time::timeout(timeouts.request, client.read(key)).await;
            let (kind, value, error) = match result {
                Ok(Ok(v)) => (OpType::Ok, v.map(Value::Int).unwrap_or(Value::Nil), None),
                Ok(Err(e)) => (OpType::Info, Value::Nil, Some(e.to_string())),
                Err(_) => (
                    OpType::Info,
                    Value::Nil,
                    Some(format!("no answer within {:?}", timeouts.request)),
                ),
            };
            shared.recorder.record(Event {
                process: Process::Client(process),
                kind,
                f: &read,
                key: Some(&k),
                value,
                node: Some(&node.name),
                error,
            });
            if kind == OpType::Ok {
                answered += 1;
                break;
            }
            process += 1;
        }
    }
    log.say(&format!(
        "final reads: {answered} of {} keys answered",
        keys.len()
    ));
}

/// Follows the schedule; returns the errors it met (the run goes on: a fault that failed to
/// start is recorded as such, and healing at the end covers whatever half-happened).
async fn nemesis_loop(
    steps: Vec<crate::nemesis::schedule::Step>,
    nemesis: Arc<Nemesis>,
    recorder: Arc<Recorder>,
    start: Instant,
    mut stop: watch::Receiver<bool>,
    log: Arc<Log>,
) -> Vec<String> {
    let mut errors = Vec::new();
    for step in steps {
        let at = start + step.at;
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = stop.changed() => return errors,
        }
        if *stop.borrow() {
            return errors;
        }
        let n = nemesis.clone();
        let target = step.target.clone();
        let phase = step.phase;
        let result = tokio::task::spawn_blocking(move || match phase {
            Phase::Start => n.start(&target),
            Phase::Stop => n.stop(&target),
        })
        .await;
        match result {
            Ok(Ok(event)) => {
                log.say(&format!("nemesis: {} {}", event.f, event.value));
                record_fault(&recorder, OpType::Info, &event, None);
            }
            Ok(Err(e)) => {
                // It may have half-happened: the history says it was tried, and how it failed.
                let event = FaultEvent::of_step(&step.target, step.phase);
                log.say(&format!("nemesis: {} {} failed: {e}", event.f, event.value));
                record_fault(&recorder, OpType::Info, &event, Some(e.to_string()));
                errors.push(format!("nemesis {}: {e}", event.f));
            }
            Err(e) => errors.push(format!("nemesis task: {e}")),
        }
    }
    errors
}

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

/// Ctrl-C or SIGTERM: stop the workload (the run then heals, writes and checks what it has).
/// A second signal: heal right now and exit.
fn spawn_signal_handler(
    stop: watch::Sender<bool>,
    nemesis: Arc<Nemesis>,
    interrupted: Arc<std::sync::atomic::AtomicBool>,
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
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = stop.send(true);
            } else {
                log.say("interrupted again: healing now and exiting");
                let n = nemesis.clone();
                let healed = tokio::task::spawn_blocking(move || n.heal_all()).await;
                if !matches!(healed, Ok(Ok(_))) {
                    eprintln!("faultline: healing failed: {healed:?}");
                }
                // The history writer flushes whenever it catches up: give it a moment, so the
                // file ends on a whole line.
                tokio::time::sleep(Duration::from_millis(200)).await;
                std::process::exit(130);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_accepts_numbers_and_per_node_counts() {
        assert_eq!(parse_concurrency("10", 5).unwrap(), 10);
        assert_eq!(parse_concurrency("3n", 5).unwrap(), 15);
        assert_eq!(parse_concurrency("n", 3).unwrap(), 3);
        assert!(parse_concurrency("0", 5).is_err());
        assert!(parse_concurrency("x", 5).is_err());
    }

    #[test]
    fn mix_takes_three_weights() {
        assert_eq!(
            parse_mix("1,2,0").unwrap(),
            Mix {
                read: 1,
                write: 2,
                cas: 0
            }
        );
        assert!(parse_mix("0,0,0").is_err());
        assert!(parse_mix("1,2").is_err());
    }

    #[test]
    fn the_worst_exit_code_wins() {
        assert_eq!(worse(exit::VALID, exit::UNKNOWN), exit::UNKNOWN);
        assert_eq!(worse(exit::INVALID, exit::UNKNOWN), exit::INVALID);
        assert_eq!(worse(exit::INVALID, exit::UNAVAILABLE), exit::UNAVAILABLE);
    }

    #[test]
    fn unknown_faults_are_refused() {
        assert!(parse_faults(&["partition-random-halves".into(), "kill".into()]).is_ok());
        assert!(parse_faults(&["none".into()]).unwrap().is_empty());
        assert!(parse_faults(&["earthquake".into()]).is_err());
    }
}
