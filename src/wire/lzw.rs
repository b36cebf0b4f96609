//! LZW exactly as Go's `compress/lzw` does it with LSB bit order and 8-bit literals,
//! which is what memberlist's `compress` messages carry.
//!
//! Generic LZW crates differ from Go in details that change the bytes: Go starts every
//! non-empty stream with a CLEAR code, widens codes when the *next* code reaches a power
//! of two (no "early change"), and emits CLEAR and starts over as soon as code 4095
//! would be assigned. The encoder here reproduces that bit for bit; the decoder accepts
//! what Go's reader accepts, streams without the leading CLEAR included.

use super::error::{Result, WireError};

/// memberlist's cap on decompressed output (v0.7.0): twice the push/pull state limit.
pub const MAX_DECOMPRESSED_BYTES: usize = 40 * 1024 * 1024;

const CLEAR: u32 = 256;
const EOF: u32 = 257;
const MAX_CODE: u32 = 4095;
const MAX_WIDTH: u32 = 12;
/// Open-addressing table for (prefix code, byte) → code; 4× the code space keeps
/// probe chains short.
const TABLE_BITS: u32 = 14;
const TABLE_MASK: u32 = (1 << TABLE_BITS) - 1;
const EMPTY: u32 = u32::MAX;

/// Packs codes least-significant-bit first.
struct BitWriter<'o> {
    out: &'o mut Vec<u8>,
    bits: u64,
    n: u32,
}

impl BitWriter<'_> {
    #[inline]
    fn put(&mut self, code: u32, width: u32) {
        self.bits |= (code as u64) << self.n;
        self.n += width;
        while self.n >= 8 {
            self.out.push(self.bits as u8);
            self.bits >>= 8;
            self.n -= 8;
        }
    }

    fn finish(self) {
        if self.n > 0 {
            self.out.push(self.bits as u8);
        }
    }
}

/// Compresses `input` into a new vector.
pub fn compress(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2 + 8);
    compress_into(input, &mut out);
    out
}

/// Appends Go's LZW encoding of `input` to `out`.
pub fn compress_into(input: &[u8], out: &mut Vec<u8>) {
    let mut w = BitWriter { out, bits: 0, n: 0 };
    let Some((&first, rest)) = input.split_first() else {
        w.put(CLEAR, 9);
        w.put(EOF, 9);
        w.finish();
        return;
    };
    // Entries are (key << 12) | code, key = prefix << 8 | byte (20 bits).
    let mut table = vec![EMPTY; 1 << TABLE_BITS];
    let mut width = 9;
    let mut hi = EOF;
    let mut overflow = 512;
    w.put(CLEAR, width);
    let mut code = first as u32;
    'next: for &b in rest {
        let key = code << 8 | b as u32;
        let mut h = (key >> 12 ^ key) & TABLE_MASK;
        loop {
            let t = table[h as usize];
            if t == EMPTY {
                break;
            }
            if t >> 12 == key {
                code = t & MAX_CODE;
                continue 'next;
            }
            h = (h + 1) & TABLE_MASK;
        }
        w.put(code, width);
        code = b as u32;
        hi += 1;
        if hi == overflow {
            width += 1;
            overflow <<= 1;
        }
        if hi == MAX_CODE {
            // Table full: Go emits CLEAR at the current width and starts over.
            w.put(CLEAR, width);
            width = 9;
            hi = EOF;
            overflow = 512;
            table.fill(EMPTY);
            continue;
        }
        table[h as usize] = key << 12 | hi;
    }
    w.put(code, width);
    hi += 1;
    if hi == overflow {
        width += 1;
    }
    if hi == MAX_CODE {
        w.put(CLEAR, width);
        width = 9;
    }
    w.put(EOF, width);
    w.finish();
}

