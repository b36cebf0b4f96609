//! The msgpack dialect of `github.com/hashicorp/go-msgpack` as memberlist uses it.
//!
//! Go's encoder is narrow: structs become fixmaps with keys sorted by field name,
//! strings *and* byte slices use the old "raw" markers (fixstr, str16, str32 — never
//! str8 or bin), unsigned fields use minimal unsigned markers, and Go `int` fields use
//! signed markers once above 127 (go-msgpack v2; v0.5 used unsigned ones). The
//! [`Writer`] functions emit exactly that. Go's decoder is lenient, and [`Reader`]
//! accepts exactly what it accepts: every string/bin marker, arrays of small integers
//! for strings and byte slices (and maps for byte slices), array-encoded structs, nil
//! for any field or whole struct, either integer family, unknown keys skipped down to
//! go-msgpack's nesting limit. It also refuses what Go refuses (empty keys, malformed
//! timestamps in skipped values); `tests/go_decode_diff.rs` holds it to go-msgpack's
//! verdicts. All reads are bounds-checked; only the integer-array forms allocate.

use std::borrow::Cow;

use super::error::{Result, WireError};

/// go-msgpack's default nesting limit (`decDefMaxDepth`): a decode fails once a
/// container would sit at depth 1024, counting the struct being decoded as depth 1.
const GO_MAX_DEPTH: usize = 1024;

/// Deepest container nesting [`Reader::skip`] accepts inside a skipped value (the
/// value's own container is level 1). The struct holding the value is at Go's depth 1,
/// so this is exactly what go-msgpack accepts; recursion is bounded by it.
pub const MAX_SKIP_NESTING: usize = GO_MAX_DEPTH - 2;

/// msgpack's timestamp extension type (-1), which go-msgpack decodes, and so checks,
/// even when it only skips a value.
const TIMESTAMP_EXT: u8 = 0xff;

