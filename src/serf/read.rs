//! Decoding helpers for the Go types Serf adds on top of memberlist's: slices, maps,
//! floats, Lamport times and Go `int`s that remember their marker family. Each accepts
//! what go-msgpack's decoder accepts for that Go type.

use std::collections::BTreeMap;

use super::lamport::LamportTime;
use crate::wire::go_struct::{GoCodec, GoField};
use crate::wire::messages::{go_int, string};
use crate::wire::msgpack::{IntMarker, Reader, Writer};
use crate::wire::{GoInt, GoString, Result, WireError};

/// How many elements a Go slice decodes from: an array's length, or twice a map's
/// (go-msgpack fills a slice from a map's keys and values in turn); `None` for nil.
/// The count is bounded by the remaining input, as each element takes a byte.
pub fn seq_len(r: &mut Reader<'_>, ctx: &'static str) -> Result<Option<usize>> {
    let Some((n, is_map)) = container(r, ctx, true)? else {
        return Ok(None);
    };
    let items = if is_map { n.saturating_mul(2) } else { n };
    bounded(r, items, ctx).map(Some)
}

/// How many entries a Go map decodes from (a map container only); `None` for nil.
pub fn map_len(r: &mut Reader<'_>, ctx: &'static str) -> Result<Option<usize>> {
    let Some((n, _)) = container(r, ctx, false)? else {
        return Ok(None);
    };
    // Each entry takes at least two bytes.
    bounded(r, n.saturating_mul(2), ctx).map(|_| Some(n as usize))
}

/// Reads a container header: its count and whether it is a map; `None` for nil.
/// Arrays are refused unless `arrays` (a Go map cannot be read from one).
fn container(r: &mut Reader<'_>, ctx: &'static str, arrays: bool) -> Result<Option<(u64, bool)>> {
    let m = *r.rest().first().ok_or(WireError::Truncated(ctx))?;
    let (width, is_map) = match m {
        0xc0 => {
            r.take(1, ctx)?;
            return Ok(None);
        }
        0x80..=0x8f => (0, true),
        0xde => (2, true),
        0xdf => (4, true),
        0x90..=0x9f if arrays => (0, false),
        0xdc if arrays => (2, false),
        0xdd if arrays => (4, false),
        _ => {
            return Err(WireError::UnexpectedMarker {
                marker: m,
                context: ctx,
            })
        }
    };
    let head = r.take(1 + width, ctx)?;
    let n = if width == 0 {
        (m & 0x0f) as u64
    } else {
        be(head)
    };
    Ok(Some((n, is_map)))
}

/// The big-endian number after a one-byte marker.
fn be(marker_and_value: &[u8]) -> u64 {
    marker_and_value[1..]
        .iter()
        .fold(0, |acc, &b| (acc << 8) | b as u64)
}

fn bounded(r: &Reader<'_>, n: u64, ctx: &'static str) -> Result<usize> {
    if n > r.rest().len() as u64 {
        return Err(WireError::Truncated(ctx));
    }
    Ok(n as usize)
}

/// Reads a Go slice whose elements `item` decodes; nil stays `None`.
pub fn slice<'a, T>(
    r: &mut Reader<'a>,
    ctx: &'static str,
    mut item: impl FnMut(&mut Reader<'a>) -> Result<T>,
) -> Result<Option<Vec<T>>> {
    let Some(n) = seq_len(r, ctx)? else {
        return Ok(None);
    };
    // The capacity is bounded by the input (checked above) and by a small constant, so
    // a hostile count costs at most what its elements really occupy.
    let mut v = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        v.push(item(r)?);
    }
    Ok(Some(v))
}

/// Reads a Go `map[string]V`; duplicate keys keep the last value, as Go's map does.
pub fn string_map<'a, V>(
    r: &mut Reader<'a>,
    ctx: &'static str,
    mut value: impl FnMut(&mut Reader<'a>) -> Result<V>,
) -> Result<Option<BTreeMap<GoString<'a>, V>>> {
    let Some(n) = map_len(r, ctx)? else {
        return Ok(None);
    };
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let k = string(r, ctx)?;
        let v = value(r)?;
        m.insert(k, v);
    }
    Ok(Some(m))
}

