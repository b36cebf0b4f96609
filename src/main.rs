//! `memberlist`: a memberlist member (`agent`), its diagnostics (`members`, `ping`)
//! and the gossip inspector (`decode`), all on the same codec.

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

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
    /// Explain from captures why members were suspected or declared dead.
    Explain(cli::explain::Args),
    /// Print a new random gossip key (base64), like `serf keygen`.
    Keygen(cli::keygen::Args),
    /// Run a member: join a cluster, print membership events, leave on SIGINT/SIGTERM.
    Agent(Box<cli::agent::Args>),
    /// List the members a running agent (or, with --peer, any member) knows, like
    /// `serf members`.
    Members(cli::members::Args),
    /// Check that a member answers UDP and TCP pings, and say why not.
    Ping(cli::ping::Args),
    /// Print a grafana/dskit cluster's hash ring (Loki, Mimir, Tempo) as its /ring page
    /// would, from gossip alone: join over dskit's transport, read, leave.
    Ring(cli::ring::Args),
    /// Run black-box conformance checks against a live member (exit 0: all passed).
    Conform(cli::conform::Args),
    /// Export the Go fixtures as test vectors, or check another decoder against them.
    #[command(subcommand)]
    Vectors(cli::vectors::Command),
    /// Send a Serf user event through a Serf agent (`memberlist agent --serf` or serf's).
    Event(cli::serf_cmds::EventArgs),
    /// Run a Serf query through a Serf agent and print the acks and answers.
    Query(cli::serf_cmds::QueryArgs),
    /// Install, use, remove or list gossip keys cluster-wide (Serf key queries).
    Keys(cli::serf_cmds::KeysArgs),
    /// Set or delete a Serf agent's tags, gossiped at once.
    Tags(cli::serf_cmds::TagsArgs),
    /// A Serf agent's counters, clocks and tags, like `serf info`.
    Stats(cli::serf_cmds::StatsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli::completions::CompletionsArgs),
    /// Print the man page, or write every page (one per subcommand) into DIR.
    Man(cli::completions::ManArgs),
}

fn main() -> ExitCode {
    // Die quietly when stdout is closed (`memberlist decode FILE | head`), like other
    // command-line tools, instead of panicking on the failed write.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match Cli::parse().command {
        Command::Decode(args) => cli::decode::run(args),
        Command::Explain(args) => cli::explain::run(args),
        Command::Keygen(args) => cli::keygen::run(args),
        Command::Agent(args) => cli::agent::run(*args),
        Command::Members(args) => cli::members::run(args),
        Command::Ping(args) => cli::ping::run(args),
        Command::Ring(args) => cli::ring::run(args),
        Command::Conform(args) => cli::conform::run(args),
        Command::Vectors(command) => cli::vectors::run(command),
        Command::Event(args) => cli::serf_cmds::event(args),
        Command::Query(args) => cli::serf_cmds::query(args),
        Command::Keys(args) => cli::serf_cmds::keys(args),
        Command::Tags(args) => cli::serf_cmds::tags(args),
        Command::Stats(args) => cli::serf_cmds::stats(args),
        Command::Completions(args) => cli::completions::completions(args, Cli::command()),
        Command::Man(args) => cli::completions::man(args, Cli::command()),
    }
}
