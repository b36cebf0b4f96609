//! Compound messages (type 7): several messages in one UDP packet.
//!
//! Layout: `[7][count u8][count × u16 BE lengths][parts…]`. Go keeps the parts that
//! fit when the packet is cut short and only warns about the rest, so [`split`]
//! reports truncated parts as a count rather than failing.

use super::error::{Result, WireError};
use super::message_type::MessageType;

/// Most parts one compound can count (its count is one byte).
pub const MAX_PARTS: usize = 255;

/// Appends a compound of `parts` (each a whole message, type byte included).
pub fn encode<P: AsRef<[u8]>>(parts: &[P], out: &mut Vec<u8>) -> Result<()> {
    if parts.len() > MAX_PARTS {
        return Err(WireError::LimitExceeded {
            what: "compound parts",
            value: parts.len() as u64,
            limit: MAX_PARTS as u64,
        });
    }
    let mut total = 2 + 2 * parts.len();
    for p in parts {
        let len = p.as_ref().len();
        if len > u16::MAX as usize {
            return Err(WireError::LimitExceeded {
                what: "compound part length",
                value: len as u64,
                limit: u16::MAX as u64,
            });
        }
        total += len;
    }
    out.reserve(total);
    out.push(MessageType::Compound as u8);
    out.push(parts.len() as u8);
    for p in parts {
        out.extend_from_slice(&(p.as_ref().len() as u16).to_be_bytes());
    }
    for p in parts {
        out.extend_from_slice(p.as_ref());
    }
    Ok(())
}

/// Splits a long list of messages into compounds of at most 255 parts, as Go's
/// gossip does; a single message is not wrapped.
pub fn encode_chunks<P: AsRef<[u8]>>(parts: &[P]) -> Result<Vec<Vec<u8>>> {
    if let [one] = parts {
        return Ok(vec![one.as_ref().to_vec()]);
    }
    parts
        .chunks(MAX_PARTS)
        .map(|chunk| {
            let mut out = Vec::new();
            encode(chunk, &mut out)?;
            Ok(out)
        })
        .collect()
}

/// The parts of a compound body (the bytes after the type byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts<'a> {
    /// Each complete part, in order (type byte + body).
    pub parts: Vec<&'a [u8]>,
    /// Parts announced but cut off by the end of the packet.
    pub truncated: usize,
}

/// Splits a compound body (after the `7`). Trailing bytes after the last part are
/// ignored, as in Go.
pub fn split(body: &[u8]) -> Result<Parts<'_>> {
    let (&count, rest) = body
        .split_first()
        .ok_or(WireError::Truncated("compound count"))?;
    let count = count as usize;
    if rest.len() < 2 * count {
        return Err(WireError::Truncated("compound length table"));
    }
    let (lens, mut data) = rest.split_at(2 * count);
    let mut parts = Vec::with_capacity(count);
    for (i, l) in lens.chunks_exact(2).enumerate() {
        let len = u16::from_be_bytes([l[0], l[1]]) as usize;
        if data.len() < len {
            return Ok(Parts {
                parts,
                truncated: count - i,
            });
        }
        let (part, tail) = data.split_at(len);
        parts.push(part);
        data = tail;
    }
    Ok(Parts {
        parts,
        truncated: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_truncation_case() {
        let three = hex::decode("0703000f000f000f0082a44e6f6465a0a55365714e6f640082a44e6f6465a0a55365714e6f640082a44e6f6465a0a55365714e6f64").unwrap();
        let p = split(&three[1..38]).unwrap();
        assert_eq!((p.parts.len(), p.truncated), (2, 1));
        let p = split(&three[1..]).unwrap();
        let mut again = Vec::new();
        encode(&p.parts, &mut again).unwrap();
        assert_eq!(again, three);
    }

    #[test]
    fn malformed() {
        assert!(split(&[]).is_err());
        assert!(split(&[0x80]).is_err());
        assert_eq!(split(&[0]).unwrap().parts.len(), 0);
        assert!(encode(&vec![[0u8]; 256], &mut Vec::new()).is_err());
        assert_eq!(encode_chunks(&vec![[0u8]; 600]).unwrap().len(), 3);
    }
}
