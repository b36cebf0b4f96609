//! Subcommands of the `memberlist` binary, one module each.

pub mod agent;
pub mod capture;
pub mod columns;
pub mod completions;
pub mod config_file;
pub mod conform;
pub mod decode;
pub mod duration;
pub mod explain;
pub mod gossip;
pub mod join_hint;
pub mod keygen;
pub mod logging;
pub mod members;
pub mod metrics;
pub mod ping;
pub mod render;
pub mod ring;
pub mod rpc;
pub mod rpc_args;
pub mod serf_agent;
pub mod serf_cmds;
pub mod statsd;
pub mod tree;
pub mod vectors;
pub mod view;
