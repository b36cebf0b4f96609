//! grafana/dskit's TCP-only transport framing (Loki, Mimir, Tempo, Cortex): every
//! memberlist packet or stream travels on a connection of its own whose first byte says
//! which it carries.
//!
//! * [`PACKET`]: one byte of address length, the sender's advertised `host:port`, the
//!   memberlist packet, then the packet's MD5 digest; the dialer then closes. The address
//!   is what the receiver takes as the packet's source (a fresh connection's port is not
//!   the sender's), and the digest proves the whole packet arrived.
//! * [`STREAM`]: a memberlist stream, exactly as on memberlist's own TCP transport.
//!
//! Memberlist never starts a stream with byte 1 or 2, so the byte alone tells a dskit
//! connection from a plain one. The node's shell sends and receives with this, the
//! inspector reads captures with it.

use md5::{Digest, Md5};

/// The first byte of a connection that carries a packet.
pub const PACKET: u8 = 1;
/// The first byte of a connection that carries a memberlist stream.
pub const STREAM: u8 = 2;
/// MD5's digest size, which ends every packet connection.
pub const DIGEST: usize = 16;

/// Why a packet connection did not parse, or could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The connection ended inside the address.
    #[error("dskit packet connection ended inside the sender's address")]
    TruncatedAddress,
    /// Fewer bytes after the address than an MD5 digest.
    #[error("dskit packet connection has {0} bytes after the address, fewer than its MD5 digest")]
    NoDigest(usize),
    /// The advertised address does not fit the one-byte length.
    #[error("advertised address {0:?} is longer than dskit's 255 bytes")]
    AddressTooLong(String),
}

/// A packet connection taken apart: who sent it, the packet, and whether its digest
/// matched (dskit logs a mismatch and delivers the packet anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketFrame<'a> {
    /// The sender's advertised `host:port`, as it wrote it.
    pub from: &'a [u8],
    /// The memberlist packet.
    pub packet: &'a [u8],
    /// The MD5 digest after the packet is the packet's.
    pub digest_ok: bool,
}

/// A whole packet connection, from its first byte ([`PACKET`]) to its end.
pub fn parse_packet(conn: &[u8]) -> Result<PacketFrame<'_>, FrameError> {
    let rest = conn.get(1..).unwrap_or_default();
    let (&len, rest) = rest.split_first().ok_or(FrameError::TruncatedAddress)?;
    if rest.len() < len as usize {
        return Err(FrameError::TruncatedAddress);
    }
    let (from, rest) = rest.split_at(len as usize);
    if rest.len() < DIGEST {
        return Err(FrameError::NoDigest(rest.len()));
    }
    let (packet, digest) = rest.split_at(rest.len() - DIGEST);
    Ok(PacketFrame {
        from,
        packet,
        digest_ok: Md5::digest(packet).as_slice() == digest,
    })
}

/// Everything a dialer writes on a packet connection for `packet` sent by the member
/// advertising `from` (`host:port`, as Go's `net.JoinHostPort` writes it).
pub fn build_packet(from: &str, packet: &[u8]) -> Result<Vec<u8>, FrameError> {
    let len = u8::try_from(from.len()).map_err(|_| FrameError::AddressTooLong(from.into()))?;
    let mut out = Vec::with_capacity(2 + from.len() + packet.len() + DIGEST);
    out.push(PACKET);
    out.push(len);
    out.extend_from_slice(from.as_bytes());
    out.extend_from_slice(packet);
    out.extend_from_slice(&Md5::digest(packet));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_packet_parses_back_with_a_good_digest() {
        let conn = build_packet("127.0.0.1:7946", b"\x00ping").unwrap();
        let f = parse_packet(&conn).unwrap();
        assert_eq!(f.from, b"127.0.0.1:7946");
        assert_eq!(f.packet, b"\x00ping");
        assert!(f.digest_ok);
    }

    #[test]
    fn a_damaged_packet_fails_its_digest_and_short_ones_are_refused() {
        let mut conn = build_packet("a:1", b"payload").unwrap();
        conn[6] ^= 1;
        assert!(!parse_packet(&conn).unwrap().digest_ok);
        assert_eq!(
            parse_packet(&[PACKET, 9, b'a']),
            Err(FrameError::TruncatedAddress)
        );
        assert_eq!(
            parse_packet(&[PACKET, 1, b'a', 0, 0]),
            Err(FrameError::NoDigest(2))
        );
        assert!(matches!(
            build_packet(&"x".repeat(256), b""),
            Err(FrameError::AddressTooLong(_))
        ));
    }
}
