//! Serf's messages: one type byte and one msgpack value (the relay envelope adds a
//! second message after its header). They ride inside memberlist user messages, the
//! push/pull user state, and (for conflict and key-management answers) inside query
//! and response payloads.
//!
//! Field names are Go's in snake case; the conventions of [`crate::wire::messages`]
//! hold: `Option` byte slices keep Go's nil apart from empty, keys are written sorted,
//! and decoding takes any key order, the array form, unknown keys and nils. Serf
//! structs have no `omitempty`, so every field is always written. Go maps (tags,
//! `StatusLTimes`) are written sorted where Go writes them in random order.

use super::lamport::LamportTime;
use super::read::{self, write_int, write_strings};
use super::tags::Tags;
use crate::wire::messages::{read_struct, string, Bytes};
use crate::wire::msgpack::{Reader, Writer};
use crate::wire::{GoInt, GoString, Result, WireError};

use std::collections::BTreeMap;

/// The first byte of a Serf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum SerfMessageType {
    /// A leave intent.
    Leave = 0,
    /// A join intent.
    Join = 1,
    /// Serf's push/pull state.
    PushPull = 2,
    /// A user event.
    UserEvent = 3,
    /// A query.
    Query = 4,
    /// An ack or answer to a query.
    QueryResponse = 5,
    /// An answer to a `_serf_conflict` query.
    ConflictResponse = 6,
    /// A key query's payload.
    KeyRequest = 7,
    /// A key query's answer.
    KeyResponse = 8,
    /// A message to forward to another node.
    Relay = 9,
}

impl SerfMessageType {
    /// The type's name in the inspector's output (snake case).
    pub fn name(self) -> &'static str {
        match self {
            SerfMessageType::Leave => "leave",
            SerfMessageType::Join => "join",
            SerfMessageType::PushPull => "push_pull",
            SerfMessageType::UserEvent => "user_event",
            SerfMessageType::Query => "query",
            SerfMessageType::QueryResponse => "query_response",
            SerfMessageType::ConflictResponse => "conflict_response",
            SerfMessageType::KeyRequest => "key_request",
            SerfMessageType::KeyResponse => "key_response",
            SerfMessageType::Relay => "relay",
        }
    }
}

impl TryFrom<u8> for SerfMessageType {
    type Error = WireError;

    fn try_from(b: u8) -> Result<Self> {
        use SerfMessageType::*;
        Ok(match b {
            0 => Leave,
            1 => Join,
            2 => PushPull,
            3 => UserEvent,
            4 => Query,
            5 => QueryResponse,
            6 => ConflictResponse,
            7 => KeyRequest,
            8 => KeyResponse,
            9 => Relay,
            _ => return Err(WireError::UnknownSerfMessageType(b)),
        })
    }
}

/// Query flag: the origin wants an ack from every node that processes the query.
pub const QUERY_FLAG_ACK: u32 = 1;
/// Query flag: receivers must not re-broadcast the query.
pub const QUERY_FLAG_NO_BROADCAST: u32 = 2;

/// `messageLeave`: a node's intent to leave (or a force-leave of it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Leave<'a> {
    /// The member clock time of the intent.
    pub ltime: LamportTime,
    /// The node that leaves.
    pub node: GoString<'a>,
    /// Force-leave with prune: forget the member entirely.
    pub prune: bool,
}

