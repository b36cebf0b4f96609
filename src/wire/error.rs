//! Typed errors for everything the codec can reject.
//!
//! Every decoder in [`crate::wire`] returns one of these instead of panicking, so that
//! callers (the node, the inspector, fuzzers) can count and report bad input by cause.

use thiserror::Error;

/// Why a byte sequence could not be decoded (or a value could not be encoded).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// The input ended before the structure it announced was complete.
    #[error("truncated input: {0}")]
    Truncated(&'static str),
    /// A msgpack marker that cannot stand where it was found.
    #[error("unexpected msgpack marker 0x{marker:02x} for {context}")]
    UnexpectedMarker {
        /// The marker byte.
        marker: u8,
        /// What was being read.
        context: &'static str,
    },
    /// An integer that does not fit the Go field it is decoded into.
    #[error("integer {value} overflows field {field}")]
    IntegerOverflow {
        /// The decoded number.
        value: i128,
        /// The field it was meant for.
        field: &'static str,
    },
    /// A message type byte the Go library does not define (or not in this position).
    #[error("unknown message type {0}")]
    UnknownMessageType(u8),
    /// A length, count or size above a limit the Go library enforces.
    #[error("{what} ({value}) exceeds limit {limit}")]
    LimitExceeded {
        /// What was counted.
        what: &'static str,
        /// How much the input announced or held.
        value: u64,
        /// The most allowed.
        limit: u64,
    },
    /// The packet's CRC-32 did not match its contents.
    #[error("invalid checksum: expected {expected:08x}, computed {computed:08x}")]
    BadChecksum {
        /// The CRC the packet carries.
        expected: u32,
        /// The CRC of what it carries.
        computed: u32,
    },
    /// A struct's map key that is empty (or nil): go-msgpack fails on it.
    #[error("empty struct field name in msgpack map")]
    EmptyMapKey,
    /// A msgpack timestamp extension of a size go-msgpack cannot turn into a time.
    #[error("msgpack timestamp extension of {0} bytes (must be 4, 8 or 12)")]
    BadTimestamp(usize),
    /// A label header of size zero.
    #[error("label header cannot be empty when present")]
    EmptyLabel,
    /// A label longer than 255 bytes was configured.
    #[error("label is too long ({0} bytes, at most 255)")]
    LabelTooLong(usize),
    /// The label on the wire differs from the configured one.
    #[error("label mismatch: got {got:?}, expected {expected:?}")]
    LabelMismatch {
        /// The label on the wire.
        got: String,
        /// The configured one.
        expected: String,
    },
    /// The encryption version byte is not 0 or 1.
    #[error("unsupported encryption version {0}")]
    UnsupportedEncryptionVersion(u8),
    /// No key in the keyring authenticated the ciphertext.
    #[error("no installed keys could decrypt the message")]
    NoKeyDecrypts,
    /// Version 0 PKCS#7 padding was malformed after a successful decryption.
    #[error("invalid PKCS#7 padding")]
    BadPadding,
    /// A key that is not 16, 24 or 32 bytes long.
    #[error("key size must be 16, 24 or 32 bytes, not {0}")]
    BadKeySize(usize),
    /// Input is encrypted but no keyring is configured, or the reverse.
    #[error("encryption mismatch: {0}")]
    EncryptionMismatch(&'static str),
    /// The LZW stream is malformed (bad code, missing end code).
    #[error("invalid LZW stream: {0}")]
    BadLzw(&'static str),
    /// A `compress` message named an algorithm other than LZW (0) and Grafana's
    /// fork's snappy (1).
    #[error("cannot decompress unknown algorithm {0}")]
    UnknownCompression(u8),
    /// A snappy-compressed message (Grafana's memberlist fork) that does not inflate.
    #[error("invalid snappy block: {0}")]
    BadSnappy(String),
    /// A Serf message type byte that Serf does not define (Go logs and drops it).
    #[error("unknown serf message type {0}")]
    UnknownSerfMessageType(u8),
    /// A Serf query filter whose type byte is neither node (0) nor tag (1).
    #[error("unknown serf query filter type {0}")]
    UnknownFilterType(u8),
    /// A ping-ack payload whose version byte is not Serf's 1.
    #[error("unsupported serf ping payload version {0}")]
    UnsupportedPingVersion(u8),
    /// Encoded tags larger than memberlist's node meta limit (Go refuses to start or
    /// to set such tags).
    #[error("encoded tags are {0} bytes, node meta holds at most 512")]
    TagsTooLarge(usize),
    /// A field holds a value the protocol does not allow (e.g. node state 7).
    #[error("invalid value for {field}: {detail}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// What is wrong with its value.
        detail: String,
    },
}

/// Result alias for codec operations.
pub type Result<T> = std::result::Result<T, WireError>;
