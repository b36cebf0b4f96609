//! Our network coordinate, kept by the Vivaldi algorithm with the parameters of Serf's
//! `coordinate.DefaultConfig`: each ack from a direct probe carries the peer's
//! coordinate, and the measured round trip pulls ours towards or away from it like a
//! spring. Peers estimate their RTT to us from the coordinate we put in our acks, so
//! ours must move the way Go's would, parameter for parameter.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;

use super::coordinate::{Coordinate, DIMENSIONALITY};

/// Upper bound of the error estimate.
const ERROR_MAX: f64 = 1.5;
/// How fast the error estimate follows new observations.
const CE: f64 = 0.25;
/// How far one observation moves the coordinate.
const CC: f64 = 0.25;
/// Samples averaged into the adjustment term.
const ADJUSTMENT_WINDOW: usize = 20;
/// Smallest height (seconds): the access-link part of every RTT.
const HEIGHT_MIN: f64 = 1.0e-5;
/// RTT samples per peer whose median is used, to ignore outliers.
const LATENCY_FILTER: usize = 3;
/// Distance from the origin (seconds) at which gravity starts to matter.
const GRAVITY_RHO: f64 = 150.0;
/// Below this, lengths count as zero.
const ZERO: f64 = 1.0e-6;
/// RTTs above this are measurement errors.
const MAX_RTT: Duration = Duration::from_secs(10);

/// Why an observation was not used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VivaldiError {
    /// The round trip is negative or implausibly long.
    #[error("round trip {0:?} outside 0..=10s")]
    BadRtt(Duration),
    /// The peer's coordinate has another dimensionality.
    #[error("peer coordinate has {0} dimensions, not {DIMENSIONALITY}")]
    Dimension(usize),
    /// The peer's coordinate holds NaN or infinity.
    #[error("peer coordinate is not finite")]
    NotFinite,
    /// Our coordinate went bad and was reset.
    #[error("update made our coordinate invalid; reset to the origin")]
    Reset,
}

/// A coordinate with its vector unpacked, for the arithmetic.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    vec: [f64; DIMENSIONALITY],
    error: f64,
    adjustment: f64,
    height: f64,
}

impl Point {
    fn origin() -> Self {
        Point {
            vec: [0.0; DIMENSIONALITY],
            error: ERROR_MAX,
            adjustment: 0.0,
            height: HEIGHT_MIN,
        }
    }

    fn from_coordinate(c: &Coordinate) -> Result<Self, VivaldiError> {
        let v = c.vec.as_deref().unwrap_or_default();
        let vec: [f64; DIMENSIONALITY] =
            v.try_into().map_err(|_| VivaldiError::Dimension(v.len()))?;
        if !c.is_valid() {
            return Err(VivaldiError::NotFinite);
        }
        Ok(Point {
            vec,
            error: c.error,
            adjustment: c.adjustment,
            height: c.height,
        })
    }

    fn to_coordinate(self) -> Coordinate {
        Coordinate {
            vec: Some(self.vec.to_vec()),
            error: self.error,
            adjustment: self.adjustment,
            height: self.height,
        }
    }

    fn is_finite(&self) -> bool {
        self.vec.iter().all(|c| c.is_finite())
            && self.error.is_finite()
            && self.adjustment.is_finite()
            && self.height.is_finite()
    }

    /// Euclidean distance plus both heights, without adjustments (seconds).
    fn raw_distance(&self, other: &Point) -> f64 {
        let sq: f64 = self
            .vec
            .iter()
            .zip(&other.vec)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        sq.sqrt() + self.height + other.height
    }

    /// The RTT estimate: raw distance plus both adjustments, unless that would make
    /// it non-positive.
    fn distance(&self, other: &Point) -> f64 {
        let raw = self.raw_distance(other);
        let adjusted = raw + self.adjustment + other.adjustment;
        if adjusted > 0.0 {
            adjusted
        } else {
            raw
        }
    }