/// Decompresses Go LZW, producing at most `limit` bytes.
///
/// Errors: a code beyond the next assignable one, input that ends before the EOF code
/// (Go's "unexpected EOF"), or output above `limit`. Bytes after EOF are ignored.
pub fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len().saturating_mul(3).min(limit));
    let mut prefix = [0u16; 4096];
    let mut suffix = [0u8; 4096];
    let mut scratch = [0u8; 4096];
    let (mut bits, mut n, mut pos) = (0u32, 0u32, 0usize);
    let mut width = 9;
    let mut hi = EOF;
    let mut overflow = 1 << width;
    let mut last: Option<u32> = None;
    loop {
        while n < width {
            let Some(&b) = input.get(pos) else {
                return Err(WireError::BadLzw("unexpected end of stream"));
            };
            pos += 1;
            bits |= (b as u32) << n;
            n += 8;
        }
        let code = bits & ((1 << width) - 1);
        bits >>= width;
        n -= width;
        let first_byte;
        if code < CLEAR {
            out.push(code as u8);
            first_byte = code as u8;
        } else if code == CLEAR {
            width = 9;
            hi = EOF;
            overflow = 1 << width;
            last = None;
            continue;
        } else if code == EOF {
            return Ok(out);
        } else if code <= hi {
            // Walk the chain backwards into `scratch`; the KwKwK case (code == hi)
            // is the previous string plus its own first byte.
            let mut i = scratch.len();
            let mut c = code;
            if code == hi {
                if let Some(l) = last {
                    let mut f = l;
                    while f >= CLEAR {
                        f = prefix[f as usize] as u32;
                    }
                    i -= 1;
                    scratch[i] = f as u8;
                    c = l;
                }
            }
            while c >= CLEAR {
                // Chains are shorter than the code space, so `i` never underflows.
                i -= 1;
                scratch[i] = suffix[c as usize];
                c = prefix[c as usize] as u32;
            }
            i -= 1;
            scratch[i] = c as u8;
            first_byte = c as u8;
            out.extend_from_slice(&scratch[i..]);
        } else {
            return Err(WireError::BadLzw("invalid code"));
        }
        if out.len() > limit {
            return Err(WireError::LimitExceeded {
                what: "decompressed size",
                value: out.len() as u64,
                limit: limit as u64,
            });
        }
        if let Some(l) = last {
            suffix[hi as usize] = first_byte;
            prefix[hi as usize] = l as u16;
        }
        last = Some(code);
        hi += 1;
        if hi >= overflow {
            if width == MAX_WIDTH {
                last = None;
                hi -= 1;
            } else {
                width += 1;
                overflow = 1 << width;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Produced by Go's compress/lzw (LSB, 8) — see PROTOCOL.md §17.9; the committed
    // Go fixtures in fixtures/ check many more inputs.
    const VECTORS: &[(&[u8], &str)] = &[
        (b"testing", "00e9949943278d9b330101"),
        (b"", "000302"),
        (
            b"TOBEORNOTTOBEORTOBEORNOT",
            "00a93c1152e48914274fa80824687061c183090302",
        ),
    ];

    #[test]
    fn matches_go_vectors() {
        for (plain, want) in VECTORS {
            assert_eq!(hex::encode(compress(plain)), *want);
            assert_eq!(
                decompress(&hex::decode(want).unwrap(), 1 << 20).unwrap(),
                *plain
            );
        }
        assert_eq!(
            hex::encode(compress(&[b'a'; 64])),
            "00c3081c48b0a0c18308132a4c1810"
        );
    }

    #[test]
    fn bulk_lengths_and_checksums_match_go() {
        let zeros = compress(&vec![0u8; 100_000]);
        assert_eq!((zeros.len(), crc32fast::hash(&zeros)), (530, 0x2f32f651));
        let ramp: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let c = compress(&ramp);
        assert_eq!((c.len(), crc32fast::hash(&c)), (13_425, 0xb2c39985));
        let mut x = 1u32;
        let lcg: Vec<u8> = (0..50_000)
            .map(|_| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let c = compress(&lcg);
        assert_eq!((c.len(), crc32fast::hash(&c)), (68_480, 0x8a824150));
        assert_eq!(decompress(&c, usize::MAX).unwrap(), lcg);
    }

    #[test]
    fn rejects_bad_streams() {
        let good = compress(b"hello hello hello");
        assert!(decompress(&good[..good.len() - 1], 1 << 20).is_err());
        assert!(decompress(&[], 1 << 20).is_err());
        assert!(matches!(
            decompress(&[0xff, 0xff], 1 << 20),
            Err(WireError::BadLzw(_))
        ));
        let big = compress(&vec![0u8; 10_000]);
        assert!(matches!(
            decompress(&big, 9_999),
            Err(WireError::LimitExceeded { .. })
        ));
        assert_eq!(decompress(&big, 10_000).unwrap().len(), 10_000);
    }

    proptest::proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(0u8..4, 0..20_000)) {
            proptest::prop_assert_eq!(decompress(&compress(&data), usize::MAX).unwrap(), data);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2_000)) {
            let _ = decompress(&data, 1 << 16);
        }
    }
}
