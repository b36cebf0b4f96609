//! Round-trip times of ping/ack pairs, kept in bounded memory: a uniform sample of at
//! most `MAX_SAMPLES` per member (reservoir sampling with a fixed seed, so a report is
//! the same on every run), from which the median and the 99th percentile are read.

use std::time::Duration;

/// Samples kept per member; beyond this a uniform subset stands for all of them.
const MAX_SAMPLES: usize = 4096;

#[derive(Debug, Clone)]
pub struct Rtts {
    samples: Vec<u32>,
    /// Pairs seen, kept or not.
    pub count: u64,
    state: u64,
}

impl Default for Rtts {
    fn default() -> Self {
        Rtts {
            samples: Vec::new(),
            count: 0,
            state: 0x2545_f491_4f6c_dd1d,
        }
    }
}

impl Rtts {
    pub fn add(&mut self, rtt: Duration) {
        let micros = rtt.as_micros().min(u32::MAX as u128) as u32;
        self.count += 1;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(micros);
            return;
        }
        // xorshift: the reservoir keeps each pair with probability MAX_SAMPLES/count.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let slot = self.state % self.count;
        if (slot as usize) < MAX_SAMPLES {
            self.samples[slot as usize] = micros;
        }
    }

    /// Samples held (for the tests that check memory stays bounded).
    #[cfg(test)]
    pub fn retained(&self) -> usize {
        self.samples.len()
    }

    /// The median and 99th percentile in microseconds, if any pair was seen.
    pub fn quantiles(&self) -> Option<(u32, u32)> {
        if self.samples.is_empty() {
            return None;
        }
        let mut s = self.samples.clone();
        s.sort_unstable();
        let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
        Some((at(0.5), at(0.99)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_known_spread() {
        let mut r = Rtts::default();
        assert_eq!(r.quantiles(), None);
        for us in 1..=100u64 {
            r.add(Duration::from_micros(us));
        }
        assert_eq!(r.quantiles(), Some((51, 99)));
        // Past the reservoir the memory stays put and the median stays near the middle.
        let mut big = Rtts::default();
        for i in 0..100_000u64 {
            big.add(Duration::from_micros(i % 1000));
        }
        assert_eq!(big.samples.len(), MAX_SAMPLES);
        let (median, p99) = big.quantiles().unwrap();
        assert!((450..550).contains(&median), "{median}");
        assert!(p99 >= 980, "{p99}");
    }
}