/// Reads a Go `float64`: float64 or float32 markers, or any integer (converted).
pub fn f64(r: &mut Reader<'_>, ctx: &'static str) -> Result<f64> {
    match r.rest().first() {
        Some(0xcb) => {
            let b = r.take(9, ctx)?;
            Ok(f64::from_bits(be(b)))
        }
        Some(0xca) => {
            let b = r.take(5, ctx)?;
            Ok(f32::from_bits(be(b) as u32) as f64)
        }
        _ => {
            let (v, marker) = r.int(ctx)?;
            // A `cf` above i64::MAX is a uint64 in Go's eyes.
            Ok(match marker {
                IntMarker::Unsigned if v < 0 => v as u64 as f64,
                _ => v as f64,
            })
        }
    }
}

pub fn lamport(r: &mut Reader<'_>, ctx: &'static str) -> Result<LamportTime> {
    r.uint(ctx).map(LamportTime)
}

/// Reads a Go `int`/`int64`. Values 0..=127 are a fixint in both codec generations, so
/// they say nothing about the sender's: they are recorded as the current one.
pub fn int(r: &mut Reader<'_>, ctx: &'static str) -> Result<GoInt> {
    let v = go_int(r, ctx)?;
    Ok(if (0..128).contains(&v.value) {
        GoInt::new(v.value)
    } else {
        v
    })
}

/// Writes a Go `int`/`int64` in the marker family it arrived in: signed (go-msgpack
/// v2, serf ≥ 0.10.2) or unsigned (go-msgpack 0.5, older serf and Consul, which write
/// non-negative values so; a negative value with that marker came from a `cf` above
/// `i64::MAX`, which Go wrapped, and goes back out as that `cf`), so that both
/// generations re-encode to their own bytes.
pub fn write_int(w: &mut Writer<'_>, v: GoInt) {
    match v.marker {
        IntMarker::Unsigned => w.uint(v.value as u64),
        IntMarker::Signed => w.int(v.value),
    }
}

/// Writes a Go `[]string`; nil as msgpack nil.
pub fn write_strings(w: &mut Writer<'_>, v: Option<&[GoString<'_>]>) {
    match v {
        None => w.nil(),
        Some(items) => {
            w.array_len(items.len());
            items.iter().for_each(|s| w.raw(s.as_bytes()));
        }
    }
}

impl GoField<'_> for LamportTime {
    fn write_field(&self, w: &mut Writer<'_>) {
        w.uint(self.0)
    }
    fn read_field(r: &mut Reader<'_>, ctx: &'static str) -> Result<Self> {
        lamport(r, ctx)
    }
}

/// A Go slice: nil is `None`; its elements are named by the slice's `ctx`.
impl<'a, T: GoField<'a>> GoField<'a> for Option<Vec<T>> {
    fn write_field(&self, w: &mut Writer<'_>) {
        match self {
            None => w.nil(),
            Some(items) => {
                w.array_len(items.len());
                items.iter().for_each(|i| i.write_field(w));
            }
        }
    }
    fn read_field(r: &mut Reader<'a>, ctx: &'static str) -> Result<Self> {
        slice(r, ctx, |r| T::read_field(r, ctx))
    }
}

/// A Go `map[string]V` (nil is `None`), written in key order where Go's is random.
impl<'a, V: GoField<'a>> GoField<'a> for Option<BTreeMap<GoString<'a>, V>> {
    fn write_field(&self, w: &mut Writer<'_>) {
        match self {
            None => w.nil(),
            Some(m) => {
                w.map_len(m.len());
                for (k, v) in m {
                    w.raw(k.as_bytes());
                    v.write_field(w);
                }
            }
        }
    }
    fn read_field(r: &mut Reader<'a>, ctx: &'static str) -> Result<Self> {
        string_map(r, ctx, |r| V::read_field(r, ctx))
    }
}

/// The codec of a Serf Go `int`: re-encoded in the marker family it came in
/// ([`int`], [`write_int`]), where memberlist's always go out signed.
pub struct KeepMarker;

impl GoCodec<'_, GoInt> for KeepMarker {
    fn write(v: &GoInt, w: &mut Writer<'_>) {
        write_int(w, *v)
    }
    fn read(r: &mut Reader<'_>, ctx: &'static str) -> Result<GoInt> {
        int(r, ctx)
    }
}
