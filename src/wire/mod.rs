//! The memberlist codec: messages, compound packets, LZW, AES-GCM, labels, CRC and
//! the TCP stream framing. No I/O happens here.

#![warn(missing_docs)]

pub mod compound;
pub mod crc;
pub mod crypto;
pub mod dskit;
pub mod error;
pub mod go_struct;
pub mod gostring;
pub mod json;
pub mod keyring;
pub mod label;
pub mod lzw;
pub mod message_type;
pub mod messages;
pub mod msgpack;
pub mod packet;
pub mod stream;

pub use crypto::{EncryptionVersion, SecretKey};
pub use error::{Result, WireError};
pub use gostring::GoString;
pub use keyring::Keyring;
pub use label::Label;
pub use message_type::MessageType;
pub use messages::{
    Accusation, AckResp, Alive, Bytes, Compress, ErrResp, GoInt, IndirectPingReq, Message,
    NackResp, NodeState, Ping, PushNodeState, PushPullHeader, UserMsgHeader,
};
pub use packet::{
    build_packet, peel_packet, peel_packet_owned, Encryption, LabelPolicy, Layers, PacketConfig,
    PacketInfo, PacketOptions, PeeledPacket,
};
pub use stream::{
    build_stream, decode_complete, decode_frame, Decoded, Side, StreamConfig, StreamFrame,
    StreamMessage, StreamOptions,
};
