//! The msgpack dialect of `github.com/hashicorp/go-msgpack` as memberlist uses it.
//!
//! Go's encoder is narrow: structs become fixmaps with keys sorted by field name,
//! strings *and* byte slices use the old "raw" markers (fixstr, str16, str32 — never
//! str8 or bin), unsigned fields use minimal unsigned markers, and Go `int` fields use
//! signed markers once above 127 (go-msgpack v2; v0.5 used unsigned ones). The
//! [`Writer`] functions emit exactly that. Go's decoder is lenient, and so is
//! [`Reader`]: it accepts every string/bin marker, array-encoded structs, nil for any
//! field, either integer family, and skips unknown keys, so that we read anything any
//! Go release emits. All reads are bounds-checked and never allocate.

use super::error::{Result, WireError};

/// Deepest nesting [`Reader::skip`] follows; Go structs in memberlist are flat, so
/// anything deeper is hostile input rather than data.
const MAX_SKIP_DEPTH: usize = 32;

/// Appends go-msgpack encodings to a byte vector.
pub struct Writer<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Writer<'o> {
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

    /// Reads a struct header: a map or an array.
    pub fn struct_header(&mut self, ctx: &'static str) -> Result<StructForm> {
        let m = self.byte(ctx)?;
        Ok(match m {
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

    /// Reads a map key (any string or bin marker).
    pub fn key(&mut self) -> Result<&'a [u8]> {
        self.raw("map key")?.ok_or(WireError::UnexpectedMarker {
            marker: 0xc0,
            context: "map key",
        })
    }

    /// Reads a string or byte slice; `None` for nil. Accepts fixstr, str8/16/32,
    /// bin8/16/32. Arrays of small integers are accepted by [`Reader::bytes`] only.
    pub fn raw(&mut self, ctx: &'static str) -> Result<Option<&'a [u8]>> {
        let m = self.byte(ctx)?;
        let n = match m {
            0xa0..=0xbf => (m & 0x1f) as usize,
            0xd9 | 0xc4 => self.be(1, ctx)? as usize,
            0xda | 0xc5 => self.be(2, ctx)? as usize,
            0xdb | 0xc6 => self.be(4, ctx)? as usize,
            0xc0 => return Ok(None),
            _ => {
                return Err(WireError::UnexpectedMarker {
                    marker: m,
                    context: ctx,
                })
            }
        };
        self.take(n, ctx).map(Some)
    }

    /// Reads a `[]byte` field: any string/bin form, nil, or (as Go allows) an array
    /// of integers 0..=255. The array form is the only one that has to copy.
    pub fn bytes(&mut self, ctx: &'static str) -> Result<Option<std::borrow::Cow<'a, [u8]>>> {
        use std::borrow::Cow;
        let n = match self.peek() {
            Some(m @ 0x90..=0x9f) => {
                self.pos += 1;
                (m & 0x0f) as usize
            }
            Some(0xdc) => {
                self.pos += 1;
                self.be(2, ctx)? as usize
            }
            Some(0xdd) => {
                self.pos += 1;
                self.be(4, ctx)? as usize
            }
            _ => return Ok(self.raw(ctx)?.map(Cow::Borrowed)),
        };
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
        Ok(Some(Cow::Owned(v)))
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

    pub fn u32(&mut self, ctx: &'static str) -> Result<u32> {
        let v = self.uint(ctx)?;
        u32::try_from(v).map_err(|_| WireError::IntegerOverflow {
            value: v as i128,
            field: ctx,
        })
    }

    pub fn u16(&mut self, ctx: &'static str) -> Result<u16> {
        let v = self.uint(ctx)?;
        u16::try_from(v).map_err(|_| WireError::IntegerOverflow {
            value: v as i128,
            field: ctx,
        })
    }

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

    /// Skips one value of any type (unknown struct keys), bounded in depth.
    pub fn skip(&mut self) -> Result<()> {
        self.skip_depth(0)
    }

    fn skip_depth(&mut self, depth: usize) -> Result<()> {
        const CTX: &str = "skipped value";
        if depth > MAX_SKIP_DEPTH {
            return Err(WireError::LimitExceeded {
                what: "msgpack nesting depth",
                value: depth as u64,
                limit: MAX_SKIP_DEPTH as u64,
            });
        }
        let m = self.byte(CTX)?;
        let (fixed, items): (usize, u64) = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * (m & 0x0f) as u64),
            0x90..=0x9f => (0, (m & 0x0f) as u64),
            0xa0..=0xbf => ((m & 0x1f) as usize, 0),
            0xc4 | 0xd9 => (self.be(1, CTX)? as usize, 0),
            0xc5 | 0xda => (self.be(2, CTX)? as usize, 0),
            0xc6 | 0xdb => (self.be(4, CTX)? as usize, 0),
            0xc7 => (self.be(1, CTX)? as usize + 1, 0),
            0xc8 => (self.be(2, CTX)? as usize + 1, 0),
            0xc9 => (self.be(4, CTX)? as usize + 1, 0),
            0xca | 0xce | 0xd2 => (4, 0),
            0xcb | 0xcf | 0xd3 => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, self.be(2, CTX)?),
            0xdd => (0, self.be(4, CTX)?),
            0xde => (0, 2 * self.be(2, CTX)?),
            0xdf => (0, 2 * self.be(4, CTX)?),
            0xc1 => {
                return Err(WireError::UnexpectedMarker {
                    marker: m,
                    context: CTX,
                })
            }
        };
        self.take(fixed, CTX)?;
        // Every item needs at least one byte: fail fast on absurd counts.
        if items > (self.buf.len() - self.pos) as u64 {
            return Err(WireError::Truncated(CTX));
        }
        for _ in 0..items {
            self.skip_depth(depth + 1)?;
        }
        Ok(())
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
        let mut r = Reader::new(&[0xd9, 2, b'h', b'i', 0xc4, 1, 7]);
        assert_eq!(r.raw("x").unwrap(), Some(&b"hi"[..]));
        assert_eq!(r.raw("x").unwrap(), Some(&[7u8][..]));
        let mut r = Reader::new(&[0x93, 1, 0xcc, 200, 3]);
        assert_eq!(r.bytes("x").unwrap().unwrap().as_ref(), &[1, 200, 3]);
        let mut r = Reader::new(&[0x92, 1, 0xcd, 1, 0]);
        assert!(matches!(
            r.bytes("x"),
            Err(WireError::IntegerOverflow { .. })
        ));
        let mut r = Reader::new(&[0xd0, 0xff]);
        assert!(r.uint("x").is_err());
        let mut r = Reader::new(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.int("x").unwrap().0, -1);
    }

    #[test]
    fn skip_bounds_depth_and_counts() {
        let deep = vec![0x91; 100];
        assert!(Reader::new(&deep).skip().is_err());
        let mut r = Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.skip(), Err(WireError::Truncated("skipped value")));
        let mut r = Reader::new(&[0x82, 0xa1, b'a', 1, 0xa1, b'b', 0x90, 0x05]);
        r.skip().unwrap();
        assert_eq!(r.rest(), &[0x05]);
    }
}