    /// Moves by `force` seconds along the line from `other` to us (away when
    /// positive), spreading the move over the height too.
    fn apply_force(&self, force: f64, other: &Point, rng: &mut StdRng) -> Point {
        let mut out = *self;
        let (unit, mag) = unit_vector_at(&self.vec, &other.vec, rng);
        for (o, u) in out.vec.iter_mut().zip(unit) {
            *o += u * force;
        }
        if mag > ZERO {
            out.height = ((out.height + other.height) * force / mag + out.height).max(HEIGHT_MIN);
        }
        out
    }
}

/// The unit vector from `b` to `a` and the distance between them; coincident points
/// get a random direction (or the first axis if even that comes out zero).
fn unit_vector_at(
    a: &[f64; DIMENSIONALITY],
    b: &[f64; DIMENSIONALITY],
    rng: &mut StdRng,
) -> ([f64; DIMENSIONALITY], f64) {
    let mut d = [0.0; DIMENSIONALITY];
    for i in 0..DIMENSIONALITY {
        d[i] = a[i] - b[i];
    }
    let mag = magnitude(&d);
    if mag > ZERO {
        return (d.map(|x| x / mag), mag);
    }
    for x in d.iter_mut() {
        *x = rng.gen::<f64>() - 0.5;
    }
    let m = magnitude(&d);
    if m > ZERO {
        return (d.map(|x| x / m), 0.0);
    }
    let mut axis = [0.0; DIMENSIONALITY];
    axis[0] = 1.0;
    (axis, 0.0)
}

