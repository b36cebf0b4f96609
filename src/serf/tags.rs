//! Serf's tags, carried in memberlist's node meta (`alive.Meta`, push/pull node
//! `Meta`). Serf protocol 3 and later writes a magic byte `0xFF` and a msgpack map of
//! strings; protocol 2 wrote only the `role` tag's value, bare. Go writes the map in
//! its random iteration order; we decode any order and encode sorted by key.

use std::collections::BTreeMap;

use super::read;
use crate::wire::go_struct::GoField;
use crate::wire::messages::string;
use crate::wire::msgpack::{Reader, Writer};
use crate::wire::{GoString, Result, WireError};

/// The first meta byte that marks msgpack-encoded tags.
pub const TAG_MAGIC: u8 = 0xff;

/// memberlist's node meta limit (`MetaMaxSize`); Go Serf refuses larger tags.
pub const META_MAX_SIZE: usize = 512;

/// The tag that protocol-2 meta carries alone.
pub const ROLE_TAG: &str = "role";

/// How a meta blob held its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaForm {
    /// `0xFF` + msgpack map (Serf protocol ≥ 3).
    Tagged,
    /// The bare value of the `role` tag (Serf protocol 2, or a non-Serf meta).
    LegacyRole,
}

/// A node's tags: Go's `map[string]string`, kept sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tags<'a>(pub BTreeMap<GoString<'a>, GoString<'a>>);

impl<'a> Tags<'a> {
    /// No tags.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a tag (a later value for the same key replaces the earlier one).
    pub fn insert(&mut self, key: impl Into<GoString<'a>>, value: impl Into<GoString<'a>>) {
        self.0.insert(key.into(), value.into());
    }

    /// The value of tag `key`.
    pub fn get(&self, key: &str) -> Option<&GoString<'a>> {
        self.0.get(key.as_bytes())
    }

    /// How many tags.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Tags in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&GoString<'a>, &GoString<'a>)> {
        self.0.iter()
    }

    /// Decodes node meta strictly: tagged meta must be one complete string map, meta
    /// without the magic byte is the legacy role (empty meta gives `role = ""`, as Go).
    pub fn decode_meta(meta: &'a [u8]) -> Result<(Self, MetaForm)> {
        match meta.split_first() {
            Some((&TAG_MAGIC, body)) => {
                let mut r = Reader::new(body);
                Ok((Self::read(&mut r)?.unwrap_or_default(), MetaForm::Tagged))
            }
            _ => Ok((Self::role(meta), MetaForm::LegacyRole)),
        }
    }

    /// Decodes node meta the way Go Serf's member handling does: never fails, keeps
    /// the entries completed before any error (which Go only logs) and reports it.
    pub fn decode_meta_lenient(meta: &'a [u8]) -> (Self, Option<WireError>) {
        let Some((&TAG_MAGIC, body)) = meta.split_first() else {
            return (Self::role(meta), None);
        };
        let mut r = Reader::new(body);
        let mut tags = Tags::new();
        let err = Self::read_into(&mut r, &mut tags).err();
        (tags, err)
    }

    fn role(meta: &'a [u8]) -> Self {
        let mut t = Tags::new();
        t.insert(
            GoString::borrowed(ROLE_TAG.as_bytes()),
            GoString::borrowed(meta),
        );
        t
    }

    /// Reads the msgpack map (after the magic byte); nil gives `None`.
    pub fn read(r: &mut Reader<'a>) -> Result<Option<Self>> {
        Ok(read::string_map(r, "tags", |r| string(r, "tags value"))?.map(Tags))
    }

    fn read_into(r: &mut Reader<'a>, tags: &mut Self) -> Result<()> {
        let Some(n) = read::map_len(r, "tags")? else {
            return Ok(());
        };
        for _ in 0..n {
            let k = string(r, "tags key")?;
            let v = string(r, "tags value")?;
            tags.0.insert(k, v);
        }
        Ok(())
    }

    /// Writes the msgpack map, keys sorted.
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_len(self.0.len());
        for (k, v) in &self.0 {
            w.raw(k.as_bytes());
            w.raw(v.as_bytes());
        }
    }

    /// The node meta of Serf protocol ≥ 3: magic byte + map. Fails, leaving `out`
    /// untouched, when the result would not fit memberlist's meta limit.
    pub fn encode_meta(&self, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.push(TAG_MAGIC);
        self.write(&mut Writer::new(out));
        let len = out.len() - start;
        if len > META_MAX_SIZE {
            out.truncate(start);
            return Err(WireError::TagsTooLarge(len));
        }
        Ok(())
    }

    /// The node meta of Serf protocol 2: the `role` value alone (empty without one).
    pub fn encode_legacy_meta(&self, out: &mut Vec<u8>) -> Result<()> {
        let role = self.get(ROLE_TAG).map_or(&[][..], |r| r.as_bytes());
        if role.len() > META_MAX_SIZE {
            return Err(WireError::TagsTooLarge(role.len()));
        }
        out.extend_from_slice(role);
        Ok(())
    }

    /// Detaches the tags from the buffer they were decoded from.
    pub fn into_owned(self) -> Tags<'static> {
        Tags(
            self.0
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
}

