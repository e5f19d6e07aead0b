//! The command line: one clap struct per subcommand. The doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// faultline: test a distributed datastore under real faults, and check its histories for
/// linearizability faster than Knossos and Porcupine.
///
/// Exit codes: 0 valid, 1 invalid, 2 unknown, 64 usage error, 65 bad input data,
/// 69 a node or service unavailable (or a fault left unhealed), 70 internal error,
/// 73 the store cannot be written.
#[derive(Parser, Debug)]
#[command(name = "faultline", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check recorded histories (faultline JSONL, Jepsen EDN, Jepsen logs) against a model.
    Check(CheckArgs),
    /// Time the checker over a corpus of histories with known verdicts (../shared/corpus layout).
    Bench(BenchArgs),
    /// Run a test: set up the datastore, drive clients while the nemesis injects faults,
    /// heal, check the history, store everything under results/.
    Test(Box<TestArgs>),
    /// Run a test matrix, as a nightly job does: every datastore x workload x nemesis of a plan,
    /// N runs each; one JUnit file, a matrix page in the store, each cell compared with the
    /// matrix before. Exit code: the worst of the runs.
    TestAll(TestAllArgs),
    /// Prune runs older than N days from a store, never the newest run of a test nor the last
    /// run of a matrix cell.
    Gc(GcArgs),
    /// Serve the store over HTTP (127.0.0.1 by default) to browse runs, plots and logs.
    Serve(ServeArgs),
    /// Show what changed between two stored runs; exit 1 if the verdict got worse.
    Compare(CompareArgs),
    /// Start, stop or inspect the local cluster (network namespaces with one sshd each).
    Cluster(crate::cluster::cmd::ClusterArgs),
    /// Hold each packet of a netfilter queue for a while, then accept it: the process behind
    /// the `latency` fault, started by the nemesis inside a node. Needs root.
    #[command(hide = true)]
    Delayer(crate::delayer::DelayerArgs),
    /// Rewrite a node's libfaketime control file for a while (a clock strobe or skew): the
    /// process behind those faults, started by the nemesis on the node.
    #[command(hide = true)]
    ClockDriver(crate::nemesis::clock_driver::ClockDriverArgs),
    /// Regenerate the HTML pages of a stored run (`report RUN_DIR`), or with `--index` the
    /// index of every run in a store (`report --index results`).
    Report(ReportArgs),
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The run directory (`results/<test>/<timestamp>`), or with `--index` the store.
    pub path: PathBuf,

    /// Write the store's `index.html` listing every run, instead of one run's pages.
    #[arg(long)]
    pub index: bool,
}

/// History formats for `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Decide by extension (.jsonl, .edn, .log) and first bytes.
    Auto,
    /// faultline's history.jsonl.
    Jsonl,
    /// Jepsen EDN (whole vector, or one op map per line; also Porcupine's kv logs).
    Edn,
    /// Jepsen text logs (`INFO jepsen.util - 3 :invoke :read nil`).
    JepsenLog,
}

