//! Wire-compatible Rust implementation of HashiCorp's `memberlist` gossip protocol.
//!
//! The [`wire`] module is the codec: pure functions over bytes that encode exactly
//! what the Go library emits and decode anything it emits. The [`node`] module is a
//! participating member: a sans-I/O state machine (configuration, failure detection,
//! the broadcast queue) and the tokio shell that runs it. The [`serf`] module is the
//! Serf layer that HashiCorp's Serf and Consul run on top of memberlist: its codec,
//! its state machine and a running Serf member. [`inspect`] decodes captured gossip.
//!
//! Embedding a member takes a few lines, like Go's `memberlist.Create` and `Join`:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use memberlist_interop::node::{Builder, Event};
//!
//! let (member, mut events) = Builder::lan("web-1").start().await?;
//! member.join(vec!["10.0.0.2:7946".parse()?]).await?;
//! println!("{} members", member.num_members().await?);
//! while let Some(event) = events.next().await {
//!     if let Event::Join(m) | Event::Leave(m) = event {
//!         println!("{} is {}", m.name, m.state.name());
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A Serf member is the same with [`serf::Builder`]; `examples/chat.rs` is a small
//! chat over it.

pub mod apps;
pub mod conform;
pub mod control;
pub mod explain;
pub mod inspect;
pub mod node;
pub mod serf;
pub mod wire;
