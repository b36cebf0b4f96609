//! Per-direction TCP stream reassembly: in-order bytes from segments that may be
//! retransmitted, overlapping or out of order. A direction first seen without its SYN
//! (the capture started mid-stream) starts at the first data seen and is flagged.

use std::collections::BTreeMap;

/// Most out-of-order bytes held per direction before the gap is declared lost.
const MAX_PENDING: usize = 4 * 1024 * 1024;

/// One direction of one connection.
#[derive(Debug, Default)]
pub struct Direction {
    next: Option<u32>,
    pending: BTreeMap<u32, Vec<u8>>,
    pending_bytes: usize,
    /// All in-order bytes so far (a memberlist connection carries one frame each way).
    pub data: Vec<u8>,
    /// The direction's start was not captured.
    pub midstream: bool,
    /// Bytes known to be missing (skipped when out-of-order data overflowed).
    pub gap: u64,
    pub closed: bool,
}

fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Direction {
    /// Adds one segment; returns true if new in-order bytes were appended.
    pub fn segment(&mut self, seq: u32, syn: bool, payload: &[u8]) -> bool {
        let start = if syn { seq.wrapping_add(1) } else { seq };
        let next = *self.next.get_or_insert_with(|| {
            self.midstream = !syn;
            start
        });
        if payload.is_empty() {
            return false;
        }
        // Trim what we already have (retransmission / overlap).
        let (seq, payload) = if before(start, next) {
            let skip = next.wrapping_sub(start) as usize;
            if skip >= payload.len() {
                return false;
            }
            (next, &payload[skip..])
        } else {
            (start, payload)
        };
        if seq != next {
            if self.pending_bytes + payload.len() <= MAX_PENDING {
                self.pending_bytes += payload.len();
                self.pending.entry(seq).or_insert_with(|| payload.to_vec());
            } else {
                self.skip_gap();
            }
            return false;
        }
        self.data.extend_from_slice(payload);
        self.next = Some(seq.wrapping_add(payload.len() as u32));
        self.drain();
        true
    }

    fn drain(&mut self) {
        while let Some(next) = self.next {
            let Some((&s, _)) = self.pending.iter().find(|(&s, _)| !before(next, s)) else {
                break;
            };
            let chunk = self.pending.remove(&s).expect("present");
            self.pending_bytes -= chunk.len();
            let skip = next.wrapping_sub(s) as usize;
            if skip < chunk.len() {
                self.data.extend_from_slice(&chunk[skip..]);
                self.next = Some(s.wrapping_add(chunk.len() as u32));
            }
        }
    }

    /// Gives up on missing bytes: jumps to the earliest pending segment.
    pub fn skip_gap(&mut self) {
        if let (Some(next), Some((&s, _))) = (self.next, self.pending.iter().next()) {
            self.gap += s.wrapping_sub(next) as u64;
            self.next = Some(s);
            self.drain();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorder_retransmit_midstream() {
        let mut d = Direction::default();
        d.segment(100, true, b"");
        d.segment(106, false, b"world");
        assert!(d.data.is_empty());
        d.segment(101, false, b"hello");
        d.segment(101, false, b"hello");
        d.segment(104, false, b"lo wo");
        assert_eq!(d.data, b"helloworld");
        assert!(!d.midstream);
        let mut m = Direction::default();
        m.segment(5000, false, b"abc");
        m.segment(5010, false, b"xyz");
        m.skip_gap();
        assert_eq!(
            (m.data.as_slice(), m.midstream, m.gap),
            (&b"abcxyz"[..], true, 7)
        );
    }
}