/// `serf.Member.Tags`, a Go map: nil is `None`; errors name the tags, not the field.
impl<'a> GoField<'a> for Option<Tags<'a>> {
    fn write_field(&self, w: &mut Writer<'_>) {
        match self {
            None => w.nil(),
            Some(t) => t.write(w),
        }
    }
    fn read_field(r: &mut Reader<'a>, _ctx: &'static str) -> Result<Self> {
        Tags::read(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn serf_md_example_both_orders() {
        let sorted = hex("ff82a26463a3646331a4726f6c65a46e6f6465");
        let other = hex("ff82a4726f6c65a46e6f6465a26463a3646331");
        let (a, form) = Tags::decode_meta(&sorted).unwrap();
        let (b, _) = Tags::decode_meta(&other).unwrap();
        assert_eq!(form, MetaForm::Tagged);
        assert_eq!(a, b);
        assert_eq!(a.get("dc").unwrap().as_bytes(), b"dc1");
        let mut out = Vec::new();
        b.encode_meta(&mut out).unwrap();
        assert_eq!(out, sorted);
    }

    #[test]
    fn legacy_role_and_go_leniency() {
        let (t, form) = Tags::decode_meta(b"web").unwrap();
        assert_eq!(form, MetaForm::LegacyRole);
        assert_eq!(t.get("role").unwrap().as_bytes(), b"web");
        let (t, _) = Tags::decode_meta(b"").unwrap();
        assert_eq!(t.get("role").unwrap().as_bytes(), b"");
        // `ff c1`: Go keeps no tags and logs an error.
        let (t, err) = Tags::decode_meta_lenient(&[0xff, 0xc1]);
        assert!(t.is_empty() && err.is_some());
        // An int value: nothing completed, error.
        let int_value = hex("ff81a4726f6c6501");
        let (t, err) = Tags::decode_meta_lenient(&int_value);
        assert!(t.is_empty() && err.is_some());
        // Truncated after one entry: that entry is kept.
        let truncated = hex("ff82a4726f6c65a46e6f6465a26463");
        let (t, err) = Tags::decode_meta_lenient(&truncated);
        assert_eq!(t.get("role").unwrap().as_bytes(), b"node");
        assert_eq!(t.len(), 1);
        assert!(err.is_some());
        assert!(Tags::decode_meta(&truncated).is_err());
        // Nil map: no tags.
        assert!(Tags::decode_meta(&[0xff, 0xc0]).unwrap().0.is_empty());
    }

    #[test]
    fn meta_limit_is_a_typed_error() {
        let mut t = Tags::new();
        let v = "x".repeat(505);
        t.insert("k", v.as_str());
        // ff 81 a1 6b da 01 f9 + 505 = 512 bytes: fits exactly.
        let mut out = Vec::new();
        t.encode_meta(&mut out).unwrap();
        assert_eq!(out.len(), 512);
        let v = "x".repeat(506);
        t.insert("k", v.as_str());
        let mut out = vec![1];
        assert_eq!(t.encode_meta(&mut out), Err(WireError::TagsTooLarge(513)));
        assert_eq!(out, [1]);
    }
}
