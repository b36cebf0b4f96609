//! The metrics memberlist emits through go-metrics, under Go's names, and the sink
//! the machine records them through.
//!
//! Operators chart and alert on these names (Consul shows them as
//! `consul_memberlist_gossip` and so on), so each one is recorded where Go records
//! it and means what it means in Go. The machine stays sans-I/O: it hands values to
//! a [`MetricsSink`] and never learns where they go; without one (the default, and
//! the simulator) recording is a branch on `None`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How go-metrics records a metric, which decides how an exporter shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `IncrCounter`: a running total (some count bytes, not events).
    Counter,
    /// `SetGauge`: the latest value.
    Gauge,
    /// `AddSample`: a distribution (Prometheus summary).
    Sample,
    /// `MeasureSince`: a distribution of durations in milliseconds.
    Timer,
}

/// One metric: its go-metrics key (parts joined by dots) and kind.
#[derive(Debug)]
pub struct Metric {
    /// go-metrics' key, parts joined by dots (`memberlist.msg.alive`).
    pub name: &'static str,
    /// How go-metrics records it.
    pub kind: Kind,
    /// The Prometheus HELP text.
    pub help: &'static str,
}

impl Metric {
    /// The name go-metrics' Prometheus sink gives it: parts joined with `_`, and any
    /// character Prometheus does not allow replaced by `_` (`adjustment-ms`).
    pub fn prometheus_name(&self) -> String {
        prometheus_name(self.name)
    }
}

/// go-metrics' Prometheus flattening of a dotted key.
pub fn prometheus_name(dotted: &str) -> String {
    dotted
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// States one metric as a static: its Go key, kind and help text (Serf's table
/// uses it too).
macro_rules! metric {
    ($id:ident, $name:literal, $kind:ident, $help:literal) => {
        #[doc = $help]
        pub static $id: $crate::node::metrics::Metric = $crate::node::metrics::Metric {
            name: $name,
            kind: $crate::node::metrics::Kind::$kind,
            help: $help,
        };
    };
}
pub(crate) use metric;

metric!(
    GOSSIP,
    "memberlist.gossip",
    Timer,
    "Time spent sending one round of gossip (ms)."
);
metric!(
    PROBE_NODE,
    "memberlist.probeNode",
    Timer,
    "Time one probe of a member took, from ping to verdict (ms)."
);
metric!(
    PUSH_PULL_NODE,
    "memberlist.pushPullNode",
    Timer,
    "Time one push/pull exchange took (ms)."
);
metric!(
    DEGRADED_PROBE,
    "memberlist.degraded.probe",
    Counter,
    "Probes run with a health-scaled (longer) interval."
);
metric!(
    DEGRADED_TIMEOUT,
    "memberlist.degraded.timeout",
    Counter,
    "Suspects declared dead with fewer confirmations than expected."
);
metric!(
    HEALTH_SCORE,
    "memberlist.health.score",
    Gauge,
    "Lifeguard health score (0 is healthy)."
);
metric!(
    MSG_ALIVE,
    "memberlist.msg.alive",
    Counter,
    "Alive messages that changed the member list."
);
metric!(
    MSG_SUSPECT,
    "memberlist.msg.suspect",
    Counter,
    "Suspect messages that marked a member suspect."
);
metric!(
    MSG_DEAD,
    "memberlist.msg.dead",
    Counter,
    "Dead messages that marked a member dead or left."
);
metric!(
    UDP_SENT,
    "memberlist.udp.sent",
    Counter,
    "Bytes sent in UDP packets."
);
metric!(
    UDP_RECEIVED,
    "memberlist.udp.received",
    Counter,
    "Bytes received in UDP packets."
);
metric!(
    TCP_ACCEPT,
    "memberlist.tcp.accept",
    Counter,
    "Stream connections accepted."
);
metric!(
    TCP_CONNECT,
    "memberlist.tcp.connect",
    Counter,
    "Push/pull connections opened."
);
metric!(
    TCP_SENT,
    "memberlist.tcp.sent",
    Counter,
    "Bytes sent over streams."
);
metric!(
    NODE_INSTANCES,
    "memberlist.node.instances",
    Gauge,
    "Members in each state (label node_state), counted at each push/pull."
);
metric!(
    QUEUE_BROADCASTS,
    "memberlist.queue.broadcasts",
    Sample,
    "Broadcasts queued, sampled every queue check interval."
);
metric!(
    SIZE_LOCAL,
    "memberlist.size.local",
    Gauge,
    "Size of the local state sent in a push/pull (bytes)."
);
metric!(
    SIZE_REMOTE,
    "memberlist.size.remote",
    Sample,
    "Size of an encrypted remote state received in a push/pull (bytes)."
);

/// Every memberlist metric, for exporters that register them up front.
pub static ALL: [&Metric; 18] = [
    &GOSSIP,
    &PROBE_NODE,
    &PUSH_PULL_NODE,
    &DEGRADED_PROBE,
    &DEGRADED_TIMEOUT,
    &HEALTH_SCORE,
    &MSG_ALIVE,
    &MSG_SUSPECT,
    &MSG_DEAD,
    &UDP_SENT,
    &UDP_RECEIVED,
    &TCP_ACCEPT,
    &TCP_CONNECT,
    &TCP_SENT,
    &NODE_INSTANCES,
    &QUEUE_BROADCASTS,
    &SIZE_LOCAL,
    &SIZE_REMOTE,
];

/// The label Go puts on `memberlist.node.instances`, and its values.
pub const NODE_STATE_LABEL: &str = "node_state";
/// The values of [`NODE_STATE_LABEL`], one gauge each.
pub const NODE_STATES: [&str; 4] = ["alive", "suspect", "dead", "left"];

/// Where recorded values go. Implementations must be cheap: counters are bumped for
/// every packet.
pub trait MetricsSink: Send + Sync {
    /// `IncrCounter`.
    fn incr(&self, metric: &'static Metric, by: f32);
    /// `IncrCounter` under `metric`'s key with one more part (Serf's per-name
    /// `serf.events.NAME`).
    fn incr_named(&self, metric: &'static Metric, part: &str, by: f32);
    /// `SetGauge`, with one optional label (`node_state` and its value).
    fn set(&self, metric: &'static Metric, label: Option<&'static str>, value: f32);
    /// `AddSample`; timers arrive here too, in milliseconds.
    fn sample(&self, metric: &'static Metric, value: f32);
}

/// The machine's handle on a sink: none (record nothing) or a shared one.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<dyn MetricsSink>>);

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Metrics(sink)"
        } else {
            "Metrics(none)"
        })
    }
}

