//! Labels (type 244): `[244][len 1..=255][label]` in front of every packet, and once
//! at the start of a stream by the side that dialled. A label keeps clusters that
//! share a network apart, and with encryption it is the GCM additional data.

use std::fmt;

use super::error::{Result, WireError};
use super::message_type::MessageType;

/// Longest label Go accepts.
pub const MAX_LEN: usize = 255;

/// A label that can be put on the wire: 1 to 255 bytes. "No label" is `Option::None`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Label(Vec<u8>);

impl Label {
    /// Validates a configured label; the empty string means no label, so it is refused
    /// here (use `None`).
    pub fn new(label: impl Into<Vec<u8>>) -> Result<Self> {
        let label = label.into();
        match label.len() {
            0 => Err(WireError::EmptyLabel),
            n if n > MAX_LEN => Err(WireError::LabelTooLong(n)),
            _ => Ok(Label(label)),
        }
    }

    /// Parses a configuration string: empty means no label.
    pub fn parse_optional(s: &str) -> Result<Option<Label>> {
        if s.is_empty() {
            Ok(None)
        } else {
            Label::new(s).map(Some)
        }
    }

    /// The label's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Size on the wire, as Go budgets it.
    pub fn overhead(label: Option<&Label>) -> usize {
        label.map_or(0, |l| 2 + l.0.len())
    }

    /// Appends the header.
    pub fn write_header(&self, out: &mut Vec<u8>) {
        out.push(MessageType::HasLabel as u8);
        out.push(self.0.len() as u8);
        out.extend_from_slice(&self.0);
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({self})")
    }
}

/// Splits a packet (or the first bytes of a stream) into its label and the rest.
/// Without a header the label is empty. Errors as Go's: a header that is cut short,
/// or one that announces zero bytes.
pub fn strip(buf: &[u8]) -> Result<(&[u8], &[u8])> {
    match buf {
        [] => Ok((&[], buf)),
        [first, ..] if *first != MessageType::HasLabel as u8 => Ok((&[], buf)),
        [_] => Err(WireError::Truncated("label header")),
        [_, 0, ..] => Err(WireError::EmptyLabel),
        [_, size, rest @ ..] => {
            let size = *size as usize;
            if rest.len() < size {
                return Err(WireError::Truncated("label header"));
            }
            Ok(rest.split_at(size))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_label_cases() {
        let mut out = Vec::new();
        Label::new("foo").unwrap().write_header(&mut out);
        out.extend_from_slice(b"something");
        assert_eq!(hex::encode(&out), "f403666f6f736f6d657468696e67");
        assert_eq!(strip(&out).unwrap(), (&b"foo"[..], &b"something"[..]));
        assert_eq!(strip(&[0xf4]), Err(WireError::Truncated("label header")));
        assert_eq!(
            strip(&[0xf4, 0x78]),
            Err(WireError::Truncated("label header"))
        );
        assert_eq!(
            strip(&[0xf4, 2, 0x78]),
            Err(WireError::Truncated("label header"))
        );
        assert_eq!(strip(&[0xf4, 0, 0x78]), Err(WireError::EmptyLabel));
        assert_eq!(strip(&[]).unwrap(), (&[][..], &[][..]));
        assert!(Label::new("a".repeat(255)).is_ok());
        assert_eq!(
            Label::new("a".repeat(256)),
            Err(WireError::LabelTooLong(256))
        );
    }
}