/// How an ok read of nil is understood, for `--nil-read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NilReadArg {
    /// Nil carries no information and matches any state (Knossos; default for Jepsen formats).
    Any,
    /// Nil means the object is absent (default for faultline JSONL).
    Absent,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// History files to check; they are checked concurrently.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// The model: register, cas-register, kv, mutex, set, unordered-queue, fifo-queue, counter.
    #[arg(long, short, default_value = "cas-register")]
    pub model: String,

    /// Give up after this many seconds per file; the verdict is then `unknown`.
    ///
    /// Without it a check runs until it has an answer. Keys whose values are each written once
    /// are decided in O(n log n); other keys are searched, which can take exponential time
    /// (many concurrent writes of unknown outcome). On a terminal, a check that runs more than
    /// a few seconds says which keys it is searching.
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<f64>,

    /// Give up when the search memos of a file exceed this many MiB; the verdict is `unknown`.
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub memory_limit: usize,

    /// The object's initial value, in EDN or JSON (default: absent/nil; kv keys start as "").
    #[arg(long)]
    pub initial: Option<String>,

    /// The history format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,

    /// Values are Jepsen independent `[key value]` tuples: split them into keys.
    #[arg(long)]
    pub independent: bool,

    /// How an ok read of nil is read (default: `any` for Jepsen formats, `absent` for JSONL).
    #[arg(long, value_enum)]
    pub nil_read: Option<NilReadArg>,

    /// Check the whole history as one object instead of one part per key.
    #[arg(long)]
    pub no_partition: bool,

    /// Check every key even after one is invalid (by default the rest are cancelled).
    #[arg(long)]
    pub all_keys: bool,

    /// One JSON object per line per file, instead of text.
    #[arg(long)]
    pub json: bool,

    /// Search every key, even those whose values are each written once (to measure the
    /// search; the verdicts are the same, the time is not).
    #[arg(long, hide_short_help = true)]
    pub no_polynomial: bool,

    /// Check a workload's history instead of linearizability: transactions for isolation
    /// anomalies, Elle-style (`list-append`, `rw-register`: values are micro-ops like
    /// ["append", 5, 3], ["r", 5, [1]]), or `set`, `counter`, `unique-ids`, `bank` with their
    /// checkers (Jepsen's `set-full`, `counter`, `unique-ids`, `bank`).
    #[arg(long, value_name = "WORKLOAD")]
    pub workload: Option<String>,

    /// With --workload: the consistency models the history must satisfy, as Elle names them
    /// (serializable, strict-serializable, snapshot-isolation, repeatable-read, read-committed,
    /// read-uncommitted, ...). Default: strict-serializable.
    #[arg(long, value_name = "M[,M..]", value_delimiter = ',')]
    pub consistency_models: Vec<String>,

    /// rw-register: infer version orders from writes that follow reads in a transaction.
    #[arg(long)]
    pub wfr_keys: bool,

    /// rw-register: assume each key is sequentially consistent (process order orders versions).
    #[arg(long)]
    pub sequential_keys: bool,

    /// rw-register: assume each key is linearizable (real-time order orders versions).
    #[arg(long)]
    pub linearizable_keys: bool,

    /// With --workload: write a page per history into DIR (`<file name>.html`) drawing each
    /// anomaly's cycle as a graph of its transactions, edge by edge.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The corpus directory: an expected.csv (file,model,expected) and the files it names.
    #[arg(default_value = "../shared/corpus/porcupine")]
    pub corpus: PathBuf,

    /// Rounds per file; the minimum time is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,

    /// Check histories as one object instead of one part per key.
    #[arg(long)]
    pub no_partition: bool,

    /// Only files whose path contains this text.
    #[arg(long)]
    pub only: Option<String>,

    /// Instead of the checker: measure the test harness's own cost per operation (real workers
    /// and recorder, an in-process client that answers at once) for this many seconds.
    #[arg(long, value_name = "SECS")]
    pub harness: Option<f64>,

    /// Workers for `--harness`.
    #[arg(long, default_value_t = 10)]
    pub concurrency: u64,

    /// Instead of the checker: write a store of this many made-up runs and time writing its
    /// paged index (the first page's size is what a browser loads).
    #[arg(long, value_name = "RUNS")]
    pub store_index: Option<usize>,

    /// With --store-index: make the store in this directory and keep it.
    #[arg(long, value_name = "DIR")]
    pub keep_store: Option<PathBuf>,
}

