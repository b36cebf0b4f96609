//! Support for integration tests that run real peers: Go memberlist v0.7.0 nodes
//! (`interop/cmd/gonode`), `serf` agents (Debian's and the newest) and Consul. Include it with `mod support;`.

// Each test crate compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod agent;
pub mod alertmanager;
pub mod conform;
pub mod consul;
pub mod decode;
pub mod dskit;
pub mod explain;
pub mod fake_peer;
pub mod fixtures;
pub mod flood;
pub mod gonode;
pub mod networkdb;
pub mod process;
pub mod rust_serf;
pub mod serf;
pub mod tcpdump;
