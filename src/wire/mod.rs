//! The memberlist codec: messages, compound packets, LZW, AES-GCM, labels, CRC and
//! the TCP stream framing. No I/O happens here.

pub mod error;
pub mod gostring;
pub mod message_type;
pub mod messages;
pub mod msgpack;

pub use error::{Result, WireError};
pub use gostring::GoString;
pub use message_type::MessageType;
pub use messages::{
    Accusation, AckResp, Alive, Bytes, Compress, ErrResp, GoInt, IndirectPingReq, Message,
    NackResp, NodeState, Ping, PushNodeState, PushPullHeader, UserMsgHeader,
};
