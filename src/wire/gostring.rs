//! Go strings as they travel: arbitrary bytes, usually but not necessarily UTF-8.

use std::borrow::Cow;
use std::fmt;

/// A Go `string` field. Go never validates UTF-8, so neither do we: the bytes are kept
/// exactly (borrowed from the packet when decoded) and shown lossily.
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct GoString<'a>(pub Cow<'a, [u8]>);

impl<'a> GoString<'a> {
    /// The bytes exactly as on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether it is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The text, with invalid UTF-8 replaced (for display and JSON).
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// A copy that no longer borrows the input.
    pub fn into_owned(self) -> GoString<'static> {
        GoString(Cow::Owned(self.0.into_owned()))
    }

    /// A string borrowing `bytes`.
    pub fn borrowed(bytes: &'a [u8]) -> Self {
        GoString(Cow::Borrowed(bytes))
    }
}

/// Lets maps keyed by Go strings be searched by plain bytes (both order bytewise).
impl std::borrow::Borrow<[u8]> for GoString<'_> {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for GoString<'static> {
    fn from(s: &str) -> Self {
        GoString(Cow::Owned(s.as_bytes().to_vec()))
    }
}

impl From<String> for GoString<'static> {
    fn from(s: String) -> Self {
        GoString(Cow::Owned(s.into_bytes()))
    }
}

impl fmt::Display for GoString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_str_lossy())
    }
}

impl fmt::Debug for GoString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_str_lossy(), f)
    }
}