/// `faultline test`'s options. test.json records them whole, so that `--replay` can run the
/// same test again.
#[derive(Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TestArgs {
    /// The datastore (see the list below).
    #[arg(long, default_value = "etcd")]
    pub db: String,

    /// The workload (see the list below); the test is called `<db>-<workload>`. Several,
    /// comma-separated (`register,counter`), run at once on keys of their own: the workers are
    /// split between them, each is checked on its part of the history, and the test is called
    /// `<db>-register+counter`.
    #[arg(long, default_value = "register")]
    pub workload: String,

    /// Faults, comma-separated (see the list below), or `none`.
    #[arg(long, default_value = "partition-random-halves", value_delimiter = ',')]
    pub nemesis: Vec<String>,

    /// Which nodes kill, pause and partition-random-node (isolate) hit: one, minority,
    /// majority, primary (the current leader, asked when the fault starts) or all.
    #[arg(long, default_value = "one", value_name = "TARGETS")]
    pub nemesis_targets: String,

    /// Seconds between fault events (periodic schedule: faults for one interval, then one
    /// interval of calm; random and burst schedules draw their stretches around it).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub nemesis_interval: f64,

    /// When faults come: periodic (an interval of faults, an interval of calm, ...), random
    /// (stretches of 1/4 to 7/4 of the interval, drawn by the seed) or burst (3 to 6 short
    /// faults in a row, then two intervals of calm).
    #[arg(long, default_value = "periodic", value_name = "SCHEDULE")]
    pub nemesis_schedule: String,

    /// How many of the --nemesis kinds start together in each fault period (drawn by the
    /// seed): a number, or `all` (e.g. `--nemesis partition-random-halves,kill
    /// --nemesis-at-once all`).
    #[arg(long, default_value = "1", value_name = "N")]
    pub nemesis_at_once: String,

    /// Seconds of workload (with --phases: of each warm-up or faults phase given no time).
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    pub time_limit: f64,

    /// The phases of the run in order, Jepsen's way, each `KIND[:SECS]`: `warm-up` (the
    /// workload without faults), `faults` (the workload while the nemesis works), `recovery`
    /// (heal every fault, wait --settle, then until the datastore is ready, at most SECS,
    /// default 60), `final-reads` (at most SECS). A workload phase without SECS lasts
    /// --time-limit. Default: `faults,recovery,final-reads`.
    #[arg(long, value_name = "PHASES")]
    pub phases: Option<String>,

    /// Random delays between one worker's operations (uniform from zero to twice the interval
    /// --rate gives, seeded), instead of a steady beat: Jepsen's `stagger`.
    #[arg(long)]
    pub stagger: bool,

    /// A test plan (TOML): any option of this command by its name without the dashes
    /// (`time-limit = 30`), and `[[phase]]` tables (`kind`, `time-limit`). An option given on
    /// the command line wins over the plan's. See examples/plan.toml.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,

    /// Client workers: a number, or `Kn` for K per node (e.g. `3n`).
    #[arg(long, default_value = "10")]
    pub concurrency: String,

    /// Total operations per second over all workers (0 = as fast as they go).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,

    /// Relative weights of the workload's operations, in its order: READ,WRITE,CAS for
    /// register [1,1,1], ADD,READ for set [4,1].
    #[arg(long, value_name = "WEIGHTS")]
    pub mix: Option<String>,

    /// Operations on each key before it is retired (register).
    #[arg(long, default_value_t = 100)]
    pub ops_per_key: u64,

    /// A set read that misses an element known to be in the set makes the run invalid (set).
    #[arg(long)]
    pub set_linearizable: bool,

    /// Keys in use at once (list-append, rw-register): fewer keys, more contention.
    #[arg(long, default_value_t = 10)]
    pub key_count: u64,

    /// Micro-ops per transaction, 1 to this (list-append, rw-register).
    #[arg(long, default_value_t = 4)]
    pub max_txn_length: u64,

    /// Writes to a key before it retires for a fresh one (list-append, rw-register).
    #[arg(long, default_value_t = 16)]
    pub max_writes_per_key: u64,

    /// The consistency models the history must satisfy, as Elle names them (list-append,
    /// rw-register): serializable, strict-serializable, snapshot-isolation, repeatable-read,
    /// read-committed, ... [default: serializable].
    #[arg(long, value_name = "M[,M..]", value_delimiter = ',')]
    pub consistency_models: Vec<String>,

    /// How many runs; the exit code is the worst of them.
    #[arg(long, default_value_t = 1)]
    pub test_count: u32,

    /// Seed of every random choice (default: from the clock; recorded in test.json).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Run a stored run again: every option and the seed from RUN_DIR/test.json, so the same
    /// fault schedule (only --store and --junit may be given with it).
    #[arg(long, value_name = "RUN_DIR")]
    pub replay: Option<PathBuf>,

    /// Milliseconds before a client operation is given up as `info`.
    #[arg(long, default_value_t = 1000)]
    pub op_timeout_ms: u64,

    /// Seconds the check of the history may take; then the verdict is `unknown`, naming what
    /// was not decided.
    #[arg(long, default_value_t = 600.0, value_name = "SECS")]
    pub check_time_limit: f64,

    /// Leave the datastore running after the test (default: stop it and wipe its data).
    #[arg(long)]
    pub leave_db_running: bool,

    /// Where runs are stored.
    #[arg(long, default_value = "results")]
    pub store: PathBuf,

    /// Bring up (if needed) and use the built-in local cluster of N nodes.
    #[arg(long, value_name = "N")]
    pub local_cluster: Option<usize>,

    /// The local cluster's name (namespaces NAME-n1...).
    #[arg(long, default_value = "fl")]
    pub cluster: String,

    /// Nodes (host names or addresses), comma-separated, for remote machines.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,

    /// A file listing nodes, one per line.
    #[arg(long)]
    pub nodes_file: Option<PathBuf>,

    /// SSH user on the nodes.
    #[arg(long, default_value = "root")]
    pub username: String,

    /// SSH private key (default: the SSH agent).
    #[arg(long)]
    pub ssh_private_key: Option<PathBuf>,

    #[arg(long, default_value_t = 22)]
    pub ssh_port: u16,

    /// known_hosts file to check host keys against (default: ~/.ssh/known_hosts).
    #[arg(long)]
    pub known_hosts: Option<PathBuf>,

    /// Accept any host key (not recommended).
    #[arg(long)]
    pub no_strict_host_key_checking: bool,

    /// Do not control the nodes: the datastore is already running on them and is neither set
    /// up, torn down nor faulted. Needs `--nemesis none`.
    #[arg(long)]
    pub dummy_ssh: bool,

    /// Seconds to wait after healing, before final reads.
    #[arg(long, default_value_t = 3.0)]
    pub settle: f64,

    /// Also write the runs' verdicts as JUnit XML to this file (for CI).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    #[command(flatten)]
    pub clock: crate::nemesis::clock::ClockOptions,

    #[command(flatten)]
    pub db_options: crate::db::DbOptions,
}

