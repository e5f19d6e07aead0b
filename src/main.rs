//! faultline: a Jepsen-style tester for distributed datastores.
//!
//! The binary parses the command line and hands each subcommand to the library (`src/lib.rs`);
//! the work lives there and in the `faultline-workloads` and `faultline-checkers` crates.

use clap::FromArgMatches;
use faultline::{
    bench, check, cli, cluster, control, delayer, exit, nemesis, report, run, store, web,
};

fn main() {
    // Before any thread exists: the environment may only be changed while nothing reads it.
    control::secret::take_from_env();
    let parsed = cli::command()
        .try_get_matches()
        .and_then(|m| cli::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => exit::USAGE,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        cli::Command::Check(args) => check::run(&args),
        cli::Command::Bench(args) => bench::run(&args),
        cli::Command::Test(args) => {
            let started = store::timestamp(std::time::SystemTime::now());
            let code = run::run(&args);
            match &args.junit {
                Some(path) => web::junit::write_for_test(path, &args.store, &started, code),
                None => code,
            }
        }
        cli::Command::Serve(args) => web::serve::run(&args),
        cli::Command::Compare(args) => web::compare::run(&args),
        cli::Command::Delayer(args) => delayer::run(&args),
        cli::Command::ClockDriver(args) => nemesis::clock_driver::run(&args),
        cli::Command::Report(args) => report::run(&args.path, args.index),
        cli::Command::Cluster(args) => match cluster::cmd::run(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("faultline: {e:#}");
                exit::INTERNAL
            }
        },
    };
    std::process::exit(code);
}