impl<'a> Leave<'a> {
    /// Writes the msgpack body as Go encodes it (field order included).
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_header(3);
        w.key("LTime");
        w.uint(self.ltime.0);
        w.key("Node");
        w.raw(self.node.as_bytes());
        w.key("Prune");
        w.bool(self.prune);
    }

    /// Reads a msgpack body any Serf version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Leave::default();
        read_struct(r, "leave", &["LTime", "Node", "Prune"], |k, r| {
            match k {
                b"LTime" => m.ltime = read::lamport(r, "leave.LTime")?,
                b"Node" => m.node = string(r, "leave.Node")?,
                b"Prune" => m.prune = r.bool("leave.Prune")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `messageJoin`: ties a node's join to the member clock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Join<'a> {
    /// The member clock time of the intent.
    pub ltime: LamportTime,
    /// The node that joined.
    pub node: GoString<'a>,
}

impl<'a> Join<'a> {
    /// Writes the msgpack body as Go encodes it (field order included).
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_header(2);
        w.key("LTime");
        w.uint(self.ltime.0);
        w.key("Node");
        w.raw(self.node.as_bytes());
    }

    /// Reads a msgpack body any Serf version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Join::default();
        read_struct(r, "join", &["LTime", "Node"], |k, r| {
            match k {
                b"LTime" => m.ltime = read::lamport(r, "join.LTime")?,
                b"Node" => m.node = string(r, "join.Node")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `messageUserEvent`: an application event broadcast to the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserEvent<'a> {
    /// The event clock time.
    pub ltime: LamportTime,
    /// The event's name.
    pub name: GoString<'a>,
    /// The payload; `None` is Go's nil, kept apart from empty.
    pub payload: Option<Bytes<'a>>,
    /// "Can coalesce": receivers may deliver only the latest event of this name.
    pub cc: bool,
}

impl<'a> UserEvent<'a> {
    /// Writes the msgpack body as Go encodes it (field order included).
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_header(4);
        w.key("CC");
        w.bool(self.cc);
        w.key("LTime");
        w.uint(self.ltime.0);
        w.key("Name");
        w.raw(self.name.as_bytes());
        w.key("Payload");
        w.opt_raw(self.payload.as_deref());
    }

    /// Reads a msgpack body any Serf version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = UserEvent::default();
        const DECL: &[&str] = &["LTime", "Name", "Payload", "CC"];
        read_struct(r, "user_event", DECL, |k, r| {
            match k {
                b"LTime" => m.ltime = read::lamport(r, "user_event.LTime")?,
                b"Name" => m.name = string(r, "user_event.Name")?,
                b"Payload" => m.payload = read::opt_bytes(r, "user_event.Payload")?,
                b"CC" => m.cc = r.bool("user_event.CC")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// One event of an event-buffer slot in the push/pull state (`userEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BufferedEvent<'a> {
    /// The event's name.
    pub name: GoString<'a>,
    /// The payload (`None`: nil).
    pub payload: Option<Bytes<'a>>,
}

impl<'a> BufferedEvent<'a> {
    fn write(&self, w: &mut Writer<'_>) {
        w.map_header(2);
        w.key("Name");
        w.raw(self.name.as_bytes());
        w.key("Payload");
        w.opt_raw(self.payload.as_deref());
    }

    fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = BufferedEvent::default();
        read_struct(r, "user_event", &["Name", "Payload"], |k, r| {
            match k {
                b"Name" => m.name = string(r, "userEvent.Name")?,
                b"Payload" => m.payload = read::opt_bytes(r, "userEvent.Payload")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// A used slot of the event buffer (`userEvents`): the events seen at one time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventSlot<'a> {
    /// The event clock time of the slot.
    pub ltime: LamportTime,
    /// The events seen at that time.
    pub events: Option<Vec<BufferedEvent<'a>>>,
}

impl<'a> EventSlot<'a> {
    fn write(&self, w: &mut Writer<'_>) {
        w.map_header(2);
        w.key("Events");
        match &self.events {
            None => w.nil(),
            Some(evs) => {
                w.array_len(evs.len());
                evs.iter().for_each(|e| e.write(w));
            }
        }
        w.key("LTime");
        w.uint(self.ltime.0);
    }

    fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = EventSlot::default();
        read_struct(r, "userEvents", &["LTime", "Events"], |k, r| {
            match k {
                b"LTime" => m.ltime = read::lamport(r, "userEvents.LTime")?,
                b"Events" => m.events = read::slice(r, "userEvents.Events", BufferedEvent::read)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `messagePushPull`: Serf's state in memberlist's push/pull exchange.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushPull<'a> {
    /// Member clock.
    pub ltime: LamportTime,
    /// The status time of every member the sender holds (a Go map: sorted here).
    pub status_ltimes: Option<BTreeMap<GoString<'a>, LamportTime>>,
    /// Members the sender knows as left.
    pub left_members: Option<Vec<GoString<'a>>>,
    /// Event clock.
    pub event_ltime: LamportTime,
    /// The event ring (`EventBuffer` slots, 512 by default); `None` entries are unused.
    pub events: Option<Vec<Option<EventSlot<'a>>>>,
    /// Query clock.
    pub query_ltime: LamportTime,
}

impl<'a> PushPull<'a> {
    /// Writes the msgpack body as Go encodes it (field order included).
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_header(6);
        w.key("EventLTime");
        w.uint(self.event_ltime.0);
        w.key("Events");
        match &self.events {
            None => w.nil(),
            Some(slots) => {
                w.array_len(slots.len());
                for s in slots {
                    match s {
                        None => w.nil(),
                        Some(s) => s.write(w),
                    }
                }
            }
        }
        w.key("LTime");
        w.uint(self.ltime.0);
        w.key("LeftMembers");
        write_strings(w, self.left_members.as_deref());
        w.key("QueryLTime");
        w.uint(self.query_ltime.0);
        w.key("StatusLTimes");
        match &self.status_ltimes {
            None => w.nil(),
            Some(m) => {
                w.map_len(m.len());
                for (k, v) in m {
                    w.raw(k.as_bytes());
                    w.uint(v.0);
                }
            }
        }
    }

    /// Reads a msgpack body any Serf version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = PushPull::default();
        const DECL: &[&str] = &[
            "LTime",
            "StatusLTimes",
            "LeftMembers",
            "EventLTime",
            "Events",
            "QueryLTime",
        ];
        read_struct(r, "push_pull", DECL, |k, r| {
            match k {
                b"LTime" => m.ltime = read::lamport(r, "push_pull.LTime")?,
                b"StatusLTimes" => {
                    m.status_ltimes = read::string_map(r, "push_pull.StatusLTimes", |r| {
                        read::lamport(r, "push_pull.StatusLTimes")
                    })?
                }
                b"LeftMembers" => {
                    m.left_members = read::slice(r, "push_pull.LeftMembers", |r| {
                        string(r, "push_pull.LeftMembers")
                    })?
                }
                b"EventLTime" => m.event_ltime = read::lamport(r, "push_pull.EventLTime")?,
                b"Events" => {
                    m.events = read::slice(r, "push_pull.Events", |r| {
                        if r.rest().first() == Some(&0xc0) {
                            r.take(1, "push_pull.Events")?;
                            return Ok(None);
                        }
                        EventSlot::read(r).map(Some)
                    })?
                }
                b"QueryLTime" => m.query_ltime = read::lamport(r, "push_pull.QueryLTime")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// A query filter (an item of [`Query::filters`], itself "type byte + msgpack").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter<'a> {
    /// Type 0: only the named nodes process the query.
    Node(Vec<GoString<'a>>),
    /// Type 1: only nodes whose tag `tag` matches the RE2 expression `expr`
    /// (unanchored; a missing tag matches as the empty string).
    Tag {
        /// The tag's name.
        tag: GoString<'a>,
        /// The expression its value must match.
        expr: GoString<'a>,
    },
}

impl<'a> Filter<'a> {
    /// Appends the type byte and msgpack body, as Go's `encodeFilter`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Filter::Node(nodes) => {
                out.push(0);
                write_strings(&mut Writer::new(out), Some(nodes));
            }
            Filter::Tag { tag, expr } => {
                out.push(1);
                let mut w = Writer::new(out);
                w.map_header(2);
                w.key("Expr");
                w.raw(expr.as_bytes());
                w.key("Tag");
                w.raw(tag.as_bytes());
            }
        }
    }

    /// Reads one filter blob; an unknown type byte is an error.
    pub fn decode(buf: &'a [u8]) -> Result<Self> {
        let (&t, body) = buf
            .split_first()
            .ok_or(WireError::Truncated("filter type byte"))?;
        let mut r = Reader::new(body);
        match t {
            0 => Ok(Filter::Node(
                read::slice(&mut r, "node filter", |r| string(r, "node filter"))?
                    .unwrap_or_default(),
            )),
            1 => {
                let (mut tag, mut expr) = (GoString::default(), GoString::default());
                read_struct(&mut r, "tag filter", &["Tag", "Expr"], |k, r| {
                    match k {
                        b"Tag" => tag = string(r, "filterTag.Tag")?,
                        b"Expr" => expr = string(r, "filterTag.Expr")?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                Ok(Filter::Tag { tag, expr })
            }
            other => Err(WireError::UnknownFilterType(other)),
        }
    }
}

/// `messageQuery`: a question to (a filtered part of) the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query<'a> {
    /// The query clock time.
    pub ltime: LamportTime,
    /// Random id; (ltime, id) names the query at its origin.
    pub id: u32,
    /// The origin's IP (4 or 16 bytes) and port, where answers go.
    pub addr: Option<Bytes<'a>>,
    /// The origin's port.
    pub port: u16,
    /// The origin's node name.
    pub source_node: GoString<'a>,
    /// Encoded [`Filter`]s, kept as sent (Go refuses to process unknown ones).
    pub filters: Option<Vec<Bytes<'a>>>,
    /// [`QUERY_FLAG_ACK`], [`QUERY_FLAG_NO_BROADCAST`].
    pub flags: u32,
    /// How many extra copies of each answer go through relays.
    pub relay_factor: u8,
    /// A Go `time.Duration`: nanoseconds.
    pub timeout: GoInt,
    /// The query's name.
    pub name: GoString<'a>,
    /// The payload (`None`: nil).
    pub payload: Option<Bytes<'a>>,
}

impl<'a> Query<'a> {
    /// Whether the origin asked for acks.
    pub fn ack(&self) -> bool {
        self.flags & QUERY_FLAG_ACK != 0
    }

    /// Whether receivers must not re-broadcast it.
    pub fn no_broadcast(&self) -> bool {
        self.flags & QUERY_FLAG_NO_BROADCAST != 0
    }

    /// The decoded filters, in order.
    pub fn decoded_filters(&self) -> impl Iterator<Item = Result<Filter<'_>>> {
        self.filters.iter().flatten().map(|f| Filter::decode(f))
    }

    /// The internal query this is, for names with Serf's `_serf_` prefix.
    pub fn internal(&self) -> Option<InternalQuery> {
        InternalQuery::from_name(self.name.as_bytes())
    }

    /// Writes the msgpack body as Go encodes it (field order included).
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_header(11);
        w.key("Addr");
        w.opt_raw(self.addr.as_deref());
        w.key("Filters");
        match &self.filters {
            None => w.nil(),
            Some(fs) => {
                w.array_len(fs.len());
                fs.iter().for_each(|f| w.raw(f));
            }
        }
        w.key("Flags");
        w.uint(self.flags as u64);
        w.key("ID");
        w.uint(self.id as u64);
        w.key("LTime");
        w.uint(self.ltime.0);
        w.key("Name");
        w.raw(self.name.as_bytes());
        w.key("Payload");
        w.opt_raw(self.payload.as_deref());
        w.key("Port");
        w.uint(self.port as u64);
        w.key("RelayFactor");
        w.uint(self.relay_factor as u64);
        w.key("SourceNode");
        w.raw(self.source_node.as_bytes());
        w.key("Timeout");
        write_int(w, self.timeout);
    }

    /// Reads a msgpack body any Serf version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Query::default();
        const DECL: &[&str] = &[
            "LTime",
            "ID",
            "Addr",
            "Port",
            "SourceNode",
            "Filters",
            "Flags",
            "RelayFactor",
            "Timeout",
            "Name",
            "Payload",
        ];
        read_struct(r, "query", DECL, |k, r| {
            match k {
                b"LTime" => m.ltime = read::lamport(r, "query.LTime")?,
                b"ID" => m.id = r.u32("query.ID")?,
                b"Addr" => m.addr = read::opt_bytes(r, "query.Addr")?,
                b"Port" => m.port = r.u16("query.Port")?,
                b"SourceNode" => m.source_node = string(r, "query.SourceNode")?,
                b"Filters" => {
                    m.filters = read::slice(r, "query.Filters", |r| {
                        Ok(read::opt_bytes(r, "query.Filters")?.unwrap_or_default())
                    })?
                }
                b"Flags" => m.flags = r.u32("query.Flags")?,
                b"RelayFactor" => m.relay_factor = r.u8("query.RelayFactor")?,
                b"Timeout" => m.timeout = read::int(r, "query.Timeout")?,
                b"Name" => m.name = string(r, "query.Name")?,
                b"Payload" => m.payload = read::opt_bytes(r, "query.Payload")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `messageQueryResponse`: an ack (flag 1, no payload) or an answer to a query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryResponse<'a> {
    /// The query's time, by which the origin finds it.
    pub ltime: LamportTime,
    /// The query's id.
    pub id: u32,
    /// The answering node.
    pub from: GoString<'a>,
    /// [`QUERY_FLAG_ACK`] for an ack.
    pub flags: u32,
    /// The answer (`None` for an ack).
    pub payload: Option<Bytes<'a>>,
}

impl<'a> QueryResponse<'a> {
    /// Whether this is an ack rather than an answer.
    pub fn ack(&self) -> bool {
        self.flags & QUERY_FLAG_ACK != 0
    }

    /// Writes the msgpack body as Go encodes it (field order included).
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_header(5);
        w.key("Flags");
        w.uint(self.flags as u64);
        w.key("From");
        w.raw(self.from.as_bytes());
        w.key("ID");
        w.uint(self.id as u64);
        w.key("LTime");
        w.uint(self.ltime.0);
        w.key("Payload");
        w.opt_raw(self.payload.as_deref());
    }

    /// Reads a msgpack body any Serf version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = QueryResponse::default();
        const DECL: &[&str] = &["LTime", "ID", "From", "Flags", "Payload"];
        read_struct(r, "query_response", DECL, |k, r| {
            match k {
                b"LTime" => m.ltime = read::lamport(r, "query_response.LTime")?,
                b"ID" => m.id = r.u32("query_response.ID")?,
                b"From" => m.from = string(r, "query_response.From")?,
                b"Flags" => m.flags = r.u32("query_response.Flags")?,
                b"Payload" => m.payload = read::opt_bytes(r, "query_response.Payload")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `serf.Member` as a node describes another in its answer to `_serf_conflict`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Member<'a> {
    /// The member's name.
    pub name: GoString<'a>,
    /// Its IP bytes.
    pub addr: Option<Bytes<'a>>,
    /// Its port.
    pub port: u16,
    /// Its tags.
    pub tags: Option<Tags<'a>>,
    /// 0 none, 1 alive, 2 leaving, 3 left, 4 failed (a Go `int`).
    pub status: GoInt,
    /// Oldest memberlist protocol it understands.
    pub protocol_min: u8,
    /// Newest memberlist protocol it understands.
    pub protocol_max: u8,
    /// The memberlist protocol it speaks.
    pub protocol_cur: u8,
    /// Oldest Serf protocol it understands.
    pub delegate_min: u8,
    /// Newest Serf protocol it understands.
    pub delegate_max: u8,
    /// The Serf protocol it speaks.
    pub delegate_cur: u8,
}

impl<'a> Member<'a> {
    /// Writes the msgpack body as Go encodes it (field order included).
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_header(11);
        w.key("Addr");
        w.opt_raw(self.addr.as_deref());
        w.key("DelegateCur");
        w.uint(self.delegate_cur as u64);
        w.key("DelegateMax");
        w.uint(self.delegate_max as u64);
        w.key("DelegateMin");
        w.uint(self.delegate_min as u64);
        w.key("Name");
        w.raw(self.name.as_bytes());
        w.key("Port");
        w.uint(self.port as u64);
        w.key("ProtocolCur");
        w.uint(self.protocol_cur as u64);
        w.key("ProtocolMax");
        w.uint(self.protocol_max as u64);
        w.key("ProtocolMin");
        w.uint(self.protocol_min as u64);
        w.key("Status");
        write_int(w, self.status);
        w.key("Tags");
        match &self.tags {
            None => w.nil(),
            Some(t) => t.write(w),
        }
    }

    /// Reads a msgpack body any Serf version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = Member::default();
        const DECL: &[&str] = &[
            "Name",
            "Addr",
            "Port",
            "Tags",
            "Status",
            "ProtocolMin",
            "ProtocolMax",
            "ProtocolCur",
            "DelegateMin",
            "DelegateMax",
            "DelegateCur",
        ];
        read_struct(r, "member", DECL, |k, r| {
            match k {
                b"Name" => m.name = string(r, "member.Name")?,
                b"Addr" => m.addr = read::opt_bytes(r, "member.Addr")?,
                b"Port" => m.port = r.u16("member.Port")?,
                b"Tags" => m.tags = Tags::read(r)?,
                b"Status" => m.status = read::int(r, "member.Status")?,
                b"ProtocolMin" => m.protocol_min = r.u8("member.ProtocolMin")?,
                b"ProtocolMax" => m.protocol_max = r.u8("member.ProtocolMax")?,
                b"ProtocolCur" => m.protocol_cur = r.u8("member.ProtocolCur")?,
                b"DelegateMin" => m.delegate_min = r.u8("member.DelegateMin")?,
                b"DelegateMax" => m.delegate_max = r.u8("member.DelegateMax")?,
                b"DelegateCur" => m.delegate_cur = r.u8("member.DelegateCur")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `keyRequest`: the payload of the key-management queries (an empty key for list).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyRequest<'a> {
    /// The raw AES key (16, 24 or 32 bytes).
    pub key: Option<Bytes<'a>>,
}

impl<'a> KeyRequest<'a> {
    /// Writes the msgpack body as Go encodes it (field order included).
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_header(1);
        w.key("Key");
        w.opt_raw(self.key.as_deref());
    }

    /// Reads a msgpack body any Serf version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = KeyRequest::default();
        read_struct(r, "key_request", &["Key"], |k, r| {
            if k != b"Key" {
                return Ok(false);
            }
            m.key = read::opt_bytes(r, "key_request.Key")?;
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `nodeKeyResponse`: one node's answer to a key-management query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyResponse<'a> {
    /// Whether the node did what was asked.
    pub result: bool,
    /// Error or warning text.
    pub message: GoString<'a>,
    /// Installed keys, base64 (list-keys only).
    pub keys: Option<Vec<GoString<'a>>>,
    /// The primary key, base64 (list-keys only; serf ≥ 0.9.4).
    pub primary_key: GoString<'a>,
}

impl<'a> KeyResponse<'a> {
    /// Writes the msgpack body as Go encodes it (field order included).
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_header(4);
        w.key("Keys");
        write_strings(w, self.keys.as_deref());
        w.key("Message");
        w.raw(self.message.as_bytes());
        w.key("PrimaryKey");
        w.raw(self.primary_key.as_bytes());
        w.key("Result");
        w.bool(self.result);
    }

    /// Reads a msgpack body any Serf version wrote; unknown fields are skipped.
    pub fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = KeyResponse::default();
        const DECL: &[&str] = &["Result", "Message", "Keys", "PrimaryKey"];
        read_struct(r, "key_response", DECL, |k, r| {
            match k {
                b"Result" => m.result = r.bool("key_response.Result")?,
                b"Message" => m.message = string(r, "key_response.Message")?,
                b"Keys" => {
                    m.keys =
                        read::slice(r, "key_response.Keys", |r| string(r, "key_response.Keys"))?
                }
                b"PrimaryKey" => m.primary_key = string(r, "key_response.PrimaryKey")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// Go's `net.UDPAddr` as the relay header carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UdpAddr<'a> {
    /// The IP bytes.
    pub ip: Option<Bytes<'a>>,
    /// A Go `int`.
    pub port: GoInt,
    /// The IPv6 zone (empty for IPv4).
    pub zone: GoString<'a>,
}

impl<'a> UdpAddr<'a> {
    fn write(&self, w: &mut Writer<'_>) {
        w.map_header(3);
        w.key("IP");
        w.opt_raw(self.ip.as_deref());
        w.key("Port");
        write_int(w, self.port);
        w.key("Zone");
        w.raw(self.zone.as_bytes());
    }

    fn read(r: &mut Reader<'a>) -> Result<Self> {
        let mut m = UdpAddr::default();
        read_struct(r, "UDPAddr", &["IP", "Port", "Zone"], |k, r| {
            match k {
                b"IP" => m.ip = read::opt_bytes(r, "DestAddr.IP")?,
                b"Port" => m.port = read::int(r, "DestAddr.Port")?,
                b"Zone" => m.zone = string(r, "DestAddr.Zone")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(m)
    }
}

/// `messageRelay`: asks a node to forward `message` to `dest_addr` unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Relay<'a> {
    /// Where to forward the message.
    pub dest_addr: UdpAddr<'a>,
    /// The destination's node name.
    pub dest_name: GoString<'a>,
    /// Everything after the header (type byte + body; a query response from Go),
    /// which the relay sends on verbatim.
    pub message: Bytes<'a>,
}

impl<'a> Relay<'a> {
    /// The relayed message, decoded.
    pub fn inner(&self) -> Result<SerfMessage<'_>> {
        SerfMessage::decode(&self.message)
    }

    fn write(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        w.map_header(2);
        w.key("DestAddr");
        self.dest_addr.write(&mut w);
        w.key("DestName");
        w.raw(self.dest_name.as_bytes());
        out.extend_from_slice(&self.message);
    }

    fn read(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let mut m = Relay::default();
        read_struct(&mut r, "relay", &["DestAddr", "DestName"], |k, r| {
            match k {
                b"DestAddr" => m.dest_addr = UdpAddr::read(r)?,
                b"DestName" => m.dest_name = string(r, "relay.DestName")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        m.message = Bytes::Borrowed(r.rest());
        Ok(m)
    }
}

/// The internal queries Serf answers itself (names `_serf_` + suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalQuery {
    /// Reachability check: only the generic ack.
    Ping,
    /// Payload: a node name; answers carry a [`SerfMessage::ConflictResponse`].
    Conflict,
    /// Payload: a [`SerfMessage::KeyRequest`]; answers a [`SerfMessage::KeyResponse`].
    InstallKey,
    /// Payload: a key request; makes the key primary.
    UseKey,
    /// Payload: a key request; removes the key.
    RemoveKey,
    /// Payload: an empty key request; answers list the keys.
    ListKeys,
}

/// The prefix of internal query names.
pub const INTERNAL_QUERY_PREFIX: &str = "_serf_";

impl InternalQuery {
    /// Every internal query.
    pub const ALL: [InternalQuery; 6] = [
        InternalQuery::Ping,
        InternalQuery::Conflict,
        InternalQuery::InstallKey,
        InternalQuery::UseKey,
        InternalQuery::RemoveKey,
        InternalQuery::ListKeys,
    ];

    /// The full query name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            InternalQuery::Ping => "_serf_ping",
            InternalQuery::Conflict => "_serf_conflict",
            InternalQuery::InstallKey => "_serf_install-key",
            InternalQuery::UseKey => "_serf_use-key",
            InternalQuery::RemoveKey => "_serf_remove-key",
            InternalQuery::ListKeys => "_serf_list-keys",
        }
    }

    /// The internal query with this wire name, if it is one.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.name().as_bytes() == name)
    }

    /// Whether the payload is a key request and the answers key responses.
    pub fn is_key_query(self) -> bool {
        !matches!(self, InternalQuery::Ping | InternalQuery::Conflict)
    }
}

/// Any Serf message: what follows the `08` of a memberlist user message, the push/pull
/// user state, or the payload of an internal query or its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerfMessage<'a> {
    /// A leave intent.
    Leave(Leave<'a>),
    /// A join intent.
    Join(Join<'a>),
    /// Serf's push/pull state.
    PushPull(PushPull<'a>),
    /// A user event.
    UserEvent(UserEvent<'a>),
    /// A query.
    Query(Query<'a>),
    /// An ack or answer to a query.
    QueryResponse(QueryResponse<'a>),
    /// `None` when the responder does not know the contested name (`06 c0`).
    ConflictResponse(Option<Member<'a>>),
    /// A key query's payload.
    KeyRequest(KeyRequest<'a>),
    /// A key query's answer.
    KeyResponse(KeyResponse<'a>),
    /// A message to forward.
    Relay(Relay<'a>),
}

impl<'a> SerfMessage<'a> {
    /// The type byte this message is sent with.
    pub fn message_type(&self) -> SerfMessageType {
        match self {
            SerfMessage::Leave(_) => SerfMessageType::Leave,
            SerfMessage::Join(_) => SerfMessageType::Join,
            SerfMessage::PushPull(_) => SerfMessageType::PushPull,
            SerfMessage::UserEvent(_) => SerfMessageType::UserEvent,
            SerfMessage::Query(_) => SerfMessageType::Query,
            SerfMessage::QueryResponse(_) => SerfMessageType::QueryResponse,
            SerfMessage::ConflictResponse(_) => SerfMessageType::ConflictResponse,
            SerfMessage::KeyRequest(_) => SerfMessageType::KeyRequest,
            SerfMessage::KeyResponse(_) => SerfMessageType::KeyResponse,
            SerfMessage::Relay(_) => SerfMessageType::Relay,
        }
    }

    /// Appends the type byte and the body, as Go's `encodeMessage` does.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.message_type() as u8);
        let mut w = Writer::new(out);
        match self {
            SerfMessage::Leave(m) => m.write(&mut w),
            SerfMessage::Join(m) => m.write(&mut w),
            SerfMessage::PushPull(m) => m.write(&mut w),
            SerfMessage::UserEvent(m) => m.write(&mut w),
            SerfMessage::Query(m) => m.write(&mut w),
            SerfMessage::QueryResponse(m) => m.write(&mut w),
            SerfMessage::ConflictResponse(None) => w.nil(),
            SerfMessage::ConflictResponse(Some(m)) => m.write(&mut w),
            SerfMessage::KeyRequest(m) => m.write(&mut w),
            SerfMessage::KeyResponse(m) => m.write(&mut w),
            SerfMessage::Relay(m) => m.write(out),
        }
    }

    /// The message with its type byte, as Go sends it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64);
        self.encode(&mut v);
        v
    }

    /// Decodes a type byte and its msgpack body. Bytes after the body are ignored, as
    /// in Go, except for a relay, whose remainder is the relayed message.
    pub fn decode(buf: &'a [u8]) -> Result<Self> {
        let (&t, body) = buf
            .split_first()
            .ok_or(WireError::Truncated("serf message type byte"))?;
        let t = SerfMessageType::try_from(t)?;
        let r = &mut Reader::new(body);
        Ok(match t {
            SerfMessageType::Leave => SerfMessage::Leave(Leave::read(r)?),
            SerfMessageType::Join => SerfMessage::Join(Join::read(r)?),
            SerfMessageType::PushPull => SerfMessage::PushPull(PushPull::read(r)?),
            SerfMessageType::UserEvent => SerfMessage::UserEvent(UserEvent::read(r)?),
            SerfMessageType::Query => SerfMessage::Query(Query::read(r)?),
            SerfMessageType::QueryResponse => SerfMessage::QueryResponse(QueryResponse::read(r)?),
            SerfMessageType::ConflictResponse => {
                SerfMessage::ConflictResponse(if body.first() == Some(&0xc0) {
                    None
                } else {
                    Some(Member::read(r)?)
                })
            }
            SerfMessageType::KeyRequest => SerfMessage::KeyRequest(KeyRequest::read(r)?),
            SerfMessageType::KeyResponse => SerfMessage::KeyResponse(KeyResponse::read(r)?),
            SerfMessageType::Relay => SerfMessage::Relay(Relay::read(body)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::msgpack::IntMarker;

    /// Hex with quoted ASCII runs, as SERF.md writes its examples.
    fn bytes(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, part) in s.split('"').enumerate() {
            if i % 2 == 1 {
                out.extend_from_slice(part.as_bytes());
            } else {
                out.extend(hex::decode(part.replace(' ', "")).unwrap());
            }
        }
        out
    }

    fn round_trip(wire: &[u8]) -> SerfMessage<'_> {
        let m = SerfMessage::decode(wire).unwrap();
        assert_eq!(hex::encode(m.to_bytes()), hex::encode(wire));
        m
    }

    #[test]
    fn serf_md_observed_messages_from_serf_0_9_4() {
        let ev = bytes(
            r#"03 84 a2 "CC" c3 a5 "LTime" 03 a4 "Name" a6 "deploy" a7 "Payload" a6 "v1.2.3""#,
        );
        let SerfMessage::UserEvent(e) = round_trip(&ev) else {
            panic!()
        };
        assert_eq!((e.ltime, e.cc), (LamportTime(3), true));
        assert_eq!(e.payload.as_deref(), Some(&b"v1.2.3"[..]));
        let join = bytes(r#"01 82 a5 "LTime" 03 a4 "Node" a2 "n4""#);
        assert!(matches!(round_trip(&join), SerfMessage::Join(j) if j.node.as_bytes() == b"n4"));
        let leave = bytes(r#"00 83 a5 "LTime" 04 a4 "Node" a2 "n4" a5 "Prune" c2"#);
        assert!(matches!(round_trip(&leave), SerfMessage::Leave(l) if !l.prune));
    }

    #[test]
    fn query_with_filters_keeps_its_codec_generation() {
        let old = bytes(concat!(
            r#"04 8b a4 "Addr" a4 7f 00 00 01 a7 "Filters" 92 a5 00 91 a2 "n2" b5 01 82 a4 "Expr" a4 "#,
            r#""no.e" a3 "Tag" a4 "role" a5 "Flags" 01 a2 "ID" ce 4a 1c e5 89 a5 "LTime" 04 a4 "Name" "#,
            r#"a6 "uptime" a7 "Payload" a5 "hello" a4 "Port" cd 1f 0a ab "RelayFactor" 01 aa "#,
            r#""SourceNode" a2 "n1" a7 "Timeout" ce 77 35 94 00"#
        ));
        // SERF.md's 151 bytes count the CRC wrapper and the user-message byte too.
        assert_eq!(old.len(), 145);
        let SerfMessage::Query(q) = round_trip(&old) else {
            panic!()
        };
        assert_eq!(q.timeout.value, 2_000_000_000);
        assert_eq!(q.timeout.marker, IntMarker::Unsigned);
        assert!(q.ack() && !q.no_broadcast());
        let filters: Vec<_> = q.decoded_filters().map(|f| f.unwrap()).collect();
        assert_eq!(filters[0], Filter::Node(vec!["n2".into()]));
        assert_eq!(
            filters[1],
            Filter::Tag {
                tag: "role".into(),
                expr: "no.e".into()
            }
        );
        for f in &filters {
            let mut again = Vec::new();
            f.encode(&mut again);
            assert!(q.filters.as_ref().unwrap().iter().any(|b| **b == again[..]));
        }
        // go-msgpack v2 writes the duration with a signed marker.
        let mut new_q = q.clone();
        new_q.timeout = GoInt::new(2_000_000_000);
        let new = SerfMessage::Query(new_q).to_bytes();
        assert_eq!(&new[new.len() - 5..], &[0xd2, 0x77, 0x35, 0x94, 0x00]);
        assert_eq!(
            Filter::decode(&[7, 0x90]),
            Err(WireError::UnknownFilterType(7))
        );
    }

    #[test]
    fn responses_relays_and_payload_messages() {
        let ack = bytes(
            r#"05 85 a5 "Flags" 01 a4 "From" a2 "n2" a2 "ID" ce 4a 1c e5 89 a5 "LTime" 04 a7 "Payload" c0"#,
        );
        let SerfMessage::QueryResponse(a) = round_trip(&ack) else {
            panic!()
        };
        assert!(a.ack() && a.payload.is_none());
        let relay = [
            bytes(r#"09 82 a8 "DestAddr" 83 a2 "IP" a4 7f 00 00 01 a4 "Port" cd 1f 0a a4 "Zone" a0 a8 "DestName" a2 "n1""#),
            ack.clone(),
        ]
        .concat();
        let SerfMessage::Relay(r) = round_trip(&relay) else {
            panic!()
        };
        assert_eq!(r.dest_addr.port.value, 7946);
        assert_eq!(r.inner().unwrap(), SerfMessage::QueryResponse(a));
        round_trip(&bytes(r#"07 81 a3 "Key" a0"#));
        let resp = bytes(concat!(
            r#"08 84 a4 "Keys" c0 a7 "Message" da 00 29 "Keyring is empty (encryption not enabled)" "#,
            r#"aa "PrimaryKey" a0 a6 "Result" c2"#
        ));
        assert!(
            matches!(round_trip(&resp), SerfMessage::KeyResponse(k) if !k.result && k.keys.is_none())
        );
        assert_eq!(round_trip(&[6, 0xc0]), SerfMessage::ConflictResponse(None));
        let member = bytes(concat!(
            r#"06 8b a4 "Addr" a4 7f 00 00 01 ab "DelegateCur" 05 ab "DelegateMax" 05 ab "DelegateMin" 02 "#,
            r#"a4 "Name" a2 "n2" a4 "Port" cd 1f 0b ab "ProtocolCur" 02 ab "ProtocolMax" 05 ab "#,
            r#""ProtocolMin" 01 a6 "Status" 01 a4 "Tags" 81 a4 "role" a4 "node""#
        ));
        let SerfMessage::ConflictResponse(Some(m)) = round_trip(&member) else {
            panic!()
        };
        assert_eq!(m.tags.unwrap().get("role").unwrap().as_bytes(), b"node");
    }

    #[test]
    fn push_pull_of_a_fresh_node_is_586_bytes() {
        let state = [
            bytes(r#"02 86 aa "EventLTime" 01 a6 "Events" dc 02 00"#),
            vec![0xc0; 512],
            bytes(r#"a5 "LTime" 01 ab "LeftMembers" 90 aa "QueryLTime" 01 ac "StatusLTimes" 81 a2 "n4" 00"#),
        ]
        .concat();
        assert_eq!(state.len(), 586);
        let SerfMessage::PushPull(p) = round_trip(&state) else {
            panic!()
        };
        assert_eq!(p.events.as_ref().unwrap().len(), 512);
        assert_eq!(p.left_members, Some(vec![]));
        let slot = bytes(
            r#"82 a6 "Events" 91 82 a4 "Name" a6 "deploy" a7 "Payload" a6 "v1.2.3" a5 "LTime" 01"#,
        );
        let mut with_event = state.clone();
        with_event.splice(24..25, slot);
        let SerfMessage::PushPull(p) = round_trip(&with_event) else {
            panic!()
        };
        let used = p.events.unwrap().into_iter().flatten().next().unwrap();
        assert_eq!(used.events.unwrap()[0].name.as_bytes(), b"deploy");
    }

    #[test]
    fn every_prefix_of_a_message_is_an_error_and_types_are_checked() {
        let ev = bytes(
            r#"03 84 a2 "CC" c3 a5 "LTime" 03 a4 "Name" a6 "deploy" a7 "Payload" a6 "v1.2.3""#,
        );
        for i in 0..ev.len() {
            assert!(SerfMessage::decode(&ev[..i]).is_err(), "prefix {i}");
        }
        assert_eq!(
            SerfMessage::decode(&[10, 0x80]),
            Err(WireError::UnknownSerfMessageType(10))
        );
        // A hostile slice length fails before allocating.
        let huge = bytes(r#"02 81 ab "LeftMembers" dd ff ff ff ff"#);
        assert!(matches!(
            SerfMessage::decode(&huge),
            Err(WireError::Truncated(_))
        ));
    }

    #[test]
    fn internal_query_names() {
        for q in InternalQuery::ALL {
            assert_eq!(InternalQuery::from_name(q.name().as_bytes()), Some(q));
            assert!(q.name().starts_with(INTERNAL_QUERY_PREFIX));
        }
        assert_eq!(InternalQuery::from_name(b"_serf_other"), None);
    }
}
