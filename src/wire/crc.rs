//! The CRC layer (type 12): `[12][CRC-32/IEEE of the rest, BE][rest]`, added only for
//! peers that speak protocol 5.

use super::error::{Result, WireError};
use super::message_type::MessageType;

/// Length of the CRC header.
pub const HEADER_LEN: usize = 5;

/// Prepends the CRC header to `inner`.
pub fn wrap(inner: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_LEN + inner.len());
    out.push(MessageType::HasCrc as u8);
    out.extend_from_slice(&crc32fast::hash(inner).to_be_bytes());
    out.extend_from_slice(inner);
}

/// Checks and strips a CRC header. Like Go, only a buffer of at least 5 bytes that
/// starts with 12 has one; anything else is returned as is (`None`).
pub fn unwrap(buf: &[u8]) -> Option<Result<&[u8]>> {
    if buf.len() < HEADER_LEN || buf[0] != MessageType::HasCrc as u8 {
        return None;
    }
    let expected = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    let inner = &buf[HEADER_LEN..];
    let computed = crc32fast::hash(inner);
    Some(if expected == computed {
        Ok(inner)
    } else {
        Err(WireError::BadChecksum { expected, computed })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_test_vector() {
        let mut out = Vec::new();
        wrap(&[3, 3, 3, 3], &mut out);
        assert_eq!(hex::encode(&out), "0c8393ccd203030303");
        assert_eq!(unwrap(&out).unwrap().unwrap(), &[3, 3, 3, 3]);
        out[6] ^= 1;
        assert!(matches!(
            unwrap(&out),
            Some(Err(WireError::BadChecksum { .. }))
        ));
        assert!(unwrap(&[12, 0, 0]).is_none());
    }
}
