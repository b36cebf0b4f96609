//! `memberlist`: tools for memberlist gossip (decode packets today; the agent and the
//! capture inspector build on the same codec).

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "memberlist",
    version,
    about = "Speak and inspect HashiCorp memberlist gossip"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode one memberlist UDP payload and print its layers and messages.
    Decode(cli::decode::Args),
    /// Print a new random gossip key (base64), like `serf keygen`.
    Keygen(cli::keygen::Args),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Decode(args) => cli::decode::run(args),
        Command::Keygen(args) => cli::keygen::run(args),
    }
}
