//! The two de-duplication rings of Serf: user events and queries arrive many times
//! (every member re-broadcasts them), so each node remembers, per Lamport time slot,
//! which ones it already delivered. Rings of Go's size (512) matter beyond memory: a
//! message older than the ring's span is refused as "old", and the event ring is sent
//! whole in the push/pull state.

use super::lamport::{LamportClock, LamportTime};
use super::messages::{BufferedEvent, EventSlot};
use crate::wire::messages::Bytes;
use crate::wire::GoString;

/// Go's `EventBuffer` and `QueryBuffer`.
pub const BUFFER_SIZE: usize = 512;

/// Why a user event or query was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Before the minimum time (e.g. events replayed on a join that ignores old ones).
    BeforeMin,
    /// More than a ring's span behind our clock.
    Old,
    /// Already delivered.
    Duplicate,
}

/// Whether `ltime` falls outside the ring's window behind `clock`.
fn too_old(clock: &LamportClock, ltime: LamportTime) -> bool {
    let cur = clock.time().0;
    cur > BUFFER_SIZE as u64 && ltime.0 < cur - BUFFER_SIZE as u64
}

/// One event as remembered: name and payload (nil kept apart from empty).
pub type EventKey = (Vec<u8>, Option<Vec<u8>>);

/// The user-event ring and clock.
#[derive(Debug)]
pub struct EventBuffer {
    /// The user-event Lamport clock.
    pub clock: LamportClock,
    /// Events before this time are dropped (raised when joining with "ignore old").
    pub min_time: LamportTime,
    slots: Vec<Option<(LamportTime, Vec<EventKey>)>>,
}

impl Default for EventBuffer {
    fn default() -> Self {
        let clock = LamportClock::new();
        clock.increment();
        EventBuffer {
            clock,
            min_time: LamportTime(0),
            slots: vec![None; BUFFER_SIZE],
        }
    }
}

impl EventBuffer {
    /// Witnesses and records an event; `Ok` means deliver and re-broadcast it.
    pub fn record(
        &mut self,
        ltime: LamportTime,
        name: &[u8],
        payload: Option<&[u8]>,
    ) -> Result<(), Seen> {
        self.clock.witness(ltime);
        if ltime < self.min_time {
            return Err(Seen::BeforeMin);
        }
        if too_old(&self.clock, ltime) {
            return Err(Seen::Old);
        }
        let key: EventKey = (name.to_vec(), payload.map(<[u8]>::to_vec));
        let slot = &mut self.slots[(ltime.0 % BUFFER_SIZE as u64) as usize];
        match slot {
            Some((t, events)) if *t == ltime => {
                if events.contains(&key) {
                    return Err(Seen::Duplicate);
                }
                events.push(key);
            }
            _ => *slot = Some((ltime, vec![key])),
        }
        Ok(())
    }

    /// The ring as the push/pull state carries it: all slots, empty ones nil.
    pub fn to_wire(&self) -> Vec<Option<EventSlot<'_>>> {
        self.slots
            .iter()
            .map(|s| {
                s.as_ref().map(|(t, events)| EventSlot {
                    ltime: *t,
                    events: Some(
                        events
                            .iter()
                            .map(|(n, p)| BufferedEvent {
                                name: GoString::borrowed(n),
                                payload: p.as_deref().map(Bytes::Borrowed),
                            })
                            .collect(),
                    ),
                })
            })
            .collect()
    }
}

/// The query ring and clock: per slot, the ids seen at that time.
#[derive(Debug)]
pub struct QueryBuffer {
    /// The query Lamport clock.
    pub clock: LamportClock,
    /// Queries before this time are dropped (raised when joining with "ignore old").
    pub min_time: LamportTime,
    slots: Vec<Option<(LamportTime, Vec<u32>)>>,
}

impl Default for QueryBuffer {
    fn default() -> Self {
        let clock = LamportClock::new();
        clock.increment();
        QueryBuffer {
            clock,
            min_time: LamportTime(0),
            slots: vec![None; BUFFER_SIZE],
        }
    }
}

impl QueryBuffer {
    /// Witnesses and records a query; `Ok` means it is new.
    pub fn record(&mut self, ltime: LamportTime, id: u32) -> Result<(), Seen> {
        self.clock.witness(ltime);
        if ltime < self.min_time {
            return Err(Seen::BeforeMin);
        }
        if too_old(&self.clock, ltime) {
            return Err(Seen::Old);
        }
        let slot = &mut self.slots[(ltime.0 % BUFFER_SIZE as u64) as usize];
        match slot {
            Some((t, ids)) if *t == ltime => {
                if ids.contains(&id) {
                    return Err(Seen::Duplicate);
                }
                ids.push(id);
            }
            _ => *slot = Some((ltime, vec![id])),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_dedup_by_ltime_name_and_payload() {
        let mut b = EventBuffer::default();
        assert_eq!(b.record(LamportTime(5), b"deploy", Some(b"v1")), Ok(()));
        assert_eq!(
            b.record(LamportTime(5), b"deploy", Some(b"v1")),
            Err(Seen::Duplicate)
        );
        // Same time, other payload (or nil): a different event.
        assert_eq!(b.record(LamportTime(5), b"deploy", Some(b"v2")), Ok(()));
        assert_eq!(b.record(LamportTime(5), b"deploy", None), Ok(()));
        // Same slot, later time: replaces the slot.
        assert_eq!(b.record(LamportTime(517), b"deploy", Some(b"v1")), Ok(()));
        assert_eq!(b.clock.time(), LamportTime(518));
        let wire = b.to_wire();
        assert_eq!(wire.len(), BUFFER_SIZE);
        assert_eq!(wire[5].as_ref().unwrap().ltime, LamportTime(517));
    }

    #[test]
    fn events_older_than_the_ring_or_min_time_are_refused() {
        let mut b = EventBuffer::default();
        b.record(LamportTime(1000), b"x", None).unwrap();
        assert_eq!(b.record(LamportTime(488), b"y", None), Err(Seen::Old));
        assert_eq!(b.record(LamportTime(489), b"y", None), Ok(()));
        b.min_time = LamportTime(2000);
        assert_eq!(
            b.record(LamportTime(1999), b"z", None),
            Err(Seen::BeforeMin)
        );
        // Even refused events move the clock.
        assert_eq!(b.clock.time(), LamportTime(2000));
    }

    #[test]
    fn queries_dedup_by_ltime_and_id() {
        let mut q = QueryBuffer::default();
        assert_eq!(q.record(LamportTime(3), 7), Ok(()));
        assert_eq!(q.record(LamportTime(3), 7), Err(Seen::Duplicate));
        assert_eq!(q.record(LamportTime(3), 8), Ok(()));
        assert_eq!(q.record(LamportTime(515), 7), Ok(()));
        assert_eq!(q.record(LamportTime(3), 7), Err(Seen::Old));
    }
}
