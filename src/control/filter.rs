//! serf's event filters (`member-join`, `user:deploy`, `query:uptime`, `*`, comma
//! separated), as `stream` requests and `-event-handler` specs use them.

use crate::serf::SerfEvent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// An event type, or `*` for every event.
    pub event: String,
    /// For `user` and `query`: only this name (empty: any).
    pub name: String,
}

/// The event types a filter may name.
const EVENTS: [&str; 8] = [
    "member-join",
    "member-leave",
    "member-failed",
    "member-update",
    "member-reap",
    "user",
    "query",
    "*",
];

impl EventFilter {
    /// Parses a comma-separated list; an empty one is `*`. Each filter may still be
    /// invalid: check [`EventFilter::valid`].
    pub fn parse_list(spec: &str) -> Vec<EventFilter> {
        let spec = if spec.is_empty() { "*" } else { spec };
        spec.split(',')
            .map(|f| {
                for kind in ["user", "query"] {
                    if let Some(name) = f.strip_prefix(kind).and_then(|r| r.strip_prefix(':')) {
                        return EventFilter {
                            event: kind.to_owned(),
                            name: name.to_owned(),
                        };
                    }
                }
                EventFilter {
                    event: f.to_owned(),
                    name: String::new(),
                }
            })
            .collect()
    }

    pub fn valid(&self) -> bool {
        EVENTS.contains(&self.event.as_str())
    }

    /// Whether `e` passes this filter.
    pub fn matches(&self, e: &SerfEvent) -> bool {
        if self.event == "*" {
            return true;
        }
        let (kind, name) = match e {
            SerfEvent::Member { kind, .. } => (kind.name(), None),
            SerfEvent::User { name, .. } => ("user", Some(name.as_str())),
            SerfEvent::Query { name, .. } => ("query", Some(name.as_str())),
        };
        kind == self.event && (self.name.is_empty() || name == Some(self.name.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serf::LamportTime;

    fn user(name: &str) -> SerfEvent {
        SerfEvent::User {
            ltime: LamportTime(1),
            name: name.into(),
            payload: None,
            coalesce: false,
        }
    }

    #[test]
    fn filters_parse_and_match_like_serfs() {
        let f = EventFilter::parse_list("user:deploy,member-join");
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(EventFilter::valid));
        assert!(f[0].matches(&user("deploy")) && !f[0].matches(&user("other")));
        assert!(EventFilter::parse_list("")[0].matches(&user("x")));
        assert!(EventFilter::parse_list("user")[0].matches(&user("x")));
        assert!(!EventFilter::parse_list("member-join:x")[0].valid());
        assert!(!EventFilter::parse_list("bogus")[0].valid());
    }
}
