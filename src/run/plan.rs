//! The plan of a run: every option of `faultline test` checked and turned into what the phases
//! use, before the store or any node is touched. A command line that cannot run is refused here
//! with exit 64 and leaves nothing behind: no run directory, no cluster, no datastore.

use std::time::Duration;

use faultline_workloads::generator::Pace;
use faultline_workloads::{Workload, WorkloadOptions, WorkloadSpec};

use std::sync::Arc;

use super::phases::Phases;
use crate::cli::TestArgs;
use crate::db::faketime::FakeClock;
use crate::db::{self, DbContext, DbSpec};
use crate::nemesis::clock::ClockParams;
use crate::nemesis::schedule::{AtOnce, ScheduleKind, ScheduleSpec};
use crate::nemesis::{Fault, Targets};

/// A command line that cannot be run: exit code 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// A validated `faultline test`.
pub struct Plan {
    pub db: &'static DbSpec,
    /// The workloads, in the order named: one, or several at once on keys of their own.
    pub workloads: Vec<&'static WorkloadSpec>,
    /// `<db>-<workload>`, `<db>-<workload>+<workload>` for several.
    pub name: String,
    pub faults: Vec<Fault>,
    pub targets: Targets,
    pub nemesis_interval: Duration,
    /// When fault periods come.
    pub schedule: ScheduleKind,
    /// How many fault kinds each period starts.
    pub at_once: AtOnce,
    /// How clock faults move clocks.
    pub clock: ClockParams,
    pub time_limit: Duration,
    /// Warm-up, faults, recovery, final reads (`--phases`; by default faults for
    /// `--time-limit`, then recovery and final reads).
    pub phases: Phases,
    /// Random delays between one worker's operations (`--stagger`).
    pub stagger: bool,
    /// Workers, resolved against the node count (`3n`).
    pub concurrency: u64,
    pub pace: Pace,
    pub op_timeout: Duration,
    pub settle: Duration,
    pub check_time_limit: Duration,
    /// The node names given (`--nodes`, `--nodes-file`), or none for `--local-cluster`.
    pub named_nodes: Vec<String>,
    pub node_count: usize,
}