/// Appends go-msgpack encodings to a byte vector.
pub struct Writer<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Writer<'o> {
    /// A writer appending to `out`.
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        Writer { out }
    }

    /// A struct header: a fixmap of `n` entries (memberlist structs have at most 8).
    pub fn map_header(&mut self, n: u8) {
        debug_assert!(n < 16);
        self.out.push(0x80 | n);
    }

    /// A struct key: always a fixstr (Go field names are short).
    pub fn key(&mut self, name: &'static str) {
        debug_assert!(name.len() < 32);
        self.out.push(0xa0 | name.len() as u8);
        self.out.extend_from_slice(name.as_bytes());
    }

    /// A Go `string` or `[]byte`: fixstr, str16 or str32 header, then the bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n < 32 {
            self.out.push(0xa0 | n as u8);
        } else if n <= u16::MAX as usize {
            self.out.push(0xda);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.out.push(0xdb);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        self.out.extend_from_slice(bytes);
    }

    /// A nillable `[]byte`: `None` is msgpack nil.
    pub fn opt_raw(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            Some(b) => self.raw(b),
            None => self.out.push(0xc0),
        }
    }

    /// A msgpack bool.
    pub fn bool(&mut self, v: bool) {
        self.out.push(if v { 0xc3 } else { 0xc2 });
    }

    /// An unsigned Go integer (`uint8/16/32`): minimal unsigned marker.
    pub fn uint(&mut self, v: u64) {
        if v < 128 {
            self.out.push(v as u8);
        } else if v <= u8::MAX as u64 {
            self.out.extend_from_slice(&[0xcc, v as u8]);
        } else if v <= u16::MAX as u64 {
            self.out.push(0xcd);
            self.out.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v <= u32::MAX as u64 {
            self.out.push(0xce);
            self.out.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            self.out.push(0xcf);
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// A map header of any size (fixmap, map16, map32), for Go maps and large structs.
    pub fn map_len(&mut self, n: usize) {
        self.container_len(n, 0x80, 0xde);
    }

    /// An array header of any size (fixarray, array16, array32), for Go slices.
    pub fn array_len(&mut self, n: usize) {
        self.container_len(n, 0x90, 0xdc);
    }

    /// `fix` is the 4-bit form's base marker, `wide16` the 16-bit one (32-bit follows it).
    fn container_len(&mut self, n: usize, fix: u8, wide16: u8) {
        if n < 16 {
            self.out.push(fix | n as u8);
        } else if n <= u16::MAX as usize {
            self.out.push(wide16);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.out.push(wide16 + 1);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    /// msgpack nil: Go's nil slice, map or pointer.
    pub fn nil(&mut self) {
        self.out.push(0xc0);
    }

    /// A Go `float64`: always the 9-byte `cb` form.
    pub fn f64(&mut self, v: f64) {
        self.out.push(0xcb);
        self.out.extend_from_slice(&v.to_bits().to_be_bytes());
    }

    /// A signed Go `int`, as go-msgpack v2 writes it (no 8-bit form for 128..=255).
    pub fn int(&mut self, v: i64) {
        if (0..128).contains(&v) || (-32..0).contains(&v) {
            self.out.push(v as u8);
        } else if (-128..-32).contains(&v) {
            self.out.extend_from_slice(&[0xd0, v as u8]);
        } else if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
            self.out.push(0xd1);
            self.out.extend_from_slice(&(v as i16).to_be_bytes());
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
            self.out.push(0xd2);
            self.out.extend_from_slice(&(v as i32).to_be_bytes());
        } else {
            self.out.push(0xd3);
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// Which integer marker family carried a Go `int` field: a fingerprint of the
/// sender's codec generation (memberlist ≤ 0.5.0 wrote unsigned markers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntMarker {
    /// fixint, or a value written with signed markers (go-msgpack v2).
    Signed,
    /// `cc`..`cf` (go-msgpack v0.5).
    Unsigned,
}

/// How a struct was laid out on the wire.
pub enum StructForm {
    /// A map of `n` key/value pairs (what Go emits).
    Map(u32),
    /// An array of `n` values in Go declaration order (accepted by Go's decoder).
    Array(u32),
}

/// A cursor over msgpack bytes that decodes leniently, the way go-msgpack does.
#[derive(Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn byte(&mut self, ctx: &'static str) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or(WireError::Truncated(ctx))?;
        self.pos += 1;
        Ok(b)
    }

    /// Takes `n` raw bytes (the unframed trailers of push/pull and user messages).
    pub fn take(&mut self, n: usize, ctx: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated(ctx))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(WireError::Truncated(ctx))?;
        self.pos = end;
        Ok(s)
    }

    fn be(&mut self, n: usize, ctx: &'static str) -> Result<u64> {
        Ok(self
            .take(n, ctx)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Reads a struct header: a map or an array. A nil in place of the struct decodes
    /// as the zero struct, as go-msgpack's top-level `Decode` does.
    pub fn struct_header(&mut self, ctx: &'static str) -> Result<StructForm> {
        let m = self.byte(ctx)?;
        Ok(match m {
            0xc0 => StructForm::Map(0),
            0x80..=0x8f => StructForm::Map((m & 0x0f) as u32),
            0xde => StructForm::Map(self.be(2, ctx)? as u32),
            0xdf => StructForm::Map(self.be(4, ctx)? as u32),
            0x90..=0x9f => StructForm::Array((m & 0x0f) as u32),
            0xdc => StructForm::Array(self.be(2, ctx)? as u32),
            0xdd => StructForm::Array(self.be(4, ctx)? as u32),
            _ => {
                return Err(WireError::UnexpectedMarker {
                    marker: m,
                    context: ctx,
                })
            }
        })
    }

    /// Reads a struct's map key. Go reads keys like string fields (so arrays of small
    /// integers spell keys too) and then fails on an empty key, nil included: its
    /// field lookup indexes the first byte of the name.
    #[inline]
    pub fn key(&mut self) -> Result<Cow<'a, [u8]>> {
        // Fast path: the non-empty fixstr Go writes.
        if let Some(m @ 0xa1..=0xbf) = self.peek() {
            self.pos += 1;
            return self.take((m & 0x1f) as usize, "map key").map(Cow::Borrowed);
        }
        match self.string("map key")? {
            Some(k) if !k.is_empty() => Ok(k),
            _ => Err(WireError::EmptyMapKey),
        }
    }

    /// Reads a str/bin value; `None` for nil, and for any other marker, which is left
    /// unread.
    #[inline]
    fn str_or_bin(&mut self, ctx: &'static str) -> Result<Option<Option<&'a [u8]>>> {
        let Some(m) = self.peek() else {
            return Err(WireError::Truncated(ctx));
        };
        let n = match m {
            0xa0..=0xbf => {
                self.pos += 1;
                (m & 0x1f) as usize
            }
            0xd9 | 0xc4 => {
                self.pos += 1;
                self.be(1, ctx)? as usize
            }
            0xda | 0xc5 => {
                self.pos += 1;
                self.be(2, ctx)? as usize
            }
            0xdb | 0xc6 => {
                self.pos += 1;
                self.be(4, ctx)? as usize
            }
            0xc0 => {
                self.pos += 1;
                return Ok(Some(None));
            }
            _ => return Ok(None),
        };
        self.take(n, ctx).map(|b| Some(Some(b)))
    }

    /// Reads a Go `string` the way go-msgpack's `DecodeBytes` does: any str or bin
    /// form, nil (`None`), or an array of integers 0..=255. Only the array form copies.
    #[inline]
    pub fn string(&mut self, ctx: &'static str) -> Result<Option<Cow<'a, [u8]>>> {
        if let Some(raw) = self.str_or_bin(ctx)? {
            return Ok(raw.map(Cow::Borrowed));
        }
        let m = self.byte(ctx)?;
        let n = match m {
            0x90..=0x9f => (m & 0x0f) as usize,
            0xdc => self.be(2, ctx)? as usize,
            0xdd => self.be(4, ctx)? as usize,
            _ => {
                return Err(WireError::UnexpectedMarker {
                    marker: m,
                    context: ctx,
                })
            }
        };
        self.small_ints(n, ctx).map(|v| Some(Cow::Owned(v)))
    }

    /// Reads a `[]byte` field: everything [`Reader::string`] takes and, because
    /// go-msgpack fills a byte slice like any other slice, also a map, whose keys and
    /// values are read in turn as the bytes.
    #[inline]
    pub fn bytes(&mut self, ctx: &'static str) -> Result<Option<Cow<'a, [u8]>>> {
        let pairs = match self.peek() {
            Some(m @ 0x80..=0x8f) => {
                self.pos += 1;
                (m & 0x0f) as usize
            }
            Some(0xde) => {
                self.pos += 1;
                self.be(2, ctx)? as usize
            }
            Some(0xdf) => {
                self.pos += 1;
                self.be(4, ctx)? as usize
            }
            _ => return self.string(ctx),
        };
        self.small_ints(2 * pairs, ctx).map(|v| Some(Cow::Owned(v)))
    }

    /// Reads `n` integers that must each fit a byte (nil counts as 0), as go-msgpack
    /// decodes the elements of a `[]uint8`.
    fn small_ints(&mut self, n: usize, ctx: &'static str) -> Result<Vec<u8>> {
        // Each element takes at least one byte, so the remaining input bounds `n`.
        if n > self.buf.len() - self.pos {
            return Err(WireError::Truncated(ctx));
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let x = self.uint(ctx)?;
            v.push(u8::try_from(x).map_err(|_| WireError::IntegerOverflow {
                value: x as i128,
                field: ctx,
            })?);
        }
        Ok(v)
    }

    /// Reads any integer marker as a wide signed value, with the marker family.
    fn integer(&mut self, ctx: &'static str) -> Result<(i128, IntMarker)> {
        let m = self.byte(ctx)?;
        Ok(match m {
            0x00..=0x7f => (m as i128, IntMarker::Signed),
            0xe0..=0xff => (m as i8 as i128, IntMarker::Signed),
            0xcc => (self.be(1, ctx)? as i128, IntMarker::Unsigned),
            0xcd => (self.be(2, ctx)? as i128, IntMarker::Unsigned),
            0xce => (self.be(4, ctx)? as i128, IntMarker::Unsigned),
            0xcf => (self.be(8, ctx)? as i128, IntMarker::Unsigned),
            0xd0 => (self.be(1, ctx)? as u8 as i8 as i128, IntMarker::Signed),
            0xd1 => (self.be(2, ctx)? as u16 as i16 as i128, IntMarker::Signed),
            0xd2 => (self.be(4, ctx)? as u32 as i32 as i128, IntMarker::Signed),
            0xd3 => (self.be(8, ctx)? as i64 as i128, IntMarker::Signed),
            0xc0 => (0, IntMarker::Signed),
            _ => {
                return Err(WireError::UnexpectedMarker {
                    marker: m,
                    context: ctx,
                })
            }
        })
    }

    /// Reads an unsigned Go field; negative or too large values are errors, as in Go.
    pub fn uint(&mut self, ctx: &'static str) -> Result<u64> {
        let (v, _) = self.integer(ctx)?;
        u64::try_from(v).map_err(|_| WireError::IntegerOverflow {
            value: v,
            field: ctx,
        })
    }

    /// An unsigned integer that must fit 32 bits (`ctx` names the field in errors).
    pub fn u32(&mut self, ctx: &'static str) -> Result<u32> {
        let v = self.uint(ctx)?;
        u32::try_from(v).map_err(|_| WireError::IntegerOverflow {
            value: v as i128,
            field: ctx,
        })
    }

    /// An unsigned integer that must fit 16 bits.
    pub fn u16(&mut self, ctx: &'static str) -> Result<u16> {
        let v = self.uint(ctx)?;
        u16::try_from(v).map_err(|_| WireError::IntegerOverflow {
            value: v as i128,
            field: ctx,
        })
    }

    /// An unsigned integer that must fit 8 bits.
    pub fn u8(&mut self, ctx: &'static str) -> Result<u8> {
        let v = self.uint(ctx)?;
        u8::try_from(v).map_err(|_| WireError::IntegerOverflow {
            value: v as i128,
            field: ctx,
        })
    }

    /// Reads a Go `int` (64-bit). Like Go, a `cf` value above `i64::MAX` wraps.
    pub fn int(&mut self, ctx: &'static str) -> Result<(i64, IntMarker)> {
        let (v, marker) = self.integer(ctx)?;
        Ok((v as i64, marker))
    }

    /// Reads a bool; Go also takes the integers 0 and 1.
    pub fn bool(&mut self, ctx: &'static str) -> Result<bool> {
        match self.byte(ctx)? {
            0xc3 | 0x01 => Ok(true),
            0xc2 | 0x00 | 0xc0 => Ok(false),
            m => Err(WireError::UnexpectedMarker {
                marker: m,
                context: ctx,
            }),
        }
    }

    /// Skips one value of any type (an unknown struct key's value), accepting what
    /// go-msgpack's `swallow` accepts: containers nested at most [`MAX_SKIP_NESTING`]
    /// deep, and timestamp extensions only of a valid size. Iterative, so hostile
    /// nesting costs a bounded vector rather than stack.
    pub fn skip(&mut self) -> Result<()> {
        // Values still to skip in each open container, innermost last.
        let mut open: Vec<u64> = Vec::new();
        loop {
            if let Some(items) = self.skip_head()? {
                if open.len() >= MAX_SKIP_NESTING {
                    return Err(WireError::LimitExceeded {
                        what: "msgpack nesting depth",
                        value: open.len() as u64 + 1,
                        limit: MAX_SKIP_NESTING as u64,
                    });
                }
                open.push(items);
            }
            // Step to the next value, closing every container that has none left.
            loop {
                match open.last_mut() {
                    None => return Ok(()),
                    Some(0) => {
                        open.pop();
                    }
                    Some(left) => {
                        *left -= 1;
                        break;
                    }
                }
            }
        }
    }

    /// Skips one value's marker and payload; for a container, returns how many values
    /// it holds (a map's keys and values counted apart), still to be skipped.
    fn skip_head(&mut self) -> Result<Option<u64>> {
        const CTX: &str = "skipped value";
        let m = self.byte(CTX)?;
        let (fixed, items): (usize, Option<u64>) = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, None),
            0x80..=0x8f => (0, Some(2 * (m & 0x0f) as u64)),
            0x90..=0x9f => (0, Some((m & 0x0f) as u64)),
            0xa0..=0xbf => ((m & 0x1f) as usize, None),
            0xc4 | 0xd9 => (self.be(1, CTX)? as usize, None),
            0xc5 | 0xda => (self.be(2, CTX)? as usize, None),
            0xc6 | 0xdb => (self.be(4, CTX)? as usize, None),
            0xc7 => (self.ext_len(1)?, None),
            0xc8 => (self.ext_len(2)?, None),
            0xc9 => (self.ext_len(4)?, None),
            0xd4..=0xd8 => (self.fixext_len(1 << (m - 0xd4))?, None),
            0xca | 0xce | 0xd2 => (4, None),
            0xcb | 0xcf | 0xd3 => (8, None),
            0xcc | 0xd0 => (1, None),
            0xcd | 0xd1 => (2, None),
            0xdc => (0, Some(self.be(2, CTX)?)),
            0xdd => (0, Some(self.be(4, CTX)?)),
            0xde => (0, Some(2 * self.be(2, CTX)?)),
            0xdf => (0, Some(2 * self.be(4, CTX)?)),
            0xc1 => {
                return Err(WireError::UnexpectedMarker {
                    marker: m,
                    context: CTX,
                })
            }
        };
        self.take(fixed, CTX)?;
        // Every value needs at least one byte: fail fast on absurd counts.
        if items.is_some_and(|n| n > (self.buf.len() - self.pos) as u64) {
            return Err(WireError::Truncated(CTX));
        }
        Ok(items)
    }

    /// Reads an ext8/16/32 header (length, then type) and returns the data length.
    fn ext_len(&mut self, width: usize) -> Result<usize> {
        let len = self.be(width, "skipped value")? as usize;
        self.fixext_len(len)
    }

    /// Reads an extension's type byte; go-msgpack turns a timestamp into a time and
    /// fails unless it is 4, 8 or 12 bytes long.
    fn fixext_len(&mut self, len: usize) -> Result<usize> {
        let ty = self.byte("skipped value")?;
        if ty == TIMESTAMP_EXT && !matches!(len, 4 | 8 | 12) {
            return Err(WireError::BadTimestamp(len));
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut Writer::new(&mut v));
        v
    }

    #[test]
    fn size_classes_match_protocol_table() {
        assert_eq!(w(|w| w.raw(&[0; 31]))[0], 0xbf);
        assert_eq!(w(|w| w.raw(&[0; 32]))[..3], [0xda, 0x00, 0x20]);
        assert_eq!(w(|w| w.raw(&[0; 255]))[..3], [0xda, 0x00, 0xff]);
        assert_eq!(w(|w| w.raw(&[0; 65536]))[..5], [0xdb, 0, 1, 0, 0]);
        assert_eq!(w(|w| w.uint(127)), [0x7f]);
        assert_eq!(w(|w| w.uint(128)), [0xcc, 0x80]);
        assert_eq!(w(|w| w.uint(65536)), [0xce, 0, 1, 0, 0]);
        assert_eq!(w(|w| w.int(128)), [0xd1, 0x00, 0x80]);
        assert_eq!(w(|w| w.int(32768)), [0xd2, 0, 0, 0x80, 0]);
        assert_eq!(w(|w| w.int(1 << 31)), [0xd3, 0, 0, 0, 0, 0x80, 0, 0, 0]);
        assert_eq!(w(|w| w.int(-33)), [0xd0, 0xdf]);
        assert_eq!(w(|w| w.int(-129)), [0xd1, 0xff, 0x7f]);
    }

    #[test]
    fn reader_accepts_go_lenient_forms() {
        let mut r = Reader::new(&[0xd9, 2, b'h', b'i', 0xc4, 1, 7, 0x92, 0x68, 0xcc, 0x69]);
        assert_eq!(r.string("x").unwrap().unwrap().as_ref(), b"hi");
        assert_eq!(r.string("x").unwrap().unwrap().as_ref(), &[7]);
        assert_eq!(r.string("x").unwrap().unwrap().as_ref(), b"hi");
        // A map spells a []byte field (keys and values in turn) but not a string.
        assert!(Reader::new(&[0x81, 1, 2]).string("x").is_err());
        let mut r = Reader::new(&[0x81, 1, 2]);
        assert_eq!(r.bytes("x").unwrap().unwrap().as_ref(), &[1, 2]);
        let mut r = Reader::new(&[0x93, 1, 0xcc, 200, 0xc0]);
        assert_eq!(r.bytes("x").unwrap().unwrap().as_ref(), &[1, 200, 0]);
        let mut r = Reader::new(&[0x92, 1, 0xcd, 1, 0]);
        assert!(matches!(
            r.bytes("x"),
            Err(WireError::IntegerOverflow { .. })
        ));
        // Keys: any string form, never empty.
        assert_eq!(Reader::new(&[0x91, 0x41]).key().unwrap().as_ref(), b"A");
        assert_eq!(Reader::new(&[0xa0]).key(), Err(WireError::EmptyMapKey));
        assert_eq!(Reader::new(&[0xc0]).key(), Err(WireError::EmptyMapKey));
        let mut r = Reader::new(&[0xd0, 0xff]);
        assert!(r.uint("x").is_err());
        let mut r = Reader::new(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.int("x").unwrap().0, -1);
    }

    #[test]
    fn skip_bounds_depth_and_counts() {
        // Go's limit: 1022 nested containers inside a skipped value pass, 1023 fail.
        let nested = |n: usize| [vec![0x91; n], vec![0x00]].concat();
        let ok = nested(MAX_SKIP_NESTING);
        let mut r = Reader::new(&ok);
        r.skip().unwrap();
        assert_eq!(r.position(), ok.len());
        assert!(matches!(
            Reader::new(&nested(MAX_SKIP_NESTING + 1)).skip(),
            Err(WireError::LimitExceeded { .. })
        ));
        let mut r = Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.skip(), Err(WireError::Truncated("skipped value")));
        let mut r = Reader::new(&[0x82, 0xa1, b'a', 1, 0xa1, b'b', 0x90, 0x05]);
        r.skip().unwrap();
        assert_eq!(r.rest(), &[0x05]);
        // Timestamps (ext type -1) must be 4, 8 or 12 bytes; other types any size.
        let mut r = Reader::new(&[0xd6, 0xff, 0, 0, 0, 1, 0xd5, 0x07, 1, 2, 0xc7, 0, 0xff]);
        r.skip().unwrap();
        r.skip().unwrap();
        assert_eq!(r.skip(), Err(WireError::BadTimestamp(0)));
        assert_eq!(
            Reader::new(&[0xd8, 0xff]).skip(),
            Err(WireError::BadTimestamp(16))
        );
    }
}
