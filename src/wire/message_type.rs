//! Message type numbers: the first byte of every memberlist message.

use super::error::WireError;

/// Go's `messageType` constants (`net.go`). The numbers are part of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// A direct probe.
    Ping = 0,
    /// A request to probe another node for us.
    IndirectPing = 1,
    /// The answer to a probe.
    AckResp = 2,
    /// A node is suspected of having failed.
    Suspect = 3,
    /// A node is alive (join, refutation, meta update).
    Alive = 4,
    /// A node is dead, or left when it says so itself.
    Dead = 5,
    /// A full-state exchange (stream only).
    PushPull = 6,
    /// Several messages in one packet.
    Compound = 7,
    /// An application message.
    User = 8,
    /// An LZW-compressed message.
    Compress = 9,
    /// An encrypted stream frame (packets are encrypted without a type byte).
    Encrypt = 10,
    /// A relay could not reach the target of an indirect probe.
    NackResp = 11,
    /// A CRC-32 over the rest of the packet.
    HasCrc = 12,
    /// A stream peer's error.
    Err = 13,
    /// Chosen by Go so that it can never collide with a message type or an
    /// encryption version byte.
    HasLabel = 244,
}

impl MessageType {
    /// Go's constant name without `Msg`, in snake case (`indirect_ping`, `has_crc`…):
    /// the name used in JSON output and fixture sidecars.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Ping => "ping",
            MessageType::IndirectPing => "indirect_ping",
            MessageType::AckResp => "ack_resp",
            MessageType::Suspect => "suspect",
            MessageType::Alive => "alive",
            MessageType::Dead => "dead",
            MessageType::PushPull => "push_pull",
            MessageType::Compound => "compound",
            MessageType::User => "user",
            MessageType::Compress => "compress",
            MessageType::Encrypt => "encrypt",
            MessageType::NackResp => "nack_resp",
            MessageType::HasCrc => "has_crc",
            MessageType::Err => "err",
            MessageType::HasLabel => "has_label",
        }
    }
}

impl TryFrom<u8> for MessageType {
    type Error = WireError;

    fn try_from(b: u8) -> Result<Self, WireError> {
        Ok(match b {
            0 => MessageType::Ping,
            1 => MessageType::IndirectPing,
            2 => MessageType::AckResp,
            3 => MessageType::Suspect,
            4 => MessageType::Alive,
            5 => MessageType::Dead,
            6 => MessageType::PushPull,
            7 => MessageType::Compound,
            8 => MessageType::User,
            9 => MessageType::Compress,
            10 => MessageType::Encrypt,
            11 => MessageType::NackResp,
            12 => MessageType::HasCrc,
            13 => MessageType::Err,
            244 => MessageType::HasLabel,
            other => return Err(WireError::UnknownMessageType(other)),
        })
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
