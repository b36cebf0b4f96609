//! Framing of serf's RPC stream: back-to-back msgpack values, a header and then (for
//! most commands) a body, with no length prefix. A reader therefore has to know where
//! one value ends before it can decode it; [`value_len`] walks the markers to find out.
//!
//! Encoding follows the real agent byte for byte (checked against bytes captured from
//! serf 0.9.4 and v0.11.0): structs are maps with their fields in name order, strings
//! use the new spec (str8 exists), `[]byte` and `net.IP` are bin, integers take the
//! smallest form.

use std::io::{self, Read, Write};

use rmp::Marker;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest value we accept from a peer: serf's own limits (1 KiB queries, 9 KiB
/// events, 512-byte tags) are far below this, so a larger one is garbage or abuse.
pub const MAX_VALUE: usize = 1 << 20;

/// Why a value could not be read or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    #[error("connection closed")]
    Closed,
    #[error("a msgpack value larger than {MAX_VALUE} bytes")]
    TooLarge,
    #[error("not msgpack: reserved marker 0xc1")]
    Reserved,
    #[error("msgpack nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("bad value: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
}

const MAX_DEPTH: usize = 64;

/// The length of the msgpack value at the start of `buf`: `Ok(None)` if `buf` holds
/// only part of it.
pub fn value_len(buf: &[u8]) -> Result<Option<usize>, CodecError> {
    let mut pos = 0usize;
    // Values still to skip, as a count per open container.
    let mut pending: Vec<u64> = vec![1];
    while let Some(left) = pending.last_mut() {
        if *left == 0 {
            pending.pop();
            continue;
        }
        *left -= 1;
        let Some(&b) = buf.get(pos) else {
            return Ok(None);
        };
        pos += 1;
        let be = |n: usize, pos: usize| -> Option<u64> {
            buf.get(pos..pos + n)
                .map(|s| s.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
        };
        let (skip, children): (u64, u64) = match Marker::from_u8(b) {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
                (0, 0)
            }
            Marker::U8 | Marker::I8 => (1, 0),
            Marker::U16 | Marker::I16 => (2, 0),
            Marker::U32 | Marker::I32 | Marker::F32 => (4, 0),
            Marker::U64 | Marker::I64 | Marker::F64 => (8, 0),
            Marker::FixStr(n) => (u64::from(n), 0),
            Marker::Str8
            | Marker::Bin8
            | Marker::Str16
            | Marker::Bin16
            | Marker::Str32
            | Marker::Bin32 => {
                let w = match Marker::from_u8(b) {
                    Marker::Str8 | Marker::Bin8 => 1,
                    Marker::Str16 | Marker::Bin16 => 2,
                    _ => 4,
                };
                let Some(n) = be(w, pos) else { return Ok(None) };
                pos += w;
                (n, 0)
            }
            Marker::FixExt1 => (2, 0),
            Marker::FixExt2 => (3, 0),
            Marker::FixExt4 => (5, 0),
            Marker::FixExt8 => (9, 0),
            Marker::FixExt16 => (17, 0),
            Marker::Ext8 | Marker::Ext16 | Marker::Ext32 => {
                let w = match Marker::from_u8(b) {
                    Marker::Ext8 => 1,
                    Marker::Ext16 => 2,
                    _ => 4,
                };
                let Some(n) = be(w, pos) else { return Ok(None) };
                pos += w;
                (n + 1, 0)
            }
            Marker::FixArray(n) => (0, u64::from(n)),
            Marker::FixMap(n) => (0, 2 * u64::from(n)),
            Marker::Array16 | Marker::Map16 | Marker::Array32 | Marker::Map32 => {
                let (w, per) = match Marker::from_u8(b) {
                    Marker::Array16 => (2, 1),
                    Marker::Map16 => (2, 2),
                    Marker::Array32 => (4, 1),
                    _ => (4, 2),
                };
                let Some(n) = be(w, pos) else { return Ok(None) };
                pos += w;
                (0, per * n)
            }
            Marker::Reserved => return Err(CodecError::Reserved),
        };
        pos = pos.saturating_add(skip as usize);
        if pos > MAX_VALUE {
            return Err(CodecError::TooLarge);
        }
        if children > 0 {
            if pending.len() >= MAX_DEPTH {
                return Err(CodecError::TooDeep);
            }
            pending.push(children);
        }
    }
    Ok((pos <= buf.len()).then_some(pos))
}

