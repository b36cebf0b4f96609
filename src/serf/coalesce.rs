//! User-event coalescing (Go's `UserCoalescePeriod`/`UserQuiescentPeriod`): user
//! events sent with `coalesce` set are held, and of those with one name only the
//! ones with the latest Lamport time are delivered, when the first held event is
//! `period` old or nothing new came for `quiescent`. A burst of deploy events then
//! runs the handler once, for the newest. Other events pass at once.

use std::collections::BTreeMap;
use std::time::Duration;

use super::lamport::LamportTime;
use super::layer::SerfEvent;
use crate::node::Time;

/// The held events and the two timers.
#[derive(Debug)]
pub struct UserCoalescer {
    period: Duration,
    quiescent: Duration,
    /// Per name: the latest time seen and every event at that time.
    latest: BTreeMap<String, (LamportTime, Vec<SerfEvent>)>,
    /// Events arrived since the timers were last set.
    arrived: bool,
    period_end: Option<Time>,
    quiescent_end: Option<Time>,
}

impl UserCoalescer {
    /// `None` unless both periods are set, as in Go.
    pub fn new(period: Duration, quiescent: Duration) -> Option<Self> {
        (!period.is_zero() && !quiescent.is_zero()).then(|| UserCoalescer {
            period,
            quiescent,
            latest: BTreeMap::new(),
            arrived: false,
            period_end: None,
            quiescent_end: None,
        })
    }

    /// Holds `e` if it is a coalescing user event; gives it back otherwise.
    pub fn offer(&mut self, e: SerfEvent) -> Result<(), SerfEvent> {
        let (ltime, name) = match &e {
            SerfEvent::User {
                ltime,
                name,
                coalesce: true,
                ..
            } => (*ltime, name.clone()),
            _ => return Err(e),
        };
        self.arrived = true;
        match self.latest.get_mut(&name) {
            Some((t, events)) if *t == ltime => events.push(e),
            Some((t, _)) if *t > ltime => {}
            _ => {
                self.latest.insert(name, (ltime, vec![e]));
            }
        }
        Ok(())
    }

    /// Starts or extends the timers for what arrived since the last call, and
    /// returns the held events once a timer has run out.
    pub fn tick(&mut self, now: Time) -> Vec<SerfEvent> {
        if std::mem::take(&mut self.arrived) {
            self.period_end.get_or_insert(now + self.period);
            self.quiescent_end = Some(now + self.quiescent);
        }
        if self.deadline().is_some_and(|d| now >= d) {
            self.flush()
        } else {
            Vec::new()
        }
    }

    /// When [`Self::tick`] will next deliver, if anything is held.
    pub fn deadline(&self) -> Option<Time> {
        [self.period_end, self.quiescent_end]
            .into_iter()
            .flatten()
            .min()
    }

    /// Everything held, now (at leave or shutdown).
    pub fn flush(&mut self) -> Vec<SerfEvent> {
        self.period_end = None;
        self.quiescent_end = None;
        self.arrived = false;
        std::mem::take(&mut self.latest)
            .into_values()
            .flat_map(|(_, events)| events)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(ltime: u64, name: &str, payload: &str, coalesce: bool) -> SerfEvent {
        SerfEvent::User {
            ltime: LamportTime(ltime),
            name: name.into(),
            payload: Some(payload.as_bytes().to_vec()),
            coalesce,
        }
    }

    fn at(ms: u64) -> Time {
        Time::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn only_the_latest_of_each_name_is_delivered_after_quiet() {
        assert!(UserCoalescer::new(Duration::ZERO, Duration::from_secs(1)).is_none());
        let mut c = UserCoalescer::new(Duration::from_secs(3), Duration::from_secs(1)).unwrap();
        for e in [
            user(5, "deploy", "v1", true),
            user(7, "deploy", "v2", true),
            user(7, "deploy", "v2-other", true),
            user(6, "deploy", "late", true),
            user(3, "restart", "x", true),
        ] {
            assert!(c.offer(e).is_ok());
        }
        // Not coalescing: given back to deliver at once.
        let plain = user(8, "deploy", "now", false);
        assert_eq!(c.offer(plain.clone()), Err(plain));
        assert!(c.tick(at(0)).is_empty());
        assert!(c.tick(at(999)).is_empty());
        assert_eq!(
            c.tick(at(1000)),
            [
                user(7, "deploy", "v2", true),
                user(7, "deploy", "v2-other", true),
                user(3, "restart", "x", true),
            ]
        );
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn a_steady_stream_is_cut_at_the_coalesce_period() {
        let mut c = UserCoalescer::new(Duration::from_secs(3), Duration::from_secs(1)).unwrap();
        let mut delivered = Vec::new();
        for i in 0..10 {
            c.offer(user(i, "deploy", "v", true)).unwrap();
            delivered.extend(c.tick(at(i * 500)));
        }
        // Every 0.5 s: never quiet for 1 s, so the 3 s period ends the first batch.
        assert_eq!(delivered, [user(6, "deploy", "v", true)]);
        assert_eq!(c.flush(), [user(9, "deploy", "v", true)]);
    }
}
