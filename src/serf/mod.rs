//! The Serf layer's wire format, on top of memberlist: Serf's messages (carried in
//! memberlist user messages and the push/pull user state), the tags it keeps in node
//! meta, the network coordinate in ping acks, and its Lamport clocks. A pure codec like
//! [`crate::wire`], written to produce exactly the bytes of `github.com/hashicorp/serf`
//! (go-msgpack v2, old "raw" string spec) and to read what any Serf version sends.

pub mod buffers;
pub mod coalesce;
pub mod consul;
pub mod coordinate;
pub mod json;
pub mod keyring_file;
pub mod keys;
pub mod lamport;
pub mod layer;
pub mod member_state;
pub mod messages;
pub mod query;
mod read;
pub mod shell;
pub mod snapshot;
pub mod stats;
pub mod tags;
pub mod vivaldi;

pub use coordinate::Coordinate;
pub use lamport::{LamportClock, LamportTime};
pub use layer::{SerfConfig, SerfDelegate, SerfError, SerfEvent, SerfState};
pub use member_state::{MemberEventKind, MemberStatus, SerfMember};
pub use messages::{
    BufferedEvent, EventSlot, Filter, InternalQuery, Join, KeyRequest, KeyResponse, Leave, Member,
    PushPull, Query, QueryResponse, Relay, SerfMessage, SerfMessageType, UdpAddr, UserEvent,
};
pub use query::{QueryParams, QueryResult};
pub use shell::{KeyReport, PendingQuery, QueryProgress, Serf, ShellError};
pub use tags::{MetaForm, Tags};