impl Plan {
    /// Checks every option; the first problem is the error.
    pub fn new(args: &TestArgs) -> Result<Plan, Usage> {
        let usage = |s: String| Usage(s);
        let db = db::find(&args.db).ok_or_else(|| {
            usage(format!(
                "--db {}: no such datastore (known: {})",
                args.db,
                db::DATASTORES
                    .iter()
                    .map(|d| d.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let workloads = faultline_workloads::find_list(&args.workload).map_err(usage)?;
        for workload in &workloads {
            if !db.supports(workload.name) {
                return Err(usage(format!(
                    "{} has no client for the {} workload; supported pairs: {}",
                    db.name,
                    workload.name,
                    db::pairs().join(", ")
                )));
            }
        }
        let workload_names: Vec<&str> = workloads.iter().map(|w| w.name).collect();
        let foreign = args.db_options.foreign(db.name);
        if !foreign.is_empty() {
            return Err(usage(format!(
                "{} do(es) not apply to --db {}",
                foreign.join(", "),
                db.name
            )));
        }
        let faults = parse_faults(&args.nemesis).map_err(usage)?;
        let targets = Targets::parse(args.nemesis_targets.trim()).ok_or_else(|| {
            usage(format!(
                "--nemesis-targets {}: one of {}",
                args.nemesis_targets,
                Targets::ALL.map(|t| t.name()).join(", ")
            ))
        })?;
        let schedule = ScheduleKind::parse(args.nemesis_schedule.trim()).ok_or_else(|| {
            usage(format!(
                "--nemesis-schedule {}: one of {}",
                args.nemesis_schedule,
                ScheduleKind::ALL.map(|k| k.name()).join(", ")
            ))
        })?;
        let at_once = AtOnce::parse(&args.nemesis_at_once).map_err(usage)?;
        let clock = args.clock.params().map_err(usage)?;
        let clock_options = args.clock.given();
        if !clock_options.is_empty() && !faults.iter().any(|f| f.is_clock()) {
            return Err(usage(format!(
                "{} appl(y/ies) to clock faults only: add clock-bump, clock-strobe or \
                 clock-skew to --nemesis",
                clock_options.join(", ")
            )));
        }
        if args.dummy_ssh && !faults.is_empty() {
            return Err(usage(
                "--dummy-ssh: faultline controls no node, so it cannot inject faults; add \
                 --nemesis none"
                    .into(),
            ));
        }
        if args.dummy_ssh && args.local_cluster.is_some() {
            return Err(usage(
                "--dummy-ssh and --local-cluster do not go together: the local cluster is \
                 controlled"
                    .into(),
            ));
        }
        let seconds = |flag: &str, v: f64, min: f64| -> Result<Duration, Usage> {
            if !(v.is_finite() && v >= min) {
                return Err(usage(format!(
                    "{flag} {v}: a number of seconds, at least {min}"
                )));
            }
            Duration::try_from_secs_f64(v).map_err(|e| usage(format!("{flag} {v}: {e}")))
        };
        let time_limit = seconds("--time-limit", args.time_limit, 0.001)?;
        let nemesis_interval = seconds("--nemesis-interval", args.nemesis_interval, 0.1)?;
        let settle = seconds("--settle", args.settle, 0.0)?;
        let check_time_limit = seconds("--check-time-limit", args.check_time_limit, 0.001)?;
        if args.op_timeout_ms == 0 {
            return Err(usage("--op-timeout-ms must be at least 1".into()));
        }
        if args.test_count == 0 {
            return Err(usage("--test-count must be at least 1".into()));
        }
        let (named_nodes, node_count) = nodes(args)?;
        let concurrency = parse_concurrency(&args.concurrency, node_count).map_err(usage)?;
        let pace = Pace::new(args.rate, concurrency).map_err(usage)?;
        let phases = match &args.phases {
            Some(text) => Phases::parse(text, time_limit).map_err(usage)?,
            None => Phases::standard(time_limit),
        };
        if args.stagger && pace.interval.is_zero() {
            return Err(usage(
                "--stagger draws random delays around the interval --rate gives: with --rate 0 \
                 there is none; give a rate"
                    .into(),
            ));
        }
        let plan = Plan {
            db,
            name: format!("{}-{}", db.name, workload_names.join("+")),
            workloads,
            faults,
            targets,
            nemesis_interval,
            schedule,
            at_once,
            clock,
            time_limit,
            phases,
            stagger: args.stagger,
            concurrency,
            pace,
            op_timeout: Duration::from_millis(args.op_timeout_ms),
            settle,
            check_time_limit,
            named_nodes,
            node_count,
        };
        // The workload's and the datastore's own options: building them does no I/O.
        plan.workload(args, 0)?;
        let opened = (db.open)(
            &plan.db_context(args, plan.placeholder_nodes(), 0, None),
            &args.db_options,
        )
        .map_err(usage)?;
        if let Some(fault) = plan.faults.iter().find(|f| f.is_clock()) {
            opened.clock_faults().map_err(|why| {
                usage(format!(
                    "--nemesis {}: clock faults cannot reach {}: {why}",
                    fault.name(),
                    db.name
                ))
            })?;
        }
        Ok(plan)
    }

    /// The workload of run number `seed`'s run (several composed into one when several are
    /// named).
    pub fn workload(&self, args: &TestArgs, seed: u64) -> Result<Box<dyn Workload>, Usage> {
        let options = WorkloadOptions {
            seed,
            concurrency: self.concurrency,
            mix: args.mix.clone(),
            ops_per_key: args.ops_per_key,
            set_linearizable: args.set_linearizable,
            key_count: args.key_count,
            max_txn_length: args.max_txn_length,
            max_writes_per_key: args.max_writes_per_key,
            consistency_models: args.consistency_models.clone(),
        };
        faultline_workloads::composed::build(&self.workloads, &options).map_err(Usage)
    }

    /// As many nodes as the run will have, for checking the datastore's options against their
    /// number (a quorum, a count of replicas) before anything is touched: opening does no
    /// I/O, so their remotes refuse every command and their addresses are empty.
    fn placeholder_nodes(&self) -> Vec<db::DbNode> {
        (0..self.node_count)
            .map(|i| {
                let name = self
                    .named_nodes
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("n{}", i + 1));
                db::DbNode {
                    remote: std::sync::Arc::new(crate::control::dummy::DummyRemote::new(&name)),
                    name,
                    ip: String::new(),
                }
            })
            .collect()
    }

    /// What the datastore is opened with; `fake_clock` when the run moves clocks.
    pub fn db_context(
        &self,
        args: &TestArgs,
        nodes: Vec<db::DbNode>,
        seed: u64,
        fake_clock: Option<Arc<FakeClock>>,
    ) -> DbContext {
        DbContext {
            nodes,
            cluster: args.cluster.clone(),
            seed,
            workloads: self.workloads.iter().map(|w| w.name).collect(),
            op_timeout: self.op_timeout,
            fake_clock,
        }
    }

    /// Whether the run has clock faults (and so starts the datastore under libfaketime).
    pub fn has_clock_faults(&self) -> bool {
        self.faults.iter().any(|f| f.is_clock())
    }

    /// The fault schedule's ingredients (all but the nodes and the seed).
    pub fn schedule_spec(&self) -> ScheduleSpec<'_> {
        ScheduleSpec {
            kind: self.schedule,
            faults: &self.faults,
            at_once: self.at_once,
            targets: self.targets,
            clock: &self.clock,
            interval: self.nemesis_interval,
            time_limit: self.time_limit,
        }
    }
}

/// The node names given and how many nodes the run has.
fn nodes(args: &TestArgs) -> Result<(Vec<String>, usize), Usage> {
    if let Some(n) = args.local_cluster {
        if !(1..=200).contains(&n) {
            return Err(Usage(format!(
                "--local-cluster {n}: between 1 and 200 nodes"
            )));
        }
        if !args.nodes.is_empty() || args.nodes_file.is_some() {
            return Err(Usage(
                "--local-cluster and --nodes/--nodes-file do not go together".into(),
            ));
        }
        return Ok((Vec::new(), n));
    }
    let mut names: Vec<String> = args
        .nodes
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(file) = &args.nodes_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Usage(format!("--nodes-file {}: {e}", file.display())))?;
        names.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    if names.is_empty() {
        return Err(Usage(
            "no nodes: give --local-cluster N, --nodes or --nodes-file".into(),
        ));
    }
    let count = names.len();
    Ok((names, count))
}

/// Parses `--nemesis`: fault names, or `none`.
pub fn parse_faults(names: &[String]) -> Result<Vec<Fault>, String> {
    let mut faults = Vec::new();
    for name in names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty() && *n != "none")
    {
        let fault = Fault::parse(name).ok_or_else(|| {
            format!(
                "unknown fault `{name}` (known: {}, none)",
                Fault::ALL.map(|f| f.name()).join(", ")
            )
        })?;
        if !faults.contains(&fault) {
            faults.push(fault);
        }
    }
    Ok(faults)
}

/// Parses `--concurrency`: `10`, or `3n` for three per node.
pub fn parse_concurrency(text: &str, nodes: usize) -> Result<u64, String> {
    let t = text.trim();
    let n = if let Some(k) = t.strip_suffix('n') {
        let k: u64 = if k.is_empty() {
            1
        } else {
            k.parse()
                .map_err(|_| format!("--concurrency {t}: a number, or Kn for K per node"))?
        };
        k.saturating_mul(nodes as u64)
    } else {
        t.parse()
            .map_err(|_| format!("--concurrency {t}: a number, or Kn for K per node"))?
    };
    if n == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if n > 100_000 {
        return Err(format!("--concurrency {t}: at most 100000 workers"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    fn args(extra: &[&str]) -> TestArgs {
        let mut argv = vec!["faultline", "test", "--local-cluster", "5"];
        argv.extend_from_slice(extra);
        let m = crate::cli::command()
            .try_get_matches_from(argv)
            .unwrap_or_else(|e| panic!("{e}"));
        match crate::cli::Cli::from_arg_matches(&m).unwrap().command {
            crate::cli::Command::Test(a) => *a,
            _ => unreachable!(),
        }
    }

    fn refused(extra: &[&str]) -> String {
        match Plan::new(&args(extra)) {
            Ok(_) => panic!("{extra:?} was accepted"),
            Err(e) => e.0,
        }
    }

    /// Each faults phase follows a schedule of its own; the first is the one a run without
    /// `--phases` draws, so adding phases around a test keeps its first faults.
    #[test]
    fn each_faults_phase_draws_its_own_schedule_and_the_first_is_a_plain_runs() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let fault = ["--nemesis", "partition-random-halves", "--time-limit", "20"];
        let plain = Plan::new(&args(&fault)).unwrap();
        let mut phased_args = fault.to_vec();
        phased_args.extend([
            "--phases",
            "faults,recovery:5,faults,recovery:5,final-reads",
        ]);
        let phased = Plan::new(&args(&phased_args)).unwrap();
        let json = |steps: &[crate::nemesis::schedule::Step]| {
            steps.iter().map(|s| s.to_json()).collect::<Vec<_>>()
        };
        let one = crate::run::fault_schedules(&plain, &nodes, 7);
        let two = crate::run::fault_schedules(&phased, &nodes, 7);
        assert_eq!(one.len(), 1);
        assert_eq!(two.len(), 2);
        assert!(!two[0].is_empty() && !two[1].is_empty());
        assert_eq!(json(&one[0]), json(&two[0]));
        assert_ne!(json(&two[0]), json(&two[1]));
        let records = crate::run::schedule_records(&two);
        assert_eq!(records.len(), two[0].len() + two[1].len());
        assert_eq!(records[0]["faults_phase"], 0);
        assert_eq!(records[records.len() - 1]["faults_phase"], 1);
    }
    #[test]
    fn concurrency_accepts_numbers_and_per_node_counts() {
        assert_eq!(parse_concurrency("10", 5).unwrap(), 10);
        assert_eq!(parse_concurrency("3n", 5).unwrap(), 15);
        assert_eq!(parse_concurrency("n", 3).unwrap(), 3);
        assert!(parse_concurrency("0", 5).is_err());
        assert!(parse_concurrency("x", 5).is_err());
    }

    #[test]
    fn unknown_faults_are_refused() {
        assert!(parse_faults(&["partition-random-halves".into(), "kill".into()]).is_ok());
        assert!(parse_faults(&["none".into()]).unwrap().is_empty());
        assert!(parse_faults(&["earthquake".into()]).is_err());
    }

    /// etcd reads the clock without libc: a clock fault on it is refused with the reason,
    /// before anything is touched; Redis and ZooKeeper take them.
    #[test]
    fn clock_faults_are_refused_where_libfaketime_cannot_reach() {
        for fault in ["clock-bump", "clock-strobe", "clock-skew"] {
            let e = refused(&["--nemesis", fault]);
            assert!(
                e.contains(&format!("--nemesis {fault}")) && e.contains("etcd is a Go program"),
                "{e}"
            );
        }
        for db in ["redis", "zookeeper"] {
            let plan = Plan::new(&args(&[
                "--db",
                db,
                "--nemesis",
                "clock-bump,kill",
                "--clock-bump-ms=-250,250",
                "--nemesis-schedule",
                "burst",
                "--nemesis-at-once",
                "all",
            ]))
            .unwrap_or_else(|e| panic!("{db}: {e}"));
            assert!(plan.has_clock_faults());
            assert_eq!(plan.clock.bump_ms, vec![-250, 250]);
            assert_eq!(plan.schedule, ScheduleKind::Burst);
            assert_eq!(plan.at_once, AtOnce::All);
        }
    }

    #[test]
    fn phases_default_to_faults_for_the_time_limit_then_recovery_and_final_reads() {
        let plan = Plan::new(&args(&["--time-limit", "12"])).unwrap();
        assert_eq!(plan.phases.text(), "faults:12,recovery:60,final-reads");
        let plan = Plan::new(&args(&[
            "--phases",
            "warm-up:3,faults,recovery:9,final-reads:4",
        ]))
        .unwrap();
        assert_eq!(
            plan.phases.text(),
            "warm-up:3,faults:60,recovery:9,final-reads:4"
        );
    }

    #[test]
    fn a_plan_names_the_test_after_its_datastore_and_workload() {
        let plan = Plan::new(&args(&["--concurrency", "2n", "--rate", "50"])).unwrap();
        assert_eq!(plan.name, "etcd-register");
        assert_eq!(plan.concurrency, 10);
        assert_eq!(plan.pace.interval, Duration::from_millis(200));
    }

    #[test]
    fn several_workloads_name_the_test_together_and_each_must_be_supported_once() {
        let plan = Plan::new(&args(&["--workload", "register,counter"])).unwrap();
        assert_eq!(plan.name, "etcd-register+counter");
        assert_eq!(plan.workloads.len(), 2);
        // The test's own name reads back as the same workloads (a replay passes it on).
        let again = Plan::new(&args(&["--workload", "register+counter"])).unwrap();
        assert_eq!(again.name, plan.name);
        for (list, says) in [
            ("register,set", "etcd has no client for the set workload"),
            ("register,register", "register is named twice"),
            ("register,nope", "no such workload \"nope\""),
            ("register,", "no such workload \"\""),
        ] {
            match Plan::new(&args(&["--workload", list])) {
                Ok(_) => panic!("--workload {list} was accepted"),
                Err(e) => assert!(e.0.contains(says), "--workload {list}: {}", e.0),
            }
        }
        let e = Plan::new(&args(&["--workload", "register,counter", "--mix", "1,1"]))
            .err()
            .unwrap();
        assert!(
            e.0.contains("--mix weighs the operations of one workload"),
            "{}",
            e.0
        );
    }

    /// Each of these once panicked or started a cluster before failing.
    #[test]
    fn options_that_cannot_run_are_refused_before_anything_is_touched() {
        for (extra, says) in [
            (&["--nemesis-interval", "inf"][..], "--nemesis-interval"),
            (&["--rate", "1e-300"][..], "--rate"),
            (&["--rate", "NaN"][..], "--rate"),
            (&["--concurrency", "0"][..], "--concurrency"),
            (&["--time-limit=-1"][..], "--time-limit"),
            (&["--settle", "inf"][..], "--settle"),
            (&["--op-timeout-ms", "0"][..], "--op-timeout-ms"),
            (&["--check-time-limit", "0"][..], "--check-time-limit"),
            (&["--db", "mongo"][..], "no such datastore"),
            (&["--workload", "queue"][..], "no such workload"),
            (&["--workload", "set"][..], "supported pairs: etcd-register"),
            (&["--nemesis", "earthquake"][..], "unknown fault"),
            (&["--nemesis-targets", "some"][..], "--nemesis-targets"),
            (&["--mix", "1,2"][..], "READ,WRITE,CAS"),
            (&["--etcd-binary", "etcd"][..], "absolute path"),
            (&["--test-count", "0"][..], "--test-count"),
            (
                &[
                    "--db",
                    "postgres",
                    "--workload",
                    "list-append",
                    "--consistency-models",
                    "serialisable",
                ][..],
                "unknown model `serialisable`",
            ),
            (
                &[
                    "--db",
                    "postgres",
                    "--workload",
                    "rw-register",
                    "--key-count",
                    "0",
                ][..],
                "--key-count must be at least 1",
            ),
            (
                &[
                    "--db",
                    "postgres",
                    "--workload",
                    "list-append",
                    "--pg-replicas",
                    "5",
                ][..],
                "at most 4",
            ),
            (
                &["--db", "postgres", "--workload", "register"][..],
                "postgres-list-append",
            ),
            (
                &["--isolation", "serializable"][..],
                "--isolation do(es) not apply to --db etcd",
            ),
            (&["--nemesis-schedule", "often"][..], "--nemesis-schedule"),
            (&["--nemesis-at-once", "0"][..], "--nemesis-at-once"),
            (&["--clock-bump-ms", "100"][..], "clock faults only"),
            (
                &["--nemesis", "clock-bump", "--clock-strobe-period-ms", "0"][..],
                "--clock-strobe-period-ms",
            ),
            (&["--phases", "faults:10,final-reads"][..], "--phases"),
            (&["--phases", "storm:3"][..], "unknown phase"),
            (&["--stagger", "--rate", "0"][..], "--stagger"),
        ] {
            let e = refused(extra);
            assert!(e.contains(says), "{extra:?}: {e}");
        }
    }
}
