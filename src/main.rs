//! faultline: a Jepsen-style tester for distributed datastores.

mod cluster;
mod control;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "faultline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start, stop or inspect the local cluster (network namespaces with one sshd each).
    Cluster(cluster::cmd::ClusterArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Cluster(args) => cluster::cmd::run(args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("faultline: {e:#}");
            std::process::exit(70);
        }
    }
}