fn magnitude(v: &[f64; DIMENSIONALITY]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Our coordinate and what the algorithm remembers between observations.
#[derive(Debug, Clone)]
pub struct Vivaldi {
    coord: Point,
    adjustment_samples: [f64; ADJUSTMENT_WINDOW],
    adjustment_index: usize,
    /// Recent RTTs (seconds) per peer, newest last.
    latency: HashMap<String, Vec<f64>>,
    rng: StdRng,
    /// Seconds the last accepted update moved us.
    last_move: f64,
    /// Times an update left us invalid and we restarted at the origin (Go's
    /// `ClientStats.Resets`, serf's `coordinate_resets`).
    resets: u64,
}

impl Vivaldi {
    /// A coordinate at the origin; `rng` nudges points that coincide apart.
    pub fn new(rng: StdRng) -> Self {
        Vivaldi {
            coord: Point::origin(),
            adjustment_samples: [0.0; ADJUSTMENT_WINDOW],
            adjustment_index: 0,
            latency: HashMap::new(),
            rng,
            last_move: 0.0,
            resets: 0,
        }
    }

    /// How far the last accepted update moved our coordinate (Serf reports it as
    /// `serf.coordinate.adjustment-ms`).
    pub fn last_move(&self) -> Duration {
        Duration::try_from_secs_f64(self.last_move).unwrap_or_default()
    }

    /// How often an update left us invalid and we restarted at the origin.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// Our current coordinate, as we advertise it.
    pub fn coordinate(&self) -> Coordinate {
        self.coord.to_coordinate()
    }

    /// Forgets a peer's RTT samples (it left or was reaped).
    pub fn forget(&mut self, node: &str) {
        self.latency.remove(node);
    }

    /// Takes one observation: peer `node` at coordinate `other` answered in `rtt`.
    pub fn update(
        &mut self,
        node: &str,
        other: &Coordinate,
        rtt: Duration,
    ) -> Result<Coordinate, VivaldiError> {
        if rtt > MAX_RTT {
            return Err(VivaldiError::BadRtt(rtt));
        }
        let other = Point::from_coordinate(other)?;
        let before = self.coord;
        let rtt = self.filtered_rtt(node, rtt.as_secs_f64());
        self.update_vivaldi(&other, rtt);
        self.update_adjustment(&other, rtt);
        self.update_gravity();
        if !self.coord.is_finite() {
            self.coord = Point::origin();
            self.adjustment_samples = [0.0; ADJUSTMENT_WINDOW];
            self.resets += 1;
            return Err(VivaldiError::Reset);
        }
        self.last_move = before.distance(&self.coord);
        Ok(self.coordinate())
    }

    /// The median of the last few RTTs to `node`, this one included.
    fn filtered_rtt(&mut self, node: &str, rtt: f64) -> f64 {
        let samples = self.latency.entry(node.to_owned()).or_default();
        samples.push(rtt);
        if samples.len() > LATENCY_FILTER {
            samples.remove(0);
        }
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    fn update_vivaldi(&mut self, other: &Point, rtt: f64) {
        let rtt = rtt.max(ZERO);
        let dist = self.coord.distance(other);
        let wrongness = (dist - rtt).abs() / rtt;
        let total_error = (self.coord.error + other.error).max(ZERO);
        let weight = self.coord.error / total_error;
        self.coord.error =
            (CE * weight * wrongness + self.coord.error * (1.0 - CE * weight)).min(ERROR_MAX);
        let force = CC * weight * (rtt - dist);
        self.coord = self.coord.apply_force(force, other, &mut self.rng);
    }

    /// The adjustment term is half the mean of recent (RTT − raw distance) errors.
    fn update_adjustment(&mut self, other: &Point, rtt: f64) {
        self.adjustment_samples[self.adjustment_index] = rtt - self.coord.raw_distance(other);
        self.adjustment_index = (self.adjustment_index + 1) % ADJUSTMENT_WINDOW;
        let sum: f64 = self.adjustment_samples.iter().sum();
        self.coord.adjustment = sum / (2.0 * ADJUSTMENT_WINDOW as f64);
    }

    /// A weak pull towards the origin, so coordinates do not drift away together.
    fn update_gravity(&mut self) {
        let origin = Point::origin();
        let dist = origin.distance(&self.coord);
        let force = -(dist / GRAVITY_RHO).powi(2);
        self.coord = self.coord.apply_force(force, &origin, &mut self.rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn at(x: f64) -> Coordinate {
        let mut c = Coordinate::origin();
        c.vec.as_mut().unwrap()[0] = x;
        c
    }

    #[test]
    fn fresh_coordinate_is_serfs_origin() {
        let v = Vivaldi::new(StdRng::seed_from_u64(1));
        assert_eq!(v.coordinate(), Coordinate::origin());
    }

    #[test]
    fn repeated_observations_converge_on_the_measured_rtt() {
        let mut v = Vivaldi::new(StdRng::seed_from_u64(7));
        let peer = Point::from_coordinate(&at(0.0)).unwrap();
        for _ in 0..200 {
            v.update("p", &at(0.0), Duration::from_millis(50)).unwrap();
        }
        let est = v.coord.distance(&peer);
        assert!((est - 0.050).abs() < 0.005, "estimate {est}");
        assert!(v.coordinate().error < ERROR_MAX);
    }

    #[test]
    fn bad_observations_are_refused_and_change_nothing() {
        let mut v = Vivaldi::new(StdRng::seed_from_u64(3));
        let before = v.coordinate();
        assert_eq!(
            v.update("p", &at(0.0), Duration::from_secs(11)),
            Err(VivaldiError::BadRtt(Duration::from_secs(11)))
        );
        let mut short = Coordinate::origin();
        short.vec = Some(vec![0.0; 3]);
        assert_eq!(
            v.update("p", &short, Duration::from_millis(1)),
            Err(VivaldiError::Dimension(3))
        );
        assert_eq!(
            v.update("p", &at(f64::NAN), Duration::from_millis(1)),
            Err(VivaldiError::NotFinite)
        );
        assert_eq!(v.coordinate(), before);
    }

    #[test]
    fn latency_filter_takes_the_median_of_three() {
        let mut v = Vivaldi::new(StdRng::seed_from_u64(3));
        assert_eq!(v.filtered_rtt("p", 1.0), 1.0);
        assert_eq!(v.filtered_rtt("p", 9.0), 9.0);
        assert_eq!(v.filtered_rtt("p", 2.0), 2.0);
        // Window is now [9, 2, 5]: median 5.
        assert_eq!(v.filtered_rtt("p", 5.0), 5.0);
        assert_eq!(v.filtered_rtt("p", 100.0), 5.0);
    }
}
