//! Subcommands of the `memberlist` binary, one module each.

pub mod agent;
pub mod capture;
pub mod columns;
pub mod decode;
pub mod duration;
pub mod exchange;
pub mod gossip;
pub mod keygen;
pub mod members;
pub mod ping;
pub mod render;
pub mod rpc;
pub mod rpc_args;
pub mod serf_agent;
pub mod serf_cmds;
pub mod tree;
pub mod view;
