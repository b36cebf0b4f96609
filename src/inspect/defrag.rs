//! IPv4/IPv6 fragment reassembly on etherparse's `IpDefragBuf`, with the bounds its
//! pool lacks: a capture is untrusted input, so at most `MAX_DATAGRAMS` datagrams and
//! `MAX_BYTES` bytes are held at once (the oldest is given up first), and a datagram
//! still incomplete `MAX_AGE` of capture time after its first fragment is given up.

use std::collections::HashMap;
use std::time::Duration;

use etherparse::defrag::{IpDefragBuf, IpFragVersionSpecId};
use etherparse::IpNumber;

use super::net::Fragment;

/// Datagrams being reassembled at once.
pub const MAX_DATAGRAMS: usize = 1024;
/// Fragment bytes held at once.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// Capture time a datagram may take to complete (Linux's default `ipfrag_time` is 30 s).
pub const MAX_AGE: Duration = Duration::from_secs(30);

struct Pending {
    buf: IpDefragBuf,
    first_seen: Duration,
}

/// Fragments in, whole IP payloads out.
#[derive(Default)]
pub struct Defrag {
    pending: HashMap<(IpFragVersionSpecId, IpNumber), Pending>,
    bytes: usize,
    /// Datagrams put back together.
    pub reassembled: u64,
    /// Datagrams given up: conflicting or oversized fragments, limits, or never completed.
    pub dropped: u64,
}

impl Defrag {
    /// Adds one fragment seen at `time`; returns the datagram's payload once complete.
    pub fn add(&mut self, time: Duration, frag: &Fragment<'_>) -> Option<Vec<u8>> {
        self.expire(time);
        let key = (frag.id.clone(), frag.protocol);
        if !self.pending.contains_key(&key) {
            while self.pending.len() >= MAX_DATAGRAMS {
                self.drop_oldest();
            }
        }
        while self.bytes + frag.payload.len() > MAX_BYTES && !self.pending.is_empty() {
            self.drop_oldest();
        }
        let entry = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            buf: IpDefragBuf::new(frag.protocol, Vec::new(), Vec::new()),
            first_seen: time,
        });
        let before = entry.buf.data().len();
        let added = entry.buf.add(frag.offset, frag.more, frag.payload);
        let after = entry.buf.data().len();
        let complete = entry.buf.is_complete();
        self.bytes = self.bytes + after - before;
        match added {
            Err(_) => {
                self.remove(&key);
                self.dropped += 1;
                None
            }
            Ok(()) if complete => {
                let done = self.remove(&key)?;
                self.reassembled += 1;
                Some(done.buf.take_bufs().0)
            }
            Ok(()) => None,
        }
    }

    /// Gives up on every incomplete datagram (the capture ended).
    pub fn finish(&mut self) {
        self.dropped += self.pending.len() as u64;
        self.pending.clear();
        self.bytes = 0;
    }

    fn remove(&mut self, key: &(IpFragVersionSpecId, IpNumber)) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        self.bytes -= p.buf.data().len();
        Some(p)
    }

    fn expire(&mut self, now: Duration) {
        let before = self.pending.len();
        let mut freed = 0;
        self.pending.retain(|_, p| {
            let keep = now.saturating_sub(p.first_seen) <= MAX_AGE;
            if !keep {
                freed += p.buf.data().len();
            }
            keep
        });
        self.bytes -= freed;
        self.dropped += (before - self.pending.len()) as u64;
    }

    fn drop_oldest(&mut self) {
        let oldest = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.first_seen)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.remove(&k);
            self.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::IpFragOffset;

    fn frag(id: u16, offset_units: u16, more: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment {
            src: [10, 0, 0, 1].into(),
            dst: [10, 0, 0, 2].into(),
            id: IpFragVersionSpecId::Ipv4 {
                source: [10, 0, 0, 1],
                destination: [10, 0, 0, 2],
                identification: id,
            },
            protocol: IpNumber::UDP,
            offset: IpFragOffset::try_new(offset_units).unwrap(),
            more,
            payload,
        }
    }

    #[test]
    fn out_of_order_fragments_reassemble() {
        let mut d = Defrag::default();
        let t = Duration::from_secs(1);
        assert_eq!(d.add(t, &frag(7, 1, false, b"world")), None);
        assert_eq!(
            d.add(t, &frag(7, 0, true, b"hello, w")),
            Some(b"hello, wworld".to_vec())
        );
        assert_eq!((d.reassembled, d.dropped, d.bytes), (1, 0, 0));
    }

    #[test]
    fn stale_and_excess_datagrams_are_dropped() {
        let mut d = Defrag::default();
        d.add(Duration::from_secs(0), &frag(1, 0, true, &[0; 8]));
        // 31 s later the first datagram is given up; its missing tail arrives too late.
        d.add(Duration::from_secs(31), &frag(2, 0, true, &[0; 8]));
        assert_eq!(
            d.add(Duration::from_secs(31), &frag(1, 1, false, b"x")),
            None
        );
        assert_eq!(d.dropped, 1);
        for id in 0..MAX_DATAGRAMS as u16 + 10 {
            d.add(Duration::from_secs(40), &frag(100 + id, 0, true, &[0; 8]));
        }
        assert_eq!(d.pending.len(), MAX_DATAGRAMS);
        assert!(d.bytes <= MAX_BYTES);
        let before = d.dropped;
        d.finish();
        assert_eq!(d.dropped, before + MAX_DATAGRAMS as u64);
    }

    #[test]
    fn conflicting_fragments_drop_the_datagram() {
        let mut d = Defrag::default();
        let t = Duration::ZERO;
        d.add(t, &frag(3, 1, false, &[0; 8]));
        // A second "last" fragment ending elsewhere contradicts the first.
        assert_eq!(d.add(t, &frag(3, 3, false, &[0; 8])), None);
        assert_eq!(d.dropped, 1);
        assert!(d.pending.is_empty());
    }
}
