//! Wire-compatible Rust implementation of HashiCorp's `memberlist` gossip protocol.
//!
//! The [`wire`] module is the codec: pure functions over bytes that encode exactly
//! what the Go library emits and decode anything it emits. The [`node`] module holds
//! the pieces of a participating node (configuration, failure-detection math, the
//! broadcast queue) as sans-I/O data structures. The [`serf`] module is the codec of
//! the Serf layer that HashiCorp's Serf and Consul run on top of memberlist.

pub mod control;
pub mod inspect;
pub mod node;
pub mod serf;
pub mod wire;
