//! The node's notion of time: a point on a clock the caller owns.
//!
//! The state machine never reads a wall clock. Every input carries the current [`Time`],
//! and every timer it asks for is a [`Time`] too, so a simulation can drive many nodes
//! from one fake clock and replay a run exactly. Resolution is the nanosecond, like Go's
//! `time.Duration`, so the protocol's timeouts come out exactly as Go computes them.

use std::ops::Add;
use std::time::Duration;

/// An instant, as the offset from an epoch chosen by the caller (process start, the
/// start of a simulation, ...). Only differences between two `Time`s mean anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(Duration);

impl Time {
    /// The epoch itself.
    pub const ZERO: Time = Time(Duration::ZERO);

    /// The instant `offset` after the epoch.
    pub const fn from_epoch(offset: Duration) -> Self {
        Time(offset)
    }

    /// How long after the epoch this instant is.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is in fact later (a
    /// caller's clock that stepped back must not make a timer misbehave).
    pub fn saturating_since(self, earlier: Time) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// Later instant; saturates at the end of the representable range instead of
/// panicking, so an absurdly long configured timeout simply never fires.
impl Add<Duration> for Time {
    type Output = Time;

    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let t = Time::from_epoch(Duration::from_secs(5));
        assert_eq!(t.saturating_since(Time::ZERO), Duration::from_secs(5));
        assert_eq!(Time::ZERO.saturating_since(t), Duration::ZERO);
        assert_eq!(
            (t + Duration::from_millis(250)).since_epoch(),
            Duration::from_millis(5250)
        );
        assert_eq!(
            Time::from_epoch(Duration::MAX) + Duration::from_secs(1),
            Time::from_epoch(Duration::MAX)
        );
    }
}
