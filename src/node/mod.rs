//! A participating member, as a sans-I/O state machine ([`Machine`]) plus the
//! pieces it stands on: configuration, the protocol's scaling formulas, Lifeguard's
//! health score and suspicion timers, the broadcast queue and the random choices
//! over the member list.
//!
//! Everything here is deterministic given its inputs: time is a [`Time`] passed in by
//! the caller, randomness a caller-seeded generator. The tokio shell
//! ([`runtime`]) and the simulator drive the same machine.
//!
//! To embed a member, start with [`Builder`] (Go's config profiles and `Create`) and
//! use the [`Memberlist`] handle it returns ([`handle`] has its Go-named methods) and
//! the [`Events`] stream.

#![warn(missing_docs)]

pub mod awareness;
pub mod builder;
pub mod cidr;
pub mod config;
pub mod delegate;
pub mod events;
pub mod exchange;
mod gomath;
pub mod handle;
mod ingest;
pub mod machine;
pub mod member;
mod membership;
pub mod metrics;
pub mod node_list;
mod probe;
pub mod queue;
pub mod runtime;
pub mod scaling;
mod send;
pub mod sim;
pub mod stats;
pub mod streams;
pub mod suspicion;
pub mod time;
pub mod transport;

pub use awareness::Awareness;
pub use builder::Builder;
pub use cidr::{Cidr, CidrError};
pub use config::{Config, ConfigError, DEFAULT_PORT};
pub use delegate::{Delegate, NoDelegate, Refusal};
pub use events::{Event, EventDelegate};
pub use gomath::log10 as go_log10;
pub use handle::Events;
pub use machine::{
    JoinId, JoinOutcome, Machine, NodeError, Output, StreamId, StreamRequest, Transmit,
    META_MAX_SIZE,
};
pub use member::{Member, State, Versions};
pub use metrics::{Metric, Metrics, MetricsSink};
pub use queue::{Broadcast, BroadcastId, BroadcastQueue, Kind, NodeBroadcast};
pub use runtime::{JoinError, Memberlist, RuntimeError};
pub use scaling::{push_pull_scale, retransmit_limit, suspicion_timeout};
pub use stats::{Counter, Diagnostic, Stats};
pub use streams::StreamReply;
pub use suspicion::{confirmed_timeout, Confirm, Suspicion, SuspicionTimeouts};
pub use time::Time;
pub use transport::Transport;