impl Metrics {
    /// Records into `sink`.
    pub fn new(sink: Arc<dyn MetricsSink>) -> Self {
        Metrics(Some(sink))
    }

    /// Whether a sink is attached (callers skip work that only feeds metrics).
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Go's `IncrCounter`.
    pub fn incr(&self, metric: &'static Metric, by: f32) {
        if let Some(s) = &self.0 {
            s.incr(metric, by);
        }
    }

    /// Go's `IncrCounter` with one more key part.
    pub fn incr_named(&self, metric: &'static Metric, part: &str, by: f32) {
        if let Some(s) = &self.0 {
            s.incr_named(metric, part, by);
        }
    }

    /// Go's `SetGauge`, optionally labelled.
    pub fn set(&self, metric: &'static Metric, label: Option<&'static str>, value: f32) {
        if let Some(s) = &self.0 {
            s.set(metric, label, value);
        }
    }

    /// Go's `AddSample`.
    pub fn sample(&self, metric: &'static Metric, value: f32) {
        if let Some(s) = &self.0 {
            s.sample(metric, value);
        }
    }

    /// A timer measured on the caller's clock (simulated or real), in milliseconds
    /// as go-metrics' `MeasureSince` reports.
    pub fn measure(&self, metric: &'static Metric, took: Duration) {
        self.sample(metric, took.as_secs_f32() * 1e3);
    }

    /// The start of a wall-clock timer, for work that takes no time on the machine's
    /// own clock (a gossip round runs inside one instant). `None` without a sink, so
    /// the simulator reads no clock.
    pub fn start(&self) -> Option<Instant> {
        self.0.as_ref().map(|_| Instant::now())
    }

    /// Go's `MeasureSince` for a timer from [`Metrics::start`].
    pub fn measure_since(&self, metric: &'static Metric, start: Option<Instant>) {
        if let Some(t) = start {
            self.measure(metric, t.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_are_go_metrics_flattened_keys() {
        assert_eq!(GOSSIP.prometheus_name(), "memberlist_gossip");
        assert_eq!(PROBE_NODE.prometheus_name(), "memberlist_probeNode");
        assert_eq!(
            prometheus_name("serf.coordinate.adjustment-ms"),
            "serf_coordinate_adjustment_ms"
        );
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = ALL.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
