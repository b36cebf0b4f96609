//! The memberlist codec: messages, compound packets, LZW, AES-GCM, labels, CRC and
//! the TCP stream framing. No I/O happens here.

pub mod error;

pub use error::{Result, WireError};
