//! Wire-compatible Rust implementation of HashiCorp's `memberlist` gossip protocol.
//!
//! The [`wire`] module is the codec: pure functions over bytes that encode exactly
//! what the Go library emits and decode anything it emits.

pub mod inspect;
pub mod wire;
