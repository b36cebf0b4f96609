//! The building blocks of a participating node: configuration, the protocol's
//! scaling formulas, Lifeguard's health score and suspicion timers, the broadcast
//! queue and the random choices over the node list.
//!
//! Everything here is sans-I/O and deterministic given its inputs: time is a
//! [`Time`] passed in by the caller, randomness a caller-supplied `RngCore`. The node
//! state machine is built on top of these pieces.

pub mod awareness;
pub mod cidr;
pub mod config;
mod gomath;
pub mod node_list;
pub mod queue;
pub mod scaling;
pub mod suspicion;
pub mod time;

pub use awareness::Awareness;
pub use cidr::{Cidr, CidrError};
pub use config::{Config, ConfigError};
pub use queue::{Broadcast, BroadcastId, BroadcastQueue, Kind, NodeBroadcast};
pub use scaling::{push_pull_scale, retransmit_limit, suspicion_timeout};
pub use suspicion::{confirmed_timeout, Confirm, Suspicion, SuspicionTimeouts};
pub use time::Time;
