//! The capture inspector: pcap/pcapng → link/IP (fragments reassembled) → UDP datagrams and reassembled TCP
//! streams → the codec → one row per memberlist message.

pub mod capture;
pub mod decode;
pub mod defrag;
pub mod detect;
pub mod net;
pub mod summary;
pub mod tcp;

pub use capture::{CaptureError, CaptureReader, Frame};
pub use decode::{Body, Inspector, InspectorConfig, Ports, Row, RowLayers};
pub use summary::Summary;
