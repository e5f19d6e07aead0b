//! faultline: a Jepsen-style tester for distributed datastores.
//!
//! The binary parses the command line and hands each subcommand to the library (`src/lib.rs`);
//! the work lives there and in the `faultline-workloads` and `faultline-checkers` crates.

use clap::FromArgMatches;
use faultline::{
    bench, check, cli, cluster, control, delayer, exit, matrix, nemesis, report, run, store, web,
};

fn main() {
    // Before any thread exists: the environment may only be changed while nothing reads it.
    control::secret::take_from_env();
    let parsed = cli::command()
        .try_get_matches()
        .and_then(|m| cli::Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
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
            // A plan's options under those of the command line, checked as flags are.
            let args = match &args.plan {
                None => args,
                Some(plan) => {
                    let test = matches.subcommand_matches("test");
                    let rest = std::env::args_os().skip(2).collect();
                    match test.map(|m| run::plan_file::apply(plan, m, rest)) {
                        Some(Ok(a)) => Box::new(a),
                        Some(Err(e)) => {
                            eprintln!("faultline test: {e}");
                            std::process::exit(exit::USAGE);
                        }
                        None => args,
                    }
                }
            };
            let started = store::timestamp(std::time::SystemTime::now());
            let code = run::run(&args);
            match &args.junit {
                Some(path) => web::junit::write_for_test(path, &args.store, &started, code),
                None => code,
            }
        }
        cli::Command::TestAll(args) => matrix::run(&args),
        cli::Command::Gc(args) => store::gc::run(&args, report::rewrite_store_pages),
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
