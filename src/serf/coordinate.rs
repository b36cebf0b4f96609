//! The Vivaldi network coordinate a Serf node puts in the payload of every ack it
//! sends for a direct ping, so the prober can estimate round-trip times to it.

use super::read;
use crate::wire::messages::read_struct;
use crate::wire::msgpack::{Reader, Writer};
use crate::wire::{Result, WireError};

/// The version byte in front of the coordinate in an ack payload (`PingVersion`).
pub const PING_PAYLOAD_VERSION: u8 = 1;

/// Serf's coordinate dimensionality (`coordinate.DefaultConfig`).
pub const DIMENSIONALITY: usize = 8;

/// Go's `coordinate.Coordinate`: seconds, except the dimensionless `error`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Coordinate {
    /// The Euclidean part; `None` is Go's nil slice.
    pub vec: Option<Vec<f64>>,
    /// How unsure the estimate is (dimensionless; starts at 1.5).
    pub error: f64,
    /// A per-node offset learned from the error of recent estimates.
    pub adjustment: f64,
    /// The node's own distance to the network core (its access link).
    pub height: f64,
}

impl Coordinate {
    /// A fresh node's coordinate with Serf's defaults: origin, error 1.5, height 10 µs.
    pub fn origin() -> Self {
        Coordinate {
            vec: Some(vec![0.0; DIMENSIONALITY]),
            error: 1.5,
            adjustment: 0.0,
            height: 1.0e-5,
        }
    }

    /// Whether every component is finite, the check Go applies before using a peer's
    /// coordinate (it rejects NaN and infinities).
    pub fn is_valid(&self) -> bool {
        self.vec.iter().flatten().all(|c| c.is_finite())
            && [self.error, self.adjustment, self.height]
                .iter()
                .all(|c| c.is_finite())
    }

    /// Writes Go's msgpack form (a map with the four fields in Go's order).
    pub fn write(&self, w: &mut Writer<'_>) {
        w.map_header(4);
        w.key("Adjustment");
        w.f64(self.adjustment);
        w.key("Error");
        w.f64(self.error);
        w.key("Height");
        w.f64(self.height);
        w.key("Vec");
        match &self.vec {
            None => w.nil(),
            Some(v) => {
                w.array_len(v.len());
                v.iter().for_each(|&c| w.f64(c));
            }
        }
    }

    /// Reads Go's msgpack form, any field order.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        let mut c = Coordinate::default();
        const DECL: &[&str] = &["Vec", "Error", "Adjustment", "Height"];
        read_struct(r, "coordinate", DECL, |k, r| {
            match k {
                b"Vec" => c.vec = read::slice(r, "coordinate.Vec", |r| read::f64(r, "Vec"))?,
                b"Error" => c.error = read::f64(r, "coordinate.Error")?,
                b"Adjustment" => c.adjustment = read::f64(r, "coordinate.Adjustment")?,
                b"Height" => c.height = read::f64(r, "coordinate.Height")?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(c)
    }

    /// The ack payload Serf sends: version byte, then the coordinate.
    pub fn encode_ping_payload(&self, out: &mut Vec<u8>) {
        out.push(PING_PAYLOAD_VERSION);
        self.write(&mut Writer::new(out));
    }

    /// Reads an ack payload as Serf does: empty means the peer sent none (`None`),
    /// another version byte is an error. Bytes after the coordinate are ignored.
    pub fn decode_ping_payload(payload: &[u8]) -> Result<Option<Self>> {
        let Some((&version, body)) = payload.split_first() else {
            return Ok(None);
        };
        if version != PING_PAYLOAD_VERSION {
            return Err(WireError::UnsupportedPingVersion(version));
        }
        Self::read(&mut Reader::new(body)).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_coordinate_is_130_bytes_like_serf_md() {
        let mut out = Vec::new();
        Coordinate::origin().encode_ping_payload(&mut out);
        assert_eq!(out.len(), 130);
        assert_eq!(&out[..2], &[0x01, 0x84]);
        let back = Coordinate::decode_ping_payload(&out).unwrap().unwrap();
        assert_eq!(back, Coordinate::origin());
        assert!(back.is_valid());
    }

    #[test]
    fn lenient_numbers_and_versions() {
        // Vec of ints and a float32, Error as an int: Go converts them.
        let body = [
            0x82, 0xa3, b'V', b'e', b'c', 0x92, 0x01, 0xca, 0x3f, 0xc0, 0, 0, 0xa5, b'E', b'r',
            b'r', b'o', b'r', 0x02,
        ];
        let c = Coordinate::read(&mut Reader::new(&body)).unwrap();
        assert_eq!(c.vec, Some(vec![1.0, 1.5]));
        assert_eq!(c.error, 2.0);
        assert_eq!(Coordinate::decode_ping_payload(&[]), Ok(None));
        assert_eq!(
            Coordinate::decode_ping_payload(&[2, 0x80]),
            Err(WireError::UnsupportedPingVersion(2))
        );
        let nan = Coordinate {
            height: f64::NAN,
            ..Coordinate::origin()
        };
        assert!(!nan.is_valid());
    }
}
