//! The command line: one clap struct per subcommand. The doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// faultline: test a distributed datastore under real faults, and check its histories for
/// linearizability faster than Knossos and Porcupine.
///
/// Exit codes: 0 valid, 1 invalid, 2 unknown, 64 usage error, 65 bad input data,
/// 69 a node or service unavailable, 70 internal error.
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
    /// Start, stop or inspect the local cluster (network namespaces with one sshd each).
    Cluster(crate::cluster::cmd::ClusterArgs),
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

    /// Give up after this many seconds per file; the verdict is then `unknown`.
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<f64>,

    /// Give up when the search memos of a file exceed this many MiB; the verdict is `unknown`.
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub memory_limit: usize,

    /// One JSON object per line per file, instead of text.
    #[arg(long)]
    pub json: bool,
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
}