/// The datastores, workloads and faults `faultline test` knows, for its `--help`.
pub fn test_catalogue() -> String {
    let mut text = String::from("Datastores (--db) and the workloads each supports:\n");
    for d in crate::db::DATASTORES {
        text.push_str(&format!(
            "  {:<11} {} [workloads: {}]\n",
            d.name,
            d.about,
            d.workloads.join(", ")
        ));
    }
    text.push_str("\nWorkloads (--workload):\n");
    for w in faultline_workloads::WORKLOADS {
        text.push_str(&format!("  {:<11} {}\n", w.name, w.about));
    }
    text.push_str("\nFaults (--nemesis):\n");
    for f in crate::nemesis::Fault::ALL {
        text.push_str(&format!("  {:<26} {}\n", f.name(), f.about()));
    }
    text
}

/// The command line, with the catalogue of datastores, workloads and faults (which comes from
/// the registries, not from doc comments) under `faultline test --help`.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().mut_subcommand("test", |c| c.after_help(test_catalogue()))
}

#[derive(Args, Debug, Clone)]
pub struct TestAllArgs {
    /// A matrix plan (TOML): `[matrix]` with `db`, `workload`, `nemesis` (lists; each nemesis
    /// entry is a column, `"a,b"` one column of both faults), `runs` and `seed`; `[test]` with
    /// options of `faultline test` for every cell (by flag name, as in `test --plan`);
    /// `[db-options.NAME]` and `[workload-options.NAME]` for the cells of one datastore or
    /// workload. See examples/nightly.toml. The flags below win over the plan.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,

    /// The datastores (rows, with the workloads), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub db: Vec<String>,

    /// The workloads, comma-separated, each a column of cells; `register+counter` is one cell
    /// running both workloads at once. A pair a datastore has no client for is skipped.
    #[arg(long, value_delimiter = ',')]
    pub workload: Vec<String>,

    /// A column of faults; repeat for more columns (`--nemesis kill --nemesis
    /// partition-random-halves,pause`); `none` for a column without faults.
    #[arg(long, value_name = "FAULTS")]
    pub nemesis: Vec<String>,

    /// Runs of each cell.
    #[arg(long)]
    pub runs: Option<u32>,

    /// Seed of the matrix; each run's seed derives from it and its cell (default: the clock).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Where runs and matrices are stored.
    #[arg(long, default_value = "results")]
    pub store: PathBuf,

    /// Also write the matrix's JUnit XML here (it is always in the matrix's folder).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Options of `faultline test` for every cell, after `--` (they win over the plan's).
    #[arg(last = true, value_name = "TEST OPTIONS")]
    pub test_options: Vec<String>,
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// The store.
    #[arg(long, default_value = "results")]
    pub store: PathBuf,

    /// Keep runs younger than this many days.
    #[arg(long, value_name = "N")]
    pub keep_days: f64,

    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The store to serve.
    #[arg(long, default_value = "results")]
    pub store: PathBuf,

    /// Address to listen on (port 0 picks a free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The earlier run: its directory (e.g. results/etcd-register/latest) or its results.json.
    pub run_a: PathBuf,

    /// The later run.
    pub run_b: PathBuf,

    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    /// clap checks a command's definition only in debug builds, and only when it is parsed:
    /// two datastores' option structs once shared the group name `Options`, which made every
    /// debug `faultline test` panic while release builds (and CI) ran fine. This runs the checks
    /// in every profile.
    #[test]
    fn the_command_line_definition_is_consistent() {
        super::command().debug_assert();
    }
}