/// Encodes `v` the way serf's agent does (see the module doc).
pub fn encode<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail, and every type we encode is serialisable.
    v.serialize(&mut rmp_serde::Serializer::new(out).with_struct_map())
        .expect("encoding to memory");
}

/// Buffers bytes from an async stream and hands out whole values.
pub struct AsyncValues<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> AsyncValues<R> {
    pub fn new(inner: R) -> Self {
        AsyncValues {
            inner,
            buf: Vec::new(),
        }
    }

    /// The bytes of the next whole value.
    pub async fn next_raw(&mut self) -> Result<Vec<u8>, CodecError> {
        loop {
            if let Some(n) = value_len(&self.buf)? {
                return Ok(self.buf.drain(..n).collect());
            }
            let mut chunk = [0u8; 4096];
            let got = self.inner.read(&mut chunk).await?;
            if got == 0 {
                return Err(CodecError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
    }

    /// The next value, decoded as `T`.
    pub async fn next<T: DeserializeOwned>(&mut self) -> Result<T, CodecError> {
        let raw = self.next_raw().await?;
        Ok(rmp_serde::from_slice(&raw)?)
    }
}

/// The blocking counterpart of [`AsyncValues`], for the command-line client.
pub struct Values<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: Read> Values<R> {
    pub fn new(inner: R) -> Self {
        Values {
            inner,
            buf: Vec::new(),
        }
    }

    pub fn read<T: DeserializeOwned>(&mut self) -> Result<T, CodecError> {
        loop {
            if let Some(n) = value_len(&self.buf)? {
                let raw: Vec<u8> = self.buf.drain(..n).collect();
                return Ok(rmp_serde::from_slice(&raw)?);
            }
            let mut chunk = [0u8; 4096];
            let got = self.inner.read(&mut chunk)?;
            if got == 0 {
                return Err(CodecError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// Writes a header and an optional body as one write.
pub fn write_frame<W: Write, H: Serialize, B: Serialize>(
    w: &mut W,
    header: &H,
    body: Option<&B>,
) -> io::Result<()> {
    let mut out = Vec::new();
    encode(header, &mut out);
    if let Some(b) = body {
        encode(b, &mut out);
    }
    w.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_len_finds_the_end_of_nested_values_and_waits_for_more() {
        // {"Error": "", "Seq": 0} then {"Members": [..]} as serf 0.9.4 sent them.
        let header = hex::decode("82a54572726f72a0a353657100").unwrap();
        assert_eq!(value_len(&header).unwrap(), Some(header.len()));
        for cut in 0..header.len() {
            assert_eq!(value_len(&header[..cut]).unwrap(), None, "cut at {cut}");
        }
        let mut two = header.clone();
        two.extend_from_slice(&header);
        assert_eq!(value_len(&two).unwrap(), Some(header.len()));
        // bin8 of 4 bytes (an IPv4 address), str8, a nested map.
        let v = hex::decode("83a141c4047f000001a142d9201111111111111111111111111111111111111111111111111111111111111111a14381a1789100").unwrap();
        assert_eq!(value_len(&v).unwrap(), Some(v.len()));
        assert!(matches!(value_len(&[0xc1]), Err(CodecError::Reserved)));
        // A claimed 4 GiB string is refused before it is buffered.
        assert!(matches!(
            value_len(&[0xdb, 0xff, 0xff, 0xff, 0xff]),
            Err(CodecError::TooLarge)
        ));
        assert!(matches!(value_len(&[0x91; 100]), Err(CodecError::TooDeep)));
    }
}
